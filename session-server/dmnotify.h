/* dmnotify: a direct conversation's "dm" events (docs/protocol.md, "The
 * inbox"): when a message committed in a room of direct_rooms, the other
 * member's inbox hears {"type":"dm","roomId","seq"} through
 * pg_notify('stateroom_inbox'), unless that member blocks the sender.
 *
 * dmn_new() looks the room up in direct_rooms once, when the chat loads it
 * (queued on the shared connection ahead of any write of the room's, so the
 * answer is there before the first commit); a room that is no DM then costs
 * a comparison per committed message and nothing in the database. In a DM,
 * the committed seqs are coalesced per recipient and sent in one statement
 * after the commit, at most one in flight per room.
 *
 * After the commit, not in it: a server that dies in between loses the
 * event, which the recipient's client makes up for when it refetches on
 * reconnecting (events are hints). A look-up that failed (the database was
 * away) is tried again at the next message; what was committed meanwhile is
 * not announced.
 *
 * A struct dmn may be freed while a query is in flight: it is then orphaned
 * and freed by the query's callback. */
#ifndef STATEROOM_DMNOTIFY_H
#define STATEROOM_DMNOTIFY_H

#include <stdint.h>

#include "db.h"

struct dmn;

/* Starts the look-up of room (id copied). NULL on ENOMEM (no events). */
struct dmn *dmn_new(struct db *db, const char *room);

/* user's message at seq is committed. NULL-safe. */
void dmn_sent(struct dmn *d, const char *user, int64_t seq);

/* NULL-safe; see above for a query in flight. */
void dmn_free(struct dmn *d);

#endif
