/* Email addresses (docs/protocol.md, "Notifications"): PUT /api/me/email
 * {"address"} (sends a verification link), GET and DELETE /api/me/email;
 * and the pages a mail's links open without logging in: GET
 * /api/email/verify?token=, GET /api/email/unsubscribe?token= (a button) and
 * POST of the same (the button, and RFC 8058 one-click from a mail client).
 *
 * A verification token is 32 random bytes (base64url); only its SHA-256 is
 * stored, so a database dump verifies nothing. The unsubscribe token does
 * one thing only, turn the user's email off, so it can live in every mail. */
#include <http_parser.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "base64.h"
#include "email.h"
#include "http_json.h"
#include "mail_compose.h"
#include "people_req.h"

#define EMAIL_TOKEN_BYTES 32
#define EMAIL_TOKEN_LEN B64_URL_ENCODED_LEN(EMAIL_TOKEN_BYTES)
#define EMAIL_UNSUB_BYTES 24
#define EMAIL_UNSUB_LEN B64_URL_ENCODED_LEN(EMAIL_UNSUB_BYTES)
#define EMAIL_RESEND_GAP_S "60"

struct email_call {
	struct backend *be;
	struct httpd_req *req;
	char address[MAIL_ADDRESS_MAX + 1];
	char token[EMAIL_TOKEN_LEN + 1];
};

static struct email_call *email_call_new(struct backend *be, struct httpd_req *req)
{
	struct email_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, MX_EMAIL, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	return c;
}

