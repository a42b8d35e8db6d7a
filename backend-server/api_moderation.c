/* A room's moderators at work (docs/protocol.md, "Roles and moderation"):
 * DELETE /api/rooms/:id/members/:userId[?reason=] (kick),
 * GET|POST /api/rooms/:id/bans, DELETE /api/rooms/:id/bans/:userId,
 * POST /api/rooms/:id/mutes, DELETE /api/rooms/:id/mutes/:userId.
 * The input is checked here, who may do it by stateroom_room_act
 * (migration 020); the session server holding the room closes a kicked or
 * banned user's connections when told. */
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "room_req.h"

#define MOD_REASON_IN_MAX (RREQ_REASON_MAX * 3)  /* ?reason= as sent, decoded */

void api_room_kick(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_KICK, params);
	char reason[MOD_REASON_IN_MAX + 1];
	json_t *detail = NULL, *r;
	int len;

	if (!c || !rreq_path_target(c, params, 1))
		return;
	len = httpd_query(req, "reason", reason, sizeof reason);
	if (len >= 0) {
		/* json_stringn() takes valid UTF-8 only. */
		r = json_stringn(reason, (size_t)len);
		if (!r || !rreq_reason_ok(reason, (size_t)len)) {
			json_decref(r);
			rreq_invalid(c, "reason must be UTF-8 text of at most 200 bytes");
			return;
		}
		detail = json_pack("{s:o}", "reason", r);
	} else if (len != -1) {
		rreq_invalid(c, "reason must be UTF-8 text of at most 200 bytes");
		return;
	}
	rreq_act(c, "kick", c->target, detail);
}

/* {"userId", "reason"?, "durationS"?} for a ban; {"userId", "durationS"}
 * for a mute (need_duration): the act's detail, or NULL after answering. */
static json_t *mod_body(struct rreq_call *c, bool reason_ok, bool need_duration)
{
	json_t *body, *v, *detail;
	json_int_t dur = 0;
	int has_dur;

	if (!(body = rreq_body(c)))
		return NULL;
	v = json_object_get(body, "userId");
	if (!rreq_target(c, json_string_value(v), json_string_length(v))) {
		json_decref(body);
		return NULL;
	}
	has_dur = rreq_duration(body, &dur);
	if (has_dur < 0 || (need_duration && !has_dur)) {
		json_decref(body);
		rreq_invalid(c, need_duration ? "durationS must be an integer from 1 to 31536000 (a year)"
					      : "durationS, if given, must be an integer from 1 to 31536000 (a year)");
		return NULL;
	}
	detail = json_object();
	if (has_dur)
		json_object_set_new(detail, "durationS", json_integer(dur));
	v = json_object_get(body, "reason");
	if (reason_ok && v && !json_is_null(v)) {
		if (!json_is_string(v) || !rreq_reason_ok(json_string_value(v), json_string_length(v))) {
			json_decref(body);
			json_decref(detail);
			rreq_invalid(c, "reason must be text of at most 200 bytes");
			return NULL;
		}
		json_object_set(detail, "reason", v);
	}
	json_decref(body);
	return detail;
}

void api_room_ban(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_BAN, params);
	json_t *detail;

	if (!c || !(detail = mod_body(c, true, false)))
		return;
	c->ok_status = 201;
	rreq_act(c, "ban", c->target, detail);
}

void api_room_mute(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_MUTE, params);
	json_t *detail;

	if (!c || !(detail = mod_body(c, false, true)))
		return;
	c->ok_status = 201;
	rreq_act(c, "mute", c->target, detail);
}

void api_room_unban(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_UNBAN, params);

	if (c && rreq_path_target(c, params, 1))
		rreq_act(c, "unban", c->target, NULL);
}

void api_room_unmute(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_UNMUTE, params);

	if (c && rreq_path_target(c, params, 1))
		rreq_act(c, "unmute", c->target, NULL);
}

/* The caller's role (first row, with NULLs), then the bans in force, newest
 * first, at most MOD_BANS_MAX. A banned guest's name is the one the ban's
 * action recorded. No row: no room of kind 'room'. */
#define MOD_BANS_MAX "1000"
static const char mod_bans_sql[] =
	"WITH r AS (SELECT id FROM rooms WHERE id = $1 AND kind = 'room')"
	" SELECT stateroom_room_role(r.id, $2), NULL, NULL, NULL, NULL, NULL, NULL FROM r"
	" UNION ALL"
	" (SELECT 'ban', b.user_id, coalesce(u.display_name, (SELECT a.target_name FROM room_actions a"
	"    WHERE a.room_id = r.id AND a.action = 'ban' AND a.target = b.user_id ORDER BY a.id DESC LIMIT 1),"
	"    b.user_id),"
	"  b.by, b.reason, (extract(epoch FROM b.at) * 1000)::bigint::text,"
	"  (extract(epoch FROM b.until) * 1000)::bigint::text"
	"  FROM r JOIN room_bans b ON b.room_id = r.id LEFT JOIN users u ON u.id = b.user_id"
	"  WHERE b.until IS NULL OR b.until > now() ORDER BY b.at DESC LIMIT " MOD_BANS_MAX ")";

static void mod_on_bans(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rreq_call *c = arg;
	json_t *bans;

	(void)sqlstate;
	if (!res || PQnfields(res) != 7) {
		rreq_db_error(c, "room bans not read", err);
		return;
	}
	if (!rreq_may_list(c, res))
		return;
	bans = json_array();
	for (int i = 1; bans && i < PQntuples(res); i++)
		if (json_array_append_new(bans, json_pack("{s:s,s:s,s:s,s:s?,s:o,s:o}",
				"userId", PQgetvalue(res, i, 1), "name", PQgetvalue(res, i, 2),
				"by", PQgetvalue(res, i, 3),
				"reason", PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
				"at", rreq_ms(res, i, 5), "until", rreq_ms(res, i, 6))) < 0) {
			json_decref(bans);
			bans = NULL;
		}
	rreq_answer_built(c, bans ? json_pack("{s:o}", "bans", bans) : NULL);
}

void api_room_bans(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct rreq_call *c = rreq_begin(ud, req, MX_ROOM_BANS, params);

	if (c)
		rreq_read(c, mod_bans_sql, mod_on_bans, "room bans not asked");
}
