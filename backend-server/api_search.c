/* Message search (docs/protocol.md, "Search"):
 * GET /api/rooms/:id/search?q=&limit&cursor → {"hits","next"} in one room,
 * readable as its history is (room_access.h: a room for those it neither
 * bans nor, invite-only, leaves uninvited; a DM for its two users, 403
 * while either blocks the other, 404 for anyone else);
 * GET /api/search?q=&limit&cursor → the same across the caller's rooms (the
 * memberships of a registered account; 403 account_required for a guest).
 *
 * A hit is a chat message whose current text (its latest edit's, else its
 * own) matches q, never a deleted one and never one by a user the caller
 * blocks, reported at the message's own seq with its current text. Ranked
 * by ts_rank, best first, then newest; paged by a keyset cursor on that
 * order, so a page never repeats or skips a hit when messages arrive in
 * between. One query per request, on the GIN index of migration 019. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "log.h"
#include "room_access.h"
#include "throttle.h"
#include "wire.h"

#define SEARCH_Q_MAX 200                /* code points */
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 50

/* The expression of the index (019), spelt the same or the planner will not
 * use it. */
#define SEARCH_TSV(col) "to_tsvector('simple'::regconfig, " col ")"

/* q as a tsquery, and whether it has a word the index can look up: a query
 * of nothing but negations ("-foo") or punctuation would match by scanning
 * every message, so it is refused instead (ok false). */
#define SEARCH_Q(param) \
	"WITH q AS (SELECT w.q, querytree(w.q) NOT IN ('', 'T') AS ok" \
	"  FROM (SELECT websearch_to_tsquery('simple'::regconfig, " param ") AS q) w)"

/* The matching records t (a message or an edit) in the rooms rooms_cond
 * allows, each as the message m it gives the current text of: t is current
 * when no later edit targets m, and m counts when no delete targets it. The
 * score is the rank in millionths, an integer so that the cursor compares
 * exactly.
 *
 * Only the newest SEARCH_CANDIDATES matches (by newest, a column that orders
 * t by time) are ranked: ts_rank parses each match's text again, and a word
 * found in every message of a large room would otherwise cost a parse of
 * each (0.6 s for 10^5 messages, docs/protocol.md "Search"). The GIN index
 * finds them all; the sort that keeps the newest reads no text. */
#define SEARCH_CANDIDATES "10000"
#define SEARCH_HITS(rooms_cond, newest, caller) \
	"SELECT m.room_id, m.seq, m.user_id, coalesce(m.user_name, m.user_id) AS name," \
	"  t.payload AS text, (extract(epoch FROM m.created_at) * 1000)::bigint AS ts," \
	"  round(ts_rank(" SEARCH_TSV("t.payload") ", q.q) * 1000000)::bigint AS score" \
	" FROM (SELECT * FROM records t WHERE t.kind IN ('message', 'edit')" \
	"   AND " SEARCH_TSV("t.payload") " @@ q.q AND " rooms_cond \
	"   ORDER BY " newest " DESC LIMIT " SEARCH_CANDIDATES ") t" \
	" JOIN records m ON m.room_id = t.room_id AND m.kind = 'message'" \
	"  AND m.seq = CASE WHEN t.kind = 'edit' THEN t.target ELSE t.seq END" \
	" WHERE NOT EXISTS (SELECT 1 FROM records e WHERE e.room_id = t.room_id AND e.target = m.seq" \
	"   AND e.kind = 'edit' AND e.seq > t.seq)" \
	"  AND NOT EXISTS (SELECT 1 FROM records d WHERE d.room_id = t.room_id AND d.target = m.seq" \
	"   AND d.kind = 'delete')" \
	"  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = " caller " AND b.blocked = m.user_id)"

/* Computed for a page's hits only (after the LIMIT): the matched words
 * between STX and ETX, which the text cannot then hold (taken out first). A
 * short text is shown whole; of a long one, up to two passages around
 * matches. */
#define SEARCH_SNIPPET \
	"ts_headline('simple'::regconfig, translate(p.text, E'\\x02\\x03', ''), q.q," \
	" E'StartSel=\\x02, StopSel=\\x03, ' || CASE WHEN length(p.text) <= 200" \
	"  THEN 'HighlightAll=true'" \
	"  ELSE 'MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=\" … \"' END)"