static void email_done(struct email_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static void email_query(struct email_call *c, const char *sql, int n, const char *const *params,
			db_result_fn cb)
{
	struct backend *be = c->be;

	be_hold(be);
	if (db_query(be->db, sql, n, params, cb, c) < 0) {
		preq_db_error(be, c->req, MX_EMAIL, "email query not queued", "queue full");
		free(c);
		be_release(be);
	}
}

/* The caller, who must hold an account. 0, or -1 after answering. */
static int email_caller(struct backend *be, struct httpd_req *req, struct auth_user *me)
{
	if (auth_user(be, req, MX_EMAIL, me) < 0)
		return -1;
	if (!me->registered) {
		be_error(be, req, MX_EMAIL, 403, "account_required",
			 "email notifications need an account: register or log in", NULL);
		return -1;
	}
	return be_require_ready(be, req, MX_EMAIL) ? 0 : -1;
}

/* ---- the pages ---------------------------------------------------------- */

/* A small page; body is trusted HTML (the only variable part anywhere is a
 * token already checked to be base64url). */
static void email_page(struct backend *be, struct httpd_req *req, int status, const char *title,
		       const char *body)
{
	char *html = NULL;
	int n = asprintf(&html,
			 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			 "<title>%s · Stateroom</title></head>\n<body><main><h1>%s</h1>\n%s\n"
			 "<p><a href=\"/\">Open Stateroom</a></p></main></body></html>\n",
			 title, title, body);

	mx_request(&be->mx, MX_EMAIL, status);
	if (n < 0) {
		http_json_error(req, 500, "internal", "out of memory", NULL);
		return;
	}
	httpd_respond(req, status, "text/html; charset=utf-8", "Cache-Control: no-store\r\n", html,
		      (size_t)n);
	free(html);
}

/* ?token=, base64url of want bytes' length. 0, or -1 after answering a page. */
static int email_token(struct backend *be, struct httpd_req *req, size_t want_len, char *out)
{
	int n = httpd_query(req, "token", out, want_len + 1);

	if (n != (int)want_len || b64_url_decode((char[EMAIL_TOKEN_BYTES + 2]){ 0 }, out, (size_t)n) < 0) {
		email_page(be, req, 400, "This link does not work",
			   "<p>The link is incomplete or damaged. Open it again from the mail, "
			   "or copy all of it into the address bar.</p>");
		return -1;
	}
	return 0;
}

static void email_on_verified(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct email_call *c = arg;
	const char *o = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";

	(void)sqlstate;
	if (strcmp(o, "ok") == 0)
		email_page(c->be, c->req, 200, "Your address is confirmed",
			   "<p>Stateroom will email you about messages you have not read, "
			   "as your notification settings say.</p>");
	else if (strcmp(o, "expired") == 0)
		email_page(c->be, c->req, 410, "This link has expired",
			   "<p>Confirmation links work for 24 hours. Ask for a new one in "
			   "Stateroom's notification settings.</p>");
	else if (strcmp(o, "unknown") == 0)
		email_page(c->be, c->req, 404, "This link does not work",
			   "<p>It was used already, or a newer link replaced it.</p>");
	else {
		if (!res)
			preq_db_error(c->be, c->req, MX_EMAIL, "verify failed", err);
		else
			email_page(c->be, c->req, 503, "Try again", "<p>Something went wrong.</p>");
	}
	email_done(c);
}

void api_email_verify(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct email_call *c;
	unsigned char raw[EMAIL_TOKEN_BYTES + 2], hash[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 3];
	const char *q[1] = { hex };
	ssize_t n;

	(void)params;
	if (!be_require_ready(be, req, MX_EMAIL) || !(c = email_call_new(be, req)))
		return;
	if (email_token(be, req, EMAIL_TOKEN_LEN, c->token) < 0) {
		free(c);
		return;
	}
	n = b64_url_decode(raw, c->token, strlen(c->token));
	crypto_hash_sha256(hash, raw, (unsigned long long)n);
	memcpy(hex, "\\x", 2);
	sodium_bin2hex(hex + 2, sizeof hex - 2, hash, sizeof hash);
	email_query(c, "SELECT stateroom_email_verify($1::bytea)", 1, q, email_on_verified);
}

static void email_on_unsub_found(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct email_call *c = arg;
	char *body = NULL;

	(void)sqlstate;
	if (!res) {
		preq_db_error(c->be, c->req, MX_EMAIL, "unsubscribe failed", err);
	} else if (PQntuples(res) != 1) {
		email_page(c->be, c->req, 404, "This link does not work",
			   "<p>The address it was for has been removed from its account.</p>");
	} else if (c->req->method == HTTP_POST) {
		email_page(c->be, c->req, 200, "Email notifications are off",
			   "<p>Stateroom will not email you about messages any more. "
			   "You can turn them on again in its notification settings.</p>");
	} else if (asprintf(&body,
			    "<p>Stateroom emails you about messages you have not read.</p>\n"
			    "<form method=\"post\" action=\"/api/email/unsubscribe?token=%s\">"
			    "<button type=\"submit\">Turn off email notifications</button></form>",
			    c->token) < 0) {
		email_page(c->be, c->req, 500, "Try again", "<p>Something went wrong.</p>");
	} else {
		email_page(c->be, c->req, 200, "Stop these emails?", body);
		free(body);
	}
	email_done(c);
}

/* GET shows the button and changes nothing (mail scanners open links);
 * POST, the button or a mail client's one-click, turns email off. */
void api_email_unsubscribe(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct email_call *c;
	const char *q[1];

	(void)params;
	if (!be_require_ready(be, req, MX_EMAIL) || !(c = email_call_new(be, req)))
		return;
	if (email_token(be, req, EMAIL_UNSUB_LEN, c->token) < 0) {
		free(c);
		return;
	}
	q[0] = c->token;
	if (req->method == HTTP_POST)
		email_query(c,
			    "INSERT INTO notify_prefs AS p (user_id, email)"
			    " SELECT user_id, false FROM email_addresses WHERE unsub_token = $1"
			    " ON CONFLICT (user_id) DO UPDATE SET email = false, updated_at = now()"
			    " RETURNING p.user_id",
			    1, q, email_on_unsub_found);
	else
		email_query(c, "SELECT user_id FROM email_addresses WHERE unsub_token = $1", 1, q,
			    email_on_unsub_found);
}

/* ---- the API ------------------------------------------------------------ */

static void email_on_get(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct email_call *c = arg;

	(void)sqlstate;
	if (!res)
		preq_db_error(c->be, c->req, MX_EMAIL, "email read failed", err);
	else if (PQntuples(res) != 1)
		be_error(c->be, c->req, MX_EMAIL, 404, "not_found", "no email address", NULL);
	else
		be_json(c->be, c->req, MX_EMAIL, 200,
			json_pack("{s:s,s:b}", "address", PQgetvalue(res, 0, 0), "verified",
				  strcmp(PQgetvalue(res, 0, 1), "t") == 0),
			NULL);
	email_done(c);
}

void api_email_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	struct email_call *c;
	const char *q[1];

	(void)params;
	if (email_caller(be, req, &me) < 0 || !(c = email_call_new(be, req)))
		return;
	q[0] = me.sub;
	email_query(c, "SELECT address, verified_at IS NOT NULL FROM email_addresses WHERE user_id = $1",
		    1, q, email_on_get);
}

