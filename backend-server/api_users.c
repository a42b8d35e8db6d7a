/* People: profiles and search (docs/protocol.md, "People").
 * GET /api/me → who the token says, and a registered user's profile;
 * PATCH /api/me {"displayName","status","dmPolicy"} → the same, changed;
 * GET /api/users/:id → a user; GET /api/users?q=PREFIX&limit&cursor →
 * {"users","next"}. Each is one query. Only registered accounts have a
 * profile and may see others' (403 account_required for a guest, except
 * GET /api/me, which tells a guest who it is as it always did). Whoever
 * blocked the caller does not exist for it: 404, and never in a search. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "ids.h"
#include "log.h"
#include "names.h"
#include "people.h"
#include "throttle.h"

#define USERS_LIMIT_DEFAULT 20
#define USERS_LIMIT_MAX 50

/* The caller's own row, as GET and PATCH /api/me answer it. */
#define USERS_ME_COLUMNS PEOPLE_COLUMNS("u") ", u.dm_policy"

static const char users_me_sql[] = "SELECT " USERS_ME_COLUMNS " FROM users u WHERE u.id = $1";

/* $2: whether displayName changes ($3, $4 its name and key; NULL resets). */
static const char users_patch_sql[] =
	"UPDATE users u SET"
	" display_name = CASE WHEN $2::boolean THEN $3 ELSE u.display_name END,"
	" display_key = CASE WHEN $2::boolean THEN $4 ELSE u.display_key END,"
	" status = coalesce($5, u.status), dm_policy = coalesce($6, u.dm_policy)"
	" WHERE u.id = $1 RETURNING " USERS_ME_COLUMNS;

static const char users_get_sql[] =
	"SELECT " PEOPLE_COLUMNS("u") " FROM users u WHERE u.id = $1"
	" AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $2)";

/* $2: the escaped key and '%'. Accounts older than login_key that lost it
 * to an older one of the same case (011) are still found by their id.
 * Ordered by id in byte order, so the cursor (the last id) is stable. */
static const char users_search_sql[] =
	"SELECT " PEOPLE_COLUMNS("u") " FROM users u"
	" WHERE (u.login_key LIKE $2 OR u.display_key LIKE $2"
	"        OR (u.login_key IS NULL AND lower(u.id) LIKE $2))"
	" AND u.id <> $1 AND ($3::text IS NULL OR u.id COLLATE \"C\" > $3)"
	" AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $1)"
	" ORDER BY u.id COLLATE \"C\" LIMIT $4";

struct users_call {             /* one request waiting on the database */
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	struct auth_user user;
	int limit;              /* search */
};

/* The caller, who must be a registered account. Returns 0, or -1 after
 * answering 401, 403 or 503. */
static int users_account(struct backend *be, struct httpd_req *req, enum mx_route route,
			 struct auth_user *user)
{
	if (auth_user(be, req, route, user) < 0)
		return -1;
	if (!user->registered) {
		be_error(be, req, route, 403, "account_required",
			 "people and profiles are for registered accounts; register or log in", NULL);
		return -1;
	}
	return be_require_ready(be, req, route) ? 0 : -1;
}

static struct users_call *users_call_new(struct backend *be, struct httpd_req *req,
					 enum mx_route route, const struct auth_user *user)
{
	struct users_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	c->user = *user;
	be_hold(be);
	return c;
}

