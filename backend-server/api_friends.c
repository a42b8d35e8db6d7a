/* Friends (docs/protocol.md, "People"): POST /api/friends/requests
 * {"userId"}, POST /api/friends/requests/:userId/accept and .../decline,
 * DELETE /api/friends/requests/:userId (cancel), DELETE
 * /api/friends/:userId, GET /api/friends.
 *
 * Each change is one statement. Asking and accepting read the pair's state
 * before writing it, so they are functions that lock both users first
 * (schema/migrations/012_friends_and_blocks.sql says why): two users asking
 * each other at once become friends, never two pending requests. The other
 * party gets a hint for its live inbox from the same transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "people.h"
#include "people_req.h"
#include "throttle.h"

#define FRIENDS_MAX 1000
#define FRIENDS_PENDING_MAX 200

/* Three lists walked side by side: friends by user id, then requests in and
 * out, newest first (keyed by time and id). */
enum { FRIENDS_LIST, FRIENDS_IN, FRIENDS_OUT, FRIENDS_NLISTS };
static const bool friends_timed[FRIENDS_NLISTS] = { false, true, true };

struct friends_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	const char *missing;            /* the 404's message of a delete */
	int limit;
	struct preq_key keys[FRIENDS_NLISTS];
};

static struct friends_call *friends_call_new(struct backend *be, struct httpd_req *req,
					     enum mx_route route)
{
	struct friends_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	return c;
}

/* Queues sql; on failure answers 503 and frees c. */
static void friends_query(struct friends_call *c, const char *sql, int n, const char *const *params,
			  db_result_fn cb)
{
	struct backend *be = c->be;

	be_hold(be);
	if (db_query(be->db, sql, n, params, cb, c) < 0) {
		preq_db_error(be, c->req, c->route, "friends query not queued", "queue full");
		free(c);
		be_release(be);
	}
}

