/* inbox_id: the id of a user's inbox room (docs/protocol.md, "The inbox").
 *
 * Derived from the user id, so that neither server stores or looks up a
 * mapping: the backend creates the room under this id, and the session
 * server admits to an inbox room only the client whose subject derives to
 * its id. The id is 32 hex digits (SHA-256 of "inbox:" and the user id), a
 * length no other room id has (ids_room_new makes 12 characters), so it never
 * collides with a room made by POST /api/rooms. */
#ifndef STATEROOM_INBOX_ID_H
#define STATEROOM_INBOX_ID_H

#include <stdbool.h>

#define INBOX_ID_LEN 32

/* Writes the inbox room id of user (NUL-terminated) to out. Returns 0 or
 * -ENOMEM. */
int inbox_id(const char *user, char out[INBOX_ID_LEN + 1]);

/* Whether room is user's inbox room. */
bool inbox_id_matches(const char *user, const char *room);

#endif