static void users_call_done(struct users_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

/* Queues sql for c; on failure answers 503 and frees c. */
static void users_query(struct users_call *c, const char *sql, int n, const char *const *params,
			db_result_fn cb)
{
	if (db_query(c->be->db, sql, n, params, cb, c) == 0)
		return;
	be_unavailable(c->be, c->req, c->route, "the account store is unavailable; try again shortly");
	users_call_done(c);
}

/* Answers a failed query (res NULL) with 503 and returns true. */
static bool users_failed(struct users_call *c, PGresult *res, const char *err)
{
	if (res)
		return false;
	log_write(LOG_WARN, "people query failed", "{s:s}", "error", err ? err : "");
	be_unavailable(c->be, c->req, c->route, "the account store is unavailable; try again shortly");
	return true;
}

static json_t *users_row_json(const PGresult *res, int row)
{
	return people_user_json(PQgetvalue(res, row, 0), PQgetvalue(res, row, 1), PQgetvalue(res, row, 2));
}

/* ---- /api/me ----------------------------------------------------------- */

/* What a token says about its holder: all a guest has. */
static json_t *users_me_token_json(const struct auth_user *u)
{
	return json_pack("{s:s,s:s,s:s,s:b}", "userId", u->name, "name", u->name, "sub", u->sub,
			 "registered", u->registered);
}

static void users_on_me(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct users_call *c = arg;
	json_t *out, *profile;

	if (users_failed(c, res, err))
		goto done;
	if (PQntuples(res) != 1) {
		/* A valid token for an account that is gone (deleted by hand). */
		be_error(c->be, c->req, c->route, 404, "not_found", "no such account", NULL);
		goto done;
	}
	out = users_me_token_json(&c->user);
	profile = users_row_json(res, 0);
	if (!out || !profile || json_object_update(out, profile) < 0 ||
	    json_object_set_new(out, "dmPolicy", json_string(PQgetvalue(res, 0, PEOPLE_NCOLUMNS))) < 0) {
		json_decref(out);
		json_decref(profile);
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		goto done;
	}
	json_decref(profile);
	be_json(c->be, c->req, c->route, 200, out, NULL);
done:
	users_call_done(c);
}

void api_me(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct users_call *c;
	const char *q[1];

	if (auth_user(be, req, MX_ME, &user) < 0)
		return;
	if (!user.registered) {
		be_json(be, req, MX_ME, 200, users_me_token_json(&user), NULL);
		return;
	}
	if (!be_require_ready(be, req, MX_ME))
		return;
	c = users_call_new(be, req, MX_ME, &user);
	if (!c)
		return;
	q[0] = c->user.sub;
	users_query(c, users_me_sql, 1, q, users_on_me);
}

/* The new values a PATCH body asks for; NULL (or set_name false): keep. */
struct users_patch {
	bool set_name;
	bool has_name;          /* set_name and not null: name and key are set */
	bool has_status;
	const char *policy;
	char name[NAMES_BUF], key[NAMES_KEY_BUF], status[NAMES_BUF];
};

static const char *users_names_why(enum names_result r, const char *field)
{
	bool name = strcmp(field, "displayName") == 0;

	switch (r) {
	case NAMES_EMPTY:
		return "displayName must not be empty or only white space (null resets it)";
	case NAMES_TOO_LONG:
		return name ? "displayName must be at most 64 characters" : "status must be at most 140 characters";
	case NAMES_CONTROL:
		return name ? "displayName must not contain control characters or line breaks"
			    : "status must not contain control characters or line breaks";
	default:
		return name ? "displayName is not valid UTF-8 text" : "status is not valid UTF-8 text";
	}
}

/* Reads body into *p. Returns NULL, or why it is refused (for 400). */
static const char *users_patch_parse(json_t *body, struct users_patch *p)
{
	const char *key;
	json_t *v;
	enum names_result r;

	memset(p, 0, sizeof *p);
	/* An unknown field is refused, not ignored: a misspelt one would
	 * otherwise change nothing without a word, and a userId says the
	 * client thinks it can change somebody else. */
	json_object_foreach(body, key, v) {
		if (strcmp(key, "displayName") == 0) {
			p->set_name = true;
			if (json_is_null(v))
				continue;
			if (!json_is_string(v))
				return "displayName must be a string or null";
			r = names_clean(json_string_value(v), json_string_length(v), NAMES_DISPLAY_MAX,
					false, p->name);
			if (r != NAMES_OK)
				return users_names_why(r, key);
			if (names_key(p->name, p->key) < 0)
				return "displayName cannot be compared with other names";
			p->has_name = true;
		} else if (strcmp(key, "status") == 0) {
			if (!json_is_string(v))
				return "status must be a string (empty clears it)";
			r = names_clean(json_string_value(v), json_string_length(v), NAMES_STATUS_MAX,
					true, p->status);
			if (r != NAMES_OK)
				return users_names_why(r, key);
			p->has_status = true;
		} else if (strcmp(key, "dmPolicy") == 0) {
			if (!json_is_string(v) || (strcmp(json_string_value(v), "everyone") != 0 &&
						   strcmp(json_string_value(v), "friends") != 0))
				return "dmPolicy must be \"everyone\" or \"friends\"";
			p->policy = json_string_value(v)[0] == 'e' ? "everyone" : "friends";
		} else {
			return "unknown field: only displayName, status and dmPolicy can be changed";
		}
	}
	return NULL;
}

void api_me_patch(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct users_call *c;
	struct users_patch *p;
	const char *why, *q[6];
	json_t *body;

	if (users_account(be, req, MX_ME_PATCH, &user) < 0)
		return;
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_ME_PATCH, 400);  /* 400 or 415: the class is what counts */
		return;
	}
	p = malloc(sizeof *p);
	if (!p) {
		json_decref(body);
		be_error(be, req, MX_ME_PATCH, 500, "internal", "out of memory", NULL);
		return;
	}
	why = users_patch_parse(body, p);
	json_decref(body);
	if (why) {
		free(p);
		be_error(be, req, MX_ME_PATCH, 400, "invalid_request", why, NULL);
		return;
	}
	c = users_call_new(be, req, MX_ME_PATCH, &user);
	if (c) {
		q[0] = c->user.sub;
		q[1] = p->set_name ? "true" : "false";
		q[2] = p->has_name ? p->name : NULL;
		q[3] = p->has_name ? p->key : NULL;
		q[4] = p->has_status ? p->status : NULL;
		q[5] = p->policy;
		users_query(c, users_patch_sql, 6, q, users_on_me);   /* db_query copies */
	}
	free(p);
}

