/* room_access: who may have a ticket for a room, as SQL, for every route
 * that lets only the room's members in (api_rooms.c's tickets, api_files.c's
 * files). In a query where r is the room's row of rooms and d its row of
 * direct_rooms (LEFT JOIN, NULL for a room that is no DM), and $2 the
 * caller's subject, ROOM_ACCESS_SQL is 'ok' for any room of kind 'room' and
 * for a DM of the caller's; 'blocked' for a DM of the caller's while either
 * of the two blocks the other; 'hidden' for anyone else's DM and every
 * inbox. */
#ifndef STATEROOM_ROOM_ACCESS_H
#define STATEROOM_ROOM_ACCESS_H

#define ROOM_ACCESS_SQL \
	"CASE WHEN r.kind = 'room' THEN 'ok'" \
	"  WHEN r.kind = 'dm' AND $2 IN (d.user_a, d.user_b) THEN" \
	"    CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE (blocker = d.user_a AND blocked = d.user_b)" \
	"                                         OR (blocker = d.user_b AND blocked = d.user_a))" \
	"    THEN 'blocked' ELSE 'ok' END" \
	"  ELSE 'hidden' END"

#endif
