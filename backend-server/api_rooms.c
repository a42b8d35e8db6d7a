/* POST /api/rooms → {"roomId"}: create a room of a known application and pin
 * it to a server that hosts it, within the creator's limits
 * (stateroom_admit_create, migration 008).
 * GET /api/rooms/:id → {"host","token","name"}: where the room lives, a join
 * ticket for that server, room and epoch, and the room's name (or null);
 * a DM only for its two users, and not while either blocks the other; a
 * room not for a user it bans, nor (invite-only) for one it did not invite. A
 * registered user's ticket names it by its display name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "backend.h"
#include "connect_hook.h"
#include "http_json.h"
#include "ids.h"
#include "inbox_id.h"
#include "log.h"
#include "names.h"
#include "room_access.h"
#include "room_opts.h"
#include "token.h"
#include "wire.h"

/* A host handed out is a URL's authority and path: a template longer than
 * this is a mistake. */
#define ROOMS_PUBLIC_MAX 200

bool rooms_public_valid(const char *tmpl, char *err, size_t err_len)
{
	if (!tmpl)
		return true;
	if (!*tmpl || strlen(tmpl) > ROOMS_PUBLIC_MAX) {
		snprintf(err, err_len, "expected 1 to %d bytes", ROOMS_PUBLIC_MAX);
		return false;
	}
	for (const char *p = tmpl; *p; p++) {
		/* The client puts it after ws:// or wss:// and before /?token=. */
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("\"#?\\<>`^|}", *p)) {
			snprintf(err, err_len, "byte 0x%02x is not allowed (a host[:port][/path], with {host} and {port})",
				 (unsigned char)*p);
			return false;
		}
		if (*p == '{') {
			if (strncmp(p, "{host}", 6) != 0 && strncmp(p, "{port}", 6) != 0) {
				snprintf(err, err_len, "only {host} and {port} are filled in");
				return false;
			}
			p += 5;
		}
	}
	if (tmpl[strlen(tmpl) - 1] == '/') {
		snprintf(err, err_len, "no trailing / (the client adds /?token=...)");
		return false;
	}
	return true;
}