static void friends_done(struct friends_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static void friends_state(struct friends_call *c, int status, const char *state)
{
	be_json(c->be, c->req, c->route, status, json_pack("{s:s}", "state", state), NULL);
}

/* The caller and the other user (path parameter 0, or the body's userId),
 * who may not be the caller. Returns 0, or -1 after answering. */
static int friends_pair(struct backend *be, struct httpd_req *req, enum mx_route route,
			const struct route_params *params, struct auth_user *me,
			char them[WIRE_USER_ID_MAX + 1])
{
	if (preq_caller(be, req, route, me) < 0)
		return -1;
	if ((params ? preq_path_user(be, req, route, params, 0, them)
		    : preq_body_user(be, req, route, them)) < 0)
		return -1;
	if (strcmp(me->sub, them) == 0) {
		be_error(be, req, route, 400, "invalid_request",
			 "userId is yourself: you cannot befriend yourself", NULL);
		return -1;
	}
	return 0;
}

/* ---- ask and accept ---------------------------------------------------- */

static void friends_on_outcome(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct friends_call *c = arg;
	const char *o;

	if (!res || PQntuples(res) != 1) {
		preq_db_error(c->be, c->req, c->route, "friend request failed", err);
		goto out;
	}
	o = PQgetvalue(res, 0, 0);
	if (strcmp(o, "pending") == 0)
		friends_state(c, 201, "pending");
	else if (strcmp(o, "pending_already") == 0)
		friends_state(c, 200, "pending");
	else if (strcmp(o, "friends") == 0)
		friends_state(c, 200, "friends");
	else if (strcmp(o, "no_user") == 0)
		be_error(c->be, c->req, c->route, 404, "not_found", "no such account", NULL);
	else if (strcmp(o, "no_request") == 0)
		be_error(c->be, c->req, c->route, 404, "not_found", "no friend request from this user", NULL);
	else if (strcmp(o, "not_allowed") == 0)
		be_error(c->be, c->req, c->route, 403, "not_allowed",
			 "you cannot send this user a friend request", NULL);
	else if (strcmp(o, "friends_already") == 0)
		be_error(c->be, c->req, c->route, 409, "conflict", "you are friends already", NULL);
	else if (strcmp(o, "friends_limit") == 0)
		be_error(c->be, c->req, c->route, 409, "conflict",
			 "an account may have at most 1000 friends", NULL);
	else if (strcmp(o, "pending_limit") == 0)
		be_error(c->be, c->req, c->route, 409, "conflict",
			 "at most 200 of your friend requests may wait for an answer: cancel some first", NULL);
	else
		preq_db_error(c->be, c->req, c->route, "friend request: unknown outcome", o);
out:
	friends_done(c);
}

#define FRIENDS_STR_(x) #x
#define FRIENDS_STR(x) FRIENDS_STR_(x)

void api_friends_request(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	struct friends_call *c;
	unsigned wait;
	const char *q[4];

	if (friends_pair(be, req, MX_FRIENDS_REQUEST, NULL, &me, them) < 0)
		return;
	wait = thr_action(be->thr, THR_FRIEND_REQUEST, me.sub, uv_now(be->loop));
	if (wait) {
		be_too_many(be, req, MX_FRIENDS_REQUEST, wait, "too_many_requests",
			    "too many friend requests; try again later");
		return;
	}
	c = friends_call_new(be, req, MX_FRIENDS_REQUEST);
	if (!c)
		return;
	q[0] = me.sub;
	q[1] = them;
	q[2] = FRIENDS_STR(FRIENDS_MAX);
	q[3] = FRIENDS_STR(FRIENDS_PENDING_MAX);
	friends_query(c, "SELECT stateroom_friend_request($1, $2, $3, $4)", 4, q, friends_on_outcome);
}

void api_friends_accept(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	struct friends_call *c;
	const char *q[3];

	if (friends_pair(be, req, MX_FRIENDS_ACCEPT, params, &me, them) < 0 ||
	    !(c = friends_call_new(be, req, MX_FRIENDS_ACCEPT)))
		return;
	q[0] = me.sub;
	q[1] = them;
	q[2] = FRIENDS_STR(FRIENDS_MAX);
	friends_query(c, "SELECT stateroom_friend_accept($1, $2, $3)", 3, q, friends_on_outcome);
}

/* ---- decline, cancel, unfriend ----------------------------------------- */

/* Each deletes what one or two rows say, so needs no lock ($1 the caller,
 * $2 the other user), and answers a row when it deleted anything. */
static const char friends_decline_sql[] =
	"WITH d AS (DELETE FROM friend_requests WHERE from_user = $2 AND to_user = $1 RETURNING 1)"
	" SELECT stateroom_inbox_hint($2, json_build_object('type', 'friends'))"
	" WHERE EXISTS (SELECT 1 FROM d)";
static const char friends_cancel_sql[] =
	"WITH d AS (DELETE FROM friend_requests WHERE from_user = $1 AND to_user = $2 RETURNING 1)"
	" SELECT stateroom_inbox_hint($2, json_build_object('type', 'friends'))"
	" WHERE EXISTS (SELECT 1 FROM d)";
static const char friends_remove_sql[] =
	"WITH d AS (DELETE FROM friends WHERE (user_id = $1 AND friend_id = $2)"
	"                                  OR (user_id = $2 AND friend_id = $1) RETURNING 1)"
	" SELECT stateroom_inbox_hint($2, json_build_object('type', 'friends'))"
	" WHERE EXISTS (SELECT 1 FROM d)";

static void friends_on_deleted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct friends_call *c = arg;

	if (!res)
		preq_db_error(c->be, c->req, c->route, "friends delete failed", err);
	else if (PQntuples(res) == 0)
		be_error(c->be, c->req, c->route, 404, "not_found", c->missing, NULL);
	else
		preq_no_content(c->be, c->req, c->route);
	friends_done(c);
}

static void friends_delete(struct httpd_req *req, const struct route_params *params,
			   struct backend *be, enum mx_route route, const char *sql, const char *missing)
{
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	struct friends_call *c;
	const char *q[2];

	if (friends_pair(be, req, route, params, &me, them) < 0 || !(c = friends_call_new(be, req, route)))
		return;
	c->missing = missing;
	q[0] = me.sub;
	q[1] = them;
	friends_query(c, sql, 2, q, friends_on_deleted);
}

