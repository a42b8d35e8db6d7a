/* GET /api/rooms/:id/messages?before=SEQ&limit=N → {"messages":[...],"more"}:
 * the N messages just below SEQ (the newest when before is absent), oldest
 * first, in the shape of the session server's native history frame. Unlike
 * that frame, this reads PostgreSQL and so reaches back to the first
 * message. One query. A message's "user" is its sender's name as shown
 * (user_name, NULL when the name is the user id), its "userId" the sender's
 * subject (user_id), as in the frames. Each message shows its current state
 * (migration 018): the text of its latest edit ("edited":true), a deleted one
 * as a tombstone ("deleted":true, no text), its reactions aggregated and the
 * message it answers ("replyTo"), as the session server's frames do.
 *
 * GET /api/rooms/:id/messages/:seq/versions → {"versions":[{"text","ts"}]}:
 * an edited message's text as sent, then after each edit, oldest first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action_line.h"
#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "log.h"
#include "room_access.h"
#include "wire.h"

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX 100

/* One row more than asked says whether there are older ones. The room row
 * comes first so that a room with no messages (one row of NULLs) differs from
 * no room (no row). The records' primary key (room_id, seq) serves the
 * backward walk. A page holds the chat's messages (kind 'message') and the
 * room's actions (kind 'action', migration 020: "Alice banned Bob") and a
 * DM's call records (kind 'call', shown as an action "call"), as the
 * native history frame does; other kinds are not the chat's to show here. Who may read is room_access.h's
 * (u the caller's subject): a room that bans the caller or does not invite
 * it, or a DM while either blocks the other, gives the room row alone with
 * the access that refuses; a DM is no room for anyone but its two users (no
 * row, as for no room; an inbox never has one). */
#define HISTORY_ROOM(u) \
	" FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id" \
	" CROSS JOIN LATERAL (SELECT " ROOM_ACCESS(u) " AS access) b"
#define HISTORY_ACCESS " r.id = $1 AND b.access <> 'hidden'"

/* A message's changes come by its target (records_target): whether a delete
 * names it, its latest edit, and of its reactions each user's latest toggle
 * per emoji, those left on counted per emoji (users in the order of their
 * toggle, the first 20). A scrubbed reaction (its message deleted) has an
 * empty payload and is skipped before its JSON is read. */
static const char history_sql[] =
	"SELECT m.seq, m.client_id, coalesce(m.user_name, m.user_id),"
	"  CASE WHEN st.deleted THEN '' ELSE coalesce(st.edit, m.payload) END,"
	"  (extract(epoch FROM m.created_at) * 1000)::bigint, b.access, m.user_id,"
	"  m.reply_to, st.edit IS NOT NULL AND NOT st.deleted, st.deleted, st.reactions, m.kind"
	HISTORY_ROOM("$4")
	" LEFT JOIN LATERAL"
	"  (SELECT * FROM records WHERE room_id = r.id AND seq < coalesce($2::bigint, 9223372036854775807)"
	"   AND kind IN ('message', 'action', 'call') AND b.access = 'ok' ORDER BY seq DESC LIMIT $3) m ON true"
	" LEFT JOIN LATERAL (SELECT"
	"   EXISTS (SELECT 1 FROM records x WHERE x.room_id = r.id AND x.target = m.seq"
	"     AND x.kind = 'delete') AS deleted,"
	"   (SELECT x.payload FROM records x WHERE x.room_id = r.id AND x.target = m.seq"
	"     AND x.kind = 'edit' ORDER BY x.seq DESC LIMIT 1) AS edit,"
	"   (SELECT json_agg(json_build_object('emoji', e.emoji, 'count', e.n, 'userIds', e.ids)"
	"      ORDER BY e.first)::text FROM"
	"     (SELECT l.emoji, count(*) AS n, (array_agg(l.user_id ORDER BY l.seq))[1:20] AS ids,"
	"        min(l.seq) AS first FROM"
	"       (SELECT DISTINCT ON (x.user_id, x.payload::json->>'emoji') x.user_id, x.seq,"
	"          x.payload::json->>'emoji' AS emoji, (x.payload::json->>'on')::boolean AS on_"
	"        FROM records x WHERE x.room_id = r.id AND x.target = m.seq AND x.kind = 'reaction'"
	"          AND x.payload <> ''"
	"        ORDER BY x.user_id, x.payload::json->>'emoji', x.seq DESC) l"
	"      WHERE l.on_ GROUP BY l.emoji) e) AS reactions"
	"  ) st ON m.seq IS NOT NULL"
	" WHERE" HISTORY_ACCESS
	" ORDER BY m.seq DESC";

struct history_call {
	struct backend *be;
	struct httpd_req *req;
	int limit;
};

/* A query parameter as a decimal integer (an optional '-' and 1 to 18
 * digits). Returns 1 with *out, 0 when absent, -1 when not an integer. */
static int history_param(const struct httpd_req *req, const char *key, long long *out)
{
	char buf[24], *end;
	long long v;
	int n = httpd_query(req, key, buf, sizeof buf);

	if (n == -1)
		return 0;
	if (n <= 0 || n > 19 || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || end == buf || (buf[0] == '-' && n == 1))
		return -1;
	*out = v;
	return 1;
}

