/* POST /api/login {"userId"} → {"token"}: a guest user token, for any name
 * that no account has registered (one look-up in users). Each login is a new
 * guest (a subject of its own), whatever name it picks. Each client may ask
 * --guest-logins-per-minute times a minute (throttle.h). */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "log.h"
#include "throttle.h"
#include "wire.h"

struct login_call {             /* one request waiting on the database */
	struct backend *be;
	struct httpd_req *req;
	char user[WIRE_USER_ID_MAX + 1];
};

static void login_on_checked(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct login_call *c = arg;
	struct backend *be = c->be;
	json_t *body;
	char *tok;

	if (!res) {
		log_write(LOG_WARN, "guest name check failed", "{s:s}", "error", err ? err : "");
		be_unavailable(be, c->req, MX_LOGIN, "the account store is unavailable; try again shortly");
		goto out;
	}
	if (PQntuples(res) > 0) {
		be_error(be, c->req, MX_LOGIN, 409, "name_taken",
			 "that user name is registered: log in with its password", NULL);
		goto out;
	}
	tok = auth_guest_token(be, c->user);
	body = tok ? json_pack("{s:s}", "token", tok) : NULL;
	free(tok);
	if (!body) {
		be_error(be, c->req, MX_LOGIN, 500, "internal", "could not sign the token", NULL);
		goto out;
	}
	be_json(be, c->req, MX_LOGIN, 200, body, NULL);
out:
	free(c);
	be_release(be);
}

void api_login(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct login_call *c;
	json_t *body, *user;
	const char *id, *q[1];
	struct ca_addr client;
	unsigned wait;
	size_t len;

	be_client(be, req, &client);
	wait = thr_guest(be->thr, &client, uv_now(be->loop));
	if (wait) {
		be_too_many(be, req, MX_LOGIN, wait, "too_many_requests",
			    "too many guest logins from this address; try again later");
		return;
	}
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_LOGIN, 400);  /* 400 or 415: the class is what counts */
		return;
	}
	user = json_object_get(body, "userId");
	id = json_string_value(user);
	len = id ? json_string_length(user) : 0;
	if (!id || !wire_user_id_valid(id, len)) {
		json_decref(body);
		be_error(be, req, MX_LOGIN, 400, "invalid_user_id",
			 "userId must be 1 to 32 characters from A-Z a-z 0-9 _ - .", NULL);
		return;
	}
	/* Whether the name is registered is in the database: until the
	 * migrations are applied there is no answer, so no token. */
	if (!be_require_ready(be, req, MX_LOGIN)) {
		json_decref(body);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		json_decref(body);
		be_error(be, req, MX_LOGIN, 500, "internal", "out of memory", NULL);
		return;
	}
	memcpy(c->user, id, len);
	c->user[len] = '\0';
	json_decref(body);
	c->be = be;
	c->req = req;
	be_hold(be);
	q[0] = c->user;
	/* Any spelling of a registered name is taken: a guest "ALICE" beside
	 * the account "alice" would pass for it (login_key is lower(id); an
	 * account older than that rule may have none, hence id too). */
	if (db_query(be->db, "SELECT 1 FROM users WHERE login_key = lower($1) OR id = $1", 1, q,
		     login_on_checked, c) < 0) {
		be_unavailable(be, req, MX_LOGIN, "the account store is unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}
