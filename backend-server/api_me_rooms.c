/* GET /api/me/rooms?limit&cursor → {"rooms":[...],"next"}: the rooms the
 * caller belongs to (memberships), DMs among them, with unread counts, unread
 * mentions and the latest message, newest activity first (docs/protocol.md, "Your
 * rooms"). DELETE /api/me/rooms/:id → 204: leave one for good. Accounts
 * only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "ids.h"
#include "log.h"
#include "people.h"

#define ME_ROOMS_LIMIT_DEFAULT 20
#define ME_ROOMS_LIMIT_MAX 50

/* Activity is no column: it is each room's latest record (else when the
 * caller joined), one backward step in records' primary key per room, so a
 * page costs a step for each of the caller's rooms. MEMBERSHIPS_MAX bounds
 * that: the list holds the rooms joined most recently, at most this many. */
#define ME_ROOMS_MEMBERSHIPS_MAX "1000"

#define ME_ROOMS_ISO(t) "to_char(" t " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1 the caller, $2 the page size + 1 (one more says whether there is a
 * next page), $3 and $4 the cursor (the last row's activity in
 * microseconds and id) or NULL. A left room stays out, except a DM with a
 * record since it was left. Only the page's rows are joined with their
 * latest message, read mark, peer and unread mentions (mentions_user's
 * range past the read mark; a deleted message's are gone with its text). */
/* Unread messages are counted, not derived from seqs (edits, reactions and
 * actions have seqs too), and only up to this many: a walk of the records'
 * primary key past the read mark that stops there. */
#define UNREAD_MAX "100"

static const char me_rooms_sql[] =
	"SELECT x.id, x.kind, x.name, " PEOPLE_COLUMNS("p") ","
	"  (SELECT count(*) FROM (SELECT 1 FROM records u WHERE u.room_id = x.id AND u.kind = 'message'"
	"     AND u.seq > coalesce(rm.seq, 0) LIMIT " UNREAD_MAX ") u),"
	"  (SELECT count(*) FROM mentions mn WHERE mn.user_id = $1 AND mn.room_id = x.id"
	"     AND mn.seq > coalesce(rm.seq, 0)),"
	"  lm.seq, lm.user_id, coalesce(su.display_name, lm.user_name, lm.user_id), lm.payload,"
	"  " ME_ROOMS_ISO("lm.created_at") ", " ME_ROOMS_ISO("x.act") ", x.act_us"
	" FROM (SELECT r.id, r.kind, r.name, d.user_a, d.user_b, a.act,"
	"         (extract(epoch FROM a.act) * 1000000)::bigint AS act_us"
	"       FROM (SELECT * FROM memberships WHERE user_id = $1"
	"             ORDER BY joined_at DESC LIMIT " ME_ROOMS_MEMBERSHIPS_MAX ") m"
	"       JOIN rooms r ON r.id = m.room_id AND r.kind IN ('room', 'dm')"
	"       LEFT JOIN direct_rooms d ON d.room_id = r.id"
	"       LEFT JOIN LATERAL (SELECT created_at FROM records WHERE room_id = r.id"
	"                          ORDER BY seq DESC LIMIT 1) lr ON true"
	"       CROSS JOIN LATERAL (SELECT coalesce(lr.created_at, m.joined_at) AS act) a"
	"       WHERE m.left_at IS NULL OR (r.kind = 'dm' AND lr.created_at > m.left_at)) x"
	" LEFT JOIN LATERAL (SELECT seq, user_id, user_name, payload, created_at FROM records"
	"                    WHERE room_id = x.id AND kind = 'message' ORDER BY seq DESC LIMIT 1) lm"
	"   ON true"
	" LEFT JOIN read_marks rm ON rm.room_id = x.id AND rm.user_id = $1"
	" LEFT JOIN users p ON p.id = CASE WHEN x.user_a = $1 THEN x.user_b ELSE x.user_a END"
	" LEFT JOIN users su ON su.id = lm.user_id"
	" WHERE $3::bigint IS NULL OR (x.act_us, x.id) < ($3::bigint, $4::text)"
	" ORDER BY x.act_us DESC, x.id DESC"
	" LIMIT $2";

enum me_rooms_col {
	MR_ID, MR_KIND, MR_NAME, MR_PEER_ID, MR_PEER_NAME, MR_PEER_STATUS, MR_UNREAD, MR_MENTIONS, MR_SEQ,
	MR_USER, MR_USER_NAME, MR_TEXT, MR_AT, MR_ACTIVITY, MR_ACT_US, MR_NCOLS
};

struct me_rooms_call {
	struct backend *be;
	struct httpd_req *req;
	int limit;
};

static json_int_t me_rooms_int(const PGresult *res, int row, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *me_rooms_str(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static json_t *me_rooms_row(const PGresult *res, int i)
{
	json_t *peer = json_null(), *last = json_null();

	if (!PQgetisnull(res, i, MR_PEER_ID))
		peer = people_user_json(PQgetvalue(res, i, MR_PEER_ID), PQgetvalue(res, i, MR_PEER_NAME),
					PQgetvalue(res, i, MR_PEER_STATUS));
	if (!PQgetisnull(res, i, MR_SEQ))
		last = json_pack("{s:I,s:s,s:s,s:s%,s:s}", "seq", me_rooms_int(res, i, MR_SEQ),
				 "userId", PQgetvalue(res, i, MR_USER),
				 "userName", PQgetvalue(res, i, MR_USER_NAME),
				 "text", PQgetvalue(res, i, MR_TEXT), (size_t)PQgetlength(res, i, MR_TEXT),
				 "at", PQgetvalue(res, i, MR_AT));
	return json_pack("{s:s,s:s,s:s?,s:o?,s:I,s:I,s:o?,s:s}",
			 "roomId", PQgetvalue(res, i, MR_ID),
			 "kind", PQgetvalue(res, i, MR_KIND),
			 "name", me_rooms_str(res, i, MR_NAME),
			 "peer", peer,
			 "unread", me_rooms_int(res, i, MR_UNREAD),
			 "mentions", me_rooms_int(res, i, MR_MENTIONS),
			 "lastMessage", last,
			 "activityAt", PQgetvalue(res, i, MR_ACTIVITY));
}

/* The page and its next cursor, or NULL when out of memory. */
static json_t *me_rooms_json(const PGresult *res, int limit)
{
	int rows = PQntuples(res);
	bool more = rows > limit;
	json_t *rooms = json_array(), *next = json_null();
	char cursor[48];

	if (more)
		rows = limit;
	for (int i = 0; rooms && i < rows; i++) {
		json_t *r = me_rooms_row(res, i);

		if (!r || json_array_append_new(rooms, r) < 0) {
			json_decref(rooms);
			rooms = NULL;
		}
	}
	if (more) {
		snprintf(cursor, sizeof cursor, "%s_%s", PQgetvalue(res, rows - 1, MR_ACT_US),
			 PQgetvalue(res, rows - 1, MR_ID));
		next = json_string(cursor);
	}
	return rooms ? json_pack("{s:o,s:o?}", "rooms", rooms, "next", next) : NULL;
}

static void me_rooms_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct me_rooms_call *c = arg;
	struct backend *be = c->be;
	json_t *out;

	if (!res || PQnfields(res) != MR_NCOLS) {
		log_write(LOG_WARN, "your rooms query failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, c->req, MX_ME_ROOMS, "the room directory is unavailable; try again shortly");
		goto out;
	}
	out = me_rooms_json(res, c->limit);
	if (!out) {
		be_error(be, c->req, MX_ME_ROOMS, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(be, c->req, MX_ME_ROOMS, 200, out, NULL);
out:
	free(c);
	be_release(be);
}

/* limit: 1..50, absent 20. Returns 0, or -1 when it is something else. */
static int me_rooms_limit(const struct httpd_req *req, int *out)
{
	char buf[8], *end;
	long v;
	int n = httpd_query(req, "limit", buf, sizeof buf);

	*out = ME_ROOMS_LIMIT_DEFAULT;
	if (n == -1)
		return 0;
	if (n < 1 || n > 2 || buf[0] < '0' || buf[0] > '9')
		return -1;
	v = strtol(buf, &end, 10);
	if (*end || v < 1 || v > ME_ROOMS_LIMIT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* cursor: what me_rooms_json() wrote, "<microseconds>_<room id>". Returns 1
 * with the two parts, 0 when absent, -1 when not one of ours. */
static int me_rooms_cursor(const struct httpd_req *req, char act[20], char room[WIRE_ROOM_ID_MAX + 1])
{
	char buf[48];
	const char *sep;
	size_t digits;
	int n = httpd_query(req, "cursor", buf, sizeof buf);

	if (n == -1)
		return 0;
	if (n < 0 || !(sep = strchr(buf, '_')))
		return -1;
	digits = (size_t)(sep - buf);
	if (digits < 1 || digits > 18 || strspn(buf, "0123456789") != digits ||
	    !wire_room_id_valid(sep + 1, strlen(sep + 1)))
		return -1;
	memcpy(act, buf, digits);
	act[digits] = '\0';
	strcpy(room, sep + 1);
	return 1;
}

static bool me_rooms_account(struct backend *be, struct httpd_req *req, enum mx_route route,
			     struct auth_user *user)
{
	if (auth_user(be, req, route, user) < 0 || !be_require_ready(be, req, route))
		return false;
	if (!user->registered) {
		be_error(be, req, route, 403, "account_required", "your rooms need an account", NULL);
		return false;
	}
	return true;
}

void api_me_rooms(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct me_rooms_call *c;
	struct auth_user user;
	char act[20], room[WIRE_ROOM_ID_MAX + 1], limit_s[8];
	const char *q[4];
	int limit, has_cursor;

	if (!me_rooms_account(be, req, MX_ME_ROOMS, &user))
		return;
	if (me_rooms_limit(req, &limit) < 0) {
		be_error(be, req, MX_ME_ROOMS, 400, "invalid_request", "limit must be an integer from 1 to 50",
			 NULL);
		return;
	}
	has_cursor = me_rooms_cursor(req, act, room);
	if (has_cursor < 0) {
		be_error(be, req, MX_ME_ROOMS, 400, "invalid_request",
			 "cursor must be a next value from an earlier page", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_ME_ROOMS, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->limit = limit;
	snprintf(limit_s, sizeof limit_s, "%d", limit + 1);
	q[0] = user.sub;
	q[1] = limit_s;
	q[2] = has_cursor ? act : NULL;
	q[3] = has_cursor ? room : NULL;
	be_hold(be);
	if (db_query(be->db, me_rooms_sql, 4, q, me_rooms_on_rows, c) < 0) {
		be_unavailable(be, req, MX_ME_ROOMS, "the room directory is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}

static void me_rooms_on_left(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct me_rooms_call *c = arg;
	struct backend *be = c->be;

	if (!res) {
		log_write(LOG_WARN, "leaving a room failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, MX_ME_ROOMS_LEAVE, "the room directory is unavailable; try again shortly");
	} else if (PQntuples(res) == 0) {
		be_error(be, c->req, MX_ME_ROOMS_LEAVE, 404, "not_found", "not one of your rooms", NULL);
	} else {
		mx_request(&be->mx, MX_ME_ROOMS_LEAVE, 204);
		httpd_respond(c->req, 204, NULL, NULL, NULL, 0);
	}
	free(c);
	be_release(be);
}

void api_me_rooms_leave(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct me_rooms_call *c;
	struct auth_user user;
	char room[WIRE_ROOM_ID_MAX + 1];
	const char *q[2];

	if (!me_rooms_account(be, req, MX_ME_ROOMS_LEAVE, &user))
		return;
	if (params->n < 1 || !wire_room_id_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_ME_ROOMS_LEAVE, 404, "not_found", "not one of your rooms", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_ME_ROOMS_LEAVE, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	memcpy(room, params->v[0].s, params->v[0].len);
	room[params->v[0].len] = '\0';
	q[0] = user.sub;
	q[1] = room;
	be_hold(be);
	if (db_query(be->db, "UPDATE memberships SET left_at = now() WHERE user_id = $1 AND room_id = $2"
			     " RETURNING 1", 2, q, me_rooms_on_left, c) < 0) {
		be_unavailable(be, req, MX_ME_ROOMS_LEAVE, "the room directory is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}