int rooms_public_host(const struct backend *be, const char *address, char *out, size_t out_len)
{
	const char *tmpl = be->cfg.session_public, *colon = strrchr(address, ':');
	size_t n = 0;

	if (!tmpl || !colon) {
		if (strlen(address) >= out_len)
			return -ENAMETOOLONG;
		strcpy(out, address);
		return 0;
	}
	for (const char *p = tmpl; *p; p++) {
		const char *part = p;
		size_t len = 1;

		if (strncmp(p, "{host}", 6) == 0) {
			part = address;
			len = (size_t)(colon - address);
			p += 5;
		} else if (strncmp(p, "{port}", 6) == 0) {
			part = colon + 1;
			len = strlen(part);
			p += 5;
		}
		if (len >= out_len - n)
			return -ENAMETOOLONG;
		memcpy(out + n, part, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

/* A random 12-character id collides with one in about 2^31 rooms; a few
 * tries make a failure here a sign of a broken RNG, not bad luck. */
#define ROOMS_CREATE_TRIES 5

/* Full clears when a room is unloaded (about half a minute), later than an
 * unreachable database usually comes back (be_unavailable()). */
static const char rooms_retry_full[] = "Retry-After: 5\r\n";

/* An unjoined room stops counting once somebody joins it or, at the latest,
 * when its server gives its slot back (--pin-grace-ms, 15 s by default). */
static const char rooms_retry_quota[] = "Retry-After: 15\r\n";

/* A creation that never became a room (placement failed, or is still
 * waiting for a new server) counts against the quota this long: at most
 * --spawn-wait-ms, plus the round trips around it. */
#define ROOMS_PENDING_SLACK_MS 5000

struct rooms_call {             /* one request waiting on the scheduler */
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	struct auth_user user;
	struct room_opts opts;  /* create only */
	char room[WIRE_ROOM_ID_MAX + 1];
	int tries;
	int64_t suspect;        /* get: the epoch the client found silent; 0: none */
};

/* How long users' suspicions of one epoch add up to the quorum: longer than
 * a client takes to notice silence (the largest of its timeouts) and look
 * the room up, short enough that two unrelated blips hours apart do not
 * count together. */
#define ROOMS_SUSPECT_WINDOW_MS 10000

/* Answers a scheduler failure (never SCHED_OK). */
static void rooms_sched_error(struct rooms_call *c, enum sched_result err)
{
	struct backend *be = c->be;

	switch (err) {
	case SCHED_FULL:
		be_error(be, c->req, c->route, 503, "no_capacity",
			 "every session server is full; try again shortly", rooms_retry_full);
		break;
	case SCHED_NOROOM:
		be_json(be, c->req, c->route, 200, json_pack("{s:n,s:n}", "host", "token"), NULL);
		break;
	case SCHED_NOAPP:
		/* Known, but only on servers that are not up now: one may come
		 * back, or the operator may start one. */
		be_error(be, c->req, c->route, 503, "app_unavailable",
			 "no live session server hosts this room's application; try again later",
			 rooms_retry_full);
		break;
	default:
		be_unavailable(be, c->req, c->route, "the room directory is unavailable; try again shortly");
		break;
	}
}

static void rooms_call_done(struct rooms_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static void rooms_on_placed(enum sched_result err, const struct sched_placement *p, void *arg);

static void rooms_on_opts_set(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rooms_call *c = arg;

	if (!res || strcmp(PQcmdTuples(res), "1") != 0) {
		/* The room exists but is open (or has the default seats): its
		 * creator must not believe otherwise, so it hears of a failure. */
		log_write(LOG_WARN, "setting a new room's options failed", "{s:s,s:s}", "room", c->room,
			  "error", err ? err : "no row");
		be_unavailable(c->be, c->req, c->route,
			       c->opts.invite_only
				       ? "the room was made but is not invite-only yet; try again shortly"
				       : "the room was made without its seats; try again shortly");
	} else {
		be_json(c->be, c->req, c->route, 200, json_pack("{s:s}", "roomId", c->room), NULL);
	}
	rooms_call_done(c);
}

/* The scheduler writes the room's row (its placement functions know no
 * invite_only nor seats), so a room created invite-only or with seats is
 * made so right after, before its id is answered: nobody but a public
 * list's reader could know it yet, and its application reads seats only
 * when someone joins. */
static void rooms_set_opts(struct rooms_call *c)
{
	char seats[16];
	const char *q[3] = { c->room, c->opts.invite_only ? "t" : "f", seats };

	snprintf(seats, sizeof seats, "%d", c->opts.seats);
	if (db_query(c->be->db, "UPDATE rooms SET invite_only = invite_only OR $2::boolean,"
		     " seats = coalesce(nullif($3::smallint, 0), seats) WHERE id = $1", 3, q,
		     rooms_on_opts_set, c) < 0)
		rooms_on_opts_set(NULL, "queue full", NULL, c);
}

static void rooms_on_unadmitted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	if (!res)
		log_write(LOG_DEBUG, "forgetting a failed room creation failed", "{s:s}", "error",
			  err ? err : "");
}

/* A creation that made no room counts for neither limit: a user whose
 * creates fail for want of a slot must not end up over its quota as well.
 * Queued on the same connection ahead of any retry of the user's; if it is
 * lost, the row stops counting after the pending window anyway. */
static void rooms_unadmit(struct rooms_call *c)
{
	const char *q[1] = { c->room };

	db_query(c->be->db, "DELETE FROM room_creates WHERE room_id = $1", 1, q, rooms_on_unadmitted, NULL);
}

/* Asks the scheduler to place the room c->room. Returns 0 when the
 * scheduler will call back, or -1 after answering. */
static int rooms_place(struct rooms_call *c)
{
	struct backend *be = c->be;
	struct sched_room r;
	int rc;

	r.id = c->room;
	r.owner = c->user.sub;
	r.owner_name = c->user.name;
	r.name = c->opts.has_name ? c->opts.name : NULL;
	r.capacity = c->opts.capacity;
	r.visibility = c->opts.visibility;
	r.ephemeral = !c->opts.persistent;
	r.app = c->opts.app;
	rc = be->sched->place(be->sched_state, &r, rooms_on_placed, c);
	if (rc < 0) {
		be->mx.place[mx_sched_index(SCHED_UNAVAIL)]++;
		rooms_unadmit(c);
		rooms_sched_error(c, SCHED_UNAVAIL);
		return -1;
	}
	return 0;
}

static void rooms_on_placed(enum sched_result err, const struct sched_placement *p, void *arg)
{
	struct rooms_call *c = arg;
	struct backend *be = c->be;

	be->mx.place[mx_sched_index(err)]++;
	if (err == SCHED_EXISTS) {
		/* Admitted already: the limits count the creation, not the id. */
		if (++c->tries >= ROOMS_CREATE_TRIES)
			be_error(be, c->req, c->route, 500, "internal", "no free room id", NULL);
		else if (ids_room_new(c->room) < 0)
			be_error(be, c->req, c->route, 500, "internal", "no random room id", NULL);
		else if (rooms_place(c) == 0)
			return;
		rooms_call_done(c);
		return;
	}
	if (err != SCHED_OK) {
		rooms_unadmit(c);
		rooms_sched_error(c, err);
		rooms_call_done(c);
		return;
	}
	log_write(LOG_INFO, "room created", "{s:s,s:s,s:s,s:I}", "room", c->room, "owner", c->user.sub,
		  "server", p->server_id, "epoch", (json_int_t)p->epoch);
	if (c->opts.invite_only || c->opts.seats) {
		rooms_set_opts(c);
		return;
	}
	be_json(be, c->req, c->route, 200, json_pack("{s:s}", "roomId", c->room), NULL);
	rooms_call_done(c);
}

static void rooms_on_admitted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rooms_call *c = arg;
	struct backend *be = c->be;
	const char *status;
	char retry[48];

	if (!res || PQntuples(res) != 1 || PQnfields(res) != 2) {
		log_write(LOG_WARN, "room admission failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, c->req, c->route, "the room directory is unavailable; try again shortly");
		goto done;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		if (rooms_place(c) == 0)
			return;
		goto done;
	}
	if (strcmp(status, "rate") == 0) {
		snprintf(retry, sizeof retry, "Retry-After: %ld\r\n", strtol(PQgetvalue(res, 0, 1), NULL, 10));
		be_error(be, c->req, c->route, 429, "rate_limited",
			 "you created too many rooms within a minute; try again later", retry);
	} else {
		be_error(be, c->req, c->route, 429, "too_many_rooms",
			 "you have too many rooms that nobody has joined; join one, or try again once "
			 "they have been released", rooms_retry_quota);
	}
done:
	rooms_call_done(c);
}

/* Picks the room's id and asks whether c's user may create it now. Returns
 * 0 when the database will call back, or -1 after answering. */
static int rooms_admit(struct rooms_call *c)
{
	struct backend *be = c->be;
	char max_unjoined[24], per_minute[24], dead_ms[24], pending_ms[24];
	const char *q[6] = { c->user.sub, c->room, max_unjoined, per_minute, dead_ms, pending_ms };

	if (ids_room_new(c->room) < 0) {
		be_error(be, c->req, c->route, 500, "internal", "no random room id", NULL);
		return -1;
	}
	snprintf(max_unjoined, sizeof max_unjoined, "%ld", be->cfg.max_unjoined_rooms);
	snprintf(per_minute, sizeof per_minute, "%ld", be->cfg.room_creates_per_minute);
	snprintf(dead_ms, sizeof dead_ms, "%ld", be->cfg.dead_after_ms);
	snprintf(pending_ms, sizeof pending_ms, "%ld", be->cfg.spawn_wait_ms + ROOMS_PENDING_SLACK_MS);
	if (db_query(be->db, "SELECT status, retry_after FROM stateroom_admit_create($1, $2,"
			     " $3::integer, $4::integer, $5::bigint, $6::bigint)",
		     6, q, rooms_on_admitted, c) < 0) {
		be_unavailable(be, c->req, c->route, "the room directory is unavailable; try again shortly");
		return -1;
	}
	return 0;
}

/* The applications a client may choose: the chat, which is every room's
 * unless it asks for another, and whatever a registered session server
 * publishes (registry.c; rows stay while their server is only down, so
 * an application whose servers are all dead is known, and its rooms get
 * 503 app_unavailable, not 400). As a JSON array, sorted. */
static const char rooms_apps_sql[] =
	"SELECT array_to_json(ARRAY(SELECT a FROM (SELECT unnest(apps) AS a FROM session_servers"
	" UNION SELECT 'chat') u ORDER BY a))::text";

static void rooms_on_apps(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rooms_call *c = arg;
	struct backend *be = c->be;
	json_t *known, *v, *body;
	bool found = false;
	char *list = NULL, msg[160];
	size_t i;

	(void)sqlstate;
	if (!res || PQntuples(res) != 1 || PQnfields(res) != 1 ||
	    !(known = json_loads(PQgetvalue(res, 0, 0), 0, NULL))) {
		log_write(LOG_WARN, "room applications query failed", "{s:s}", "error",
			  err ? err : "unexpected result");
		be_unavailable(be, c->req, c->route, "the room directory is unavailable; try again shortly");
		rooms_call_done(c);
		return;
	}
	json_array_foreach(known, i, v)
		if (c->opts.app[0] && json_is_string(v) && strcmp(json_string_value(v), c->opts.app) == 0)
			found = true;
	if (found) {
		json_decref(known);
		if (rooms_admit(c) < 0)
			rooms_call_done(c);
		return;
	}
	list = json_dumps(known, JSON_COMPACT);
	snprintf(msg, sizeof msg, "unknown application; known: %.120s", list ? list : "[]");
	free(list);
	body = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "unknown_app", "message", msg, "apps",
			 known);
	if (body)
		be_json(be, c->req, c->route, 400, body, NULL);
	else
		be_error(be, c->req, c->route, 400, "unknown_app", msg, NULL);
	rooms_call_done(c);
}

void api_rooms_create(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct rooms_call *c;
	struct room_opts opts;
	struct auth_user user;
	const char *why;
	json_t *body;

	if (auth_user(be, req, MX_ROOMS_CREATE, &user) < 0 || !be_require_ready(be, req, MX_ROOMS_CREATE))
		return;
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_ROOMS_CREATE, 400);  /* 400 or 415: the class is what counts */
		return;
	}
	if (room_opts_parse(body, (int)be->cfg.room_capacity, &opts, &why) < 0) {
		json_decref(body);
		be_error(be, req, MX_ROOMS_CREATE, 400, "invalid_room", why, NULL);
		return;
	}
	json_decref(body);

	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_ROOMS_CREATE, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = MX_ROOMS_CREATE;
	c->user = user;
	c->opts = opts;
	be_hold(be);
	/* The chat needs no look-up: it is every backend's default. */
	if (strcmp(c->opts.app, "chat") == 0) {
		if (rooms_admit(c) < 0)
			rooms_call_done(c);
		return;
	}
	if (db_query(be->db, rooms_apps_sql, 0, NULL, rooms_on_apps, c) < 0) {
		be_unavailable(be, req, MX_ROOMS_CREATE, "the room directory is unavailable; try again shortly");
		rooms_call_done(c);
	}
}

