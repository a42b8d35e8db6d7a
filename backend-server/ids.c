#include <openssl/rand.h>
#include <string.h>

#include "ids.h"

static const char ids_room_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

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
