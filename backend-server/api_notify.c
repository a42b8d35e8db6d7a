/* Notification settings and reminders (docs/protocol.md, "Notifications"):
 * GET/PUT /api/me/notify (a user's defaults: notify_prefs), GET/PUT
 * /api/rooms/:id/notify (one room's level and mute: notify_rooms), POST
 * /api/reminders, GET /api/me/reminders, DELETE /api/reminders/:id. All for
 * registered accounts. Every request is one statement whose first column is
 * a status and whose second is the answer's JSON, made by PostgreSQL: the
 * checks that need the database (who may see a room, the time zone names it
 * knows, the pending count) are made there, in the same statement as the
 * change. Everything else is checked here first, so that what reaches the
 * database is well formed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "inbox_id.h"
#include "log.h"
#include "room_access.h"
#include "wire.h"

#define NTF_REMINDERS_MAX "100"        /* pending per user */
#define NTF_REMINDERS_LIST 200         /* the newest listed */
#define NTF_MUTE_MAX_S 31536000LL      /* a year */
#define NTF_TZ_MAX 64

struct ntf_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	int ok_status;                 /* for 'ok' */
};

/* ---- shared ------------------------------------------------------------- */

/* The caller must hold an account: a guest has nothing to keep settings in. */
static bool ntf_caller(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *me)
{
	if (auth_user(be, req, route, me) < 0)
		return false;
	if (!me->registered || !wire_user_id_valid(me->sub, strlen(me->sub))) {
		be_error(be, req, route, 403, "account_required",
			 "notification settings and reminders need an account: register or log in", NULL);
		return false;
	}
	return be_require_ready(be, req, route);
}

static bool ntf_room_id(const char *s, size_t len)
{
	/* An inbox's id is as long as no room's (inbox_id.h): never a room here. */
	return s && wire_room_id_valid(s, len) && len != INBOX_ID_LEN;
}

static void ntf_invalid(struct backend *be, struct httpd_req *req, enum mx_route route, const char *msg)
{
	be_error(be, req, route, 400, "invalid_request", msg, NULL);
}

static void ntf_on_result(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct ntf_call *c = arg;
	struct backend *be = c->be;
	struct room_refusal no;
	const char *status;
	json_t *body;

	(void)sqlstate;
	if (!res || PQntuples(res) != 1 || PQnfields(res) < 2) {
		log_write(LOG_WARN, "notification settings query failed", "{s:s}", "error",
			  err ? err : "unexpected result");
		be_unavailable(be, c->req, c->route, "notification settings are unavailable; try again shortly");
		goto out;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		if (c->ok_status == 204) {
			mx_request(&be->mx, c->route, 204);
			httpd_respond(c->req, 204, NULL, NULL, NULL, 0);
			goto out;
		}
		body = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		if (!body) {
			be_error(be, c->req, c->route, 500, "internal", "out of memory", NULL);
			goto out;
		}
		be_json(be, c->req, c->route, c->ok_status, body, NULL);
	} else if (strcmp(status, "bad_tz") == 0) {
		ntf_invalid(be, c->req, c->route, "tz must be a time zone name such as Europe/Paris or UTC");
	} else if (strcmp(status, "bad_time") == 0) {
		ntf_invalid(be, c->req, c->route, "at must be in the future, within a year");
	} else if (strcmp(status, "no_message") == 0) {
		be_error(be, c->req, c->route, 404, "not_found", "no such message in this room", NULL);
	} else if (strcmp(status, "no_reminder") == 0) {
		be_error(be, c->req, c->route, 404, "not_found", "no such reminder of yours", NULL);
	} else if (strcmp(status, "limit") == 0) {
		be_error(be, c->req, c->route, 409, "conflict",
			 "at most " NTF_REMINDERS_MAX " reminders may be pending: delete some first", NULL);
	} else if (room_access_refused(status, &no)) {
		be_error(be, c->req, c->route, no.status, no.code, no.message, NULL);
	} else {
		be_error(be, c->req, c->route, 500, "internal", "unexpected answer from the database", NULL);
	}
out:
	free(c);
	be_release(be);
}