static void email_on_deleted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct email_call *c = arg;

	(void)sqlstate;
	if (!res)
		preq_db_error(c->be, c->req, MX_EMAIL, "email delete failed", err);
	else
		preq_no_content(c->be, c->req, MX_EMAIL);
	email_done(c);
}

/* What was waiting for a digest goes with the address: nothing would ever
 * send it. */
void api_email_delete(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	struct email_call *c;
	const char *q[1];

	(void)params;
	if (email_caller(be, req, &me) < 0 || !(c = email_call_new(be, req)))
		return;
	q[0] = me.sub;
	email_query(c,
		    "WITH s AS (UPDATE notifications SET email_state = 'skipped'"
		    " WHERE user_id = $1 AND email_state = 'pending')"
		    " DELETE FROM email_addresses WHERE user_id = $1",
		    1, q, email_on_deleted);
}

static void email_on_set(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct email_call *c = arg;
	struct backend *be = c->be;
	const char *o = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
	int rc;

	(void)sqlstate;
	if (strcmp(o, "send") == 0) {
		rc = em_send_verification(be->em, c->address, c->token);
		if (rc < 0)
			be_error(be, c->req, MX_EMAIL, 503, "unavailable",
				 "the verification mail could not be sent: try again later",
				 "Retry-After: 60\r\n");
		else
			be_json(be, c->req, MX_EMAIL, 202,
				json_pack("{s:s,s:b}", "address", c->address, "verified", 0), NULL);
	} else if (strcmp(o, "verified") == 0) {
		be_json(be, c->req, MX_EMAIL, 200,
			json_pack("{s:s,s:b}", "address", c->address, "verified", 1), NULL);
	} else if (strncmp(o, "wait:", 5) == 0) {
		long s = strtol(o + 5, NULL, 10);

		be_too_many(be, c->req, MX_EMAIL, s > 0 ? (unsigned)s : 1, "rate_limited",
			    "a verification mail went out a moment ago: wait a minute before asking "
			    "for another");
	} else {
		preq_db_error(be, c->req, MX_EMAIL, "email update failed", res ? o : err);
	}
	email_done(c);
}

void api_email_put(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	struct email_call *c;
	json_t *body, *addr;
	unsigned char raw[EMAIL_TOKEN_BYTES], hash[crypto_hash_sha256_BYTES],
		unsub_raw[EMAIL_UNSUB_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 3], unsub[EMAIL_UNSUB_LEN + 1];
	const char *q[5];

	(void)params;
	if (email_caller(be, req, &me) < 0)
		return;
	if (!em_enabled(be->em)) {
		be_error(be, req, MX_EMAIL, 503, "email_disabled",
			 "this server sends no email (its operator has not set --smtp-url)", NULL);
		return;
	}
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_EMAIL, 400);
		return;
	}
	addr = json_object_get(body, "address");
	if (!json_is_string(addr) || !mail_address_ok(json_string_value(addr)) ||
	    strlen(json_string_value(addr)) != json_string_length(addr)) {
		json_decref(body);
		be_error(be, req, MX_EMAIL, 400, "invalid_address",
			 "address: a plain email address (name@example.com), at most 254 "
			 "characters, ASCII only", NULL);
		return;
	}
	if (!(c = email_call_new(be, req))) {
		json_decref(body);
		return;
	}
	snprintf(c->address, sizeof c->address, "%s", json_string_value(addr));
	json_decref(body);
	randombytes_buf(raw, sizeof raw);
	b64_url_encode(c->token, raw, sizeof raw);
	crypto_hash_sha256(hash, raw, sizeof raw);
	memcpy(hex, "\\x", 2);
	sodium_bin2hex(hex + 2, sizeof hex - 2, hash, sizeof hash);
	randombytes_buf(unsub_raw, sizeof unsub_raw);
	b64_url_encode(unsub, unsub_raw, sizeof unsub_raw);
	q[0] = me.sub;
	q[1] = c->address;
	q[2] = hex;
	q[3] = unsub;
	q[4] = EMAIL_RESEND_GAP_S;
	email_query(c, "SELECT stateroom_email_set($1, $2, $3::bytea, $4, $5::integer)", 5, q,
		    email_on_set);
}