void api_friends_decline(struct httpd_req *req, const struct route_params *params, void *ud)
{
	friends_delete(req, params, ud, MX_FRIENDS_DECLINE, friends_decline_sql,
		       "no friend request from this user");
}

void api_friends_cancel(struct httpd_req *req, const struct route_params *params, void *ud)
{
	friends_delete(req, params, ud, MX_FRIENDS_CANCEL, friends_cancel_sql,
		       "you have not asked this user to be friends");
}

void api_friends_remove(struct httpd_req *req, const struct route_params *params, void *ud)
{
	friends_delete(req, params, ud, MX_FRIENDS_REMOVE, friends_remove_sql,
		       "you are not friends with this user");
}

/* ---- the list ---------------------------------------------------------- */

/* A friend's presence as the inbox keeps it (stateroom_presence, migration
 * 014: offline once the server that saw the user has died; $8 is
 * --dead-after-ms). It yields p.state (text) and p.last_seen (timestamptz
 * or NULL). */
#define FRIENDS_PRESENCE_SQL \
	" CROSS JOIN LATERAL stateroom_presence(u.id, $8::bigint) p"

#define FRIENDS_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define FRIENDS_US(col) "floor(extract(epoch FROM " col ") * 1000000)::bigint"
#define FRIENDS_AFTER(us, id) "('epoch'::timestamptz + " us "::bigint * interval '1 microsecond', " id "::text)"

/* One page of each list ($2 rows, one more than shown), side by side: a
 * list whose key is NULL ($3, $5, $7) was walked to its end and is skipped.
 * Columns: list, rank in it, the user (PEOPLE_COLUMNS), when (ISO 8601, and
 * in microseconds for the cursor), presence state and last seen. Friends
 * walk the friends primary key, incoming requests friend_requests_to. */
static const char friends_list_sql[] =
	"SELECT * FROM ("
	" (SELECT 0 AS list, row_number() OVER (ORDER BY f.friend_id) AS rank, " PEOPLE_COLUMNS("u") ","
	"   NULL::text, NULL::bigint, p.state, " FRIENDS_ISO("p.last_seen")
	"  FROM friends f JOIN users u ON u.id = f.friend_id" FRIENDS_PRESENCE_SQL
	"  WHERE f.user_id = $1 AND $3::text IS NOT NULL AND f.friend_id > $3"
	"  ORDER BY f.friend_id LIMIT $2)"
	" UNION ALL"
	" (SELECT 1, row_number() OVER (ORDER BY r.created_at DESC, r.from_user DESC), " PEOPLE_COLUMNS("u") ","
	"   " FRIENDS_ISO("r.created_at") ", " FRIENDS_US("r.created_at") ", NULL, NULL"
	"  FROM friend_requests r JOIN users u ON u.id = r.from_user"
	"  WHERE r.to_user = $1 AND $5::text IS NOT NULL"
	"    AND ($4::bigint IS NULL OR (r.created_at, r.from_user) < " FRIENDS_AFTER("$4", "$5") ")"
	"  ORDER BY r.created_at DESC, r.from_user DESC LIMIT $2)"
	" UNION ALL"
	" (SELECT 2, row_number() OVER (ORDER BY r.created_at DESC, r.to_user DESC), " PEOPLE_COLUMNS("u") ","
	"   " FRIENDS_ISO("r.created_at") ", " FRIENDS_US("r.created_at") ", NULL, NULL"
	"  FROM friend_requests r JOIN users u ON u.id = r.to_user"
	"  WHERE r.from_user = $1 AND $7::text IS NOT NULL"
	"    AND ($6::bigint IS NULL OR (r.created_at, r.to_user) < " FRIENDS_AFTER("$6", "$7") ")"
	"  ORDER BY r.created_at DESC, r.to_user DESC LIMIT $2)"
	") x ORDER BY list, rank";

enum { FL_LIST, FL_RANK, FL_USER, FL_AT = FL_USER + PEOPLE_NCOLUMNS, FL_US, FL_STATE, FL_SEEN };

