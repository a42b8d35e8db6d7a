/* Accounts: POST /api/auth/register and POST /api/auth/login
 * {"userId","password"} → {"token"} (GET /api/me: api_users.c).
 *
 * Login answers an unknown user exactly as a wrong password: the same 401,
 * after the same database look-up and the same argon2id check (against a
 * dummy hash), so neither the answer nor its timing says which names exist.
 * Its failures back off per name and per client (throttle.h), by the same
 * rule for names that exist and names that do not. Registering does say
 * it (409 name_taken): a sign-up form has to. Hashing waits its client's
 * turn (pwhash.h), so one client's flood delays others by little. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "log.h"
#include "pwhash.h"
#include "throttle.h"
#include "wire.h"

static const char auth_retry_busy[] = "Retry-After: 1\r\n";

struct auth_call {              /* one request waiting on the pool or the database */
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	char user[WIRE_USER_ID_MAX + 1];
	struct ca_addr client;
	bool counted;               /* login: thr_login_begin() let it through */
	enum thr_outcome outcome;   /* login: for thr_login_end() */
	size_t pw_len;
	char password[PW_MAX_LEN];  /* login only: kept for the check, wiped after */
};

static void auth_call_done(struct auth_call *c)
{
	struct backend *be = c->be;

	if (c->counted)
		thr_login_end(be->thr, c->user, &c->client, c->outcome, uv_now(be->loop));
	sodium_memzero(c->password, c->pw_len);
	free(c);
	be_release(be);
}

/* Frees the parsed request body after wiping the password in it: jansson's
 * copy is ours (the raw body is httpd's), and freed memory is not cleared. */
static void auth_body_free(json_t *body)
{
	json_t *v = json_object_get(body, "password");

	if (json_is_string(v))
		sodium_memzero((char *)json_string_value(v), json_string_length(v));
	json_decref(body);
}

/* Reads and checks {"userId","password"}. Returns 0 with the user id copied
 * into user and *pw, *pw_len pointing into *body (which the caller then
 * owns: auth_body_free()), or -1 after answering 400 or 415. */
static int auth_parse(struct backend *be, struct httpd_req *req, enum mx_route route,
		      char user[WIRE_USER_ID_MAX + 1], json_t **body, const char **pw, size_t *pw_len)
{
	json_t *b, *v;
	size_t len;

	if (http_json_body(req, &b) < 0) {
		mx_request(&be->mx, route, 400);  /* 400 or 415: the class is what counts */
		return -1;
	}
	v = json_object_get(b, "userId");
	len = json_is_string(v) ? json_string_length(v) : 0;
	if (!json_is_string(v) || !wire_user_id_valid(json_string_value(v), len)) {
		auth_body_free(b);
		be_error(be, req, route, 400, "invalid_user_id",
			 "userId must be 1 to 32 characters from A-Z a-z 0-9 _ - .", NULL);
		return -1;
	}
	memcpy(user, json_string_value(v), len);
	user[len] = '\0';
	v = json_object_get(b, "password");
	len = json_is_string(v) ? json_string_length(v) : 0;
	if (!json_is_string(v) || len < PW_MIN_LEN) {
		auth_body_free(b);
		be_error(be, req, route, 400, "invalid_password",
			 "password must be a string of 8 to 1024 bytes", NULL);
		return -1;
	}
	if (len > PW_MAX_LEN) {
		auth_body_free(b);
		be_error(be, req, route, 400, "too_long", "password must be at most 1024 bytes", NULL);
		return -1;
	}
	*body = b;
	*pw = json_string_value(v);
	*pw_len = len;
	return 0;
}

/* Answers 200 {"token"} for a registered user. */
static void auth_answer_token(struct auth_call *c)
{
	char *tok = auth_account_token(c->be, c->user);
	json_t *out = tok ? json_pack("{s:s}", "token", tok) : NULL;

	free(tok);
	if (!out) {
		be_error(c->be, c->req, c->route, 500, "internal", "could not sign the token", NULL);
		return;
	}
	be_json(c->be, c->req, c->route, 200, out, NULL);
}

/* Answers a pw_hash/pw_verify start failure. */
static void auth_pool_error(struct auth_call *c, int rc)
{
	if (rc == PW_EQUOTA)
		be_too_many(c->be, c->req, c->route, 1, "too_many_requests",
			    "too many logins from this address at once; try again shortly");
	else if (rc == PW_EBUSY)
		be_error(c->be, c->req, c->route, 503, "busy",
			 "too many logins at once; try again shortly", auth_retry_busy);
	else
		be_error(c->be, c->req, c->route, 500, "internal", "could not start hashing", NULL);
}

