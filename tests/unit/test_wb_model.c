/* The whiteboard's model: ops checked and written canonically, undo only
 * of one's own live op, redo, clear, snapshots that give back the same
 * board and hash, and records that cannot be read refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "replay.h"
#include "wb_model.h"

static char *canon(const char *json, const char **why)
{
	json_t *o = json_loads(json, 0, NULL);
	char *out = NULL;
	size_t len;

	*why = NULL;
	if (wbm_op_check(o, &out, &len, why) != 0)
		out = NULL;
	json_decref(o);
	return out;
}

static int apply(struct wbm *m, int64_t seq, const char *kind, const char *user, const char *payload,
		 int64_t target)
{
	struct app_record r = { .seq = seq, .ts = 1000 + seq, .kind = kind, .user = user, .name = user,
				.payload = payload ? payload : "", .payload_len = payload ? strlen(payload) : 0,
				.target = target };
	return wbm_apply(m, &r);
}

static void test_op_check(void)
{
	const char *why;
	char *s;

	s = canon("{\"kind\":\"stroke\",\"color\":\"#FF0000\",\"width\":3,\"points\":[1.4,2.6,4096,0],\"extra\":1}", &why);
	CHECK_EQ_STR(s, "{\"color\":\"#ff0000\",\"kind\":\"stroke\",\"points\":[1,3,4096,0],\"width\":3}");
	free(s);
	s = canon("{\"kind\":\"text\",\"color\":\"#000000\",\"size\":12,\"points\":[5,5],\"text\":\"hi\"}", &why);
	CHECK(s != NULL);
	free(s);
	s = canon("{\"kind\":\"erase\",\"targets\":[3,4]}", &why);
	CHECK_EQ_STR(s, "{\"kind\":\"erase\",\"targets\":[3,4]}");
	free(s);

	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"red\",\"width\":3,\"points\":[1,2]}", &why));
	CHECK_EQ_STR(why, "color must be #rrggbb");
	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":3,\"points\":[1,4097]}", &why));
	CHECK_EQ_STR(why, "coordinates must be numbers from 0 to 4096");
	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":3,\"points\":[-1,0]}", &why));
	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":3,\"points\":[1,2,3]}", &why));
	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":3,\"points\":[\"1\",2]}", &why));
	CHECK(!canon("{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":0,\"points\":[1,2]}", &why));
	CHECK(!canon("{\"kind\":\"line\",\"color\":\"#000000\",\"width\":2,\"points\":[1,2]}", &why));
	CHECK(!canon("{\"kind\":\"text\",\"color\":\"#000000\",\"size\":12,\"points\":[5,5],\"text\":\"\"}", &why));
	CHECK(!canon("{\"kind\":\"erase\",\"targets\":[]}", &why));
	CHECK(!canon("{\"kind\":\"blob\"}", &why));
	CHECK(!canon("[1]", &why));

	/* 1000 points pass, 1001 do not. */
	{
		size_t cap = 1001 * 8 + 100, n;
		char *big = malloc(cap);
		for (int pts = 1000; pts <= 1001; pts++) {
			n = (size_t)snprintf(big, cap, "{\"kind\":\"stroke\",\"color\":\"#000000\",\"width\":1,\"points\":[");
			for (int i = 0; i < pts; i++)
				n += (size_t)snprintf(big + n, cap - n, "%s1,2", i ? "," : "");
			snprintf(big + n, cap - n, "]}");
			s = canon(big, &why);
			CHECK(pts == 1000 ? s != NULL : s == NULL);
			free(s);
		}
		free(big);
	}
}

static const char *OP = "{\"color\":\"#000000\",\"kind\":\"line\",\"points\":[1,2,3,4],\"width\":2}";

static void test_undo_redo_clear(void)
{
	struct wbm m;
	uint64_t empty, h1;

	wbm_init(&m);
	empty = wbm_hash(&m);
	CHECK_EQ_INT(apply(&m, 1, "op", "ada", OP, 0), 0);
	CHECK_EQ_INT(apply(&m, 2, "op", "bob", OP, 0), 0);
	h1 = wbm_hash(&m);
	CHECK(h1 != empty);
	CHECK_EQ_INT(wbm_can_target(&m, "bob", 1, false), WBM_TARGET_NOT_YOURS);
	CHECK_EQ_INT(wbm_can_target(&m, "ada", 7, false), WBM_TARGET_NOT_FOUND);
	CHECK_EQ_INT(wbm_can_target(&m, "ada", 1, true), WBM_TARGET_STATE);
	/* bob's undo of ada's op changes nothing */
	CHECK_EQ_INT(apply(&m, 3, "undo", "bob", NULL, 1), 0);
	CHECK(!wbm_find(&m, 1)->undone);
	CHECK(wbm_hash(&m) == h1);
	CHECK_EQ_INT(apply(&m, 4, "undo", "ada", NULL, 1), 0);
	CHECK(wbm_find(&m, 1)->undone);
	CHECK(wbm_hash(&m) != h1);
	CHECK_EQ_INT(wbm_can_target(&m, "ada", 1, false), WBM_TARGET_STATE);
	CHECK_EQ_INT(apply(&m, 5, "redo", "ada", NULL, 1), 0);
	CHECK(!wbm_find(&m, 1)->undone);
	CHECK(wbm_hash(&m) == h1);
	CHECK_EQ_INT(apply(&m, 6, "clear", "bob", NULL, 0), 0);
	CHECK_EQ_INT(m.n, 0);
	CHECK(wbm_hash(&m) == empty);
	CHECK_EQ_INT(wbm_can_target(&m, "ada", 1, false), WBM_TARGET_NOT_FOUND);

	CHECK_EQ_INT(apply(&m, 7, "nonsense", "bob", NULL, 0), -EINVAL);
	CHECK_EQ_INT(apply(&m, 8, "undo", "bob", NULL, 0), -EINVAL);
	CHECK_EQ_INT(apply(&m, 9, "op", "bob", "", 0), -EINVAL);
	wbm_fini(&m);
}

