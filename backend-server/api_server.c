/* The server API (docs/protocol.md, "Server API"): what an app's own backend
 * does in a room, with a service token (--service-tokens) as Bearer:
 *
 *   POST /api/server/rooms/:id/records {"text"|"payload","kind"?,"name"?} → {"seq"}
 *   GET  /api/server/rooms/:id/presence → {"loaded","members":[...]}
 *   POST /api/server/rooms/:id/close {"userId","reason"?} → {"closed":N}
 *   GET  /api/server/rooms/:id/history?before&limit&kind → {"records":[...],"more"}
 *
 * The first three act on the live room: the scheduler says which session
 * server holds it (a look-up as for a ticket), and the call goes there
 * (internal_api.h on the session server) with a token for that server, room
 * and action that lives WIRE_INTERNAL_TTL seconds. History reads PostgreSQL.
 *
 * Without a configured service token the routes do not exist (404); no
 * Bearer token is 401, a wrong one 403, as for the operator API. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "http_client.h"
#include "http_json.h"
#include "inbox_id.h"
#include "log.h"
#include "names.h"
#include "service_tokens.h"
#include "wire.h"

#define SRV_HISTORY_DEFAULT 100
#define SRV_HISTORY_MAX 1000
#define SRV_PAYLOAD_MAX 65536      /* a published record's payload, bytes */
#define SRV_REASON_MAX 123         /* a WebSocket close reason */
/* The session server answers from memory: a slow one is a sick one. */
#define SRV_FORWARD_TIMEOUT_MS 5000

enum srv_act { SRV_RECORDS, SRV_PRESENCE, SRV_CLOSE };

static const char *const srv_act_names[] = { "records", "presence", "close" };

struct srv_call {
	struct backend *be;
	struct httpd_req *req;
	enum srv_act act;
	char room[WIRE_ROOM_ID_MAX + 1];
	char *body;                /* what goes to the session server; NULL for GET */
	int limit;                 /* history: the page's size */
};

static void srv_call_done(struct srv_call *c)
{
	struct backend *be = c->be;

	free(c->body);
	free(c);
	be_release(be);
}

/* True when the caller holds a service token and :id may be a room (its id
 * copied into room); otherwise answers. */
static bool srv_auth(struct backend *be, struct httpd_req *req, const struct route_params *p,
		     char room[WIRE_ROOM_ID_MAX + 1])
{
	const char *tok;
	size_t len;

	if (!st_any(be->service_tokens)) {
		be_error(be, req, MX_NOT_FOUND, 404, "not_found", "no such API route", NULL);
		return false;
	}
	if (http_bearer(req, &tok, &len) < 0) {
		be_error(be, req, MX_OTHER, 401, "unauthorized", "a service token is required",
			 "WWW-Authenticate: Bearer\r\n");
		return false;
	}
	if (!st_match(be->service_tokens, tok, len)) {
		log_write(LOG_WARN, "wrong service token", "{s:s}", "peer", req->peer);
		be_error(be, req, MX_OTHER, 403, "forbidden", "wrong service token", NULL);
		return false;
	}
	if (!be_require_ready(be, req, MX_OTHER))
		return false;
	/* An inbox is its owner's alone, even to the app's backend. */
	if (p->n < 1 || !wire_room_id_valid(p->v[0].s, p->v[0].len) || p->v[0].len == INBOX_ID_LEN) {
		be_error(be, req, MX_OTHER, 404, "not_found", "no such room", NULL);
		return false;
	}
	memcpy(room, p->v[0].s, p->v[0].len);
	room[p->v[0].len] = '\0';
	return true;
}

static struct srv_call *srv_call_new(struct backend *be, struct httpd_req *req, enum srv_act act,
				     const char *room)
{
	struct srv_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, MX_OTHER, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->act = act;
	snprintf(c->room, sizeof c->room, "%s", room);
	be_hold(be);
	return c;
}

/* ---- the live routes: forwarded to the room's session server ---------- */

