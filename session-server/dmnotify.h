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

#include <jansson.h>
#include <stdint.h>

#include "db.h"

struct dmn;

/* Starts the look-up of room (id copied). known(arg), if not NULL, is
 * called once when the look-up finds a DM (from the query's callback; never
 * after dmn_free), so that what waited for it (a call's ring) goes at once.
 * NULL on ENOMEM (no events). */
struct dmn *dmn_new(struct db *db, const char *room, void (*known)(void *arg), void *arg);

/* user's message at seq is committed. NULL-safe. */
void dmn_sent(struct dmn *d, const char *user, int64_t seq);

/* Whether the room is a DM: 1 yes, 0 no, -EAGAIN not known yet (the
 * look-up has not answered, or failed). NULL-safe (0). */
int dmn_is_dm(const struct dmn *d);

/* In a DM, the member other than user; NULL when user is none of the two
 * or the room is not (known to be) a DM. */
const char *dmn_peer(const struct dmn *d, const char *user);

/* Sends event (a JSON object, its reference taken; NULL: nothing) to to's
 * inbox, unless to blocks from: one pg_notify of its own (a call's ring
 * and its end, at most a few per call). Nothing unless the room is known
 * to be a DM. NULL-safe. */
void dmn_event(struct dmn *d, const char *to, const char *from, json_t *event);

/* NULL-safe; see above for a query in flight. */
void dmn_free(struct dmn *d);

#endif
