/* The operator API, guarded by --admin-token:
 * GET /api/admin/servers → {"servers":[...]}: the session server registry.
 * POST /api/admin/servers/:id/drain → 202: marks the server draining; it
 * notices on its next heartbeat and drains as on SIGTERM, and the scheduler
 * places nothing more there and re-pins its rooms on their next look-up.
 *
 * Without a configured token the routes do not exist (404), so that a
 * deployment that never set one exposes nothing. No Bearer token is 401, a
 * wrong one 403.
 *
 * The webhook dead letters (webhooks.h): GET /api/admin/webhooks/dead,
 * POST /api/admin/webhooks/dead/:id/replay and /api/admin/webhooks/dead/replay. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "http_json.h"
#include "log.h"

#define ADMIN_SERVER_ID_MAX 63

struct admin_call {
	struct backend *be;
	struct httpd_req *req;
	char id[ADMIN_SERVER_ID_MAX + 1];
};

/* Compares digests, so that neither the content nor the length of the
 * token leaks through timing. */
static bool admin_token_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
	unsigned int la = 0, lb = 0;

	if (EVP_Digest(a, a_len, da, &la, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, b_len, db, &lb, EVP_sha256(), NULL) != 1 || la != lb)
		return false;
	return CRYPTO_memcmp(da, db, la) == 0;
}

/* Ids are 1 to 63 characters (the registry's CHECK); ours are printable
 * ASCII. Anything else is no server we know and never reaches SQL (where
 * bytes that are not UTF-8 would be an error, not a 404). */
