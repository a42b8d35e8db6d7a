/* Invites to a room (docs/protocol.md, "Roles and moderation"): for its
 * moderators, GET /api/rooms/:id/invites (invited users and links),
 * POST /api/rooms/:id/invites {"userId"} (invite an account) or {"link":true,
 * "expiresInS"?, "maxUses"?} (a link), DELETE /api/rooms/:id/invites/:userId
 * and DELETE /api/rooms/:id/invites/links/:linkId; for anyone holding a link,
 * POST /api/invites/:token.
 *
 * A link is its token, 32 random bytes in base64url, shown once to its
 * maker: only its SHA-256 is stored, so the table tells nobody a working
 * link. Who may make, list or revoke is stateroom_room_act's (migration
 * 020). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "log.h"
#include "room_req.h"

#define INV_TOKEN_BYTES 32
#define INV_TOKEN_LEN 43                /* base64url of 32 bytes, unpadded */
#define INV_EXPIRES_DEFAULT 604800      /* a week */
#define INV_EXPIRES_MAX 2592000         /* 30 days */
#define INV_MAX_USES_MAX 1000000

static bool inv_token_valid(const char *s, size_t len)
{
	if (len != INV_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static void inv_link_made(struct rreq_call *c, long long action_id)
{
	char url[sizeof "/#/invite/" + sizeof c->token];

	(void)action_id;
	snprintf(url, sizeof url, "/#/invite/%s", c->token);
	rreq_answer(c, 201, json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)c->link_id, "token", c->token,
				      "url", url, "expiresAt", c->link_expires));
}

static void inv_on_link(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;

	(void)sqlstate;
	if (!res || PQnfields(res) != 2 || PQntuples(res) > 1) {
		rreq_db_error(c, "invite link not made", err);
		return;
	}
	if (PQntuples(res) == 0) {
		rreq_refuse(c, "no_room");
		rreq_done(c);
		return;
	}
	c->link_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	c->link_expires = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	c->on_ok = inv_link_made;
	rreq_act(c, "invite_link", NULL, json_pack("{s:I,s:I}", "linkId", (json_int_t)c->link_id,
						   "expiresAt", c->link_expires));
}

/* The link's row first (a room of kind 'room' only), then the act that
 * checks the maker's role and logs it; a refused act drops the row
 * (room_req.c). */
static const char inv_link_sql[] =
	"INSERT INTO room_invite_links (room_id, token_hash, created_by, expires_at, max_uses)"
	" SELECT id, sha256(convert_to($2, 'UTF8')), $3, now() + $4::integer * interval '1 second',"
	"  $5::integer FROM rooms WHERE id = $1 AND kind = 'room'"
	" RETURNING id, (extract(epoch FROM expires_at) * 1000)::bigint";

static void inv_make_link(struct rreq_call *c, const json_t *body)
{
	unsigned char raw[INV_TOKEN_BYTES];
	const json_t *v;
	json_int_t expires = INV_EXPIRES_DEFAULT;
	char exp_s[24], uses_s[24];
	const char *q[5];

	v = json_object_get(body, "expiresInS");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INV_EXPIRES_MAX) {
			rreq_invalid(c, "expiresInS must be an integer from 1 to 2592000 (30 days)");
			return;
		}
		expires = json_integer_value(v);
	}
	v = json_object_get(body, "maxUses");
	if (v && !json_is_null(v) &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INV_MAX_USES_MAX)) {
		rreq_invalid(c, "maxUses must be an integer from 1 to 1000000");
		return;
	}
	snprintf(exp_s, sizeof exp_s, "%lld", (long long)expires);
	if (v && !json_is_null(v))
		snprintf(uses_s, sizeof uses_s, "%lld", (long long)json_integer_value(v));
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(c->token, sizeof c->token, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	q[0] = c->room;
	q[1] = c->token;
	q[2] = c->user.sub;
	q[3] = exp_s;
	q[4] = v && !json_is_null(v) ? uses_s : NULL;
	if (db_query(c->be->db, inv_link_sql, 5, q, inv_on_link, c) < 0)
		rreq_db_error(c, "invite link not sent", NULL);
}

