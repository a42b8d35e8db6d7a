#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "ids.h"

static const char ids_room_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

bool ids_user_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > IDS_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

bool ids_room_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > IDS_ROOM_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

int ids_room_new(char out[IDS_ROOM_LEN + 1])
{
	/* 36 does not divide 256: bytes from 252 up are dropped so that every
	 * character is equally likely (252 = 7 * 36). */
	unsigned char rnd[32];
	char id[IDS_ROOM_LEN];
	size_t n = 0;

	while (n < IDS_ROOM_LEN) {
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return -1;
		for (size_t i = 0; i < sizeof rnd && n < IDS_ROOM_LEN; i++)
			if (rnd[i] < 252)
				id[n++] = ids_room_alphabet[rnd[i] % 36];
	}
	memcpy(out, id, IDS_ROOM_LEN);
	out[IDS_ROOM_LEN] = '\0';
	return 0;
}

int ids_jti_new(char out[IDS_JTI_LEN + 1])
{
	unsigned char rnd[16];

	_Static_assert(B64_URL_ENCODED_LEN(sizeof rnd) == IDS_JTI_LEN, "jti length");
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	b64_url_encode(out, rnd, sizeof rnd);
	return 0;
}