/* The join ticket for the placement: docs/protocol.md, "Tokens". */
static char *rooms_ticket(const struct rooms_call *c, const struct sched_placement *p)
{
	const struct backend *be = c->be;
	struct wire_ticket t = { .epoch = p->epoch };

	memcpy(t.sub, c->user.sub, sizeof t.sub);
	memcpy(t.name, c->user.name, sizeof t.name);
	memcpy(t.room, c->room, sizeof t.room);
	return wire_ticket_mint(&t, p->server_id, p->boot, (int64_t)time(NULL), be->cfg.ticket_ttl,
				(const unsigned char *)be->cfg.secret, strlen(be->cfg.secret));
}

static void rooms_on_located(enum sched_result err, const struct sched_placement *p, void *arg)
{
	struct rooms_call *c = arg;
	struct backend *be = c->be;
	json_t *out;
	char *tok, host[512];

	be->mx.locate[mx_sched_index(err)]++;
	if (err != SCHED_OK) {
		rooms_sched_error(c, err);
		goto out;
	}
	if (!p->boot[0]) {
		/* The agones scheduler recorded the server before it registered:
		 * no ticket could be for it yet. */
		be_unavailable(be, c->req, c->route, "the room's session server is starting; try again shortly");
		goto out;
	}
	tok = rooms_public_host(be, p->address, host, sizeof host) == 0 ? rooms_ticket(c, p) : NULL;
	out = tok ? json_pack("{s:s,s:s,s:s?,s:s,s:I}", "host", host, "token", tok, "name", p->name,
			      "app", c->opts.app, "epoch", (json_int_t)p->epoch)
		  : NULL;
	free(tok);
	if (!out) {
		be_error(be, c->req, c->route, 500, "internal", "could not sign the ticket", NULL);
		goto out;
	}
	be_json(be, c->req, c->route, 200, out, NULL);
out:
	rooms_call_done(c);
}