/* ---- /api/users/:id ---------------------------------------------------- */

static void users_on_user(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct users_call *c = arg;
	json_t *out;

	if (users_failed(c, res, err))
		goto done;
	if (PQntuples(res) != 1) {
		be_error(c->be, c->req, c->route, 404, "not_found", "no such user", NULL);
		goto done;
	}
	out = users_row_json(res, 0);
	if (!out)
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
	else
		be_json(c->be, c->req, c->route, 200, out, NULL);
done:
	users_call_done(c);
}

void api_users_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct users_call *c;
	char id[WIRE_USER_ID_MAX + 1];
	const char *q[2];

	if (users_account(be, req, MX_USERS_GET, &user) < 0)
		return;
	/* A name nobody could register is nobody: no need to ask. */
	if (params->n < 1 || !wire_user_id_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_USERS_GET, 404, "not_found", "no such user", NULL);
		return;
	}
	memcpy(id, params->v[0].s, params->v[0].len);
	id[params->v[0].len] = '\0';
	c = users_call_new(be, req, MX_USERS_GET, &user);
	if (!c)
		return;
	q[0] = id;
	q[1] = c->user.sub;
	users_query(c, users_get_sql, 2, q, users_on_user);
}

/* ---- /api/users?q= ------------------------------------------------------ */