static void test_snapshot_round_trip(void)
{
	struct wbm m, n;
	char *snap;
	size_t len;
	int64_t upto;
	uint64_t hash;

	wbm_init(&m);
	wbm_init(&n);
	apply(&m, 1, "op", "ada", OP, 0);
	apply(&m, 2, "op", "bob", "{\"color\":\"#00ff00\",\"kind\":\"text\",\"points\":[9,9],\"size\":12,\"text\":\"hé \\\"x\\\"\"}", 0);
	apply(&m, 3, "op", "ada", OP, 0);
	apply(&m, 4, "undo", "ada", NULL, 3);
	snap = wbm_snapshot(&m, 4, &len);
	CHECK(snap != NULL);
	CHECK_EQ_INT(wbm_snapshot_head(snap, len, &upto, &hash), 0);
	CHECK_EQ_INT(upto, 4);
	CHECK(hash == wbm_hash(&m));
	/* A board elsewhere, replaced by the snapshot. */
	apply(&n, 1, "op", "zed", OP, 0);
	CHECK_EQ_INT(apply(&n, 5, "snapshot", "", snap, 0), 0);
	CHECK(wbm_hash(&n) == wbm_hash(&m));
	CHECK_EQ_INT(n.n, 3);
	CHECK(n.ops[2].undone);
	/* The redo still works after compaction. */
	CHECK_EQ_INT(apply(&n, 6, "redo", "ada", NULL, 3), 0);
	CHECK(!n.ops[2].undone);

	/* A snapshot whose ops do not match its hash is refused, the board kept. */
	{
		char *bad = strdup(snap);
		char *p = strstr(bad, "\"seq\":3");
		p[6] = '7';
		CHECK_EQ_INT(apply(&n, 10, "snapshot", "", bad, 0), -EINVAL);
		CHECK_EQ_INT(n.n, 3);
		free(bad);
	}
	CHECK_EQ_INT(apply(&n, 8, "snapshot", "", "{\"ops\":5}", 0), -EINVAL);
	CHECK_EQ_INT(apply(&n, 9, "snapshot", "", "not json", 0), -EINVAL);
	free(snap);
	wbm_fini(&m);
	wbm_fini(&n);
}

extern const struct replay_model wb_replay;

/* The replay model: a log with snapshots replays to the hashes they
 * recorded; a snapshot that lies about the board is caught. */
static void test_replay(void)
{
	struct wbm live;
	void *r = wb_replay.create();
	char *snap;
	size_t len;
	bool has;
	uint64_t hash;
	struct app_record rec = { .kind = "snapshot", .user = "", .name = "" };

	wbm_init(&live);
	CHECK_EQ_STR(wb_replay.app, "whiteboard");
	for (int64_t s = 1; s <= 3; s++) {
		struct app_record op = { .seq = s, .ts = s, .kind = "op", .user = "ada", .name = "ada",
					 .payload = OP, .payload_len = strlen(OP) };
		wbm_apply(&live, &op);
		CHECK_EQ_INT(wb_replay.apply(r, &op, &has, &hash), 0);
		CHECK(!has);
	}
	snap = wbm_snapshot(&live, 3, &len);
	rec.seq = 4;
	rec.payload = snap;
	rec.payload_len = len;
	CHECK_EQ_INT(wb_replay.apply(r, &rec, &has, &hash), 0);
	CHECK(has);
	CHECK(hash == wb_replay.state_hash(r));
	/* The same snapshot later, after an undo: its hash no longer matches
	 * the board replayed (the tool reports that seq). */
	{
		struct app_record undo = { .seq = 5, .kind = "undo", .user = "ada", .name = "ada",
					   .payload = "", .target = 2 };
		CHECK_EQ_INT(wb_replay.apply(r, &undo, &has, &hash), 0);
		rec.seq = 6;
		free(snap);
		snap = wbm_snapshot(&live, 5, &len);
		rec.payload = snap;
		rec.payload_len = len;
		CHECK_EQ_INT(wb_replay.apply(r, &rec, &has, &hash), 0);
		CHECK(has);
		CHECK(hash != wb_replay.state_hash(r));
	}
	/* upto must be the record before it. */
	rec.seq = 9;
	CHECK_EQ_INT(wb_replay.apply(r, &rec, &has, &hash), -EINVAL);
	free(snap);
	wbm_fini(&live);
	wb_replay.destroy(r);
}

int main(void)
{
	test_replay();
	test_op_check();
	test_undo_redo_clear();
	test_snapshot_round_trip();
	return check_done();
}
