/* POST /api/login {"userId"} → {"token"}: a guest user token. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "ids.h"

void api_login(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	json_t *body, *user;
	const char *id;
	size_t len;
	char *tok;

	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_LOGIN, 400);  /* 400 or 415: the class is what counts */
		return;
	}
	user = json_object_get(body, "userId");
	id = json_string_value(user);
	len = id ? json_string_length(user) : 0;
	if (!id || !ids_user_valid(id, len)) {
		json_decref(body);
		be_error(be, req, MX_LOGIN, 400, "invalid_user_id",
			 "userId must be 1 to 32 characters from A-Z a-z 0-9 _ - .", NULL);
		return;
	}
	tok = auth_user_token(be, id);
	json_decref(body);
	if (!tok) {
		be_error(be, req, MX_LOGIN, 500, "internal", "could not sign the token", NULL);
		return;
	}
	body = json_pack("{s:s}", "token", tok);
	free(tok);
	if (!body) {
		be_error(be, req, MX_LOGIN, 500, "internal", "out of memory", NULL);
		return;
	}
	be_json(be, req, MX_LOGIN, 200, body, NULL);
}
