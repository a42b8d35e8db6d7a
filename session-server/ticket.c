#include "ticket.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "token.h"

/* Used tickets: an open-addressing table of (hash of jti, exp). A hash
 * collision could only refuse a fresh ticket, never accept a used one, and
 * jtis come from tickets we signed, so a 64-bit keyed hash is enough.
 *
 * The table starts small and is rebuilt (expired entries dropped) when 3/4
 * full, to twice the live entries or more, so that memory follows the
 * tickets in use: its slots are touched at random, and a table sized for
 * max_used from the start would soon be resident in full. Its largest size
 * keeps the load at 1/2 with max_used entries, so it is never 3/4 full. */
#define JAR_MIN_SLOTS 16

struct jar_slot {
	uint64_t hash;   /* 0: empty */
	int64_t exp;
};

struct ticket_jar {
	struct jar_slot *slots;
	size_t mask;     /* slots - 1, a power of two minus one */
	size_t max_slots;
	size_t used, max_used;
	/* When the jar was last full and rebuilt: another rebuild in the same
	 * second would find nothing more expired, so a flood of joins on a full
	 * jar costs one pass a second, not one per join. */
	int64_t full_swept_at;
	int64_t ttl;
	uint64_t seed;
	char boot[WIRE_BOOT_LEN + 1];
};

int ticket_jar_new(size_t max_used, int64_t ttl, struct ticket_jar **out)
{
	struct ticket_jar *jar;
	size_t n = JAR_MIN_SLOTS;

	while (n < max_used * 2)
		n *= 2;
	jar = calloc(1, sizeof(*jar));
	if (!jar)
		return -ENOMEM;
	jar->slots = calloc(JAR_MIN_SLOTS, sizeof(*jar->slots));
	if (!jar->slots) {
		free(jar);
		return -ENOMEM;
	}
	jar->mask = JAR_MIN_SLOTS - 1;
	jar->max_slots = n;
	jar->max_used = max_used;
	jar->full_swept_at = INT64_MIN;
	jar->ttl = ttl;
	if (wire_random_id(jar->boot) < 0) {
		ticket_jar_free(jar);
		return -EIO;
	}
	if (RAND_bytes((unsigned char *)&jar->seed, sizeof(jar->seed)) != 1)
		jar->seed = (uint64_t)(uintptr_t)jar;
	*out = jar;
	return 0;
}

void ticket_jar_free(struct ticket_jar *jar)
{
	if (!jar)
		return;
	free(jar->slots);
	free(jar);
}

const char *ticket_jar_boot(const struct ticket_jar *jar)
{
	return jar->boot;
}

static uint64_t jar_hash(const struct ticket_jar *jar, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ jar->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static struct jar_slot *jar_lookup(struct jar_slot *slots, size_t mask, uint64_t h)
{
	size_t i = h & mask;

	while (slots[i].hash && slots[i].hash != h)
		i = (i + 1) & mask;
	return &slots[i];
}

/* Rebuilds the table without expired entries, at least twice as large as
 * the live entries plus the one about to be added, so that a quarter of it
 * fills before the next rebuild. Returns 0 or -ENOMEM (the table as it was). */
static int jar_rebuild(struct ticket_jar *jar, int64_t now)
{
	size_t old_n = jar->mask + 1, live = 0, n = JAR_MIN_SLOTS;
	struct jar_slot *old = jar->slots, *fresh;

	for (size_t i = 0; i < old_n; i++)
		if (old[i].hash && old[i].exp > now)
			live++;
	while (n < (live + 1) * 2 && n < jar->max_slots)
		n *= 2;
	fresh = calloc(n, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	for (size_t i = 0; i < old_n; i++)
		if (old[i].hash && old[i].exp > now)
			*jar_lookup(fresh, n - 1, old[i].hash) = old[i];
	free(old);
	jar->slots = fresh;
	jar->mask = n - 1;
	jar->used = live;
	return 0;
}

/* Makes room for one more entry. Returns false when the jar is full of
 * unexpired tickets (or memory is short): the ticket is then refused. */
static bool jar_reserve(struct ticket_jar *jar, int64_t now)
{
	size_t n = jar->mask + 1;

	if (jar->used >= jar->max_used) {
		if (jar->full_swept_at == now || jar_rebuild(jar, now) != 0)
			return false;
		jar->full_swept_at = now;
		return jar->used < jar->max_used;
	}
	if (n < jar->max_slots && jar->used + 1 > n / 4 * 3)
		return jar_rebuild(jar, now) == 0;
	return true;
}

enum ticket_result ticket_verify(struct ticket_jar *jar, const char *tok, size_t len,
				 const unsigned char *key, size_t key_len, const char *server_id,
				 int64_t now, struct ticket *out)
{
	struct wire_ticket t;
	struct jar_slot *slot;
	uint64_t h;

	switch (wire_ticket_verify(tok, len, key, key_len, server_id, jar->boot, now, jar->ttl, &t)) {
	case WIRE_TICKET_OK:
		break;
	case WIRE_TICKET_ELSEWHERE:
		return TICKET_ELSEWHERE;
	case WIRE_TICKET_BAD:
		return TICKET_BAD;
	}
	h = jar_hash(jar, t.jti, strlen(t.jti));
	slot = jar_lookup(jar->slots, jar->mask, h);
	if (slot->hash) {
		if (slot->exp > now)
			return TICKET_BAD;
		/* Expired entry for the same hash: reuse the slot. */
	} else {
		if (!jar_reserve(jar, now))
			return TICKET_BUSY;
		slot = jar_lookup(jar->slots, jar->mask, h);
		jar->used++;
	}
	slot->hash = h;
	/* wire_ticket_verify() bounded exp to at most jar->ttl (and the skew) ahead. */
	slot->exp = t.exp + 1;
	memcpy(out->user, t.sub, sizeof out->user);
	memcpy(out->name, t.name, sizeof out->name);
	memcpy(out->room, t.room, sizeof out->room);
	out->epoch = t.epoch;
	return TICKET_OK;
}

enum ticket_result ticket_from_query(struct ticket_jar *jar, const struct httpd_req *req,
				     const unsigned char *key, size_t key_len,
				     const char *server_id, int64_t now, struct ticket *out)
{
	char name[TICKET_PARAM_NAME_MAX + 1], buf[TOK_MAX_LEN];
	enum ticket_result best = TICKET_BAD;

	for (int pass = 0; pass < 2; pass++) {
		size_t pos = 0;
		int rc;

		while ((rc = httpd_query_next(req, &pos, name, sizeof(name), buf, sizeof(buf))) != 0) {
			bool is_token = strcmp(name, "token") == 0;
			enum ticket_result r;

			if (rc < 0 || strcmp(name, "since") == 0 || (pass == 0) != is_token)
				continue;
			if (buf[0] == '\0') {
				if (pass == 0)
					return TICKET_BAD;
				continue;
			}
			r = ticket_verify(jar, buf, strlen(buf), key, key_len, server_id, now, out);
			if (pass == 0 || r == TICKET_OK)
				return r;
			if (r == TICKET_ELSEWHERE)
				best = r;
		}
	}
	return best;
}
