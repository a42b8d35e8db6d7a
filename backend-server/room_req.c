/* room_req: see room_req.h. */
#include "room_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "inbox_id.h"
#include "log.h"

struct rreq_call *rreq_begin(struct backend *be, struct httpd_req *req, enum mx_route route,
			     const struct route_params *params)
{
	struct auth_user user;
	struct rreq_call *c;

	if (auth_user(be, req, route, &user) < 0 || !be_require_ready(be, req, route))
		return NULL;
	/* An inbox's id is as long as no room's (inbox_id.h): not a room here. */
	if (params->n < 1 || !wire_room_id_valid(params->v[0].s, params->v[0].len) ||
	    params->v[0].len == INBOX_ID_LEN) {
		be_error(be, req, route, 404, "not_found", "no such room", NULL);
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	c->user = user;
	c->ok_status = 204;
	memcpy(c->room, params->v[0].s, params->v[0].len);
	be_hold(be);
	return c;
}

void rreq_done(struct rreq_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

bool rreq_target(struct rreq_call *c, const char *s, size_t len)
{
	if (!s || !wire_sub_valid(s, len)) {
		be_error(c->be, c->req, c->route, 400, "invalid_user_id",
			 "userId must be a user id (1 to 32 of A-Z a-z 0-9 _ - .) or a guest's", NULL);
		rreq_done(c);
		return false;
	}
	memcpy(c->target, s, len);
	c->target[len] = '\0';
	return true;
}

static int rreq_hex(char h)
{
	return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
	       : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
}

bool rreq_path_target(struct rreq_call *c, const struct route_params *params, size_t i)
{
	char id[WIRE_SUB_MAX + 1];
	size_t n = 0, k = 0, len = i < params->n ? params->v[i].len : 0;
	const char *s = i < params->n ? params->v[i].s : "";

	/* A client's encodeURIComponent() sends a guest's ':' as %3A. */
	while (k < len && n < sizeof id) {
		if (s[k] == '%' && k + 2 < len &&
		    rreq_hex(s[k + 1]) >= 0 && rreq_hex(s[k + 2]) >= 0) {
			id[n++] = (char)(rreq_hex(s[k + 1]) * 16 + rreq_hex(s[k + 2]));
			k += 3;
		} else {
			id[n++] = s[k++];
		}
	}
	return rreq_target(c, k == len ? id : NULL, n);
}

json_t *rreq_body(struct rreq_call *c)
{
	json_t *body;

	if (http_json_body(c->req, &body) < 0) {
		mx_request(&c->be->mx, c->route, 400);  /* 400 or 415: the class is what counts */
		rreq_done(c);
		return NULL;
	}
	return body;
}

void rreq_invalid(struct rreq_call *c, const char *message)
{
	be_error(c->be, c->req, c->route, 400, "invalid_request", message, NULL);
	rreq_done(c);
}

int rreq_duration(const json_t *obj, json_int_t *out)
{
	const json_t *v = json_object_get(obj, "durationS");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > RREQ_DURATION_MAX)
		return -1;
	*out = json_integer_value(v);
	return 1;
}

bool rreq_reason_ok(const char *s, size_t len)
{
	if (len > RREQ_REASON_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return false;
	return true;
}

void rreq_answer(struct rreq_call *c, int status, json_t *body)
{
	if (status == 204) {
		json_decref(body);
		mx_request(&c->be->mx, c->route, 204);
		httpd_respond(c->req, 204, NULL, NULL, NULL, 0);
	} else {
		be_json(c->be, c->req, c->route, status, body ? body : json_object(), NULL);
	}
	rreq_done(c);
}

void rreq_answer_built(struct rreq_call *c, json_t *body)
{
	if (!body) {
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		rreq_done(c);
		return;
	}
	rreq_answer(c, 200, body);
}

void rreq_read(struct rreq_call *c, const char *sql, db_result_fn on_rows, const char *what)
{
	const char *q[2] = { c->room, c->user.sub };

	if (db_query(c->be->db, sql, 2, q, on_rows, c) < 0)
		rreq_db_error(c, what, NULL);
}

void rreq_db_error(struct rreq_call *c, const char *what, const char *err)
{
	log_write(LOG_WARN, what, "{s:s,s:s}", "room", c->room, "error", err ? err : "unexpected result");
	be_unavailable(c->be, c->req, c->route, "the room directory is unavailable; try again shortly");
	rreq_done(c);
}

void rreq_refuse(struct rreq_call *c, const char *status)
{
	static const struct {
		const char *status;
		int http;
		const char *code, *message;
	} map[] = {
		{ "no_room", 404, "not_found", "no such room" },
		{ "forbidden", 403, "forbidden", "your role in this room may not do this" },
		{ "outranked", 403, "outranked", "you cannot act on a user of your role or above, nor on yourself" },
		{ "no_user", 404, "no_such_user", "no account has this id" },
		{ "exists", 409, "exists", "it is so already" },
		{ "not_found", 404, "not_found", "there is nothing to undo" },
		{ "invalid", 400, "invalid_request", "the request does not fit this action" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(status, map[i].status) == 0) {
			be_error(c->be, c->req, c->route, map[i].http, map[i].code, map[i].message, NULL);
			return;
		}
	log_write(LOG_WARN, "unknown room action status", "{s:s,s:s}", "room", c->room, "status", status);
	be_error(c->be, c->req, c->route, 500, "internal", "unexpected answer from the room directory", NULL);
}

static void rreq_on_dropped(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	(void)sqlstate;
	(void)arg;
	if (!res)
		log_write(LOG_WARN, "an invite link refused was not dropped", "{s:s}", "error", err ? err : "");
}

/* A link made for an act then refused goes: its token was never shown, so
 * one left by a failure here lets nobody in, but it would be listed. */
static void rreq_drop_link(struct rreq_call *c)
{
	char id[24];
	const char *q[1] = { id };

	snprintf(id, sizeof id, "%lld", c->link_id);
	db_query(c->be->db, "DELETE FROM room_invite_links WHERE id = $1", 1, q, rreq_on_dropped, NULL);
}

static void rreq_on_act(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;
	const char *status;

	(void)sqlstate;
	if (!res || PQntuples(res) != 1 || PQnfields(res) != 2) {
		rreq_db_error(c, "room action failed", err);
		return;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") != 0) {
		if (c->link_id)
			rreq_drop_link(c);
		rreq_refuse(c, status);
		rreq_done(c);
		return;
	}
	log_write(LOG_INFO, "room action", "{s:s,s:s,s:s}", "room", c->room, "actor", c->user.sub,
		  "action", PQgetvalue(res, 0, 1));
	if (c->on_ok)
		c->on_ok(c, strtoll(PQgetvalue(res, 0, 1), NULL, 10));
	else
		rreq_answer(c, c->ok_status, NULL);
}

/* The actor's name: a registered user's display name (as its tickets show
 * it), else the token's name (a guest's). */
static const char rreq_act_sql[] =
	"SELECT status, action_id FROM stateroom_room_act($1, $2,"
	" coalesce((SELECT coalesce(display_name, id) FROM users WHERE id = $2), $3),"
	" $4, $5, NULL, $6::jsonb)";

void rreq_act(struct rreq_call *c, const char *action, const char *target, json_t *detail)
{
	const char *q[6] = { c->room, c->user.sub, c->user.name, action, target, NULL };
	char *d;
	int rc;

	if (!detail)
		detail = json_object();
	d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	q[5] = d;

	if (!d) {
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		rreq_done(c);
		return;
	}
	rc = db_query(c->be->db, rreq_act_sql, 6, q, rreq_on_act, c);
	free(d);
	if (rc < 0)
		rreq_db_error(c, "room action not sent", NULL);
}

json_t *rreq_ms(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null()
					  : json_integer((json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10));
}

bool rreq_may_list(struct rreq_call *c, const PGresult *res)
{
	const char *role = PQntuples(res) ? PQgetvalue(res, 0, 0) : NULL;

	if (role && (strcmp(role, "owner") == 0 || strcmp(role, "moderator") == 0))
		return true;
	rreq_refuse(c, role ? "forbidden" : "no_room");
	rreq_done(c);
	return false;
}
