/* throttle: see throttle.h. */
#include "throttle.h"

#include <assert.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define THR_KEY_MAX WIRE_SUB_MAX
#define THR_ACTIONS 4
#define THR_BASE_MS 1000u
#define THR_MAX_BLOCK_MS (15u * 60u * 1000u)
#define THR_FORGET_MS (60u * 60u * 1000u)
#define THR_TOKEN 1000u         /* a guest bucket counts thousandths of a login */

_Static_assert((THR_MAX_ENTRIES & (THR_MAX_ENTRIES - 1)) == 0, "a power of two");
_Static_assert(CA_LEN <= THR_KEY_MAX, "an address fits a key");
_Static_assert(THR_MESSAGE_SEARCH + 1 == THR_ACTIONS, "one table per action");

struct thr_entry {
	struct thr_entry *hnext;            /* hash chain */
	struct thr_entry *newer, *older;    /* least recently used last */
	uint64_t last_ms;       /* failures: the last one; guest: the last refill */
	uint64_t until_ms;      /* failures: no attempt before this */
	uint32_t count;         /* failures; guest: thousandths of a login left */
	uint32_t inflight;      /* logins begun, not ended: never evicted */
	uint8_t klen;
	unsigned char key[THR_KEY_MAX];
};

_Static_assert(sizeof(struct thr_entry) + 16 <= THR_ENTRY_BYTES, "THR_ENTRY_BYTES says the truth");

struct thr_map {
	struct thr_entry **buckets;
	size_t n;
	struct thr_entry *newest, *oldest;
};

struct thr {
	struct thr_config cfg;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	struct thr_map accounts, ips, guests;
	struct thr_map actions[THR_ACTIONS];
};

/* ---- the bounded map --------------------------------------------------- */

static struct thr_entry **map_bucket(const struct thr *t, struct thr_map *m, const void *key, size_t klen)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, klen, t->hkey);
	memcpy(&v, h, sizeof v);
	return &m->buckets[v & (THR_MAX_ENTRIES - 1)];
}

static void map_lru_unlink(struct thr_map *m, struct thr_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		m->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		m->oldest = e->newer;
}

static void map_lru_push(struct thr_map *m, struct thr_entry *e)
{
	e->newer = NULL;
	e->older = m->newest;
	if (m->newest)
		m->newest->newer = e;
	else
		m->oldest = e;
	m->newest = e;
}

static void map_unlink(const struct thr *t, struct thr_map *m, struct thr_entry *e)
{
	struct thr_entry **pp = map_bucket(t, m, e->key, e->klen);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	map_lru_unlink(m, e);
	m->n--;
}

static struct thr_entry *map_find(const struct thr *t, struct thr_map *m, const void *key, size_t klen)
{
	struct thr_entry *e;