static void rooms_locate(struct rooms_call *c)
{
	struct backend *be = c->be;

	struct sched_suspect s = {
		.epoch = c->suspect, .user = c->user.sub, .after_ms = be->cfg.suspect_after_ms,
		.quorum = (int)be->cfg.suspect_quorum, .window_ms = ROOMS_SUSPECT_WINDOW_MS,
	};

	if (be->sched->locate(be->sched_state, c->room, c->suspect > 0 ? &s : NULL, rooms_on_located, c) == 0)
		return;
	be->mx.locate[mx_sched_index(SCHED_UNAVAIL)]++;
	rooms_sched_error(c, SCHED_UNAVAIL);
	rooms_call_done(c);
}

/* The connect hook's answer (connect_hook.h), after the room's own rules
 * let the user in and before the room is looked up. */
static void rooms_on_hook(const struct hook_answer *a, void *arg)
{
	struct rooms_call *c = arg;

	if (a->verdict == HOOK_ALLOW) {
		rooms_locate(c);
		return;
	}
	if (a->verdict == HOOK_REFUSED)
		be_error(c->be, c->req, c->route, 403, "hook_refused", a->message, NULL);
	else
		be_error(c->be, c->req, c->route, 503, "hook_unavailable",
			 "the app could not be asked whether you may join; try again shortly",
			 "Retry-After: 2\r\n");
	rooms_call_done(c);
}