static void srv_on_answer(const struct hc_response *res, void *arg)
{
	struct srv_call *c = arg;
	struct backend *be = c->be;
	json_t *body;

	if (res->err != 0) {
		log_write(LOG_WARN, "server API: session server did not answer", "{s:s,s:s}", "room",
			  c->room, "error", res->error);
		be_unavailable(be, c->req, MX_OTHER, "the room's session server did not answer; retry");
	} else if (res->status == 401) {
		/* Its secret is not ours: a deployment error, not the caller's. */
		log_write(LOG_ERROR, "server API: session server refused our internal token", "{s:s}",
			  "room", c->room);
		be_error(be, c->req, MX_OTHER, 502, "bad_gateway",
			 "the room's session server refused the backend", NULL);
	} else if (!(body = json_loadb(res->body, res->body_len, 0, NULL)) || !json_is_object(body)) {
		json_decref(body);
		be_error(be, c->req, MX_OTHER, 502, "bad_gateway",
			 "the room's session server gave no usable answer", NULL);
	} else {
		be_json(be, c->req, MX_OTHER, (int)res->status, body, NULL);
	}
	srv_call_done(c);
}

static void srv_on_located(enum sched_result err, const struct sched_placement *p, void *arg)
{
	struct srv_call *c = arg;
	struct backend *be = c->be;
	char url[384], path[96], *tok;
	const char *headers[] = { "Content-Type: application/json", NULL };
	int rc;

	be->mx.locate[mx_sched_index(err)]++;
	if (err == SCHED_NOROOM) {
		be_error(be, c->req, MX_OTHER, 404, "not_found", "no such room", NULL);
		goto out;
	}
	if (err != SCHED_OK) {
		be_unavailable(be, c->req, MX_OTHER, "the room directory is unavailable; try again shortly");
		goto out;
	}
	snprintf(path, sizeof path, "/internal/rooms/%s/%s", c->room, srv_act_names[c->act]);
	snprintf(url, sizeof url, "http://%s%s", p->address, path);
	tok = wire_internal_mint(p->server_id, c->room, srv_act_names[c->act], (int64_t)time(NULL),
				 (const unsigned char *)be->cfg.secret, strlen(be->cfg.secret));
	if (!tok) {
		be_error(be, c->req, MX_OTHER, 500, "internal", "could not sign the call", NULL);
		goto out;
	}
	rc = hc_request(be->hc, &(struct hc_request){
				.method = c->body ? "POST" : "GET",
				.url = url,
				.headers = c->body ? headers : NULL,
				.body = c->body,
				.body_len = c->body ? strlen(c->body) : 0,
				.bearer = tok,
				.timeout_ms = SRV_FORWARD_TIMEOUT_MS,
			}, srv_on_answer, c);
	free(tok);
	if (rc == 0)
		return;
	be_unavailable(be, c->req, MX_OTHER, "the room's session server cannot be called now");
out:
	srv_call_done(c);
}

/* Takes c (and its body) to the room's session server. */
static void srv_forward(struct srv_call *c)
{
	struct backend *be = c->be;

	if (be->sched->locate(be->sched_state, c->room, NULL, srv_on_located, c) == 0)
		return;
	be->mx.locate[mx_sched_index(SCHED_UNAVAIL)]++;
	be_unavailable(be, c->req, MX_OTHER, "the room directory is unavailable; try again shortly");
	srv_call_done(c);
}

