/* The arena game's model: the same records give the same hash, impossible
 * directions are corrected, players stop at walls and each other, a state
 * survives its JSON, and a log that lies is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_model.h"

/* Applies a record built by one of gm_rec_*, as a reader of the log would. */
static int apply(struct gm_state *g, const char *kind, char *payload, bool *has, uint64_t *h)
{
	int rc = gm_apply_record(g, kind, payload, strlen(payload), has, h);

	free(payload);
	return rc;
}

/* A short game played live on `live`, its records replayed on `replayed`. */
static void play(uint64_t seed, int32_t dx, struct gm_state *live, struct gm_state *replayed)
{
	bool has;
	uint64_t h;

	gm_init(live, seed, 4);
	CHECK_EQ_INT(apply(replayed, "seed", gm_rec_seed(live, 20), &has, &h), 0);
	CHECK_EQ_INT(gm_sit(live, 0, "alice", "Alice"), 0);
	CHECK_EQ_INT(apply(replayed, "seat", gm_rec_seat(live, 0), &has, &h), 0);
	CHECK_EQ_INT(gm_sit(live, 1, "bob", "Bob"), 0);
	CHECK_EQ_INT(apply(replayed, "seat", gm_rec_seat(live, 1), &has, &h), 0);
	for (int t = 0; t < 400; t++) {
		if (t % 37 == 0) {
			gm_input(live, 0, t % 2 ? dx : -dx, (t * 13) % 2001 - 1000);
			CHECK_EQ_INT(apply(replayed, "input", gm_rec_input(live, 0), &has, &h), 0);
			gm_input(live, 1, -(t * 7 % 1000), 1000);
			CHECK_EQ_INT(apply(replayed, "input", gm_rec_input(live, 1), &has, &h), 0);
		}
		gm_step(live);
		if (live->tick % 20 == 0) {
			CHECK_EQ_INT(apply(replayed, "hash", gm_rec_hash(live), &has, &h), 0);
			CHECK(has);
			CHECK(h == gm_hash(replayed));
		}
	}
}

static void test_same_records_same_hash(void)
{
	struct gm_state a, b, c, d;

	play(42, 1000, &a, &b);
	CHECK(gm_hash(&a) == gm_hash(&b));
	CHECK_EQ_INT(b.tick, 400);
	play(42, 1000, &c, &d);
	CHECK(gm_hash(&a) == gm_hash(&c));
	/* Another seed or another input: another game. */
	play(43, 1000, &c, &d);
	CHECK(gm_hash(&a) != gm_hash(&c));
	play(42, 999, &c, &d);
	CHECK(gm_hash(&a) != gm_hash(&c));
}

static void test_impossible_direction_corrected(void)
{
	struct gm_state g;
	int32_t x0;

	gm_init(&g, 1, 2);
	CHECK_EQ_INT(gm_sit(&g, 0, "u", "U"), 0);
	x0 = g.p[0].x;
	CHECK_EQ_INT(gm_input(&g, 0, 1000000000, 0), 0);
	CHECK_EQ_INT(g.p[0].dx, GM_DIR_MAX);
	CHECK_EQ_INT(g.p[0].dy, 0);
	gm_step(&g);
	CHECK_EQ_INT(g.p[0].x - x0, GM_SPEED);
	/* A diagonal keeps its heading and is no faster. */
	CHECK_EQ_INT(gm_input(&g, 0, -5000, -5000), 0);
	CHECK(g.p[0].dx == g.p[0].dy);
	CHECK((int64_t)g.p[0].dx * g.p[0].dx * 2 <= (int64_t)GM_DIR_MAX * GM_DIR_MAX);
	CHECK(g.p[0].dx < -700);
	/* Input for an empty or missing seat is refused. */
	CHECK_EQ_INT(gm_input(&g, 1, 1, 1), -EINVAL);
	CHECK_EQ_INT(gm_input(&g, 5, 1, 1), -EINVAL);
	CHECK_EQ_INT(gm_sit(&g, 0, "v", "V"), -EBUSY);
	CHECK_EQ_INT(gm_sit(&g, 2, "v", "V"), -EINVAL);
}

