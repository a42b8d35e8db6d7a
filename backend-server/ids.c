#include <openssl/rand.h>
#include <string.h>

#include "ids.h"

static const char ids_room_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

int ids_room_new(char out[WIRE_ROOM_ID_LEN + 1])
{
	/* 36 does not divide 256: bytes from 252 up are dropped so that every
	 * character is equally likely (252 = 7 * 36). */
	unsigned char rnd[32];
	char id[WIRE_ROOM_ID_LEN];
	size_t n = 0;

	while (n < WIRE_ROOM_ID_LEN) {
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return -1;
		for (size_t i = 0; i < sizeof rnd && n < WIRE_ROOM_ID_LEN; i++)
			if (rnd[i] < 252)
				id[n++] = ids_room_alphabet[rnd[i] % 36];
	}
	memcpy(out, id, WIRE_ROOM_ID_LEN);
	out[WIRE_ROOM_ID_LEN] = '\0';
	return 0;
}
