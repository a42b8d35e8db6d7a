/* ids: the identifiers the backend accepts and makes (docs/protocol.md,
 * "Identifiers and limits"). The rules are the wire's (wire.h), under the
 * backend's names; random ones come from OpenSSL's RAND_bytes. */
#ifndef STATEROOM_IDS_H
#define STATEROOM_IDS_H

#include "wire.h"

#define IDS_USER_MAX WIRE_USER_ID_MAX
#define IDS_ROOM_LEN WIRE_ROOM_ID_LEN
#define IDS_ROOM_MAX WIRE_ROOM_ID_MAX

#define ids_user_valid wire_user_id_valid
#define ids_room_valid wire_room_id_valid

/* Writes a new room id and its NUL into out. Returns 0, or -1 when the
 * random generator fails (out untouched). */
int ids_room_new(char out[IDS_ROOM_LEN + 1]);

#endif
