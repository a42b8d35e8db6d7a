/* POST /api/dms {"userId"} → {"roomId"}: the one conversation of the caller
 * and userId (docs/protocol.md, "Direct messages"), 200 when it exists, 201
 * when this call made it.
 *
 * Three steps. (1) One statement reads whether the pair may talk (the
 * account, blocks both ways, the other's dm_policy and friendship) and their
 * room, and when there is one, puts it back in the caller's rooms. (2) With
 * no room yet, the scheduler places a new one exactly as POST /api/rooms
 * does, but outside that endpoint's quota and rate (a DM has its own limit,
 * THR_DM_START). (3) One statement claims the pair for the placed room:
 * direct_rooms' unique (user_a, user_b) lets only one of two concurrent
 * starts win; the same statement makes the room a 'dm', writes both
 * memberships and tells the other user's inbox. The loser deletes the room
 * it placed (nobody has its id) and answers the winner's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "ids.h"
#include "log.h"
#include "throttle.h"

/* A random 12-character id collides with one in about 2^31 rooms: as in
 * api_rooms.c, a few tries make a failure a broken RNG, not bad luck. */
#define DMS_PLACE_TRIES 5

/* Each member may have several tabs open; capacity counts users. */
#define DMS_CAPACITY 2

static const char dms_retry_full[] = "Retry-After: 5\r\n";

/* $1 the caller, $2 the other. No row: no such account. The caller's
 * membership is restored only when the answer is the room. */
static const char dms_check_sql[] =
	"WITH t AS ("
	"  SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS me,"
	"    EXISTS (SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2)"
	"                                 OR (blocker = $2 AND blocked = $1))"
	"    OR (u.dm_policy = 'friends'"
	"        AND NOT EXISTS (SELECT 1 FROM friends WHERE user_id = $2 AND friend_id = $1)) AS refused,"
	"    d.room_id"
	"  FROM users u LEFT JOIN direct_rooms d"
	"    ON d.user_a = least($1, $2) AND d.user_b = greatest($1, $2)"
	"  WHERE u.id = $2),"
	" m AS (INSERT INTO memberships (user_id, room_id)"
	"  SELECT $1, room_id FROM t WHERE me AND NOT refused AND room_id IS NOT NULL"
	"  ON CONFLICT (user_id, room_id) DO UPDATE SET left_at = NULL, joined_at = now()"
	"  WHERE memberships.left_at IS NOT NULL)"
	" SELECT me, refused, room_id FROM t";

/* $1 the placed room, $2 the caller, $3 the other. One row (the room) when
 * this start won the pair; none when another start claimed it first. */
static const char dms_claim_sql[] =
	"WITH d AS (INSERT INTO direct_rooms (room_id, user_a, user_b)"
	"  VALUES ($1, least($2, $3), greatest($2, $3))"
	"  ON CONFLICT (user_a, user_b) DO NOTHING RETURNING room_id),"
	" k AS (UPDATE rooms SET kind = 'dm' WHERE id IN (SELECT room_id FROM d)),"
	" m AS (INSERT INTO memberships (user_id, room_id)"
	"  SELECT u, d.room_id FROM d, unnest(ARRAY[$2, $3]) u"
	"  ON CONFLICT (user_id, room_id) DO UPDATE SET left_at = NULL, joined_at = now()"
	"  WHERE memberships.left_at IS NOT NULL),"
	" n AS (SELECT pg_notify('stateroom_inbox', json_build_object('to', $3::text, 'event',"
	"    json_build_object('type', 'dm', 'roomId', d.room_id, 'seq', 0))::text) FROM d)"
	" SELECT d.room_id FROM d, (SELECT count(*) FROM n) sent";

/* After losing: the placed room goes, the winner's is answered (a new
 * statement, so it sees the winner's commit) and is the caller's again. */
static const char dms_lost_sql[] =
	"WITH gone AS (DELETE FROM rooms WHERE id = $1 AND kind = 'room'),"
	" r AS (SELECT room_id FROM direct_rooms WHERE user_a = least($2, $3) AND user_b = greatest($2, $3)),"
	" m AS (INSERT INTO memberships (user_id, room_id) SELECT $2, room_id FROM r"
	"  ON CONFLICT (user_id, room_id) DO UPDATE SET left_at = NULL, joined_at = now()"
	"  WHERE memberships.left_at IS NOT NULL)"
	" SELECT room_id FROM r";

struct dms_call {
	struct backend *be;
	struct httpd_req *req;
	struct auth_user user;
	char other[WIRE_USER_ID_MAX + 1];
	char room[WIRE_ROOM_ID_MAX + 1];
	int tries;
};

static void dms_done(struct dms_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static void dms_unavailable(struct dms_call *c)
{
	be_unavailable(c->be, c->req, MX_DMS, "the room directory is unavailable; try again shortly");
}

static void dms_answer(struct dms_call *c, int status, const char *room)
{
	be_json(c->be, c->req, MX_DMS, status, json_pack("{s:s}", "roomId", room), NULL);
}

static void dms_on_lost(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dms_call *c = arg;

	if (!res || PQntuples(res) != 1 || PQnfields(res) != 1) {
		log_write(LOG_WARN, "dm: reading the pair's room failed", "{s:s}", "error",
			  err ? err : "unexpected result");
		dms_unavailable(c);
	} else {
		dms_answer(c, 200, PQgetvalue(res, 0, 0));
	}
	dms_done(c);
}

static void dms_on_claimed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dms_call *c = arg;
	const char *q[3] = { c->room, c->user.sub, c->other };

	if (!res || PQnfields(res) != 1 || PQntuples(res) > 1) {
		/* The placed room stays an unlisted room nobody knows of; its
		 * server lets it go like any unused room. */
		log_write(LOG_WARN, "dm: claiming the pair's room failed", "{s:s,s:s}", "room", c->room,
			  "error", err ? err : "unexpected result");
		dms_unavailable(c);
		dms_done(c);
		return;
	}
	if (PQntuples(res) == 1) {
		log_write(LOG_INFO, "dm created", "{s:s,s:s,s:s}", "room", c->room, "from", c->user.sub,
			  "to", c->other);
		dms_answer(c, 201, c->room);
		dms_done(c);
		return;
	}
	if (db_query(c->be->db, dms_lost_sql, 3, q, dms_on_lost, c) < 0) {
		dms_unavailable(c);
		dms_done(c);
	}
}