static void test_walls_and_players_stop(void)
{
	struct gm_state g;

	gm_init(&g, 7, 2);
	gm_sit(&g, 0, "a", "A");
	gm_sit(&g, 1, "b", "B");
	/* Seat 0 runs left into the wall. */
	gm_input(&g, 0, -1000, 0);
	for (int i = 0; i < 1000; i++)
		gm_step(&g);
	CHECK_EQ_INT(g.p[0].x, GM_RADIUS);
	/* Then right into seat 1, which stands still: it stops short of it. */
	gm_input(&g, 0, 1000, 0);
	g.p[1].y = g.p[0].y;
	for (int i = 0; i < 1000; i++)
		gm_step(&g);
	CHECK(g.p[1].x - g.p[0].x >= 2 * GM_RADIUS - GM_SPEED);
	CHECK(g.p[0].x < g.p[1].x);
}

static void test_coin_scores(void)
{
	struct gm_state g;
	int32_t cx, cy;
	uint32_t changed;

	gm_init(&g, 9, 2);
	gm_sit(&g, 0, "a", "A");
	cx = g.coin_x;
	cy = g.coin_y;
	g.p[0].x = cx;
	g.p[0].y = cy;
	changed = gm_step(&g);
	CHECK_EQ_INT(g.p[0].score, 1);
	CHECK(changed & (1u << GM_SEATS_MAX));
	CHECK(g.coin_x != cx || g.coin_y != cy);
}

static void test_json_round_trip(void)
{
	struct gm_state a, b, c;
	json_t *j;

	play(5, 800, &a, &b);
	j = gm_to_json(&a);
	CHECK_EQ_INT(gm_from_json(&c, j), 0);
	CHECK(gm_hash(&c) == gm_hash(&a));
	/* Out of the arena: refused. */
	json_object_set_new(json_array_get(json_object_get(j, "players"), 0), "x", json_integer(-5));
	CHECK_EQ_INT(gm_from_json(&c, j), -EINVAL);
	json_decref(j);
}

static void test_bad_records_refused(void)
{
	struct gm_state g;
	bool has;
	uint64_t h;
	const char *bad[][2] = {
		{ "input", "{\"tick\":5,\"seat\":0,\"dir\":[1000,1000]}" },   /* too fast */
		{ "input", "{\"tick\":5,\"seat\":1,\"dir\":[1,0]}" },         /* empty seat */
		{ "input", "{\"tick\":1,\"seat\":0,\"dir\":[1,0]}" },         /* in the past */
		{ "input", "{\"tick\":99999999999,\"seat\":0,\"dir\":[1,0]}" }, /* too far */
		{ "seat", "{\"tick\":5,\"seat\":0,\"userId\":\"b\",\"name\":\"B\"}" },  /* taken */
		{ "hash", "{\"tick\":5,\"hash\":\"xyz\"}" },
		{ "input", "[1]" },
		{ "nonsense", "{}" },
	};

	gm_init(&g, 3, 2);
	const char *sit = "{\"tick\":3,\"seat\":0,\"userId\":\"a\",\"name\":\"A\"}";

	CHECK_EQ_INT(gm_apply_record(&g, "seat", sit, strlen(sit), &has, &h), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(gm_apply_record(&g, bad[i][0], bad[i][1], strlen(bad[i][1]), &has, &h), -EINVAL);
	CHECK_EQ_INT(g.tick, 5);
}

int main(void)
{
	test_same_records_same_hash();
	test_impossible_direction_corrected();
	test_walls_and_players_stop();
	test_coin_scores();
	test_json_round_trip();
	test_bad_records_refused();
	return check_done();
}
