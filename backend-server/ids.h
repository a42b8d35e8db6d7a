/* ids: the identifiers the backend accepts and makes (docs/protocol.md,
 * "Identifiers and limits"). Random ones come from OpenSSL's RAND_bytes. */
#ifndef STATEROOM_IDS_H
#define STATEROOM_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_USER_MAX 32     /* user id: 1..32 of A-Z a-z 0-9 _ - . */
#define IDS_ROOM_LEN 12     /* a new room id: 12 of a-z 0-9 */
#define IDS_ROOM_MAX 32     /* a room id we look up: 1..32 of a-z 0-9 */
#define IDS_JTI_LEN 22      /* 16 random bytes in unpadded base64url */

bool ids_user_valid(const char *s, size_t len);
bool ids_room_valid(const char *s, size_t len);

/* Writes a new room id and its NUL into out. Returns 0, or -1 when the
 * random generator fails (out untouched). */
int ids_room_new(char out[IDS_ROOM_LEN + 1]);

/* Writes a new ticket id (jti) and its NUL into out. Returns 0 or -1 as
 * above. */
int ids_jti_new(char out[IDS_JTI_LEN + 1]);

#endif