static void ntf_query(struct backend *be, struct httpd_req *req, enum mx_route route, int ok_status,
		      const char *sql, int n, const char *const *params)
{
	struct ntf_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	c->ok_status = ok_status;
	be_hold(be);
	if (db_query(be->db, sql, n, params, ntf_on_result, c) < 0) {
		be_unavailable(be, req, route, "notification settings are unavailable; try again shortly");
		free(c);
		be_release(be);
	}
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long ntf_days(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static bool ntf_digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* An RFC 3339 time (YYYY-MM-DDTHH:MM:SS, optional fraction, Z or ±HH:MM;
 * what Date.prototype.toISOString() writes) into ms since the epoch. */
static bool ntf_iso_ms(const char *s, long long *out)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
	size_t len = s ? strlen(s) : 0, i = 19;

	if (len < 20 || len > 40 || !ntf_digits(s, 4, &y) || s[4] != '-' || !ntf_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !ntf_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !ntf_digits(s + 11, 2, &h) || s[13] != ':' || !ntf_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !ntf_digits(s + 17, 2, &sec))
		return false;
	if (s[i] == '.') {
		int scale = 100;

		if (++i >= len || s[i] < '0' || s[i] > '9')
			return false;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			ms += (s[i] - '0') * scale;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && ntf_digits(s + i + 1, 2, &oh) &&
		   s[i + 3] == ':' && ntf_digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) || h > 23 || mi > 59 ||
	    sec > 59)
		return false;
	*out = ((ntf_days(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
		 sign * (oh * 3600 + om * 60)) * 1000) + ms;
	return true;
}

static long long ntf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether every key of obj is one of names (NULL-terminated). */
static bool ntf_keys_ok(json_t *obj, const char *const *names)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i = 0;

		while (names[i] && strcmp(names[i], k) != 0)
			i++;
		if (!names[i])
			return false;
	}
	return true;
}

static json_t *ntf_body(struct backend *be, struct httpd_req *req, enum mx_route route)
{
	json_t *body;

	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, route, 400);  /* 400 or 415: the class is what counts */
		return NULL;
	}
	return body;
}

/* A timestamptz as the API writes times: UTC, ms, as toISOString() does. */
#define NTF_ISO(t) "to_char((" t ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* ---- a user's defaults -------------------------------------------------- */

/* p: a row of notify_prefs, or NULLs (none: the columns' defaults). */
#define NTF_DND_HHMM(m) "to_char(make_time((" m ") / 60, (" m ") % 60, 0), 'HH24:MI')"
#define NTF_PREFS_JSON(p) \
	"json_build_object('dmLevel', coalesce(" p ".dm_level, 'all')," \
	" 'roomLevel', coalesce(" p ".room_level, 'mentions'), 'push', coalesce(" p ".push, true)," \
	" 'email', coalesce(" p ".email, true), 'emailDelayS', coalesce(" p ".email_delay_s, 900)," \
	" 'dnd', CASE WHEN " p ".dnd_start IS NULL THEN NULL ELSE json_build_object(" \
	"   'start', " NTF_DND_HHMM(p ".dnd_start") ", 'end', " NTF_DND_HHMM(p ".dnd_end") ") END," \
	" 'tz', coalesce(" p ".tz, 'UTC'))"

void api_notify_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	const char *q[1];

	(void)params;
	if (!ntf_caller(be, req, MX_NOTIFY, &me))
		return;
	q[0] = me.sub;
	ntf_query(be, req, MX_NOTIFY, 200,
		  "SELECT 'ok', " NTF_PREFS_JSON("p") " FROM (SELECT $1::text AS id) u"
		  " LEFT JOIN notify_prefs p ON p.user_id = u.id",
		  1, q);
}

