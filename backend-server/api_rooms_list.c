/* GET /api/rooms → {"rooms":[...]}: the public rooms and the caller's own,
 * newest first, at most 100, with live member counts and the
 * caller's unread counts. One query. Own and read marks are the caller's
 * subject's (a guest's is its login's, not its name's); "owner" is the
 * creator's name as shown. Only rooms of kind 'room': a DM its starter owns
 * is in GET /api/me/rooms, never here. A public room the caller may not join
 * (it bans the caller, or is invite-only and did not invite it) is left
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "log.h"

/* Each half of the UNION walks an index (rooms_public, rooms_owner) and stops
 * at 100 rows (of the public ones, those stateroom_room_admits lets in); only the 100 rooms kept are then joined with their last seq
 * (of its messages: a backward look-up in records' primary key) and the caller's read mark,
 * past which its messages are counted, up to UNREAD_MAX (edits, reactions and actions have
 * seqs too: a difference of seqs would count them).
 * members counts only while the room's server heartbeats, as the scheduler
 * judges liveness. */
#define UNREAD_MAX "100"

static const char rooms_list_sql[] =
	"SELECT r.id, r.name, coalesce(r.owner_name, r.owner), r.visibility, r.capacity,"
	"  CASE WHEN s.heartbeat_at > now() - $2::bigint * interval '1 millisecond'"
	"       THEN r.members ELSE 0 END,"
	"  coalesce(m.last, 0),"
	"  (SELECT count(*) FROM (SELECT 1 FROM records u WHERE u.room_id = r.id AND u.kind = 'message'"
	"     AND u.seq > coalesce(rm.seq, 0) LIMIT " UNREAD_MAX ") u),"
	"  (extract(epoch FROM r.created_at) * 1000)::bigint,"
	"  r.persistent, r.owner = $1, r.app"
	" FROM ((SELECT * FROM rooms WHERE visibility = 'public' AND kind = 'room'"
	"        AND stateroom_room_admits(id, $1) = 'ok' ORDER BY created_at DESC LIMIT 100)"
	"       UNION"
	"       (SELECT * FROM rooms WHERE owner = $1 AND kind = 'room' ORDER BY created_at DESC LIMIT 100)"
	"       ORDER BY created_at DESC, id LIMIT 100) r"
	" LEFT JOIN session_servers s ON s.id = r.server_id"
	" LEFT JOIN LATERAL (SELECT max(seq) AS last FROM records"
	"                    WHERE room_id = r.id AND kind = 'message') m ON true"
	" LEFT JOIN read_marks rm ON rm.room_id = r.id AND rm.user_id = $1"
	" ORDER BY r.created_at DESC, r.id";

struct rooms_list_call {
	struct backend *be;
	struct httpd_req *req;
};

static json_int_t rooms_list_int(const PGresult *res, int row, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The rows as the API's array, or NULL when out of memory. */
static json_t *rooms_list_json(const PGresult *res)
{
	json_t *rooms = json_array();
	int n = PQntuples(res);

	for (int i = 0; rooms && i < n; i++) {
		json_t *r = json_pack("{s:s,s:s?,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:s}",
				      "roomId", PQgetvalue(res, i, 0),
				      "name", PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
				      "owner", PQgetvalue(res, i, 2),
				      "mine", strcmp(PQgetvalue(res, i, 10), "t") == 0,
				      "visibility", PQgetvalue(res, i, 3),
				      "capacity", rooms_list_int(res, i, 4),
				      "members", rooms_list_int(res, i, 5),
				      "lastSeq", rooms_list_int(res, i, 6),
				      "unread", rooms_list_int(res, i, 7),
				      "createdAt", rooms_list_int(res, i, 8),
				      "persistent", strcmp(PQgetvalue(res, i, 9), "t") == 0,
				      "app", PQgetvalue(res, i, 11));

		if (json_array_append_new(rooms, r) < 0) {
			json_decref(rooms);
			rooms = NULL;
		}
	}
	return rooms;
}

static void rooms_list_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rooms_list_call *c = arg;
	struct backend *be = c->be;
	json_t *rooms;

	if (!res) {
		log_write(LOG_WARN, "room list query failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, MX_ROOMS_LIST,
			       "the room directory is unavailable; try again shortly");
		goto out;
	}
	rooms = rooms_list_json(res);
	if (!rooms) {
		be_error(be, c->req, MX_ROOMS_LIST, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(be, c->req, MX_ROOMS_LIST, 200, json_pack("{s:o}", "rooms", rooms), NULL);
out:
	free(c);
	be_release(be);
}

void api_rooms_list(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct rooms_list_call *c;
	struct auth_user user;
	char dead_ms[24];
	const char *q[2];

	if (auth_user(be, req, MX_ROOMS_LIST, &user) < 0 || !be_require_ready(be, req, MX_ROOMS_LIST))
		return;
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_ROOMS_LIST, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	snprintf(dead_ms, sizeof dead_ms, "%ld", be->cfg.dead_after_ms);
	q[0] = user.sub;
	q[1] = dead_ms;
	be_hold(be);
	if (db_query(be->db, rooms_list_sql, 2, q, rooms_list_on_rows, c) < 0) {
		be_unavailable(be, req, MX_ROOMS_LIST, "the room directory is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}