static json_int_t history_int(const PGresult *res, int row, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* An action record as the session server's frames show it (without "type"):
 * its payload {"action","target"?,"targetName"?,"detail"?} with the kind,
 * seq, actor, time and the action's line. NULL when out of memory or when
 * the payload is no action's. */
static json_t *history_action(const PGresult *res, int i)
{
	json_t *a = json_loadb(PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3), 0, NULL);
	const char *action = json_string_value(json_object_get(a, "action"));
	const char *target = json_string_value(json_object_get(a, "targetName"));
	char line[512];

	if (!action || !json_is_object(a)) {
		json_decref(a);
		return NULL;
	}
	if (!target)
		target = json_string_value(json_object_get(a, "target"));
	action_line(line, sizeof line, PQgetvalue(res, i, 2), action, target,
		    json_object_get(a, "detail"));
	if (json_object_set_new(a, "kind", json_string("action")) < 0 ||
	    json_object_set_new(a, "seq", json_integer(history_int(res, i, 0))) < 0 ||
	    json_object_set_new(a, "userId", json_string(PQgetvalue(res, i, 6))) < 0 ||
	    json_object_set_new(a, "user", json_string(PQgetvalue(res, i, 2))) < 0 ||
	    json_object_set_new(a, "ts", json_integer(history_int(res, i, 4))) < 0 ||
	    json_object_set_new(a, "text", json_string(line)) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The page, oldest first, or NULL when out of memory. */
static json_t *history_json(const PGresult *res, int limit)
{
	int rows = PQntuples(res);
	bool more = rows > limit;
	json_t *msgs = json_array();

	if (rows == 1 && PQgetisnull(res, 0, 0))
		rows = 0;                       /* the room, no messages */
	for (int i = (more ? limit : rows) - 1; msgs && i >= 0; i--) {
		json_t *m;

		if (strcmp(PQgetvalue(res, i, 11), "action") == 0 ||
		    strcmp(PQgetvalue(res, i, 11), "call") == 0) {
			/* Written by the session server, so always an action's
			 * object: one that is not is skipped, not shown. */
			m = history_action(res, i);
			if (m && json_array_append_new(msgs, m) < 0) {
				json_decref(msgs);
				msgs = NULL;
			}
			continue;
		}
		m = json_pack("{s:I,s:s?,s:s,s:s,s:s%,s:I}",
				      "seq", history_int(res, i, 0),
				      "id", PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
				      "user", PQgetvalue(res, i, 2),
				      "userId", PQgetvalue(res, i, 6),
				      "text", PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3),
				      "ts", history_int(res, i, 4));

		if (m && !PQgetisnull(res, i, 7))
			json_object_set_new(m, "replyTo", json_integer(history_int(res, i, 7)));
		if (m && strcmp(PQgetvalue(res, i, 9), "t") == 0)
			json_object_set_new(m, "deleted", json_true());
		else if (m && strcmp(PQgetvalue(res, i, 8), "t") == 0)
			json_object_set_new(m, "edited", json_true());
		if (m && !PQgetisnull(res, i, 10) && strcmp(PQgetvalue(res, i, 9), "t") != 0)
			json_object_set_new(m, "reactions", json_loads(PQgetvalue(res, i, 10), 0, NULL));

		if (json_array_append_new(msgs, m) < 0) {
			json_decref(msgs);
			msgs = NULL;
		}
	}
	return msgs ? json_pack("{s:o,s:b}", "messages", msgs, "more", more) : NULL;
}

static void history_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct history_call *c = arg;
	struct backend *be = c->be;
	struct room_refusal no;
	json_t *out;

	if (!res) {
		log_write(LOG_WARN, "history query failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, MX_HISTORY, "the message store is unavailable; try again shortly");
		goto out;
	}
	if (PQntuples(res) == 0) {
		be_error(be, c->req, MX_HISTORY, 404, "not_found", "no such room", NULL);
		goto out;
	}
	if (room_access_refused(PQgetvalue(res, 0, 5), &no)) {
		be_error(be, c->req, MX_HISTORY, no.status, no.code, no.message, NULL);
		goto out;
	}
	out = history_json(res, c->limit);
	if (!out) {
		be_error(be, c->req, MX_HISTORY, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(be, c->req, MX_HISTORY, 200, out, NULL);
out:
	free(c);
	be_release(be);
}

void api_history(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct history_call *c;
	struct auth_user user;
	long long before = 0, limit = HISTORY_LIMIT_DEFAULT;
	char room[WIRE_ROOM_ID_MAX + 1], before_s[24], limit_s[24];
	const char *q[4];
	int has_before, has_limit;

	if (auth_user(be, req, MX_HISTORY, &user) < 0 || !be_require_ready(be, req, MX_HISTORY))
		return;
	has_before = history_param(req, "before", &before);
	has_limit = history_param(req, "limit", &limit);
	if (has_before < 0 || has_limit < 0 || (has_before && before < 1)) {
		be_error(be, req, MX_HISTORY, 400, "invalid_query",
			 "before must be an integer >= 1 and limit an integer", NULL);
		return;
	}
	/* Documented: out-of-range limits are clamped, not refused. */
	if (limit < 1)
		limit = 1;
	if (limit > HISTORY_LIMIT_MAX)
		limit = HISTORY_LIMIT_MAX;
	/* An id we could never have made is no room: no need to ask. */
	if (params->n < 1 || !wire_room_id_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_HISTORY, 404, "not_found", "no such room", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_HISTORY, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->limit = (int)limit;
	snprintf(room, sizeof room, "%.*s", (int)params->v[0].len, params->v[0].s);
	snprintf(before_s, sizeof before_s, "%lld", before);
	snprintf(limit_s, sizeof limit_s, "%lld", limit + 1);
	q[0] = room;
	q[1] = has_before ? before_s : NULL;
	q[2] = limit_s;
	q[3] = user.sub;
	be_hold(be);
	if (db_query(be->db, history_sql, 4, q, history_on_rows, c) < 0) {
		be_unavailable(be, req, MX_HISTORY, "the message store is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}

/* Each version of one message: the room row, then the message's own row and
 * its edits (none when it is no message, or deleted: its texts are gone). */
static const char versions_sql[] =
	"SELECT b.access, m.seq, m.deleted, v.payload, (extract(epoch FROM v.created_at) * 1000)::bigint"
	HISTORY_ROOM("$3")
	" LEFT JOIN LATERAL (SELECT x.seq, EXISTS (SELECT 1 FROM records y WHERE y.room_id = r.id"
	"     AND y.target = x.seq AND y.kind = 'delete') AS deleted"
	"   FROM records x WHERE x.room_id = r.id AND x.seq = $2 AND x.kind = 'message'"
	"   AND b.access = 'ok') m ON true"
	" LEFT JOIN LATERAL (SELECT x.seq, x.payload, x.created_at FROM records x"
	"   WHERE x.room_id = r.id AND NOT m.deleted"
	"   AND (x.seq = m.seq OR (x.target = m.seq AND x.kind = 'edit'))) v ON true"
	" WHERE" HISTORY_ACCESS
	" ORDER BY v.seq";

static void versions_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct history_call *c = arg;
	struct backend *be = c->be;
	struct room_refusal no;
	json_t *versions;
	int rows;

	(void)sqlstate;
	if (!res) {
		log_write(LOG_WARN, "versions query failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, MX_HISTORY, "the message store is unavailable; try again shortly");
		goto out;
	}
	rows = PQntuples(res);
	if (rows == 0) {
		be_error(be, c->req, MX_HISTORY, 404, "not_found", "no such room", NULL);
		goto out;
	}
	if (room_access_refused(PQgetvalue(res, 0, 0), &no)) {
		be_error(be, c->req, MX_HISTORY, no.status, no.code, no.message, NULL);
		goto out;
	}
	if (PQgetisnull(res, 0, 1)) {
		be_error(be, c->req, MX_HISTORY, 404, "not_found", "no such message", NULL);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		be_error(be, c->req, MX_HISTORY, 404, "not_found", "the message is deleted", NULL);
		goto out;
	}
	versions = json_array();
	for (int i = 0; versions && i < rows; i++)
		if (json_array_append_new(versions, json_pack("{s:s%,s:I}",
				"text", PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3),
				"ts", history_int(res, i, 4))) < 0) {
			json_decref(versions);
			versions = NULL;
		}
	if (!versions) {
		be_error(be, c->req, MX_HISTORY, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(be, c->req, MX_HISTORY, 200, json_pack("{s:o}", "versions", versions), NULL);
out:
	free(c);
	be_release(be);
}

void api_versions(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct history_call *c;
	struct auth_user user;
	char room[WIRE_ROOM_ID_MAX + 1], seq_s[24], *end;
	const char *q[3];
	long long seq;

	if (auth_user(be, req, MX_HISTORY, &user) < 0 || !be_require_ready(be, req, MX_HISTORY))
		return;
	if (params->n < 2 || !wire_room_id_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_HISTORY, 404, "not_found", "no such room", NULL);
		return;
	}
	snprintf(seq_s, sizeof seq_s, "%.*s", params->v[1].len < 20 ? (int)params->v[1].len : 0,
		 params->v[1].s);
	errno = 0;
	seq = strtoll(seq_s, &end, 10);
	if (seq_s[0] < '0' || seq_s[0] > '9' || *end != '\0' || errno != 0 || seq < 1) {
		be_error(be, req, MX_HISTORY, 404, "not_found", "no such message", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_HISTORY, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	snprintf(room, sizeof room, "%.*s", (int)params->v[0].len, params->v[0].s);
	q[0] = room;
	q[1] = seq_s;
	q[2] = user.sub;
	be_hold(be);
	if (db_query(be->db, versions_sql, 3, q, versions_on_rows, c) < 0) {
		be_unavailable(be, req, MX_HISTORY, "the message store is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}
