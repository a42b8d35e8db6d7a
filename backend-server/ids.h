/* ids: the identifiers the backend makes that the wire contract (wire.h)
 * only checks: new room ids, random from OpenSSL's RAND_bytes. The rules of
 * every id, and their limits, are wire.h's (docs/protocol.md, "Identifiers
 * and limits"). */
#ifndef STATEROOM_IDS_H
#define STATEROOM_IDS_H

#include "wire.h"

/* Writes a new room id and its NUL into out. Returns 0, or -1 when the
 * random generator fails (out untouched). */
int ids_room_new(char out[WIRE_ROOM_ID_LEN + 1]);

#endif