/* Either blocks the other: the pair of a DM. */
#define SEARCH_DM_BLOCKED \
	"EXISTS (SELECT 1 FROM blocks WHERE (blocker = d.user_a AND blocked = d.user_b)" \
	"  OR (blocker = d.user_b AND blocked = d.user_a))"

/* $1 room, $2 caller, $3 q, $4 $5 the cursor's score and seq, $6 limit + 1.
 * No row: no such room for the caller (404); else one row of NULLs past the
 * access columns when nothing matched. */
static const char search_room_sql[] =
	SEARCH_Q("$3")
	" SELECT p.seq, p.user_id, p.name, p.text, p.ts, p.score, " SEARCH_SNIPPET ","
	"  a.access, q.ok, NULL"
	" FROM q CROSS JOIN (SELECT r.id, " ROOM_ACCESS_SQL " AS access"
	"  FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id WHERE r.id = $1) a"
	" LEFT JOIN LATERAL (SELECT * FROM (" SEARCH_HITS("t.room_id = a.id", "t.seq", "$2") ") h"
	"  WHERE q.ok AND a.access = 'ok' AND ($4::bigint IS NULL OR (h.score, h.seq) < ($4, $5::bigint))"
	"  ORDER BY h.score DESC, h.seq DESC LIMIT $6) p ON true"
	" WHERE a.access <> 'hidden'"
	" ORDER BY p.score DESC, p.seq DESC";

/* $1 caller, $2 q, $3 $4 $5 the cursor's score, seq and room, $6 limit + 1.
 * The caller's rooms as GET /api/me/rooms lists them, readable as above. */
static const char search_all_sql[] =
	SEARCH_Q("$2")
	" SELECT p.seq, p.user_id, p.name, p.text, p.ts, p.score, " SEARCH_SNIPPET ","
	"  'ok', q.ok, p.room_id"
	" FROM q LEFT JOIN LATERAL (SELECT * FROM (" SEARCH_HITS(
	"t.room_id IN (SELECT mb.room_id FROM memberships mb JOIN rooms r ON r.id = mb.room_id"
	"  LEFT JOIN direct_rooms d ON d.room_id = r.id"
	"  WHERE mb.user_id = $1 AND mb.left_at IS NULL"
	"  AND ((r.kind = 'room' AND stateroom_room_admits(r.id, $1) = 'ok')"
	"   OR (r.kind = 'dm' AND $1 IN (d.user_a, d.user_b) AND NOT " SEARCH_DM_BLOCKED ")))",
	"t.created_at", "$1")
	") h"
	"  WHERE q.ok AND ($3::bigint IS NULL"
	"   OR (h.score, h.seq, h.room_id COLLATE \"C\") < ($3, $4::bigint, $5::text COLLATE \"C\"))"
	"  ORDER BY h.score DESC, h.seq DESC, h.room_id COLLATE \"C\" DESC LIMIT $6) p ON true"
	" ORDER BY p.score DESC, p.seq DESC, p.room_id COLLATE \"C\" DESC";

enum { SC_SEQ, SC_USER_ID, SC_NAME, SC_TEXT, SC_TS, SC_SCORE, SC_SNIPPET, SC_ACCESS, SC_OK, SC_ROOM };

struct search_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	int limit;
};

/* Whether s[0..len) is UTF-8 of 1..SEARCH_Q_MAX code points, none of them
 * a control character, and not all white space. */
static bool search_q_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n = 0;
	bool word = false;

	while (i < len) {
		unsigned c = s[i], cp, k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			word |= c != ' ';
			i++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return false;
		if (i + k >= len)
			return false;
		for (unsigned j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* overlong, surrogates, past U+10FFFF, C1 controls */
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		word = true;
		i += k + 1;
		n++;
	}
	return word && n <= SEARCH_Q_MAX;
}

