/* people_req: see people_req.h. */
#include "people_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "log.h"
#include "people.h"

static const char preq_bad_id[] = "userId must be 1 to 32 characters from A-Z a-z 0-9 _ - .";

int preq_caller(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *out)
{
	if (auth_user(be, req, route, out) < 0)
		return -1;
	/* A registered token's subject is its user id; anything else (a
	 * guest's subject) has no account to hold friends or blocks. */
	if (!out->registered || !wire_user_id_valid(out->sub, strlen(out->sub))) {
		be_error(be, req, route, 403, "account_required",
			 "friends and blocks need an account: register or log in", NULL);
		return -1;
	}
	return be_require_ready(be, req, route) ? 0 : -1;
}

static int preq_user(struct backend *be, struct httpd_req *req, enum mx_route route, const char *s,
		     size_t len, char out[WIRE_USER_ID_MAX + 1])
{
	if (!wire_user_id_valid(s, len)) {
		be_error(be, req, route, 400, "invalid_user_id", preq_bad_id, NULL);
		return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int preq_path_user(struct backend *be, struct httpd_req *req, enum mx_route route,
		   const struct route_params *params, size_t i, char out[WIRE_USER_ID_MAX + 1])
{
	if (i >= params->n) {
		be_error(be, req, route, 400, "invalid_user_id", preq_bad_id, NULL);
		return -1;
	}
	return preq_user(be, req, route, params->v[i].s, params->v[i].len, out);
}

int preq_body_user(struct backend *be, struct httpd_req *req, enum mx_route route,
		   char out[WIRE_USER_ID_MAX + 1])
{
	json_t *body, *v;
	int rc;

	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, route, 400);  /* 400 or 415: the class is what counts */
		return -1;
	}
	v = json_object_get(body, "userId");
	if (json_is_string(v))
		rc = preq_user(be, req, route, json_string_value(v), json_string_length(v), out);
	else {
		be_error(be, req, route, 400, "invalid_user_id", preq_bad_id, NULL);
		rc = -1;
	}
	json_decref(body);
	return rc;
}

/* One key of a cursor: "s" (start), "d" (done), "a" and the row it comes
 * after ("<us>.<id>" when timed, else "<id>"). Returns 0 or -1. */
static int preq_key_parse(const char *s, size_t len, bool timed, struct preq_key *k)
{
	const char *id = s + 1, *dot;
	char digits[20], *end;

	memset(k, 0, sizeof *k);
	if (len == 1 && s[0] == 's') {
		k->at = PREQ_START;
		return 0;
	}
	if (len == 1 && s[0] == 'd') {
		k->at = PREQ_DONE;
		return 0;
	}
	if (len < 2 || s[0] != 'a')
		return -1;
	if (timed) {
		dot = memchr(id, '.', len - 1);
		if (!dot || dot == id || (size_t)(dot - id) >= sizeof digits)
			return -1;
		memcpy(digits, id, (size_t)(dot - id));
		digits[dot - id] = '\0';
		if (digits[0] < '0' || digits[0] > '9')
			return -1;
		errno = 0;
		k->us = strtoll(digits, &end, 10);
		if (errno || *end)
			return -1;
		id = dot + 1;
	}
	len -= (size_t)(id - s);
	if (!wire_user_id_valid(id, len))
		return -1;
	memcpy(k->id, id, len);
	k->id[len] = '\0';
	k->at = PREQ_AFTER;
	return 0;
}

static int preq_cursor_parse(const char *c, size_t n, const bool timed[], struct preq_key keys[])
{
	for (size_t i = 0; i < n; i++) {
		const char *sep = strchr(c, '~');
		size_t len = sep ? (size_t)(sep - c) : strlen(c);

		if ((i + 1 < n) != (sep != NULL) || preq_key_parse(c, len, timed[i], &keys[i]) < 0)
			return -1;
		c += len + 1;
	}
	return 0;
}

int preq_page(struct backend *be, struct httpd_req *req, enum mx_route route, size_t n,
	      const bool timed[], struct preq_key keys[], int *limit)
{
	char buf[PREQ_CURSOR_MAX + 1], *end;
	long v = PREQ_LIMIT_DEFAULT;
	int len = httpd_query(req, "limit", buf, sizeof buf);

	if (len != -1) {
		errno = 0;
		v = len > 0 ? strtol(buf, &end, 10) : 0;
		if (len <= 0 || errno || *end || buf[0] == '+' || buf[0] == ' ') {
			be_error(be, req, route, 400, "invalid_request", "limit must be an integer", NULL);
			return -1;
		}
	}
	/* Out of range is clamped, as for the message history. */
	*limit = v < 1 ? 1 : v > PREQ_LIMIT_MAX ? PREQ_LIMIT_MAX : (int)v;
	len = httpd_query(req, "cursor", buf, sizeof buf);
	if (len == -1) {
		for (size_t i = 0; i < n; i++)
			keys[i] = (struct preq_key){ .at = PREQ_START };
		return 0;
	}
	if (len < 0 || preq_cursor_parse(buf, n, timed, keys) < 0) {
		be_error(be, req, route, 400, "invalid_request",
			 "cursor must be a \"next\" value this API gave", NULL);
		return -1;
	}
	return 0;
}

bool preq_cursor(size_t n, const bool timed[], const struct preq_key keys[], char out[PREQ_CURSOR_MAX + 1])
{
	size_t len = 0;
	bool more = false;

	for (size_t i = 0; i < n; i++) {
		const struct preq_key *k = &keys[i];
		const char *sep = i ? "~" : "";
		int w;

		more |= k->at != PREQ_DONE;
		if (k->at != PREQ_AFTER)
			w = snprintf(out + len, PREQ_CURSOR_MAX + 1 - len, "%s%c", sep,
				     k->at == PREQ_START ? 's' : 'd');
		else if (timed[i])
			w = snprintf(out + len, PREQ_CURSOR_MAX + 1 - len, "%sa%lld.%s", sep, k->us, k->id);
		else
			w = snprintf(out + len, PREQ_CURSOR_MAX + 1 - len, "%sa%s", sep, k->id);
		len += (size_t)w;
	}
	return more;
}

void preq_key_params(const struct preq_key *k, char buf[24], const char **us, const char **id)
{
	*us = NULL;
	*id = k->at == PREQ_DONE ? NULL : k->at == PREQ_START ? "" : k->id;
	if (k->at == PREQ_AFTER) {
		snprintf(buf, 24, "%lld", k->us);
		*us = buf;
	}
}

json_t *preq_user_row(const PGresult *res, int row, int col)
{
	return people_user_json(PQgetvalue(res, row, col), PQgetvalue(res, row, col + 1),
				PQgetvalue(res, row, col + 2));
}

void preq_no_content(struct backend *be, struct httpd_req *req, enum mx_route route)
{
	mx_request(&be->mx, route, 204);
	httpd_respond(req, 204, NULL, NULL, NULL, 0);
}

void preq_db_error(struct backend *be, struct httpd_req *req, enum mx_route route, const char *what,
		   const char *err)
{
	log_write(LOG_WARN, what, "{s:s}", "error", err ? err : "");
	be_unavailable(be, req, route, "the account store is unavailable; try again shortly");
}
