/* A room's owner at work (docs/protocol.md, "Roles and moderation"):
 * PATCH /api/rooms/:id {"name"?,"visibility"?,"capacity"?,"inviteOnly"?} →
 *   the room's settings; DELETE /api/rooms/:id → 204;
 * PATCH /api/rooms/:id/members/:userId {"role"} → appoint or remove a
 *   moderator; POST /api/rooms/:id/owner {"userId"} → hand the room over;
 * and, for anyone the room admits, GET /api/rooms/:id/members → its owner,
 *   moderators and members, its settings, and the caller's own role.
 * Who may do what is stateroom_room_act's and stateroom_room_delete's
 * (migration 020): these check the input, then ask. */
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "log.h"
#include "room_access.h"
#include "room_opts.h"
#include "room_req.h"

/* The room's settings, once changed (a statement of its own: the change's
 * is not visible to the statement that made it). */
static void admin_on_settings(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;

	(void)sqlstate;
	if (!res || PQntuples(res) != 1 || PQnfields(res) != 5) {
		rreq_db_error(c, "room settings not read", err);
		return;
	}
	rreq_answer(c, 200, json_pack("{s:s,s:s?,s:s,s:I,s:b,s:s}", "roomId", c->room,
				      "name", PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
				      "visibility", PQgetvalue(res, 0, 1),
				      "capacity", (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10),
				      "inviteOnly", strcmp(PQgetvalue(res, 0, 3), "t") == 0,
				      "owner", PQgetvalue(res, 0, 4)));
}

static void admin_patched(struct rreq_call *c, long long action_id)
{
	const char *q[1] = { c->room };

	(void)action_id;
	if (db_query(c->be->db, "SELECT name, visibility, capacity, invite_only, owner FROM rooms WHERE id = $1",
		     1, q, admin_on_settings, c) < 0)
		rreq_db_error(c, "room settings not read", NULL);
}

/* body's settings as stateroom_room_act's detail: NULL with *why when one
 * is not as POST /api/rooms takes it, or none is there. Unknown fields are
 * ignored, as POST /api/rooms does. */
static json_t *admin_settings(const json_t *body, long max_capacity, const char **why)
{
	json_t *d = json_object(), *v;

	if (!d) {
		*why = "out of memory";
		return NULL;
	}
	if ((v = json_object_get(body, "name"))) {
		size_t len = json_is_string(v) ? json_string_length(v) : 0;

		if (!json_is_null(v) && !json_is_string(v)) {
			*why = "name must be a string or null";
			goto bad;
		}
		if (len > ROOM_NAME_MAX || (len && memchr(json_string_value(v), '\0', len))) {
			*why = "name must be at most 100 bytes, without NUL";
			goto bad;
		}
		json_object_set(d, "name", v);
	}
	if ((v = json_object_get(body, "visibility"))) {
		const char *s = json_string_value(v);

		if (!s || (strcmp(s, "public") != 0 && strcmp(s, "unlisted") != 0) ||
		    json_string_length(v) != strlen(s)) {
			*why = "visibility must be \"public\" or \"unlisted\"";
			goto bad;
		}
		json_object_set(d, "visibility", v);
	}
	if ((v = json_object_get(body, "capacity"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max_capacity) {
			*why = "capacity must be an integer from 1 to the server's room capacity";
			goto bad;
		}
		json_object_set(d, "capacity", v);
	}
	if ((v = json_object_get(body, "inviteOnly"))) {
		if (!json_is_boolean(v)) {
			*why = "inviteOnly must be true or false";
			goto bad;
		}
		json_object_set(d, "inviteOnly", v);
	}
	if (json_object_size(d) == 0) {
		*why = "give at least one of name, visibility, capacity, inviteOnly";
		goto bad;
	}
	return d;
bad:
	json_decref(d);
	return NULL;
}

void api_room_patch(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_PATCH, params);
	const char *why = NULL;
	json_t *body, *detail;

	if (!c || !(body = rreq_body(c)))
		return;
	detail = admin_settings(body, c->be->cfg.room_capacity, &why);
	json_decref(body);
	if (!detail) {
		rreq_invalid(c, why);
		return;
	}
	c->on_ok = admin_patched;
	rreq_act(c, "settings", NULL, detail);
}

static void admin_on_deleted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;
	const char *status;

	(void)sqlstate;
	if (!res || PQntuples(res) != 1 || PQnfields(res) != 1) {
		rreq_db_error(c, "room delete failed", err);
		return;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		log_write(LOG_INFO, "room deleted", "{s:s,s:s}", "room", c->room, "by", c->user.sub);
		rreq_answer(c, 204, NULL);
		return;
	}
	rreq_refuse(c, status);
	rreq_done(c);
}

void api_room_delete(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_DELETE, params);
	const char *q[2];

	if (!c)
		return;
	q[0] = c->room;
	q[1] = c->user.sub;
	if (db_query(c->be->db, "SELECT stateroom_room_delete($1, $2)", 2, q, admin_on_deleted, c) < 0)
		rreq_db_error(c, "room delete not sent", NULL);
}