static void users_on_found(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct users_call *c = arg;
	int rows;
	bool more;
	json_t *list, *out;

	if (users_failed(c, res, err))
		goto done;
	rows = PQntuples(res);
	more = rows > c->limit;
	if (more)
		rows = c->limit;
	list = json_array();
	for (int i = 0; list && i < rows; i++)
		if (json_array_append_new(list, users_row_json(res, i)) < 0) {
			json_decref(list);
			list = NULL;
		}
	out = list ? json_pack("{s:o,s:s?}", "users", list, "next",
			       more ? PQgetvalue(res, rows - 1, 0) : NULL) : NULL;
	if (!out)
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
	else
		be_json(c->be, c->req, c->route, 200, out, NULL);
done:
	users_call_done(c);
}

/* key and '%', with LIKE's own characters escaped (backslash, its
 * default escape). out holds 2 * NAMES_KEY_BUF. */
static void users_like_prefix(const char *key, char *out)
{
	for (; *key; key++) {
		if (*key == '\\' || *key == '%' || *key == '_')
			*out++ = '\\';
		*out++ = *key;
	}
	*out++ = '%';
	*out = '\0';
}

/* Reads limit (1..50, default 20). Returns 0, or -1 when it is no such number. */
static int users_limit(const struct httpd_req *req, int *out)
{
	char buf[8], *end;
	long v;
	int n = httpd_query(req, "limit", buf, sizeof buf);

	*out = USERS_LIMIT_DEFAULT;
	if (n == -1)
		return 0;
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < 1 || v > USERS_LIMIT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

void api_users_search(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct users_call *c;
	/* q as sent may be longer than 64 characters in bytes and before NFC */
	char raw[NAMES_QUERY_MAX * 4 * 4], clean[NAMES_BUF], key[NAMES_KEY_BUF];
	char pattern[2 * NAMES_KEY_BUF], cursor[WIRE_USER_ID_MAX + 1], limit_s[16];
	const char *q[4];
	int n, has_cursor, limit;
	enum names_result r;
	unsigned wait;

	if (users_account(be, req, MX_USERS_SEARCH, &user) < 0)
		return;
	n = httpd_query(req, "q", raw, sizeof raw);
	r = n == -1 ? NAMES_EMPTY : n == -2 ? NAMES_TOO_LONG
		: names_clean(raw, (size_t)n, NAMES_QUERY_MAX, false, clean);
	if (r != NAMES_OK) {
		be_error(be, req, MX_USERS_SEARCH, 400, "invalid_request",
			 r == NAMES_EMPTY ? "q (the start of a name) is required"
			 : r == NAMES_TOO_LONG ? "q must be at most 64 characters"
			 : "q must be text without control characters", NULL);
		return;
	}
	if (users_limit(req, &limit) < 0) {
		be_error(be, req, MX_USERS_SEARCH, 400, "invalid_request",
			 "limit must be an integer from 1 to 50", NULL);
		return;
	}
	has_cursor = httpd_query(req, "cursor", cursor, sizeof cursor);
	if (has_cursor == -2 || (has_cursor >= 0 && !wire_user_id_valid(cursor, (size_t)has_cursor))) {
		be_error(be, req, MX_USERS_SEARCH, 400, "invalid_request",
			 "cursor must be a next value this API gave", NULL);
		return;
	}
	if (names_key(clean, key) < 0) {
		be_error(be, req, MX_USERS_SEARCH, 400, "invalid_request", "q cannot be searched for", NULL);
		return;
	}
	wait = thr_action(be->thr, THR_SEARCH, user.sub, uv_now(be->loop));
	if (wait) {
		be_too_many(be, req, MX_USERS_SEARCH, wait, "too_many_requests",
			    "too many searches; try again later");
		return;
	}
	c = users_call_new(be, req, MX_USERS_SEARCH, &user);
	if (!c)
		return;
	c->limit = limit;
	users_like_prefix(key, pattern);
	snprintf(limit_s, sizeof limit_s, "%d", limit + 1);  /* one more: is there a next page? */
	q[0] = c->user.sub;
	q[1] = pattern;
	q[2] = has_cursor >= 0 ? cursor : NULL;
	q[3] = limit_s;
	users_query(c, users_search_sql, 4, q, users_on_found);
}
