#include <string.h>
#include <time.h>

#include "auth.h"
#include "http_json.h"
#include "log.h"
#include "token.h"

/* "userId" is the name again: the seed's client reads it (jwt-decode) to
 * show who is logged in and which messages and member are the user's own,
 * and compat frames show users by name. */
static char *auth_token(const struct backend *be, const char *sub, const char *name, bool registered)
{
	json_int_t now = (json_int_t)time(NULL);
	json_t *claims;
	char *tok;

	claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "sub", sub, "name", name, "userId", name,
			   "iat", now, "exp", now + (json_int_t)be->cfg.token_ttl, "typ", "user");
	if (!claims)
		return NULL;
	if (registered && json_object_set_new(claims, "reg", json_true()) < 0) {
		json_decref(claims);
		return NULL;
	}
	tok = tok_sign(claims, (const unsigned char *)be->cfg.secret, strlen(be->cfg.secret));
	json_decref(claims);
	return tok;
}

/* A guest's name is not a credential: anyone may log in as any free name.
 * What a guest creates must therefore belong to this login only. */
char *auth_guest_token(const struct backend *be, const char *name)
{
	char sub[WIRE_GUEST_SUB_LEN + 1] = WIRE_GUEST_PREFIX;

	if (wire_random_id(sub + sizeof WIRE_GUEST_PREFIX - 1) < 0)
		return NULL;
	return auth_token(be, sub, name, false);
}

char *auth_account_token(const struct backend *be, const char *name)
{
	return auth_token(be, name, name, true);
}

/* A string claim that fits max bytes and holds no NUL; copied into out. */
static int auth_claim(const json_t *claims, const char *key, char *out, size_t max)
{
	const json_t *v = json_object_get(claims, key);
	size_t len;

	if (!json_is_string(v))
		return -1;
	len = json_string_length(v);
	if (len == 0 || len > max || memchr(json_string_value(v), '\0', len))
		return -1;
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	return 0;
}

int auth_check(const struct backend *be, const struct httpd_req *req, struct auth_user *out,
	       const char **why)
{
	struct auth_user u;
	const char *tok;
	size_t len;
	json_t *claims = NULL;
	bool valid;
	enum tok_result rc;

	if (http_bearer(req, &tok, &len) < 0) {
		*why = "a Bearer token is required";
		return -1;
	}
	rc = tok_verify(tok, len, (const unsigned char *)be->cfg.secret, strlen(be->cfg.secret),
			"user", (int64_t)time(NULL), be->cfg.token_ttl, &claims);
	if (rc != TOK_OK) {
		log_write(LOG_DEBUG, "token refused", "{s:s,s:s}", "reason", tok_strerror(rc),
			  "peer", req->peer);
		*why = tok_strerror(rc);
		return -1;
	}
	/* The signature is ours, but a token signed by an older version or with
	 * a leaked key should still not smuggle odd ids into rooms and logs. A
	 * token without a name (the user id is the name) is fine. */
	valid = auth_claim(claims, "sub", u.sub, AUTH_SUB_MAX) == 0 &&
		wire_sub_valid(u.sub, strlen(u.sub));
	if (valid && !json_object_get(claims, "name"))
		strcpy(u.name, u.sub);
	else if (valid)
		valid = auth_claim(claims, "name", u.name, AUTH_NAME_MAX) == 0;
	u.registered = json_is_true(json_object_get(claims, "reg"));
	json_decref(claims);
	if (!valid) {
		*why = "the token's claims are invalid";
		return -1;
	}
	*out = u;
	return 0;
}

int auth_user(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *out)
{
	const char *why;

	if (auth_check(be, req, out, &why) == 0)
		return 0;
	be_error(be, req, route, 401, "unauthorized", why, "WWW-Authenticate: Bearer\r\n");
	return -1;
}