static void auth_db_error(struct auth_call *c, const char *err)
{
	log_write(LOG_WARN, "accounts query failed", "{s:s}", "error", err ? err : "");
	be_unavailable(c->be, c->req, c->route, "the account store is unavailable; try again shortly");
}

/* Allocates the call and holds the backend (see be_hold()). */
static struct auth_call *auth_call_new(struct backend *be, struct httpd_req *req, enum mx_route route,
				       const char *user)
{
	struct auth_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	strcpy(c->user, user);
	be_client(be, req, &c->client);
	c->outcome = THR_ABORTED;
	be_hold(be);
	return c;
}

/* ---- register ---------------------------------------------------------- */

static void auth_on_inserted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct auth_call *c = arg;

	if (!res)
		auth_db_error(c, err);
	else if (PQntuples(res) == 0)
		be_error(c->be, c->req, c->route, 409, "name_taken", "that user name is registered already", NULL);
	else {
		log_write(LOG_INFO, "user registered", "{s:s}", "user", c->user);
		auth_answer_token(c);
	}
	auth_call_done(c);
}

static void auth_on_hashed(int err, const char *hash, void *arg)
{
	struct auth_call *c = arg;
	const char *params[] = { c->user, hash };

	if (err < 0) {
		be_error(c->be, c->req, c->route, 500, "internal", "could not hash the password", NULL);
		goto done;
	}
	/* Any conflict, on id or on login_key: "Alice" is taken once "alice" is. */
	if (db_query(c->be->db, "INSERT INTO users (id, password_hash, login_key) VALUES ($1, $2, lower($1))"
			" ON CONFLICT DO NOTHING RETURNING 1",
		     2, params, auth_on_inserted, c) == 0)
		return;
	auth_db_error(c, "queue full");
done:
	auth_call_done(c);
}

void api_auth_register(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	char user[WIRE_USER_ID_MAX + 1];
	struct auth_call *c;
	const char *pw;
	size_t pw_len;
	json_t *body;
	int rc;

	if (!be_require_ready(be, req, MX_REGISTER) ||
	    auth_parse(be, req, MX_REGISTER, user, &body, &pw, &pw_len) < 0)
		return;
	c = auth_call_new(be, req, MX_REGISTER, user);
	if (!c) {
		auth_body_free(body);
		return;
	}
	rc = pw_hash(be->pw, c->client.b, pw, pw_len, auth_on_hashed, c);
	auth_body_free(body);
	if (rc < 0) {
		auth_pool_error(c, rc);
		auth_call_done(c);
	}
}

/* ---- login ------------------------------------------------------------- */

static void auth_on_verified(int ok, void *arg)
{
	struct auth_call *c = arg;

	c->outcome = ok ? THR_SUCCESS : THR_FAILURE;
	if (ok)
		auth_answer_token(c);
	else
		be_error(c->be, c->req, c->route, 401, "invalid_credentials",
			 "wrong user name or password", NULL);
	auth_call_done(c);
}

static void auth_on_looked_up(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct auth_call *c = arg;
	int rc;

	if (!res) {
		auth_db_error(c, err);
		auth_call_done(c);
		return;
	}
	/* No row: the dummy hash (NULL), so that an unknown name costs the same. */
	rc = pw_verify(c->be->pw, c->client.b, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL,
		       c->password, c->pw_len, auth_on_verified, c);
	if (rc < 0) {
		auth_pool_error(c, rc);
		auth_call_done(c);
	}
}

void api_auth_login(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	char user[WIRE_USER_ID_MAX + 1];
	struct auth_call *c;
	const char *pw;
	size_t pw_len;
	json_t *body;
	const char *q[1];
	unsigned wait;

	if (!be_require_ready(be, req, MX_ACCOUNT_LOGIN) ||
	    auth_parse(be, req, MX_ACCOUNT_LOGIN, user, &body, &pw, &pw_len) < 0)
		return;
	c = auth_call_new(be, req, MX_ACCOUNT_LOGIN, user);
	if (!c) {
		auth_body_free(body);
		return;
	}
	/* Before the look-up: a name that exists waits as one that does not. */
	wait = thr_login_begin(be->thr, c->user, &c->client, uv_now(be->loop));
	if (wait) {
		auth_body_free(body);
		be_too_many(be, req, MX_ACCOUNT_LOGIN, wait, "too_many_attempts",
			    "too many failed logins; try again later");
		auth_call_done(c);
		return;
	}
	c->counted = true;
	memcpy(c->password, pw, pw_len);
	c->pw_len = pw_len;
	auth_body_free(body);
	q[0] = c->user;
	if (db_query(be->db, "SELECT password_hash FROM users WHERE id = $1", 1, q,
		     auth_on_looked_up, c) < 0) {
		auth_db_error(c, "queue full");
		auth_call_done(c);
	}
}