/* role: 'moderator' promotes, 'member' demotes. */
void api_room_role(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_ROLE, params);
	const char *role;
	json_t *body;
	bool promote;

	if (!c || !rreq_path_target(c, params, 1) || !(body = rreq_body(c)))
		return;
	role = json_string_value(json_object_get(body, "role"));
	promote = role && strcmp(role, "moderator") == 0;
	if (!role || (!promote && strcmp(role, "member") != 0)) {
		json_decref(body);
		rreq_invalid(c, "role must be \"moderator\" or \"member\"");
		return;
	}
	json_decref(body);
	c->ok_status = 200;
	rreq_act(c, promote ? "promote" : "demote", c->target, NULL);
}

void api_room_owner(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_OWNER, params);
	json_t *body, *v;
	bool ok;

	if (!c || !(body = rreq_body(c)))
		return;
	v = json_object_get(body, "userId");
	ok = rreq_target(c, json_string_value(v), json_string_length(v));
	json_decref(body);
	if (!ok)
		return;
	c->ok_status = 200;
	rreq_act(c, "transfer", c->target, NULL);
}

/* The room's row (k 0: the caller's access, role and mute end), its
 * settings (k 4), owner (k 1), moderators (k 2) and member accounts (k 3,
 * with their roles), each kind at most ADMIN_MEMBERS_MAX, by name. No row:
 * no room of kind 'room'. */
#define ADMIN_MEMBERS_MAX "1000"
static const char admin_members_sql[] =
	"WITH r AS (SELECT r.id, r.owner, r.owner_name, r.name, r.visibility, r.capacity, r.invite_only,"
	"  stateroom_room_admits(r.id, $2) AS admits FROM rooms r WHERE r.id = $1 AND r.kind = 'room')"
	" SELECT 0, r.admits, stateroom_room_role(r.id, $2),"
	"  (SELECT (extract(epoch FROM until) * 1000)::bigint FROM room_mutes"
	"   WHERE room_id = r.id AND user_id = $2 AND until > now())::text, NULL FROM r"
	" UNION ALL"
	" SELECT 4, r.name, r.visibility, r.capacity::text, r.invite_only::text FROM r"
	" UNION ALL"
	" SELECT 1, r.owner, coalesce(u.display_name, r.owner_name, r.owner), NULL, NULL FROM r"
	"  LEFT JOIN users u ON u.id = r.owner"
	" UNION ALL"
	" (SELECT 2, m.user_id, coalesce(u.display_name, m.user_id), NULL, NULL FROM r"
	"  JOIN room_roles m ON m.room_id = r.id LEFT JOIN users u ON u.id = m.user_id"
	"  ORDER BY 3, 2 LIMIT " ADMIN_MEMBERS_MAX ")"
	" UNION ALL"
	" (SELECT 3, u.id, coalesce(u.display_name, u.id), stateroom_room_role(r.id, u.id), NULL FROM r"
	"  JOIN memberships mb ON mb.room_id = r.id AND mb.left_at IS NULL JOIN users u ON u.id = mb.user_id"
	"  ORDER BY 3, 2 LIMIT " ADMIN_MEMBERS_MAX ")";

static json_t *admin_user(const PGresult *res, int i)
{
	return json_pack("{s:s,s:s}", "userId", PQgetvalue(res, i, 1), "name", PQgetvalue(res, i, 2));
}

static void admin_on_members(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;
	struct room_refusal no;
	json_t *out, *you, *mods, *members;
	int n;

	(void)sqlstate;
	if (!res || PQnfields(res) != 5) {
		rreq_db_error(c, "room members not read", err);
		return;
	}
	n = PQntuples(res);
	if (n == 0 || strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		rreq_refuse(c, "no_room");
		rreq_done(c);
		return;
	}
	if (room_access_refused(PQgetvalue(res, 0, 1), &no)) {
		be_error(c->be, c->req, c->route, no.status, no.code, no.message, NULL);
		rreq_done(c);
		return;
	}
	you = json_pack("{s:s}", "role", PQgetvalue(res, 0, 2));
	if (you && !PQgetisnull(res, 0, 3))
		json_object_set_new(you, "mutedUntil", rreq_ms(res, 0, 3));
	mods = json_array();
	members = json_array();
	out = json_pack("{s:n,s:o,s:o,s:o}", "owner", "moderators", mods, "members", members, "you", you);
	for (int i = 1; out && i < n; i++) {
		const char *k = PQgetvalue(res, i, 0);
		json_t *u = admin_user(res, i);

		if (u && k[0] == '3')
			json_object_set_new(u, "role", json_string(PQgetvalue(res, i, 3)));
		if (k[0] == '4') {
			json_decref(u);
			json_object_set_new(out, "room", json_pack("{s:s?,s:s,s:I,s:b}",
				"name", PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
				"visibility", PQgetvalue(res, i, 2),
				"capacity", (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
				"inviteOnly", strcmp(PQgetvalue(res, i, 4), "true") == 0));
		} else if (k[0] == '1')
			json_object_set_new(out, "owner", u);
		else if (json_array_append_new(k[0] == '2' ? mods : members, u) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	rreq_answer_built(c, out);
}

void api_room_members(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_MEMBERS, params);

	if (c)
		rreq_read(c, admin_members_sql, admin_on_members, "room members not asked");
}