/* A kind: 1..APP_KIND_MAX (32) of a-z 0-9 _ - . : as the applications name theirs. */
static bool srv_kind_valid(const char *s, size_t len)
{
	if (len < 1 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.' || s[i] == ':'))
			return false;
	return true;
}

/* What POST .../records sends on, or NULL after answering 400. */
static json_t *srv_record_of(struct backend *be, struct httpd_req *req, json_t *in)
{
	json_t *text = json_object_get(in, "text"), *payload = json_object_get(in, "payload");
	json_t *kind = json_object_get(in, "kind"), *name = json_object_get(in, "name"), *out;
	char clean[NAMES_BUF], shown[WIRE_NAME_MAX + 1];
	const char *why = NULL;
	char *dumped = NULL;
	const char *body;
	size_t len;

	if ((text != NULL) == (payload != NULL))
		why = "give text or payload, not both";
	else if (text && (!json_is_string(text) || json_string_length(text) == 0))
		why = "text must be a non-empty string";
	else if (kind && (!json_is_string(kind) ||
			  !srv_kind_valid(json_string_value(kind), json_string_length(kind))))
		why = "kind must be 1 to 32 of a-z 0-9 _ - . :";
	else if (name && (!json_is_string(name) ||
			  names_clean(json_string_value(name), json_string_length(name),
				      NAMES_DISPLAY_MAX, false, clean) != NAMES_OK))
		why = "name must be a display name (1 to 64 characters, no control characters)";
	if (why) {
		be_error(be, req, MX_OTHER, 400, "invalid_record", why, NULL);
		return NULL;
	}
	/* A payload that is no string goes as its JSON text. */
	if (text || json_is_string(payload)) {
		body = json_string_value(text ? text : payload);
		len = json_string_length(text ? text : payload);
	} else {
		dumped = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
		body = dumped ? dumped : "";
		len = strlen(body);
	}
	if (memchr(body, '\0', len) || len > SRV_PAYLOAD_MAX) {
		free(dumped);
		be_error(be, req, MX_OTHER, 400, "invalid_record",
			 "the payload must be at most 65536 bytes, without NUL", NULL);
		return NULL;
	}
	names_cut(name ? clean : "Server", shown, WIRE_NAME_MAX);
	out = json_pack("{s:s%,s:s,s:s*}", "payload", body, len, "name", shown, "kind",
			json_string_value(kind));
	free(dumped);
	if (!out)
		be_error(be, req, MX_OTHER, 500, "internal", "out of memory", NULL);
	return out;
}

/* Takes the request's JSON body into c->body through make (NULL: answered). */
static void srv_post(struct httpd_req *req, const struct route_params *params, struct backend *be,
		     enum srv_act act, json_t *(*make)(struct backend *, struct httpd_req *, json_t *))
{
	char room[WIRE_ROOM_ID_MAX + 1];
	struct srv_call *c;
	json_t *in, *out;

	if (!srv_auth(be, req, params, room))
		return;
	if (http_json_body(req, &in) < 0) {
		mx_request(&be->mx, MX_OTHER, 400);
		return;
	}
	out = make(be, req, in);
	json_decref(in);
	if (!out)
		return;
	c = srv_call_new(be, req, act, room);
	if (c && !(c->body = json_dumps(out, JSON_COMPACT))) {
		be_error(be, req, MX_OTHER, 500, "internal", "out of memory", NULL);
		srv_call_done(c);
		c = NULL;
	}
	json_decref(out);
	if (c)
		srv_forward(c);
}

void api_server_records(struct httpd_req *req, const struct route_params *params, void *ud)
{
	srv_post(req, params, ud, SRV_RECORDS, srv_record_of);
}

/* What POST .../close sends on, or NULL after answering 400. */
static json_t *srv_close_of(struct backend *be, struct httpd_req *req, json_t *in)
{
	json_t *user = json_object_get(in, "userId"), *reason = json_object_get(in, "reason");
	char clean[NAMES_BUF];
	json_t *out;

	if (!json_is_string(user) ||
	    !wire_sub_valid(json_string_value(user), json_string_length(user))) {
		be_error(be, req, MX_OTHER, 400, "invalid_close", "userId must be a user id", NULL);
		return NULL;
	}
	if (reason && (!json_is_string(reason) ||
		       names_clean(json_string_value(reason), json_string_length(reason),
				   NAMES_STATUS_MAX, true, clean) != NAMES_OK ||
		       strlen(clean) > SRV_REASON_MAX)) {
		be_error(be, req, MX_OTHER, 400, "invalid_close",
			 "reason must be at most 123 bytes of text without control characters", NULL);
		return NULL;
	}
	out = json_pack("{s:s,s:s*}", "userId", json_string_value(user), "reason",
			reason && clean[0] ? clean : NULL);
	if (!out)
		be_error(be, req, MX_OTHER, 500, "internal", "out of memory", NULL);
	return out;
}

void api_server_close(struct httpd_req *req, const struct route_params *params, void *ud)
{
	srv_post(req, params, ud, SRV_CLOSE, srv_close_of);
}

void api_server_presence(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	char room[WIRE_ROOM_ID_MAX + 1];
	struct srv_call *c;

	if (srv_auth(be, req, params, room) && (c = srv_call_new(be, req, SRV_PRESENCE, room)))
		srv_forward(c);
}

/* ---- history: from PostgreSQL ------------------------------------------ */

/* Every kind of record, as the log holds it (the chat's text is a message's
 * payload): one row more than asked says whether there are older ones; the
 * room row first, so that a room without records (one row of NULLs) differs
 * from no room (none). */
static const char srv_history_sql[] =
	"SELECT x.seq, x.kind, x.user_id, coalesce(x.user_name, x.user_id), x.payload,"
	"  (extract(epoch FROM x.created_at) * 1000)::bigint, x.target, x.reply_to"
	" FROM rooms r LEFT JOIN LATERAL"
	"  (SELECT * FROM records WHERE room_id = r.id AND seq < coalesce($2::bigint, 9223372036854775807)"
	"   AND ($4::text IS NULL OR kind = $4) ORDER BY seq DESC LIMIT $3) x ON true"
	" WHERE r.id = $1 AND r.kind <> 'inbox' ORDER BY x.seq DESC";

static json_int_t srv_int(const PGresult *res, int row, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void srv_on_history(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct srv_call *c = arg;
	struct backend *be = c->be;
	json_t *recs, *rec;
	int n, limit = c->limit;

	(void)sqlstate;
	if (!res || PQnfields(res) != 8) {
		log_write(LOG_WARN, "server API history failed", "{s:s}", "error", err ? err : "unexpected");
		be_unavailable(be, c->req, MX_OTHER, "the room's records are unavailable; try again shortly");
		goto out;
	}
	n = PQntuples(res);
	if (n == 0) {
		be_error(be, c->req, MX_OTHER, 404, "not_found", "no such room", NULL);
		goto out;
	}
	if (PQgetisnull(res, 0, 0))
		n = 0;
	recs = json_array();
	/* Oldest first, as the chat's history: the query walked backwards. */
	for (int i = (n > limit ? limit : n) - 1; recs && i >= 0; i--) {
		rec = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "seq", srv_int(res, i, 0), "kind",
				PQgetvalue(res, i, 1), "userId", PQgetvalue(res, i, 2), "user",
				PQgetvalue(res, i, 3), "payload", PQgetvalue(res, i, 4), "ts",
				srv_int(res, i, 5));
		if (rec && !PQgetisnull(res, i, 6))
			json_object_set_new(rec, "target", json_integer(srv_int(res, i, 6)));
		if (rec && !PQgetisnull(res, i, 7))
			json_object_set_new(rec, "replyTo", json_integer(srv_int(res, i, 7)));
		if (!rec || json_array_append_new(recs, rec) < 0) {
			json_decref(recs);
			recs = NULL;
		}
	}
	if (!recs)
		be_error(be, c->req, MX_OTHER, 500, "internal", "out of memory", NULL);
	else
		be_json(be, c->req, MX_OTHER, 200,
			json_pack("{s:o,s:b}", "records", recs, "more", n > limit), NULL);
out:
	srv_call_done(c);
}

/* A query parameter that must be an integer in [min, max] when present:
 * 1 with *out, 0 when absent, -1 when malformed. */
static int srv_param(const struct httpd_req *req, const char *key, long long min, long long max,
		     long long *out)
{
	char buf[24], *end;
	long long v;
	int n = httpd_query(req, key, buf, sizeof buf);

	if (n == -1)
		return 0;
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 1;
}

void api_server_history(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	char room[WIRE_ROOM_ID_MAX + 1], before[24], limit[24], kind[40];
	long long b = 0, l = SRV_HISTORY_DEFAULT;
	int has_before, has_kind;
	const char *q[4];
	struct srv_call *c;

	if (!srv_auth(be, req, params, room))
		return;
	has_before = srv_param(req, "before", 1, INT64_MAX, &b);
	has_kind = httpd_query(req, "kind", kind, sizeof kind);
	if (has_before < 0 || srv_param(req, "limit", 1, SRV_HISTORY_MAX, &l) < 0 ||
	    (has_kind != -1 && (has_kind < 0 || !srv_kind_valid(kind, (size_t)has_kind)))) {
		be_error(be, req, MX_OTHER, 400, "invalid_query",
			 "before is a seq, limit 1 to 1000, kind a record kind", NULL);
		return;
	}
	if (!(c = srv_call_new(be, req, SRV_PRESENCE, room)))
		return;
	c->limit = (int)l;
	snprintf(before, sizeof before, "%lld", b);
	snprintf(limit, sizeof limit, "%lld", l + 1);
	q[0] = c->room;
	q[1] = has_before ? before : NULL;
	q[2] = limit;
	q[3] = has_kind >= 0 ? kind : NULL;
	if (db_query(be->db, srv_history_sql, 4, q, srv_on_history, c) == 0)
		return;
	be_unavailable(be, req, MX_OTHER, "the room's records are unavailable; try again shortly");
	srv_call_done(c);
}