	for (e = *map_bucket(t, m, key, klen); e; e = e->hnext)
		if (e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

/* The entry of key, made (zeroed, *fresh set) if missing, now the most
 * recently used; NULL when the map is full of logins in flight or there
 * is no memory. */
static struct thr_entry *map_get(const struct thr *t, struct thr_map *m, const void *key, size_t klen,
				 bool *fresh)
{
	struct thr_entry *e = map_find(t, m, key, klen), **b;

	*fresh = !e;
	if (e) {
		map_lru_unlink(m, e);
		map_lru_push(m, e);
		return e;
	}
	if (m->n >= THR_MAX_ENTRIES) {
		for (e = m->oldest; e && e->inflight; e = e->newer)
			;
		if (!e)
			return NULL;
		map_unlink(t, m, e);
	} else {
		e = malloc(sizeof *e);
		if (!e)
			return NULL;
	}
	memset(e, 0, sizeof *e);
	memcpy(e->key, key, klen);
	e->klen = (uint8_t)klen;
	b = map_bucket(t, m, key, klen);
	e->hnext = *b;
	*b = e;
	map_lru_push(m, e);
	m->n++;
	return e;
}

static int map_init(struct thr_map *m)
{
	m->buckets = calloc(THR_MAX_ENTRIES, sizeof m->buckets[0]);
	return m->buckets ? 0 : -1;
}

static void map_free(struct thr_map *m)
{
	struct thr_entry *e, *next;

	for (e = m->newest; e; e = next) {
		next = e->older;
		free(e);
	}
	free(m->buckets);
}

/* ---- failures ---------------------------------------------------------- */

static void fail_forget(struct thr_entry *e, uint64_t now)
{
	if (e->count && now >= e->until_ms && now - e->last_ms >= THR_FORGET_MS)
		e->count = 0;
}

/* Seconds before e lets another attempt start, 0: now. */
static unsigned fail_wait(const struct thr_entry *e, unsigned limit, uint64_t now)
{
	if (now < e->until_ms)
		return (unsigned)((e->until_ms - now + 999) / 1000);
	/* Past the limit, one attempt at a time: those in flight decide. */
	if (e->inflight && e->count + e->inflight >= limit)
		return 1;
	return 0;
}

static void fail_count(struct thr_entry *e, unsigned limit, uint64_t now)
{
	unsigned shift;

	fail_forget(e, now);
	if (e->count < UINT32_MAX)
		e->count++;
	e->last_ms = now;
	if (e->count < limit)
		return;
	shift = e->count - limit;
	e->until_ms = now + (shift >= 10 ? THR_MAX_BLOCK_MS :
			     (THR_BASE_MS << shift < THR_MAX_BLOCK_MS ? THR_BASE_MS << shift : THR_MAX_BLOCK_MS));
}

static size_t user_len(const char *user)
{
	return strnlen(user, THR_KEY_MAX);
}

unsigned thr_login_begin(struct thr *t, const char *user, const struct ca_addr *ip, uint64_t now_ms)
{
	struct thr_entry *a = NULL, *i = NULL;
	unsigned wait = 0, w;
	bool fresh;

	if (t->cfg.account_failures) {
		a = map_get(t, &t->accounts, user, user_len(user), &fresh);
		if (!a)
			return 1;
		fail_forget(a, now_ms);
		wait = fail_wait(a, t->cfg.account_failures, now_ms);
	}
	if (t->cfg.ip_failures) {
		i = map_get(t, &t->ips, ip->b, CA_LEN, &fresh);
		if (!i)
			return 1;
		fail_forget(i, now_ms);
		w = fail_wait(i, t->cfg.ip_failures, now_ms);
		if (w > wait)
			wait = w;
	}
	if (wait)
		return wait;
	if (a)
		a->inflight++;
	if (i)
		i->inflight++;
	return 0;
}

void thr_login_end(struct thr *t, const char *user, const struct ca_addr *ip, enum thr_outcome o,
		   uint64_t now_ms)
{
	/* Entries with logins in flight are never evicted: both are there. */
	struct thr_entry *a = t->cfg.account_failures ? map_find(t, &t->accounts, user, user_len(user)) : NULL;
	struct thr_entry *i = t->cfg.ip_failures ? map_find(t, &t->ips, ip->b, CA_LEN) : NULL;

	if (a && a->inflight)
		a->inflight--;
	if (i && i->inflight)
		i->inflight--;
	if (o == THR_FAILURE) {
		if (a)
			fail_count(a, t->cfg.account_failures, now_ms);
		if (i)
			fail_count(i, t->cfg.ip_failures, now_ms);
	} else if (o == THR_SUCCESS && a) {
		a->count = 0;
		a->until_ms = 0;
		if (!a->inflight) {
			map_unlink(t, &t->accounts, a);
			free(a);
		}
	}
}

/* ---- guests ------------------------------------------------------------ */

/* Takes a token from the bucket of key in m, which holds per_min and refills
 * at that rate: 0, or the seconds until one is back. */
static unsigned bucket_take(struct thr *t, struct thr_map *m, const void *key, size_t klen,
			    uint64_t per_min, uint64_t now_ms)
{
	uint64_t cap = per_min * THR_TOKEN, add, ms;
	struct thr_entry *e;
	bool fresh;

	if (!per_min)
		return 0;
	e = map_get(t, m, key, klen, &fresh);
	if (!e)
		return 1;
	if (fresh) {
		e->count = (uint32_t)cap;
		e->last_ms = now_ms;
	}
	/* per_min tokens a minute: per_min / 60 thousandths a millisecond. The
	 * clock moves on only by the time turned into tokens, so that frequent
	 * calls lose no fraction. */
	add = (now_ms - e->last_ms) * per_min / 60;
	if (add) {
		if (e->count + add >= cap) {
			e->count = (uint32_t)cap;
			e->last_ms = now_ms;
		} else {
			e->count += (uint32_t)add;
			e->last_ms += add * 60 / per_min;
		}
	}
	if (e->count >= THR_TOKEN) {
		e->count -= THR_TOKEN;
		return 0;
	}
	ms = ((THR_TOKEN - e->count) * 60 + per_min - 1) / per_min;
	return (unsigned)((ms + 999) / 1000);
}

unsigned thr_guest(struct thr *t, const struct ca_addr *ip, uint64_t now_ms)
{
	return bucket_take(t, &t->guests, ip->b, CA_LEN, t->cfg.guest_per_minute, now_ms);
}

unsigned thr_action(struct thr *t, enum thr_action a, const char *user, uint64_t now_ms)
{
	assert(a < THR_ACTIONS);
	return bucket_take(t, &t->actions[a], user, user_len(user), t->cfg.action_per_minute[a], now_ms);
}

/* ---- life -------------------------------------------------------------- */

int thr_new(const struct thr_config *cfg, struct thr **out)
{
	struct thr *t;

	if (sodium_init() < 0)
		return -1;
	t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	t->cfg = *cfg;
	crypto_shorthash_keygen(t->hkey);
	if (map_init(&t->accounts) < 0 || map_init(&t->ips) < 0 || map_init(&t->guests) < 0)
		goto fail;
	for (size_t i = 0; i < THR_ACTIONS; i++)
		if (map_init(&t->actions[i]) < 0)
			goto fail;
	*out = t;
	return 0;
fail:
	thr_free(t);
	return -1;
}

void thr_free(struct thr *t)
{
	if (!t)
		return;
	map_free(&t->accounts);
	map_free(&t->ips);
	map_free(&t->guests);
	for (size_t i = 0; i < THR_ACTIONS; i++)
		map_free(&t->actions[i]);
	free(t);
}