/* "HH:MM" (00:00 to 23:59) into minutes after midnight, or -1. */
static int ntf_hhmm(const json_t *v)
{
	const char *s = json_string_value(v);
	int h, m;

	if (!s || strlen(s) != 5 || !ntf_digits(s, 2, &h) || s[2] != ':' || !ntf_digits(s + 3, 2, &m) ||
	    h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

static bool ntf_tz_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > NTF_TZ_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Absent keys keep what is set; the time zone is checked against the names
 * PostgreSQL knows (the do-not-disturb test converts with it). */
static const char ntf_prefs_put_sql[] =
	"WITH tz AS (SELECT $10::text IS NULL"
	"  OR EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $10::text) AS ok),"
	" up AS (INSERT INTO notify_prefs AS p"
	"  (user_id, dm_level, room_level, push, email, email_delay_s, dnd_start, dnd_end, tz)"
	"  SELECT $1, coalesce($2, 'all'), coalesce($3, 'mentions'), coalesce($4::boolean, true),"
	"   coalesce($5::boolean, true), coalesce($6::integer, 900), $8::smallint, $9::smallint,"
	"   coalesce($10::text, 'UTC') FROM tz WHERE tz.ok"
	"  ON CONFLICT (user_id) DO UPDATE SET dm_level = coalesce($2, p.dm_level),"
	"   room_level = coalesce($3, p.room_level), push = coalesce($4::boolean, p.push),"
	"   email = coalesce($5::boolean, p.email), email_delay_s = coalesce($6::integer, p.email_delay_s),"
	"   dnd_start = CASE WHEN $7::boolean THEN $8::smallint ELSE p.dnd_start END,"
	"   dnd_end = CASE WHEN $7::boolean THEN $9::smallint ELSE p.dnd_end END,"
	"   tz = coalesce($10::text, p.tz), updated_at = now()"
	"  RETURNING p.*)"
	" SELECT CASE WHEN (SELECT ok FROM tz) THEN 'ok' ELSE 'bad_tz' END,"
	" (SELECT " NTF_PREFS_JSON("up") " FROM up)";

void api_notify_put(struct httpd_req *req, const struct route_params *params, void *ud)
{
	static const char *const keys[] = { "dmLevel", "roomLevel", "push", "email", "emailDelayS", "dnd",
					    "tz", NULL };
	struct backend *be = ud;
	struct auth_user me;
	json_t *body, *v;
	const char *q[10] = { 0 }, *s, *bad = NULL;
	char delay[24], start[8], end[8];

	(void)params;
	if (!ntf_caller(be, req, MX_NOTIFY, &me) || !(body = ntf_body(be, req, MX_NOTIFY)))
		return;
	q[0] = me.sub;
	if (!ntf_keys_ok(body, keys))
		bad = "unknown field: the fields are dmLevel, roomLevel, push, email, emailDelayS, dnd, tz";
	if (!bad && (v = json_object_get(body, "dmLevel"))) {
		s = json_string_value(v);
		if (!s || (strcmp(s, "all") && strcmp(s, "mentions") && strcmp(s, "nothing")))
			bad = "dmLevel must be \"all\", \"mentions\" or \"nothing\"";
		q[1] = s;
	}
	if (!bad && (v = json_object_get(body, "roomLevel"))) {
		s = json_string_value(v);
		if (!s || (strcmp(s, "mentions") && strcmp(s, "nothing")))
			bad = "roomLevel must be \"mentions\" or \"nothing\" (every message: room by room)";
		q[2] = s;
	}
	if (!bad && (v = json_object_get(body, "push"))) {
		if (!json_is_boolean(v))
			bad = "push must be true or false";
		q[3] = json_is_true(v) ? "true" : "false";
	}
	if (!bad && (v = json_object_get(body, "email"))) {
		if (!json_is_boolean(v))
			bad = "email must be true or false";
		q[4] = json_is_true(v) ? "true" : "false";
	}
	if (!bad && (v = json_object_get(body, "emailDelayS"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 60 || json_integer_value(v) > 604800)
			bad = "emailDelayS must be an integer from 60 to 604800 (a week)";
		snprintf(delay, sizeof delay, "%lld", (long long)json_integer_value(v));
		q[5] = delay;
	}
	if (!bad && (v = json_object_get(body, "dnd"))) {
		q[6] = "true";
		if (!json_is_null(v)) {
			int a = ntf_hhmm(json_object_get(v, "start")), b = ntf_hhmm(json_object_get(v, "end"));

			if (!json_is_object(v) || json_object_size(v) != 2 || a < 0 || b < 0)
				bad = "dnd must be null or {\"start\":\"HH:MM\",\"end\":\"HH:MM\"}";
			else if (a == b)
				bad = "dnd's start and end must differ (null: no do-not-disturb hours)";
			snprintf(start, sizeof start, "%d", a);
			snprintf(end, sizeof end, "%d", b);
			q[7] = start;
			q[8] = end;
		}
	}
	if (!bad && (v = json_object_get(body, "tz"))) {
		if (!ntf_tz_ok(json_string_value(v)))
			bad = "tz must be a time zone name such as Europe/Paris or UTC";
		q[9] = json_string_value(v);
	}
	if (bad)
		ntf_invalid(be, req, MX_NOTIFY, bad);
	else
		ntf_query(be, req, MX_NOTIFY, 200, ntf_prefs_put_sql, 10, q);
	json_decref(body);
}

/* ---- one room ----------------------------------------------------------- */

/* a: the caller's access to room $1 ($2 the caller); n: their notify_rooms
 * row or NULLs (the level that applies is worked out here, not by
 * stateroom_notify_level, which would not see a row this statement wrote).
 * A mute "until I turn it back on" is kept as infinity and shown as muted
 * with no end. */
#define NTF_ACCESS \
	"a AS (SELECT " ROOM_ACCESS_SQL " AS access FROM rooms r" \
	" LEFT JOIN direct_rooms d ON d.room_id = r.id WHERE r.id = $1)"
#define NTF_ROOM_JSON(n) \
	"json_build_object('roomId', $1::text, 'level', " n ".level," \
	" 'effectiveLevel', coalesce(" n ".level, (SELECT CASE WHEN r.kind = 'dm'" \
	"   THEN coalesce(p.dm_level, 'all') ELSE coalesce(p.room_level, 'mentions') END" \
	"   FROM rooms r LEFT JOIN notify_prefs p ON p.user_id = $2 WHERE r.id = $1))," \
	" 'muted', coalesce(" n ".muted_until > now(), false)," \
	" 'mutedUntil', CASE WHEN " n ".muted_until > now() AND " n ".muted_until <> 'infinity'" \
	"   THEN " NTF_ISO(n ".muted_until") " END)"

void api_room_notify_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char room[WIRE_ROOM_ID_MAX + 1];
	const char *q[2] = { room, me.sub };

	if (!ntf_caller(be, req, MX_ROOM_NOTIFY, &me))
		return;
	if (params->n < 1 || !ntf_room_id(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_ROOM_NOTIFY, 404, "not_found", "no such room", NULL);
		return;
	}
	memcpy(room, params->v[0].s, params->v[0].len);
	room[params->v[0].len] = '\0';
	ntf_query(be, req, MX_ROOM_NOTIFY, 200,
		  "WITH " NTF_ACCESS
		  " SELECT coalesce((SELECT access FROM a), 'hidden'), " NTF_ROOM_JSON("n")
		  " FROM (SELECT 1) one LEFT JOIN notify_rooms n ON n.user_id = $2 AND n.room_id = $1",
		  2, q);
}

/* $3: whether level is given, $4 the level (NULL: the default); $5 the mute
 * asked: NULL (unchanged), 'until' ($6 ms since the epoch), 'for' ($7
 * seconds), 'forever' or 'off'. */
#define NTF_MUTE(old) \
	"CASE $5::text WHEN 'until' THEN to_timestamp($6::bigint / 1000.0)" \
	" WHEN 'for' THEN now() + $7::bigint * interval '1 second'" \
	" WHEN 'forever' THEN 'infinity'::timestamptz WHEN 'off' THEN NULL ELSE " old " END"
static const char ntf_room_put_sql[] =
	"WITH " NTF_ACCESS ","
	" up AS (INSERT INTO notify_rooms AS n (user_id, room_id, level, muted_until)"
	"  SELECT $2, $1, CASE WHEN $3::boolean THEN $4::text END, " NTF_MUTE("NULL::timestamptz")
	"  FROM a WHERE a.access = 'ok'"
	"  ON CONFLICT (user_id, room_id) DO UPDATE SET"
	"   level = CASE WHEN $3::boolean THEN $4::text ELSE n.level END,"
	"   muted_until = " NTF_MUTE("n.muted_until") ", updated_at = now()"
	"  RETURNING n.*)"
	" SELECT coalesce((SELECT access FROM a), 'hidden'), (SELECT " NTF_ROOM_JSON("up") " FROM up)";

void api_room_notify_put(struct httpd_req *req, const struct route_params *params, void *ud)
{
	static const char *const keys[] = { "level", "muted", "mutedUntil", "muteFor", NULL };
	struct backend *be = ud;
	struct auth_user me;
	char room[WIRE_ROOM_ID_MAX + 1], until[24], secs[24];
	const char *q[7] = { room, me.sub, "false", NULL, NULL, NULL, NULL }, *bad = NULL, *s;
	json_t *body, *v;
	int mutes = 0;

	if (!ntf_caller(be, req, MX_ROOM_NOTIFY, &me))
		return;
	if (params->n < 1 || !ntf_room_id(params->v[0].s, params->v[0].len)) {
		be_error(be, req, MX_ROOM_NOTIFY, 404, "not_found", "no such room", NULL);
		return;
	}
	memcpy(room, params->v[0].s, params->v[0].len);
	room[params->v[0].len] = '\0';
	if (!(body = ntf_body(be, req, MX_ROOM_NOTIFY)))
		return;
	if (!ntf_keys_ok(body, keys))
		bad = "unknown field: the fields are level, and one of muted, mutedUntil, muteFor";
	if (!bad && (v = json_object_get(body, "level"))) {
		s = json_string_value(v);
		if (!json_is_null(v) && (!s || (strcmp(s, "all") && strcmp(s, "mentions") && strcmp(s, "nothing"))))
			bad = "level must be \"all\", \"mentions\", \"nothing\" or null (your default)";
		q[2] = "true";
		q[3] = s;
	}
	if (!bad && (v = json_object_get(body, "muted"))) {
		mutes++;
		if (!json_is_boolean(v))
			bad = "muted must be true (until you turn it back on) or false";
		q[4] = json_is_true(v) ? "forever" : "off";
	}
	if (!bad && (v = json_object_get(body, "mutedUntil"))) {
		long long ms, now = ntf_now_ms();

		mutes++;
		if (json_is_null(v)) {
			q[4] = "off";
		} else if (!ntf_iso_ms(json_string_value(v), &ms) || ms <= now || ms > now + NTF_MUTE_MAX_S * 1000) {
			bad = "mutedUntil must be null or a time such as 2030-01-02T03:04:05Z, in the future "
			      "and within a year";
		} else {
			snprintf(until, sizeof until, "%lld", ms);
			q[4] = "until";
			q[5] = until;
		}
	}
	if (!bad && (v = json_object_get(body, "muteFor"))) {
		mutes++;
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > NTF_MUTE_MAX_S)
			bad = "muteFor must be a number of seconds from 1 to 31536000 (a year)";
		snprintf(secs, sizeof secs, "%lld", (long long)json_integer_value(v));
		q[4] = "for";
		q[6] = secs;
	}
	if (!bad && mutes > 1)
		bad = "give at most one of muted, mutedUntil and muteFor";
	if (bad)
		ntf_invalid(be, req, MX_ROOM_NOTIFY, bad);
	else
		ntf_query(be, req, MX_ROOM_NOTIFY, 200, ntf_room_put_sql, 7, q);
	json_decref(body);
}

/* ---- reminders ---------------------------------------------------------- */

/* The new row is not in this statement's snapshot: its answer is made from
 * what went in. */
static const char ntf_reminder_add_sql[] =
	"WITH " NTF_ACCESS
	" SELECT f.status, CASE WHEN f.status = 'ok' THEN json_build_object('id', f.id, 'roomId', $1::text,"
	"  'seq', $3::bigint, 'at', " NTF_ISO("to_timestamp($4::bigint / 1000.0)") ", 'firedAt', NULL) END"
	" FROM stateroom_reminder_add(coalesce((SELECT access FROM a), 'hidden'), $2, $1, $3::bigint,"
	"  to_timestamp($4::bigint / 1000.0), $5::integer) f";

void api_reminders_add(struct httpd_req *req, const struct route_params *params, void *ud)
{
	static const char *const keys[] = { "roomId", "seq", "at", NULL };
	struct backend *be = ud;
	struct auth_user me;
	char room[WIRE_ROOM_ID_MAX + 1], seq[24], at[24];
	const char *q[5] = { room, me.sub, seq, at, NTF_REMINDERS_MAX }, *s, *bad = NULL;
	json_t *body, *v;
	long long ms, now;

	(void)params;
	if (!ntf_caller(be, req, MX_REMINDERS, &me) || !(body = ntf_body(be, req, MX_REMINDERS)))
		return;
	s = json_string_value(json_object_get(body, "roomId"));
	v = json_object_get(body, "seq");
	now = ntf_now_ms();
	if (!ntf_keys_ok(body, keys))
		bad = "unknown field: the fields are roomId, seq, at";
	else if (!s || !ntf_room_id(s, strlen(s)))
		bad = "roomId must be a room id";
	else if (!json_is_integer(v) || json_integer_value(v) < 1)
		bad = "seq must be a message's seq (an integer, 1 or more)";
	else if (!ntf_iso_ms(json_string_value(json_object_get(body, "at")), &ms))
		bad = "at must be a time such as 2030-01-02T03:04:05Z";
	else if (ms <= now || ms > now + NTF_MUTE_MAX_S * 1000)
		bad = "at must be in the future, within a year";
	if (bad) {
		ntf_invalid(be, req, MX_REMINDERS, bad);
		json_decref(body);
		return;
	}
	snprintf(room, sizeof room, "%s", s);
	snprintf(seq, sizeof seq, "%lld", (long long)json_integer_value(v));
	snprintf(at, sizeof at, "%lld", ms);
	json_decref(body);
	ntf_query(be, req, MX_REMINDERS, 201, ntf_reminder_add_sql, 5, q);
}

/* Pending ones first, soonest first; then fired ones, the latest first. */
void api_reminders_list(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char limit[16];
	const char *q[2] = { me.sub, limit };

	(void)params;
	if (!ntf_caller(be, req, MX_REMINDERS, &me))
		return;
	snprintf(limit, sizeof limit, "%d", NTF_REMINDERS_LIST);
	ntf_query(be, req, MX_REMINDERS, 200,
		  "SELECT 'ok', json_build_object('reminders', coalesce(json_agg(json_build_object("
		  "  'id', x.id, 'roomId', x.room_id, 'seq', x.seq, 'at', " NTF_ISO("x.due_at") ","
		  "  'firedAt', " NTF_ISO("x.fired_at") ", 'roomName', x.name, 'roomKind', x.kind, 'by', x.by)"
		  "  ORDER BY x.fired_at IS NOT NULL, x.fired_at DESC, x.due_at, x.id), '[]'))"
		  " FROM (SELECT rm.*, r.name, r.kind,"
		  "  (SELECT user_id FROM records WHERE room_id = rm.room_id AND seq = rm.seq) AS by"
		  "  FROM reminders rm JOIN rooms r ON r.id = rm.room_id WHERE rm.user_id = $1"
		  "  ORDER BY rm.fired_at IS NOT NULL, rm.fired_at DESC, rm.due_at, rm.id"
		  "  LIMIT $2::integer) x",
		  2, q);
}

void api_reminders_remove(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char id[24];
	const char *q[2] = { id, me.sub };
	size_t n = params->n ? params->v[0].len : 0;

	if (!ntf_caller(be, req, MX_REMINDERS, &me))
		return;
	for (size_t i = 0; i < n; i++)
		if (params->v[0].s[i] < '0' || params->v[0].s[i] > '9')
			n = 0;
	if (n < 1 || n > 18) {
		be_error(be, req, MX_REMINDERS, 404, "not_found", "no such reminder of yours", NULL);
		return;
	}
	memcpy(id, params->v[0].s, n);
	id[n] = '\0';
	ntf_query(be, req, MX_REMINDERS, 204,
		  "WITH d AS (DELETE FROM reminders WHERE id = $1::bigint AND user_id = $2 RETURNING id)"
		  " SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN 'ok' ELSE 'no_reminder' END, NULL",
		  2, q);
}