/* A decimal integer of 1..18 digits (no sign) in s[0..len). */
static bool search_uint(const char *s, size_t len, long long *out)
{
	long long v = 0;

	if (len < 1 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* The cursor "SCORE.SEQ" (with ".ROOM" when room is not NULL), as a next
 * value gave it. Returns 1 with the parts, 0 when absent, -1 when malformed. */
static int search_cursor(const struct httpd_req *req, char score[20], char seq[20],
			 char room[WIRE_ROOM_ID_MAX + 1])
{
	char buf[20 + 20 + WIRE_ROOM_ID_MAX + 1];
	const char *dot1, *dot2, *end;
	long long v;
	int n = httpd_query(req, "cursor", buf, sizeof buf);

	if (n == -1)
		return 0;
	if (n < 0)
		return -1;
	end = buf + n;
	dot1 = memchr(buf, '.', (size_t)n);
	if (!dot1)
		return -1;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if ((room != NULL) != (dot2 != NULL))
		return -1;
	if (!dot2)
		dot2 = end;
	if (!search_uint(buf, (size_t)(dot1 - buf), &v) || !search_uint(dot1 + 1, (size_t)(dot2 - dot1 - 1), &v))
		return -1;
	if (room && !wire_room_id_valid(dot2 + 1, (size_t)(end - dot2 - 1)))
		return -1;
	snprintf(score, 20, "%.*s", (int)(dot1 - buf), buf);
	snprintf(seq, 20, "%.*s", (int)(dot2 - dot1 - 1), dot1 + 1);
	if (room)
		snprintf(room, WIRE_ROOM_ID_MAX + 1, "%.*s", (int)(end - dot2 - 1), dot2 + 1);
	return 1;
}

/* limit: 1..50 (clamped, as history's), default 20. -1 when not an integer. */
static int search_limit(const struct httpd_req *req, int *out)
{
	char buf[24];
	long long v;
	int n = httpd_query(req, "limit", buf, sizeof buf);

	*out = SEARCH_LIMIT_DEFAULT;
	if (n == -1)
		return 0;
	if (n < 1 || !search_uint(buf, (size_t)n, &v))
		return -1;
	*out = v < 1 ? 1 : v > SEARCH_LIMIT_MAX ? SEARCH_LIMIT_MAX : (int)v;
	return 0;
}

static json_int_t search_int(const PGresult *res, int row, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The page as {"hits","next"}, or NULL when out of memory. */
static json_t *search_json(const PGresult *res, int limit, bool all)
{
	int rows = PQntuples(res), shown;
	json_t *hits = json_array(), *next = NULL;

	if (rows == 1 && PQgetisnull(res, 0, SC_SEQ))
		rows = 0;
	shown = rows > limit ? limit : rows;
	for (int i = 0; hits && i < shown; i++) {
		json_t *h = json_pack("{s:I,s:s,s:s,s:s%,s:I,s:s}",
				      "seq", search_int(res, i, SC_SEQ),
				      "userId", PQgetvalue(res, i, SC_USER_ID),
				      "user", PQgetvalue(res, i, SC_NAME),
				      "text", PQgetvalue(res, i, SC_TEXT), (size_t)PQgetlength(res, i, SC_TEXT),
				      "ts", search_int(res, i, SC_TS),
				      "snippet", PQgetvalue(res, i, SC_SNIPPET));

		if (h && all && json_object_set_new(h, "roomId", json_string(PQgetvalue(res, i, SC_ROOM))) < 0) {
			json_decref(h);
			h = NULL;
		}
		if (json_array_append_new(hits, h) < 0) {
			json_decref(hits);
			hits = NULL;
		}
	}
	if (hits && rows > limit) {
		char cur[20 + 20 + WIRE_ROOM_ID_MAX + 3];
		int last = limit - 1;

		snprintf(cur, sizeof cur, all ? "%s.%s.%s" : "%s.%s", PQgetvalue(res, last, SC_SCORE),
			 PQgetvalue(res, last, SC_SEQ), PQgetvalue(res, last, SC_ROOM));
		next = json_string(cur);
		if (!next) {
			json_decref(hits);
			hits = NULL;
		}
	}
	return hits ? json_pack("{s:o,s:o}", "hits", hits, "next", next ? next : json_null()) : NULL;
}

static void search_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct search_call *c = arg;
	struct backend *be = c->be;
	struct room_refusal no;
	json_t *out;

	(void)sqlstate;
	if (!res) {
		log_write(LOG_WARN, "search query failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, c->route, "the message store is unavailable; try again shortly");
		goto out;
	}
	if (PQntuples(res) == 0) {
		be_error(be, c->req, c->route, 404, "not_found", "no such room", NULL);
		goto out;
	}
	if (room_access_refused(PQgetvalue(res, 0, SC_ACCESS), &no)) {
		be_error(be, c->req, c->route, no.status, no.code, no.message, NULL);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, SC_OK), "t") != 0) {
		be_error(be, c->req, c->route, 400, "invalid_query",
			 "q must contain a word to look for (not only excluded words)", NULL);
		goto out;
	}
	out = search_json(res, c->limit, c->route == MX_SEARCH);
	if (!out) {
		be_error(be, c->req, c->route, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(be, c->req, c->route, 200, out, NULL);
out:
	free(c);
	be_release(be);
}

/* Both routes: checks the caller, q, limit and cursor and the caller's
 * rate, then runs sql (room is NULL for the search across rooms). */
static void search_run(struct backend *be, struct httpd_req *req, enum mx_route route,
		       const char *room)
{
	struct search_call *c;
	struct auth_user user;
	char q[SEARCH_Q_MAX * 4 + 1], score[20], seq[20], croom[WIRE_ROOM_ID_MAX + 1], limit_s[16];
	const char *p[6];
	int n, has_cursor, limit;
	unsigned wait;

	if (auth_user(be, req, route, &user) < 0)
		return;
	if (!room && !user.registered) {
		be_error(be, req, route, 403, "account_required",
			 "searching all your rooms is for registered accounts; register or log in", NULL);
		return;
	}
	if (!be_require_ready(be, req, route))
		return;
	n = httpd_query(req, "q", q, sizeof q);
	if (n < 0 || !search_q_valid((const unsigned char *)q, (size_t)n)) {
		be_error(be, req, route, 400, "invalid_query",
			 "q must be 1 to 200 characters of text (no control characters)", NULL);
		return;
	}
	has_cursor = search_cursor(req, score, seq, room ? NULL : croom);
	if (has_cursor < 0 || search_limit(req, &limit) < 0) {
		be_error(be, req, route, 400, "invalid_query",
			 "limit must be an integer and cursor a next value this API gave", NULL);
		return;
	}
	/* An id we could never have made is no room: no need to ask. */
	if (room && !wire_room_id_valid(room, strlen(room))) {
		be_error(be, req, route, 404, "not_found", "no such room", NULL);
		return;
	}
	wait = thr_action(be->thr, THR_MESSAGE_SEARCH, user.sub, uv_now(be->loop));
	if (wait) {
		be_too_many(be, req, route, wait, "too_many_requests", "too many searches; try again later");
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	c->limit = limit;
	snprintf(limit_s, sizeof limit_s, "%d", limit + 1);  /* one more: is there a next page? */
	if (room) {
		p[0] = room;
		p[1] = user.sub;
		p[2] = q;
		p[3] = has_cursor ? score : NULL;
		p[4] = has_cursor ? seq : NULL;
	} else {
		p[0] = user.sub;
		p[1] = q;
		p[2] = has_cursor ? score : NULL;
		p[3] = has_cursor ? seq : NULL;
		p[4] = has_cursor ? croom : NULL;
	}
	p[5] = limit_s;
	be_hold(be);
	if (db_query(be->db, room ? search_room_sql : search_all_sql, 6, p, search_on_rows, c) < 0) {
		be_unavailable(be, req, route, "the message store is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}

void api_room_search(struct httpd_req *req, const struct route_params *params, void *ud)
{
	char room[WIRE_ROOM_ID_MAX + 2];

	/* One byte more than an id: a longer one is cut there and then refused. */
	snprintf(room, sizeof room, "%.*s", params->n < 1 ? 0 : (int)params->v[0].len,
		 params->n < 1 ? "" : params->v[0].s);
	search_run(ud, req, MX_ROOM_SEARCH, room);
}

void api_search(struct httpd_req *req, const struct route_params *params, void *ud)
{
	(void)params;
	search_run(ud, req, MX_SEARCH, NULL);
}