static int dms_place(struct dms_call *c);

static void dms_on_placed(enum sched_result err, const struct sched_placement *p, void *arg)
{
	struct dms_call *c = arg;
	struct backend *be = c->be;
	const char *q[3] = { c->room, c->user.sub, c->other };

	be->mx.place[mx_sched_index(err)]++;
	switch (err) {
	case SCHED_OK:
		if (db_query(be->db, dms_claim_sql, 3, q, dms_on_claimed, c) == 0)
			return;
		dms_unavailable(c);
		break;
	case SCHED_EXISTS:
		if (++c->tries >= DMS_PLACE_TRIES)
			be_error(be, c->req, MX_DMS, 500, "internal", "no free room id", NULL);
		else if (dms_place(c) == 0)
			return;
		break;
	case SCHED_FULL:
		be_error(be, c->req, MX_DMS, 503, "no_capacity",
			 "every session server is full; try again shortly", dms_retry_full);
		break;
	case SCHED_NOAPP:
		be_error(be, c->req, MX_DMS, 503, "app_unavailable",
			 "no live session server hosts the chat; try again later", dms_retry_full);
		break;
	default:
		dms_unavailable(c);
		break;
	}
	dms_done(c);
}

/* Places a new room for the pair. Returns 0 when the scheduler will call
 * back, or -1 after answering. */
static int dms_place(struct dms_call *c)
{
	struct backend *be = c->be;
	struct sched_room r = {
		.id = c->room, .owner = c->user.sub, .owner_name = c->user.name, .name = NULL,
		.capacity = DMS_CAPACITY, .visibility = "unlisted", .ephemeral = false,
	};

	if (ids_room_new(c->room) < 0) {
		be_error(be, c->req, MX_DMS, 500, "internal", "no random room id", NULL);
		return -1;
	}
	if (be->sched->place(be->sched_state, &r, dms_on_placed, c) < 0) {
		be->mx.place[mx_sched_index(SCHED_UNAVAIL)]++;
		dms_unavailable(c);
		return -1;
	}
	return 0;
}

static void dms_on_checked(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dms_call *c = arg;
	struct backend *be = c->be;

	if (!res || PQnfields(res) != 3 || PQntuples(res) > 1) {
		log_write(LOG_WARN, "dm check failed", "{s:s}", "error", err ? err : "unexpected result");
		dms_unavailable(c);
	} else if (PQntuples(res) == 0) {
		be_error(be, c->req, MX_DMS, 404, "not_found", "no such user", NULL);
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		/* A registered token whose account is gone. */
		be_error(be, c->req, MX_DMS, 403, "account_required", "your account no longer exists", NULL);
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		/* Blocked (either way) or friends only: one answer, so that a
		 * block is never revealed. */
		be_error(be, c->req, MX_DMS, 403, "not_allowed", "you cannot message this user", NULL);
	} else if (!PQgetisnull(res, 0, 2)) {
		dms_answer(c, 200, PQgetvalue(res, 0, 2));
	} else if (dms_place(c) == 0) {
		return;
	}
	dms_done(c);
}

void api_dms_start(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct dms_call *c;
	json_t *body, *id;
	const char *other, *q[2];
	unsigned wait;

	if (auth_user(be, req, MX_DMS, &user) < 0 || !be_require_ready(be, req, MX_DMS))
		return;
	if (!user.registered) {
		be_error(be, req, MX_DMS, 403, "account_required", "direct messages need an account", NULL);
		return;
	}
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_DMS, 400);
		return;
	}
	id = json_object_get(body, "userId");
	other = json_string_value(id);
	if (!other || !wire_user_id_valid(other, json_string_length(id))) {
		json_decref(body);
		be_error(be, req, MX_DMS, 400, "invalid_request",
			 "userId must be a user id (1 to 32 of A-Z a-z 0-9 _ - .)", NULL);
		return;
	}
	if (strcmp(other, user.sub) == 0) {
		json_decref(body);
		be_error(be, req, MX_DMS, 400, "invalid_request", "userId is yourself", NULL);
		return;
	}
	wait = thr_action(be->thr, THR_DM_START, user.sub, uv_now(be->loop));
	if (wait) {
		json_decref(body);
		be_too_many(be, req, MX_DMS, wait, "too_many_requests",
			    "you started too many conversations within a minute; try again later");
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		json_decref(body);
		be_error(be, req, MX_DMS, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->user = user;
	strcpy(c->other, other);
	json_decref(body);
	q[0] = c->user.sub;
	q[1] = c->other;
	be_hold(be);
	if (db_query(be->db, dms_check_sql, 2, q, dms_on_checked, c) < 0) {
		dms_unavailable(c);
		dms_done(c);
	}
}
