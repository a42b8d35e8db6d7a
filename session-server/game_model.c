/* game_model: the arena game (game_model.h). */
#include "game_model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: tiny, fast, and the same everywhere. */
static uint64_t rng_next(struct gm_state *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int32_t rng_range(struct gm_state *g, int32_t lo, int32_t hi)
{
	return lo + (int32_t)(rng_next(g) % (uint64_t)(hi - lo + 1));
}

static void coin_place(struct gm_state *g)
{
	g->coin_x = rng_range(g, GM_COIN_RADIUS, GM_WIDTH - GM_COIN_RADIUS);
	g->coin_y = rng_range(g, GM_COIN_RADIUS, GM_HEIGHT - GM_COIN_RADIUS);
}

void gm_init(struct gm_state *g, uint64_t seed, int seats)
{
	memset(g, 0, sizeof(*g));
	g->seed = seed;
	g->rng = seed;
	g->seats = seats < GM_SEATS_MIN ? GM_SEATS_MIN : seats > GM_SEATS_MAX ? GM_SEATS_MAX : seats;
	coin_place(g);
}

static uint64_t isqrt(uint64_t v)
{
	uint64_t r = 0, bit = 1ULL << 62;

	while (bit > v)
		bit >>= 2;
	while (bit) {
		if (v >= r + bit) {
			v -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

bool gm_dir_normalise(int32_t *dx, int32_t *dy)
{
	int64_t x = *dx, y = *dy;
	uint64_t len2 = (uint64_t)(x * x) + (uint64_t)(y * y), len;

	if (len2 <= (uint64_t)GM_DIR_MAX * GM_DIR_MAX)
		return false;
	len = isqrt(len2);
	if (len * len < len2)
		len++;
	/* Dividing by the length rounded up, and truncating toward zero,
	 * keeps the result within GM_DIR_MAX. */
	*dx = (int32_t)(x * GM_DIR_MAX / (int64_t)len);
	*dy = (int32_t)(y * GM_DIR_MAX / (int64_t)len);
	return true;
}

static bool seat_ok(const struct gm_state *g, int seat)
{
	return seat >= 0 && seat < g->seats;
}

int gm_sit(struct gm_state *g, int seat, const char *user, const char *name)
{
	struct gm_player *p;
	size_t ul, nl;

	if (!seat_ok(g, seat) || !user || !name)
		return -EINVAL;
	ul = strlen(user);
	nl = strlen(name);
	if (ul == 0 || ul > GM_USER_MAX || nl > GM_NAME_MAX)
		return -EINVAL;
	p = &g->p[seat];
	if (p->taken)
		return -EBUSY;
	memset(p, 0, sizeof(*p));
	p->taken = true;
	memcpy(p->user, user, ul + 1);
	memcpy(p->name, name, nl + 1);
	/* Spawn points on a grid of 4 x 4 cells: apart from each other. */
	p->x = (int32_t)(GM_WIDTH / 5 * (seat % 4 + 1));
	p->y = (int32_t)(GM_HEIGHT / 5 * (seat / 4 + 1));
	return 0;
}

int gm_unseat(struct gm_state *g, int seat)
{
	if (!seat_ok(g, seat) || !g->p[seat].taken)
		return -EINVAL;
	memset(&g->p[seat], 0, sizeof(g->p[seat]));
	return 0;
}

int gm_input(struct gm_state *g, int seat, int32_t dx, int32_t dy)
{
	if (!seat_ok(g, seat) || !g->p[seat].taken)
		return -EINVAL;
	gm_dir_normalise(&dx, &dy);
	g->p[seat].dx = dx;
	g->p[seat].dy = dy;
	return 0;
}

static int64_t dist2(int64_t ax, int64_t ay, int64_t bx, int64_t by)
{
	return (ax - bx) * (ax - bx) + (ay - by) * (ay - by);
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* A move is refused when it brings the player closer to another it would
 * overlap: players stop at each other, and two that spawned overlapping can
 * still part. */
static bool blocked(const struct gm_state *g, int i, int32_t nx, int32_t ny)
{
	const int64_t min2 = (int64_t)(2 * GM_RADIUS) * (2 * GM_RADIUS);
	const struct gm_player *p = &g->p[i];

	for (int j = 0; j < g->seats; j++) {
		const struct gm_player *q = &g->p[j];
		int64_t d;

		if (j == i || !q->taken)
			continue;
		d = dist2(nx, ny, q->x, q->y);
		if (d < min2 && d < dist2(p->x, p->y, q->x, q->y))
			return true;
	}
	return false;
}

uint32_t gm_step(struct gm_state *g)
{
	const int64_t reach2 = (int64_t)(GM_RADIUS + GM_COIN_RADIUS) * (GM_RADIUS + GM_COIN_RADIUS);
	uint32_t changed = 0;

	g->tick++;
	for (int i = 0; i < g->seats; i++) {
		struct gm_player *p = &g->p[i];
		int32_t nx, ny;

		if (!p->taken || (p->dx == 0 && p->dy == 0))
			continue;
		nx = clamp(p->x + p->dx * GM_SPEED / GM_DIR_MAX, GM_RADIUS, GM_WIDTH - GM_RADIUS);
		ny = clamp(p->y + p->dy * GM_SPEED / GM_DIR_MAX, GM_RADIUS, GM_HEIGHT - GM_RADIUS);
		if ((nx == p->x && ny == p->y) || blocked(g, i, nx, ny))
			continue;
		p->x = nx;
		p->y = ny;
		changed |= 1u << i;
	}
	for (int i = 0; i < g->seats; i++) {
		struct gm_player *p = &g->p[i];

		if (p->taken && dist2(p->x, p->y, g->coin_x, g->coin_y) <= reach2) {
			p->score++;
			coin_place(g);
			changed |= 1u << i | 1u << GM_SEATS_MAX;
		}
	}
	return changed;
}

int gm_seat_of(const struct gm_state *g, const char *user)
{
	for (int i = 0; i < g->seats; i++)
		if (g->p[i].taken && strcmp(g->p[i].user, user) == 0)
			return i;
	return -1;
}

int gm_free_seat(const struct gm_state *g)
{
	for (int i = 0; i < g->seats; i++)
		if (!g->p[i].taken)
			return i;
	return -1;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Values are hashed as little-endian bytes whatever the machine. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv(h, b, 8);
}

uint64_t gm_hash(const struct gm_state *g)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv_u64(h, g->tick);
	h = fnv_u64(h, g->rng);
	h = fnv_u64(h, g->seed);
	h = fnv_u64(h, (uint64_t)g->seats);
	h = fnv_u64(h, (uint64_t)(uint32_t)g->coin_x);
	h = fnv_u64(h, (uint64_t)(uint32_t)g->coin_y);
	for (int i = 0; i < g->seats; i++) {
		const struct gm_player *p = &g->p[i];

		h = fnv_u64(h, p->taken);
		if (!p->taken)
			continue;
		h = fnv(h, p->user, strlen(p->user) + 1);
		h = fnv(h, p->name, strlen(p->name) + 1);
		h = fnv_u64(h, (uint64_t)(uint32_t)p->x);
		h = fnv_u64(h, (uint64_t)(uint32_t)p->y);
		h = fnv_u64(h, (uint64_t)(uint32_t)p->dx);
		h = fnv_u64(h, (uint64_t)(uint32_t)p->dy);
		h = fnv_u64(h, p->score);
	}
	return h;
}

/* ----------------------------------------------------------------- JSON */

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static json_t *u64_str(uint64_t v, bool hex)
{
	char b[24];

	snprintf(b, sizeof b, hex ? "%016" PRIx64 : "%" PRIu64, v);
	return json_string(b);
}

static bool get_u64(const json_t *o, const char *key, bool hex, uint64_t *out)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *end;

	if (!s || !*s || strlen(s) > (hex ? 16 : 20) || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*out = strtoull(s, &end, hex ? 16 : 10);
	return errno == 0 && *end == '\0';
}

static bool get_int(const json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return *out >= lo && *out <= hi;
}

static bool get_str(const json_t *o, const char *key, size_t max, const char **out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return false;
	*out = json_string_value(v);
	return true;
}

json_t *gm_to_json(const struct gm_state *g)
{
	json_t *players = json_array(), *j;

	for (int i = 0; i < g->seats; i++) {
		const struct gm_player *p = &g->p[i];

		if (p->taken)
			json_array_append_new(players, json_pack("{s:i,s:s,s:s,s:i,s:i,s:i,s:i,s:I}", "seat", i,
								 "userId", p->user, "name", p->name, "x", p->x,
								 "y", p->y, "dx", p->dx, "dy", p->dy, "score",
								 (json_int_t)p->score));
	}
	j = json_pack("{s:I,s:o,s:o,s:i,s:[ii],s:o}", "tick", (json_int_t)g->tick, "rng",
		      u64_str(g->rng, true), "seed", u64_str(g->seed, false), "seats", g->seats, "coin",
		      g->coin_x, g->coin_y, "players", players);
	return j;
}

static bool in_arena(json_int_t x, json_int_t y, int32_t r)
{
	return x >= r && x <= GM_WIDTH - r && y >= r && y <= GM_HEIGHT - r;
}

int gm_from_json(struct gm_state *g, const json_t *j)
{
	struct gm_state s;
	json_int_t tick, seats, v[7];
	const json_t *players, *coin, *p;
	uint64_t rng, seed;
	size_t i;

	if (!get_int(j, "tick", 0, INT64_MAX, &tick) || !get_u64(j, "rng", true, &rng) ||
	    !get_u64(j, "seed", false, &seed) || !get_int(j, "seats", GM_SEATS_MIN, GM_SEATS_MAX, &seats))
		return -EINVAL;
	coin = json_object_get(j, "coin");
	players = json_object_get(j, "players");
	if (!json_is_array(coin) || json_array_size(coin) != 2 || !json_is_array(players) ||
	    !json_is_integer(json_array_get(coin, 0)) || !json_is_integer(json_array_get(coin, 1)))
		return -EINVAL;
	gm_init(&s, seed, (int)seats);
	s.tick = (uint64_t)tick;
	s.rng = rng;
	s.coin_x = (int32_t)json_integer_value(json_array_get(coin, 0));
	s.coin_y = (int32_t)json_integer_value(json_array_get(coin, 1));
	if (!in_arena(json_integer_value(json_array_get(coin, 0)), json_integer_value(json_array_get(coin, 1)),
		      GM_COIN_RADIUS))
		return -EINVAL;
	json_array_foreach(players, i, p) {
		const char *user, *name;
		struct gm_player *q;

		if (!get_int(p, "seat", 0, seats - 1, &v[0]) || !get_str(p, "userId", GM_USER_MAX, &user) ||
		    !get_str(p, "name", GM_NAME_MAX, &name) || !get_int(p, "x", 0, GM_WIDTH, &v[1]) ||
		    !get_int(p, "y", 0, GM_HEIGHT, &v[2]) || !get_int(p, "dx", -GM_DIR_MAX, GM_DIR_MAX, &v[3]) ||
		    !get_int(p, "dy", -GM_DIR_MAX, GM_DIR_MAX, &v[4]) ||
		    !get_int(p, "score", 0, UINT32_MAX, &v[5]) || !in_arena(v[1], v[2], GM_RADIUS))
			return -EINVAL;
		if (gm_sit(&s, (int)v[0], user, name) != 0)
			return -EINVAL;
		q = &s.p[v[0]];
		q->x = (int32_t)v[1];
		q->y = (int32_t)v[2];
		q->dx = (int32_t)v[3];
		q->dy = (int32_t)v[4];
		if (gm_dir_normalise(&q->dx, &q->dy))
			return -EINVAL;
		q->score = (uint32_t)v[5];
	}
	*g = s;
	return 0;
}

char *gm_rec_seed(const struct gm_state *g, unsigned hz)
{
	return dump(json_pack("{s:o,s:i,s:i}", "seed", u64_str(g->seed, false), "seats", g->seats, "hz",
			      (int)hz));
}

char *gm_rec_seat(const struct gm_state *g, int seat)
{
	return dump(json_pack("{s:I,s:i,s:s,s:s}", "tick", (json_int_t)g->tick, "seat", seat, "userId",
			      g->p[seat].user, "name", g->p[seat].name));
}

char *gm_rec_unseat(const struct gm_state *g, int seat)
{
	return dump(json_pack("{s:I,s:i}", "tick", (json_int_t)g->tick, "seat", seat));
}

char *gm_rec_input(const struct gm_state *g, int seat)
{
	return dump(json_pack("{s:I,s:i,s:[ii]}", "tick", (json_int_t)g->tick, "seat", seat, "dir",
			      g->p[seat].dx, g->p[seat].dy));
}

char *gm_rec_hash(const struct gm_state *g)
{
	return dump(json_pack("{s:I,s:o,s:o}", "tick", (json_int_t)g->tick, "hash",
			      u64_str(gm_hash(g), true), "state", gm_to_json(g)));
}

/* Steps g up to the record's tick. */
static int reach(struct gm_state *g, const json_t *o)
{
	json_int_t tick;

	if (!get_int(o, "tick", 0, INT64_MAX, &tick) || (uint64_t)tick < g->tick ||
	    (uint64_t)tick - g->tick > GM_TICK_JUMP_MAX)
		return -EINVAL;
	while (g->tick < (uint64_t)tick)
		gm_step(g);
	return 0;
}

int gm_apply_record(struct gm_state *g, const char *kind, const char *payload, size_t len,
		    bool *has_hash, uint64_t *hash_out)
{
	json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	json_int_t seat, seats;
	const char *user, *name;
	const json_t *dir;
	uint64_t seed;
	int rc = -EINVAL;

	*has_hash = false;
	if (!json_is_object(o))
		goto out;
	if (strcmp(kind, "seed") == 0) {
		if (!get_u64(o, "seed", false, &seed) ||
		    !get_int(o, "seats", GM_SEATS_MIN, GM_SEATS_MAX, &seats))
			goto out;
		gm_init(g, seed, (int)seats);
		rc = 0;
	} else if (strcmp(kind, "seat") == 0) {
		if (!get_int(o, "seat", 0, GM_SEATS_MAX - 1, &seat) ||
		    !get_str(o, "userId", GM_USER_MAX, &user) || !get_str(o, "name", GM_NAME_MAX, &name) ||
		    reach(g, o) != 0)
			goto out;
		rc = gm_sit(g, (int)seat, user, name) == 0 ? 0 : -EINVAL;
	} else if (strcmp(kind, "unseat") == 0) {
		if (!get_int(o, "seat", 0, GM_SEATS_MAX - 1, &seat) || reach(g, o) != 0)
			goto out;
		rc = gm_unseat(g, (int)seat);
	} else if (strcmp(kind, "input") == 0) {
		dir = json_object_get(o, "dir");
		if (!get_int(o, "seat", 0, GM_SEATS_MAX - 1, &seat) || !json_is_array(dir) ||
		    json_array_size(dir) != 2 || !json_is_integer(json_array_get(dir, 0)) ||
		    !json_is_integer(json_array_get(dir, 1)) || reach(g, o) != 0)
			goto out;
		/* What the server logged is already normalised; a log that says
		 * otherwise is refused, not corrected: replay must not hide it. */
		json_int_t dx = json_integer_value(json_array_get(dir, 0));
		json_int_t dy = json_integer_value(json_array_get(dir, 1));
		if (dx < -GM_DIR_MAX || dx > GM_DIR_MAX || dy < -GM_DIR_MAX || dy > GM_DIR_MAX ||
		    dx * dx + dy * dy > (json_int_t)GM_DIR_MAX * GM_DIR_MAX)
			goto out;
		rc = gm_input(g, (int)seat, (int32_t)dx, (int32_t)dy);
	} else if (strcmp(kind, "hash") == 0) {
		if (!get_u64(o, "hash", true, hash_out) || reach(g, o) != 0)
			goto out;
		*has_hash = true;
		rc = 0;
	}
out:
	json_decref(o);
	return rc;
}