/* A row of the list as the API shows it, or NULL when out of memory. */
static json_t *friends_row_json(const PGresult *res, int i, int list)
{
	json_t *user = preq_user_row(res, i, FL_USER);

	if (!user)
		return NULL;
	if (list != FRIENDS_LIST)
		return json_pack("{s:o,s:s}", "user", user, "at", PQgetvalue(res, i, FL_AT));
	if (json_object_set_new(user, "presence",
				json_pack("{s:s,s:s?}", "state", PQgetvalue(res, i, FL_STATE),
					  "lastSeen", PQgetisnull(res, i, FL_SEEN) ? NULL
						      : PQgetvalue(res, i, FL_SEEN))) < 0) {
		json_decref(user);
		return NULL;
	}
	return user;
}

static void friends_on_list(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct friends_call *c = arg;
	static const char *const names[FRIENDS_NLISTS] = { "friends", "incoming", "outgoing" };
	json_t *lists[FRIENDS_NLISTS], *out;
	int shown[FRIENDS_NLISTS] = { 0 }, rows[FRIENDS_NLISTS] = { 0 };
	char next[PREQ_CURSOR_MAX + 1];
	bool ok = true;

	if (!res) {
		preq_db_error(c->be, c->req, c->route, "friends list failed", err);
		goto out;
	}
	for (int k = 0; k < FRIENDS_NLISTS; k++) {
		lists[k] = json_array();
		ok &= lists[k] != NULL;
	}
	for (int i = 0; ok && i < PQntuples(res); i++) {
		int k = atoi(PQgetvalue(res, i, FL_LIST));

		if (k < 0 || k >= FRIENDS_NLISTS)
			continue;
		/* The row past the limit only says that there is more. */
		if (++rows[k] > c->limit)
			continue;
		ok = json_array_append_new(lists[k], friends_row_json(res, i, k)) == 0;
		shown[k] = i;
	}
	for (int k = 0; ok && k < FRIENDS_NLISTS; k++) {
		struct preq_key *key = &c->keys[k];

		if (key->at == PREQ_DONE)
			continue;
		if (rows[k] <= c->limit) {
			key->at = PREQ_DONE;
			continue;
		}
		key->at = PREQ_AFTER;
		snprintf(key->id, sizeof key->id, "%s", PQgetvalue(res, shown[k], FL_USER));
		key->us = friends_timed[k] ? strtoll(PQgetvalue(res, shown[k], FL_US), NULL, 10) : 0;
	}
	out = ok ? json_pack("{s:o,s:o,s:o,s:s?}", names[0], lists[0], names[1], lists[1], names[2],
			     lists[2], "next",
			     preq_cursor(FRIENDS_NLISTS, friends_timed, c->keys, next) ? next : NULL)
		 : NULL;
	if (!out) {
		if (!ok)
			for (int k = 0; k < FRIENDS_NLISTS; k++)
				json_decref(lists[k]);
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(c->be, c->req, c->route, 200, out, NULL);
out:
	friends_done(c);
}

void api_friends_list(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	struct friends_call *c;
	char limit[16], us[FRIENDS_NLISTS][24], dead[24];
	const char *q[8], *untimed;

	if (preq_caller(be, req, MX_FRIENDS_LIST, &me) < 0 || !(c = friends_call_new(be, req, MX_FRIENDS_LIST)))
		return;
	if (preq_page(be, req, MX_FRIENDS_LIST, FRIENDS_NLISTS, friends_timed, c->keys, &c->limit) < 0) {
		free(c);
		return;
	}
	snprintf(limit, sizeof limit, "%d", c->limit + 1);
	q[0] = me.sub;
	q[1] = limit;
	preq_key_params(&c->keys[FRIENDS_LIST], us[0], &untimed, &q[2]);
	preq_key_params(&c->keys[FRIENDS_IN], us[1], &q[3], &q[4]);
	preq_key_params(&c->keys[FRIENDS_OUT], us[2], &q[5], &q[6]);
	snprintf(dead, sizeof dead, "%ld", be->cfg.dead_after_ms);
	q[7] = dead;
	friends_query(c, friends_list_sql, 8, q, friends_on_list);
}