void api_room_invite(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_INVITE, params);
	json_t *body, *v;
	bool ok;

	if (!c || !(body = rreq_body(c)))
		return;
	v = json_object_get(body, "link");
	if (v && !json_is_null(v)) {
		if (!json_is_true(v) || json_object_get(body, "userId"))
			rreq_invalid(c, "give either \"userId\" or \"link\": true");
		else
			inv_make_link(c, body);
		json_decref(body);
		return;
	}
	v = json_object_get(body, "userId");
	ok = rreq_target(c, json_string_value(v), json_string_length(v));
	json_decref(body);
	if (!ok)
		return;
	c->ok_status = 201;
	rreq_act(c, "invite", c->target, NULL);
}

void api_room_uninvite(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_UNINVITE, params);

	if (c && rreq_path_target(c, params, 1))
		rreq_act(c, "uninvite", c->target, NULL);
}

void api_room_revoke_link(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_REVOKE_LINK, params);
	char id[20], *end;
	long long n;

	if (!c)
		return;
	if (params->n < 2 || params->v[1].len >= sizeof id) {
		rreq_invalid(c, "linkId must be a link's id");
		return;
	}
	memcpy(id, params->v[1].s, params->v[1].len);
	id[params->v[1].len] = '\0';
	errno = 0;
	n = strtoll(id, &end, 10);
	if (id[0] < '0' || id[0] > '9' || *end || errno || n < 1) {
		rreq_invalid(c, "linkId must be a link's id");
		return;
	}
	rreq_act(c, "revoke_link", NULL, json_pack("{s:I}", "linkId", (json_int_t)n));
}

/* The caller's role first (none: no room); then invited users (k 'invite':
 * user id, name, by, at) newest first, and links (k 'link': id, maker,
 * made, expires, revoked, uses, max uses) newest first, at most
 * INV_LIST_MAX of each. */
#define INV_LIST_MAX "500"
#define INV_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint::text"
static const char inv_list_sql[] =
	"WITH r AS (SELECT id FROM rooms WHERE id = $1 AND kind = 'room')"
	" SELECT stateroom_room_role(r.id, $2), NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM r"
	" UNION ALL"
	" (SELECT 'invite', i.user_id, coalesce(u.display_name, i.user_id), i.by, " INV_MS("i.at") ","
	"   NULL, NULL, NULL FROM r JOIN room_invites i ON i.room_id = r.id"
	"  LEFT JOIN users u ON u.id = i.user_id ORDER BY i.at DESC LIMIT " INV_LIST_MAX ")"
	" UNION ALL"
	" (SELECT 'link', l.id::text, l.created_by, " INV_MS("l.created_at") ", " INV_MS("l.expires_at") ","
	"   (l.revoked_at IS NOT NULL)::text, l.uses::text, l.max_uses::text"
	"  FROM r JOIN room_invite_links l ON l.room_id = r.id ORDER BY l.id DESC LIMIT " INV_LIST_MAX ")";

static json_int_t inv_int(const PGresult *res, int i, int col)
{
	return (json_int_t)strtoll(PQgetvalue(res, i, col), NULL, 10);
}