/* Who may have a ticket for room $1, asked by subject $2, before the
 * scheduler is asked where it is (room_access.h: a room's bans and invites,
 * a DM's two users and their blocks; an inbox is 'hidden', GET /api/me/inbox
 * hands it out); no row: no room. The same statement puts an
 * allowed room in the caller's rooms (memberships: accounts only, so a
 * guest's subject, never a users id, writes nothing); a member's repeat
 * ticket writes nothing either. The second column is the caller's display
 * name (NULL for a guest). */
static const char rooms_access_sql[] =
	"WITH a AS ("
	"  SELECT " ROOM_ACCESS_SQL " AS access, r.app"
	"  FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id WHERE r.id = $1),"
	" m AS (INSERT INTO memberships (user_id, room_id)"
	"  SELECT $2, $1 FROM a WHERE access = 'ok' AND EXISTS (SELECT 1 FROM users WHERE id = $2)"
	"  ON CONFLICT (user_id, room_id) DO UPDATE SET left_at = NULL, joined_at = now()"
	"  WHERE memberships.left_at IS NOT NULL)"
	" SELECT access, (SELECT coalesce(display_name, id) FROM users WHERE id = $2), app FROM a";

static void rooms_on_access(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rooms_call *c = arg;
	struct backend *be = c->be;
	struct room_refusal no;

	if (!res || PQnfields(res) != 3 || PQntuples(res) > 1) {
		log_write(LOG_WARN, "room access query failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, c->req, c->route, "the room directory is unavailable; try again shortly");
		goto out;
	}
	if (PQntuples(res) == 0) {
		rooms_sched_error(c, SCHED_NOROOM);
		goto out;
	}
	/* hidden as if there were no such room: a DM's id tells a third user
	 * nothing, not even that it exists. */
	if (room_access_refused(PQgetvalue(res, 0, 0), &no)) {
		be_error(be, c->req, c->route, no.status, no.code, no.message, NULL);
		goto out;
	}
	/* A registered user is shown in the room by its display name, as
	 * much of it as a ticket's name holds (WIRE_NAME_MAX bytes). */
	if (c->user.registered && !PQgetisnull(res, 0, 1))
		names_cut(PQgetvalue(res, 0, 1), c->user.name, sizeof c->user.name - 1);
	/* Which view a client opens (the room's application, fixed for its
	 * life); rooms.app is at most WIRE_APP_NAME_MAX bytes when made here. */
	snprintf(c->opts.app, sizeof c->opts.app, "%s", PQgetvalue(res, 0, 2));
	if (!hook_enabled(be)) {
		rooms_locate(c);
		return;
	}
	if (hook_ask(be, c->room, c->user.sub, c->user.name, c->opts.app, rooms_on_hook, c) == 0)
		return;
	rooms_on_hook(&(struct hook_answer){
			      .verdict = be->hook_fail_open ? HOOK_ALLOW : HOOK_UNAVAILABLE }, c);
	return;
out:
	rooms_call_done(c);
}

/* ?suspect=EPOCH: 0 and *out (0 when absent), or -1 for anything but a
 * positive decimal integer. */
static int rooms_suspect_param(const struct httpd_req *req, int64_t *out)
{
	char buf[24], *end;
	long long v;
	int n = httpd_query(req, "suspect", buf, sizeof buf);

	*out = 0;
	if (n == -1)
		return 0;
	if (n <= 0 || buf[0] < '1' || buf[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

void api_rooms_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct rooms_call *c;
	struct auth_user user;
	const char *q[2];
	int64_t suspect;

	if (auth_user(be, req, MX_ROOMS_GET, &user) < 0 || !be_require_ready(be, req, MX_ROOMS_GET))
		return;
	if (rooms_suspect_param(req, &suspect) < 0) {
		be_error(be, req, MX_ROOMS_GET, 400, "bad_request", "suspect must be an epoch (a positive integer)",
			 NULL);
		return;
	}
	/* An id we could never have made is simply not a room: the seed answers
	 * unknown rooms with nulls, and so do we, without asking the database. */
	if (params->n < 1 || !wire_room_id_valid(params->v[0].s, params->v[0].len)) {
		be_json(be, req, MX_ROOMS_GET, 200, json_pack("{s:n,s:n}", "host", "token"), NULL);
		return;
	}

	/* Only inboxes have ids this long (inbox_id.h): nobody gets a ticket
	 * for one here, its owner included (GET /api/me/inbox). */
	if (params->v[0].len == INBOX_ID_LEN) {
		be_error(be, req, MX_ROOMS_GET, 404, "not_found", "no such room", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		be_error(be, req, MX_ROOMS_GET, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->route = MX_ROOMS_GET;
	c->user = user;
	c->suspect = suspect;
	memcpy(c->room, params->v[0].s, params->v[0].len);
	c->room[params->v[0].len] = '\0';
	q[0] = c->room;
	q[1] = c->user.sub;
	be_hold(be);
	if (db_query(be->db, rooms_access_sql, 2, q, rooms_on_access, c) == 0)
		return;
	be_unavailable(be, req, MX_ROOMS_GET, "the room directory is unavailable; try again shortly");
	rooms_call_done(c);
}
