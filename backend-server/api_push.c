/* Web Push subscriptions (docs/protocol.md, "Notifications"):
 * GET /api/push/key (the VAPID public key browsers subscribe with),
 * POST /api/me/push (a PushSubscription.toJSON(): endpoint and keys) and
 * DELETE /api/me/push {"endpoint"}. The sender is push.c. An endpoint is a
 * browser's: subscribing it again, from whichever account, makes it that
 * account's with the new keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "base64.h"
#include "http_json.h"
#include "log.h"
#include "push.h"
#include "webpush.h"

/* A user's browsers at most: the oldest subscription makes way. */
#define PUSH_SUBS_MAX "10"
#define PUSH_KEY_MAX 128

struct push_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
};

void api_push_key(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	const char *key = push_public_key(be->push);

	(void)params;
	if (!key) {
		be_error(be, req, MX_PUSH_KEY, 404, "push_disabled",
			 "this server sends no push notifications (no VAPID key is set)", NULL);
		return;
	}
	be_json(be, req, MX_PUSH_KEY, 200, json_pack("{s:s}", "publicKey", key), NULL);
}

/* The caller (an account), push on, and the body. Returns 0 or -1 after
 * answering. */
static int push_begin(struct backend *be, struct httpd_req *req, enum mx_route route,
		      struct auth_user *me, json_t **body)
{
	if (auth_user(be, req, route, me) < 0)
		return -1;
	if (!me->registered) {
		be_error(be, req, route, 403, "account_required",
			 "push notifications need an account: register or log in", NULL);
		return -1;
	}
	if (!push_public_key(be->push)) {
		be_error(be, req, route, 404, "push_disabled",
			 "this server sends no push notifications (no VAPID key is set)", NULL);
		return -1;
	}
	if (!be_require_ready(be, req, route) || http_json_body(req, body) < 0)
		return -1;
	return 0;
}

/* body's "endpoint", checked; NULL after answering 400. */
static const char *push_endpoint(struct backend *be, struct httpd_req *req, enum mx_route route,
				 json_t *body)
{
	json_t *e = json_object_get(body, "endpoint");
	const char *s = json_string_value(e);

	if (!s || !push_endpoint_ok(be->push, s, json_string_length(e))) {
		be_error(be, req, route, 400, "invalid_endpoint",
			 "endpoint: expected the push service's https:// URL (at most 2048 bytes)", NULL);
		return NULL;
	}
	return s;
}

/* A base64url key of want bytes, padding allowed; writes the unpadded form
 * into out (PUSH_KEY_MAX + 1). */
static bool push_key(json_t *keys, const char *name, size_t want, uint8_t *bytes, char *out)
{
	const char *s = json_string_value(json_object_get(keys, name));
	size_t n = s ? strlen(s) : 0;
	uint8_t buf[B64_DECODED_MAX(PUSH_KEY_MAX)];

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (!s || n > PUSH_KEY_MAX || b64_url_decode(buf, s, n) != (ssize_t)want)
		return false;
	memcpy(bytes, buf, want);
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static void push_call_done(struct push_call *c, PGresult *res, const char *err, const char *what)
{
	struct backend *be = c->be;

	if (!res) {
		log_write(LOG_WARN, what, "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, c->route, "database unavailable");
	} else {
		mx_request(&be->mx, c->route, 204);
		httpd_respond(c->req, 204, NULL, NULL, NULL, 0);
	}
	free(c);
	be_release(be);
}

static void push_on_added(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	(void)sqlstate;
	push_call_done(arg, res, err, "push: storing a subscription failed");
}

static void push_on_removed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	(void)sqlstate;
	push_call_done(arg, res, err, "push: removing a subscription failed");
}

static void push_query(struct backend *be, struct httpd_req *req, enum mx_route route,
		       const char *sql, int n, const char *const *q, db_result_fn cb)
{
	struct push_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	be_hold(be);
	if (db_query(be->db, sql, n, q, cb, c) < 0) {
		free(c);
		be_unavailable(be, req, route, "database busy");
		be_release(be);
	}
}

void api_push_subscribe(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	json_t *body = NULL, *keys;
	const char *endpoint;
	uint8_t point[WP_POINT_LEN], auth[WP_AUTH_LEN];
	char p256dh[PUSH_KEY_MAX + 1], auth_s[PUSH_KEY_MAX + 1];

	(void)params;
	if (push_begin(be, req, MX_PUSH_SUBSCRIBE, &me, &body) < 0)
		return;
	if (!(endpoint = push_endpoint(be, req, MX_PUSH_SUBSCRIBE, body)))
		goto out;
	keys = json_object_get(body, "keys");
	if (!push_key(keys, "p256dh", WP_POINT_LEN, point, p256dh) || !wp_point_ok(point)) {
		be_error(be, req, MX_PUSH_SUBSCRIBE, 400, "invalid_keys",
			 "keys.p256dh: expected a P-256 public key, uncompressed (65 bytes), base64url", NULL);
		goto out;
	}
	if (!push_key(keys, "auth", WP_AUTH_LEN, auth, auth_s)) {
		be_error(be, req, MX_PUSH_SUBSCRIBE, 400, "invalid_keys",
			 "keys.auth: expected 16 bytes, base64url", NULL);
		goto out;
	}
	{
		const char *q[5] = { me.sub, endpoint, p256dh, auth_s, PUSH_SUBS_MAX };

		/* The others beyond the newest max - 1 go; this one is kept. */
		push_query(be, req, MX_PUSH_SUBSCRIBE,
			   "WITH up AS (INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)"
			   " VALUES ($1, $2, $3, $4) ON CONFLICT (endpoint) DO UPDATE SET"
			   " user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,"
			   " created_at = now(), last_error = NULL RETURNING id),"
			   " old AS (DELETE FROM push_subscriptions WHERE id IN ("
			   " SELECT id FROM push_subscriptions WHERE user_id = $1 AND endpoint <> $2"
			   " ORDER BY created_at DESC, id DESC OFFSET $5::integer - 1))"
			   " SELECT id FROM up",
			   5, q, push_on_added);
	}
out:
	json_decref(body);
}

void api_push_unsubscribe(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	json_t *body = NULL;
	const char *endpoint;

	(void)params;
	if (push_begin(be, req, MX_PUSH_UNSUBSCRIBE, &me, &body) < 0)
		return;
	if ((endpoint = push_endpoint(be, req, MX_PUSH_UNSUBSCRIBE, body))) {
		const char *q[2] = { me.sub, endpoint };

		push_query(be, req, MX_PUSH_UNSUBSCRIBE,
			   "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2", 2, q,
			   push_on_removed);
	}
	json_decref(body);
}
