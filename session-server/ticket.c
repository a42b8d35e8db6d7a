#include "ticket.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

/* Used tickets: an open-addressing table of (hash of jti, exp). A hash
 * collision could only refuse a fresh ticket, never accept a used one, and
 * jtis come from tickets we signed, so a 64-bit keyed hash is enough. */
struct jar_slot {
	uint64_t hash;   /* 0: empty */
	int64_t exp;
};

struct ticket_jar {
	struct jar_slot *slots;
	size_t mask;     /* slots - 1, a power of two minus one */
	size_t used, max_used;
	uint64_t seed;
};

int ticket_jar_new(size_t max_used, struct ticket_jar **out)
{
	struct ticket_jar *jar;
	size_t n = 16;

	while (n < max_used * 2)
		n *= 2;
	jar = calloc(1, sizeof(*jar));
	if (!jar)
		return -ENOMEM;
	jar->slots = calloc(n, sizeof(*jar->slots));
	if (!jar->slots) {
		free(jar);
		return -ENOMEM;
	}
	jar->mask = n - 1;
	jar->max_used = max_used;
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

static struct jar_slot *jar_lookup(struct ticket_jar *jar, uint64_t h)
{
	size_t i = h & jar->mask;

	while (jar->slots[i].hash && jar->slots[i].hash != h)
		i = (i + 1) & jar->mask;
	return &jar->slots[i];
}

/* Drops expired entries by rebuilding the table in place. */
static void jar_sweep(struct ticket_jar *jar, int64_t now)
{
	size_t n = jar->mask + 1;
	struct jar_slot *old = jar->slots;
	struct jar_slot *fresh = calloc(n, sizeof(*fresh));

	if (!fresh)
		return;
	jar->slots = fresh;
	jar->used = 0;
	for (size_t i = 0; i < n; i++) {
		if (old[i].hash && old[i].exp > now) {
			*jar_lookup(jar, old[i].hash) = old[i];
			jar->used++;
		}
	}
	free(old);
}

static bool room_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > TICKET_ROOM_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool copy_str(char *dst, size_t dst_len, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || n == 0 || n >= dst_len || memchr(s, '\0', n))
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

enum ticket_result ticket_verify(struct ticket_jar *jar, const char *tok, size_t len,
				 const unsigned char *key, size_t key_len, const char *server_id,
				 int64_t now, struct ticket *out)
{
	struct ticket t;
	json_t *claims = NULL, *epoch, *exp;
	const char *aud, *jti;
	struct jar_slot *slot;
	uint64_t h;
	enum ticket_result res = TICKET_BAD;

	if (tok_verify(tok, len, key, key_len, "ticket", now, &claims) != TOK_OK)
		return TICKET_BAD;
	aud = json_string_value(json_object_get(claims, "aud"));
	jti = json_string_value(json_object_get(claims, "jti"));
	epoch = json_object_get(claims, "epoch");
	exp = json_object_get(claims, "exp");
	if (!aud || !jti || json_string_length(json_object_get(claims, "jti")) == 0 ||
	    !json_is_integer(epoch) || json_integer_value(epoch) < 0 || !json_is_number(exp))
		goto out_claims;
	if (!copy_str(t.user, sizeof(t.user), json_object_get(claims, "sub")) ||
	    !copy_str(t.room, sizeof(t.room), json_object_get(claims, "room")) ||
	    !room_id_valid(t.room))
		goto out_claims;
	if (!copy_str(t.name, sizeof(t.name), json_object_get(claims, "name")))
		memcpy(t.name, t.user, sizeof(t.name));
	t.epoch = json_integer_value(epoch);
	if (strcmp(aud, server_id) != 0) {
		res = TICKET_ELSEWHERE;
		goto out_claims;
	}

	h = jar_hash(jar, jti, strlen(jti));
	slot = jar_lookup(jar, h);
	if (slot->hash) {
		if (slot->exp > now)
			goto out_claims;
		/* Expired entry for the same hash: reuse the slot. */
	} else {
		if (jar->used >= jar->max_used) {
			jar_sweep(jar, now);
			if (jar->used >= jar->max_used) {
				res = TICKET_BUSY;
				goto out_claims;
			}
			slot = jar_lookup(jar, h);
		}
		jar->used++;
	}
	slot->hash = h;
	slot->exp = (int64_t)json_number_value(exp) + 1;
	*out = t;
	res = TICKET_OK;
out_claims:
	json_decref(claims);
	return res;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out. Returns the length or -1. */
static long pct_decode(const char *s, size_t len, char *out, size_t out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int a, b;
			if (len - i < 3)
				return -1;
			a = hex(s[i + 1]);
			b = hex(s[i + 2]);
			if (a < 0 || b < 0)
				return -1;
			c = (char)(a * 16 + b);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o >= out_len)
			return -1;
		out[o++] = c;
	}
	return (long)o;
}

enum ticket_result ticket_from_query(struct ticket_jar *jar, const char *query, size_t query_len,
				     const unsigned char *key, size_t key_len,
				     const char *server_id, int64_t now, struct ticket *out)
{
	char buf[TOK_MAX_LEN];
	enum ticket_result best = TICKET_BAD;
	const char *p, *end = query ? query + query_len : NULL;

	for (int pass = 0; pass < 2 && query; pass++) {
		for (p = query; p < end;) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *pe = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			size_t klen = (size_t)((eq ? eq : pe) - p);
			bool is_token = klen == 5 && memcmp(p, "token", 5) == 0;
			bool is_since = klen == 5 && memcmp(p, "since", 5) == 0;
			long n;
			enum ticket_result r;

			p = amp ? amp + 1 : end;
			if (!eq || is_since || (pass == 0) != is_token)
				continue;
			n = pct_decode(eq + 1, (size_t)(pe - eq - 1), buf, sizeof(buf));
			if (n <= 0) {
				if (pass == 0)
					return TICKET_BAD;
				continue;
			}
			r = ticket_verify(jar, buf, (size_t)n, key, key_len, server_id, now, out);
			if (pass == 0 || r == TICKET_OK)
				return r;
			if (r == TICKET_ELSEWHERE)
				best = r;
		}
	}
	return best;
}