static void inv_on_list(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;
	json_t *invites, *links, *out;

	(void)sqlstate;
	if (!res || PQnfields(res) != 8) {
		rreq_db_error(c, "room invites not read", err);
		return;
	}
	if (!rreq_may_list(c, res))
		return;
	invites = json_array();
	links = json_array();
	out = json_pack("{s:o,s:o}", "invites", invites, "links", links);
	for (int i = 1; out && i < PQntuples(res); i++) {
		json_t *o;

		if (strcmp(PQgetvalue(res, i, 0), "invite") == 0)
			o = json_pack("{s:s,s:s,s:s,s:I}", "userId", PQgetvalue(res, i, 1),
				      "name", PQgetvalue(res, i, 2), "by", PQgetvalue(res, i, 3),
				      "at", inv_int(res, i, 4));
		else
			o = json_pack("{s:I,s:s,s:I,s:I,s:b,s:I,s:o}", "id", inv_int(res, i, 1),
				      "createdBy", PQgetvalue(res, i, 2), "createdAt", inv_int(res, i, 3),
				      "expiresAt", inv_int(res, i, 4),
				      "revoked", strcmp(PQgetvalue(res, i, 5), "true") == 0,
				      "uses", inv_int(res, i, 6), "maxUses", rreq_ms(res, i, 7));
		if (json_array_append_new(o && json_object_get(o, "userId") ? invites : links, o) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	rreq_answer_built(c, out);
}

void api_room_invites(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_INVITES, params);

	if (c)
		rreq_read(c, inv_list_sql, inv_on_list, "room invites not asked");
}

/* One statement: the link (live: not expired, not revoked, not used up;
 * locked, so that two takers cannot both have its last use) and the
 * caller's access to its room. A member (not the owner nor a moderator) the
 * room does not ban is then invited, the invite naming the link; the link
 * counts a use only when that invite is new. No row: a dead link. */
static const char inv_accept_sql[] =
	"WITH k AS (SELECT l.id, l.room_id, l.created_by, stateroom_room_admits(l.room_id, $2) AS admits,"
	"   stateroom_room_role(l.room_id, $2) AS role"
	"  FROM room_invite_links l JOIN rooms r ON r.id = l.room_id AND r.kind = 'room'"
	"  WHERE l.token_hash = sha256(convert_to($1, 'UTF8')) AND l.revoked_at IS NULL"
	"   AND l.expires_at > now() AND (l.max_uses IS NULL OR l.uses < l.max_uses) FOR UPDATE OF l),"
	" i AS (INSERT INTO room_invites (room_id, user_id, by, link_id)"
	"  SELECT room_id, $2, created_by, id FROM k WHERE admits <> 'banned' AND role = 'member'"
	"  ON CONFLICT (room_id, user_id) DO NOTHING RETURNING link_id),"
	" u AS (UPDATE room_invite_links SET uses = uses + 1 WHERE id IN (SELECT link_id FROM i))"
	" SELECT k.admits, k.room_id, r.name FROM k JOIN rooms r ON r.id = k.room_id";

static void inv_on_accept(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;

	(void)sqlstate;
	if (!res || PQnfields(res) != 3 || PQntuples(res) > 1) {
		rreq_db_error(c, "invite link not taken", err);
		return;
	}
	if (PQntuples(res) == 0) {
		/* One answer for every dead link: which it is, or whether it
		 * ever was, is not the holder's to learn. */
		be_error(c->be, c->req, c->route, 404, "not_found",
			 "this invite link does not work: it may have expired, been revoked or used up", NULL);
		rreq_done(c);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "banned") == 0) {
		be_error(c->be, c->req, c->route, 403, "banned", "you are banned from this room", NULL);
		rreq_done(c);
		return;
	}
	log_write(LOG_INFO, "invite link taken", "{s:s,s:s}", "room", PQgetvalue(res, 0, 1), "user", c->user.sub);
	rreq_answer(c, 200, json_pack("{s:s,s:s?}", "roomId", PQgetvalue(res, 0, 1),
				      "name", PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2)));
}

void api_invite_accept(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	struct rreq_call *c;
	const char *q[2];

	if (auth_user(be, req, MX_INVITE_ACCEPT, &user) < 0 || !be_require_ready(be, req, MX_INVITE_ACCEPT))
		return;
	if (params->n < 1 || !inv_token_valid(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_INVITE_ACCEPT, 404, "not_found",
			 "this invite link does not work: it may have expired, been revoked or used up", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_INVITE_ACCEPT, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = MX_INVITE_ACCEPT;
	c->user = user;
	memcpy(c->token, params->v[0].s, INV_TOKEN_LEN);
	be_hold(be);
	q[0] = c->token;
	q[1] = c->user.sub;
	if (db_query(be->db, inv_accept_sql, 2, q, inv_on_accept, c) < 0)
		rreq_db_error(c, "invite link not sent", NULL);
}