static bool admin_id_valid(const char *s, size_t len)
{
	if (len < 1 || len > ADMIN_SERVER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/* Returns true when the caller is the operator; otherwise answers. */
static bool admin_auth(struct backend *be, struct httpd_req *req)
{
	const char *tok;
	size_t len;

	if (!be->cfg.admin_token || !be->cfg.admin_token[0]) {
		be_error(be, req, MX_NOT_FOUND, 404, "not_found", "no such API route", NULL);
		return false;
	}
	if (http_bearer(req, &tok, &len) < 0) {
		be_error(be, req, MX_OTHER, 401, "unauthorized", "the operator token is required",
			 "WWW-Authenticate: Bearer\r\n");
		return false;
	}
	if (!admin_token_equal(tok, len, be->cfg.admin_token, strlen(be->cfg.admin_token))) {
		log_write(LOG_WARN, "wrong operator token", "{s:s}", "peer", req->peer);
		be_error(be, req, MX_OTHER, 403, "forbidden", "wrong operator token", NULL);
		return false;
	}
	return be_require_ready(be, req, MX_OTHER);
}

static void admin_call_done(struct admin_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static struct admin_call *admin_call_new(struct backend *be, struct httpd_req *req)
{
	struct admin_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, MX_OTHER, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	be_hold(be);
	return c;
}

static void admin_unavailable(struct admin_call *c, const char *err)
{
	log_write(LOG_WARN, "admin query failed", "{s:s}", "error", err ? err : "");
	be_unavailable(c->be, c->req, MX_OTHER, "the registry is unavailable");
}

/* Columns: id, address, state, capacity, rooms, connections, heartbeat age
 * in ms, live, rooms pinned, inbox capacity, inboxes, inboxes pinned (rooms
 * and inboxes are counted apart, migration 015). */
static void admin_on_servers(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct admin_call *c = arg;
	json_t *list, *out;

	if (!res) {
		admin_unavailable(c, err);
		goto out;
	}
	list = json_array();
	for (int i = 0; list && i < PQntuples(res); i++) {
		json_t *s = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:I}",
				      "id", PQgetvalue(res, i, 0), "address", PQgetvalue(res, i, 1),
				      "state", PQgetvalue(res, i, 2),
				      "capacity", (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
				      "rooms", (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10),
				      "connections", (json_int_t)strtoll(PQgetvalue(res, i, 5), NULL, 10),
				      "heartbeatAgeMs", (json_int_t)strtoll(PQgetvalue(res, i, 6), NULL, 10),
				      "live", strcmp(PQgetvalue(res, i, 7), "t") == 0,
				      "pinnedRooms", (json_int_t)strtoll(PQgetvalue(res, i, 8), NULL, 10),
				      "inboxCapacity", (json_int_t)strtoll(PQgetvalue(res, i, 9), NULL, 10),
				      "inboxes", (json_int_t)strtoll(PQgetvalue(res, i, 10), NULL, 10),
				      "pinnedInboxes", (json_int_t)strtoll(PQgetvalue(res, i, 11), NULL, 10));
		if (!s || json_array_append_new(list, s) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	out = list ? json_pack("{s:o}", "servers", list) : NULL;
	if (!out) {
		be_error(c->be, c->req, MX_OTHER, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(c->be, c->req, MX_OTHER, 200, out, "Cache-Control: no-store\r\n");
out:
	admin_call_done(c);
}

void api_admin_servers(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct admin_call *c;
	char dead_ms[24];
	const char *p[1];

	if (!admin_auth(be, req))
		return;
	c = admin_call_new(be, req);
	if (!c)
		return;
	snprintf(dead_ms, sizeof dead_ms, "%ld", be->cfg.dead_after_ms);
	p[0] = dead_ms;
	if (db_query(be->db,
		     "SELECT s.id, s.address, s.state, s.capacity, s.rooms, s.connections,"
		     " greatest(0, floor(extract(epoch FROM now() - s.heartbeat_at) * 1000))::bigint,"
		     " s.heartbeat_at > now() - $1::bigint * interval '1 millisecond',"
		     " (SELECT count(*) FROM rooms r WHERE r.server_id = s.id AND r.kind <> 'inbox'),"
		     " s.inbox_capacity, s.inboxes,"
		     " (SELECT count(*) FROM rooms r WHERE r.server_id = s.id AND r.kind = 'inbox')"
		     " FROM session_servers s ORDER BY s.id",
		     1, p, admin_on_servers, c) < 0) {
		admin_unavailable(c, "queue full");
		admin_call_done(c);
	}
}

static void admin_on_drain(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct admin_call *c = arg;

	if (!res) {
		admin_unavailable(c, err);
	} else if (PQntuples(res) != 1) {
		be_error(c->be, c->req, MX_OTHER, 404, "not_found", "no such session server", NULL);
	} else {
		log_write(LOG_INFO, "operator drains a session server", "{s:s,s:s}", "id", c->id,
			  "peer", c->req->peer);
		be_json(c->be, c->req, MX_OTHER, 202,
			json_pack("{s:s,s:s}", "id", c->id, "state", PQgetvalue(res, 0, 0)), NULL);
	}
	admin_call_done(c);
}

void api_admin_drain(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct admin_call *c;
	const char *p[1];

	if (!admin_auth(be, req))
		return;
	if (params->n < 1 || !admin_id_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_OTHER, 404, "not_found", "no such session server", NULL);
		return;
	}
	c = admin_call_new(be, req);
	if (!c)
		return;
	memcpy(c->id, params->v[0].s, params->v[0].len);
	c->id[params->v[0].len] = '\0';
	p[0] = c->id;
	if (db_query(be->db, "UPDATE session_servers SET state = 'draining' WHERE id = $1 RETURNING state",
		     1, p, admin_on_drain, c) < 0) {
		admin_unavailable(c, "queue full");
		admin_call_done(c);
	}
}

/* ---- webhook dead letters (docs/protocol.md, "Webhooks") ---------------- */

#define ADMIN_DEAD_LIST_MAX "1000"

/* Columns: id, event_id, room_id, url, type, attempts, last_error, died_at,
 * body (the event as it was sent). */
static void admin_on_dead(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct admin_call *c = arg;
	json_t *list, *out;

	(void)sqlstate;
	if (!res) {
		admin_unavailable(c, err);
		goto out;
	}
	list = json_array();
	for (int i = 0; list && i < PQntuples(res); i++) {
		json_t *ev = json_loads(PQgetvalue(res, i, 8), 0, NULL);
		json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o?}",
				      "id", PQgetvalue(res, i, 0), "eventId", PQgetvalue(res, i, 1),
				      "roomId", PQgetvalue(res, i, 2), "url", PQgetvalue(res, i, 3),
				      "type", PQgetvalue(res, i, 4),
				      "attempts", (json_int_t)strtoll(PQgetvalue(res, i, 5), NULL, 10),
				      "lastError", PQgetvalue(res, i, 6), "diedAt", PQgetvalue(res, i, 7),
				      "event", ev);
		if (!d || json_array_append_new(list, d) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	out = list ? json_pack("{s:o}", "dead", list) : NULL;
	if (!out) {
		be_error(c->be, c->req, MX_OTHER, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(c->be, c->req, MX_OTHER, 200, out, "Cache-Control: no-store\r\n");
out:
	admin_call_done(c);
}

void api_admin_webhooks_dead(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct admin_call *c;

	(void)params;
	if (!admin_auth(be, req))
		return;
	c = admin_call_new(be, req);
	if (!c)
		return;
	if (db_query(be->db,
		     "SELECT id, event_id, room_id, url, type, attempts, coalesce(last_error, ''),"
		     " to_char(died_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), body"
		     " FROM webhook_dead ORDER BY id LIMIT " ADMIN_DEAD_LIST_MAX,
		     0, NULL, admin_on_dead, c) < 0) {
		admin_unavailable(c, "queue full");
		admin_call_done(c);
	}
}

static void admin_on_replayed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct admin_call *c = arg;
	long n;

	(void)sqlstate;
	if (!res) {
		admin_unavailable(c, err);
		goto out;
	}
	n = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	if (c->id[0] && n == 0) {
		be_error(c->be, c->req, MX_OTHER, 404, "not_found", "no such dead letter", NULL);
		goto out;
	}
	log_write(LOG_INFO, "operator replays webhook dead letters", "{s:i,s:s}", "count", (int)n,
		  "peer", c->req->peer);
	be_json(c->be, c->req, MX_OTHER, 202, json_pack("{s:I}", "replayed", (json_int_t)n), NULL);
out:
	admin_call_done(c);
}

/* A replayed event goes to the end of its room's queue with its event id
 * and body, and is tried max-attempts times again. id NULL: every one. */
static void admin_replay(struct backend *be, struct httpd_req *req, const char *id, size_t id_len)
{
	struct admin_call *c;
	const char *p[1];

	if (!admin_auth(be, req))
		return;
	if (id) {
		bool ok = id_len >= 1 && id_len <= 18;

		for (size_t i = 0; ok && i < id_len; i++)
			ok = id[i] >= '0' && id[i] <= '9';
		if (!ok) {
			be_error(be, req, MX_OTHER, 404, "not_found", "no such dead letter", NULL);
			return;
		}
	}
	c = admin_call_new(be, req);
	if (!c)
		return;
	if (id) {
		memcpy(c->id, id, id_len);
		c->id[id_len] = '\0';
	}
	p[0] = id ? c->id : NULL;
	if (db_query(be->db,
		     "WITH d AS (DELETE FROM webhook_dead WHERE $1::bigint IS NULL OR id = $1::bigint"
		     " RETURNING *),"
		     " i AS (INSERT INTO webhook_outbox (event_id, room_id, url, type, body)"
		     " SELECT event_id, room_id, url, type, body FROM d ORDER BY id RETURNING 1)"
		     " SELECT count(*), (SELECT pg_notify('stateroom_webhooks', '')) FROM i",
		     1, p, admin_on_replayed, c) < 0) {
		admin_unavailable(c, "queue full");
		admin_call_done(c);
	}
}

void api_admin_webhooks_replay(struct httpd_req *req, const struct route_params *params, void *ud)
{
	admin_replay(ud, req, params->v[0].s, params->v[0].len);
}

void api_admin_webhooks_replay_all(struct httpd_req *req, const struct route_params *params, void *ud)
{
	(void)params;
	admin_replay(ud, req, NULL, 0);
}
