/* room_access: who may reach a room, for every route that lets only those
 * in (api_rooms.c's tickets, api_files.c's files, api_history.c's pages,
 * api_search.c's hits, the moderation routes). In a query where r is the
 * room's row of rooms and d its row of direct_rooms (LEFT JOIN, NULL for a
 * room that is no DM), ROOM_ACCESS(u) with u the caller's subject is:
 *   for a room of kind 'room', its moderation (stateroom_room_admits,
 *   migration 020): 'ok', 'banned' (a ban in force) or 'invite_only' (an
 *   invite-only room the caller is not invited to);
 *   for a DM of the caller's, 'ok', or 'blocked' while either of the two
 *   blocks the other;
 *   'hidden' for anyone else's DM and every inbox.
 * ROOM_ACCESS_SQL is ROOM_ACCESS("$2"). */
#ifndef STATEROOM_ROOM_ACCESS_H
#define STATEROOM_ROOM_ACCESS_H

#include <stdbool.h>

#define ROOM_ACCESS(u) \
	"CASE WHEN r.kind = 'room' THEN stateroom_room_admits(r.id, " u ")" \
	"  WHEN r.kind = 'dm' AND " u " IN (d.user_a, d.user_b) THEN" \
	"    CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE (blocker = d.user_a AND blocked = d.user_b)" \
	"                                         OR (blocker = d.user_b AND blocked = d.user_a))" \
	"    THEN 'blocked' ELSE 'ok' END" \
	"  ELSE 'hidden' END"
#define ROOM_ACCESS_SQL ROOM_ACCESS("$2")

/* How a route answers an access that is not 'ok' (docs/protocol.md, "Roles
 * and moderation"): 404 not_found for hidden (as for no room: an id tells a
 * stranger nothing), 403 not_allowed for blocked, 403 banned, 403
 * invite_only. */
struct room_refusal {
	int status;
	const char *code, *message;     /* static */
};

/* False for 'ok'; else true with *out (an unknown value is refused as
 * hidden). */
bool room_access_refused(const char *access, struct room_refusal *out);

#endif
