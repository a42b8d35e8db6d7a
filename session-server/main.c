/* stateroom-session: the session server. One libuv loop holds the rooms
 * pinned here; clients reach it over WebSocket with a join ticket.
 *
 * Start: open the database, serve HTTP at once (/healthz answers while the
 * database is still coming up), apply the migrations (retrying until the
 * database answers), then register and heartbeat.
 * Drain (SIGINT, SIGTERM, or the registry row set to 'draining' by the
 * operator, seen on a heartbeat): /readyz says 503 and new clients get 1012;
 * the row is marked 'draining' (the scheduler re-pins our rooms on their
 * next look-up); each room's clients are closed with 1012 once the messages
 * they sent are committed; then the row is deleted, HTTP stops, the
 * database closes and the process exits 0. Past --drain-grace-ms it stops
 * waiting for commits and goes straight to closing.
 * With --parent-pid (the process scheduler sets it) the death of that
 * parent is a SIGTERM too, so that servers whose backend was killed do not
 * run on unsupervised. */
#include <fcntl.h>
#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>
#include <uv.h>

#include "agones_sdk.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "handshake.h"
#include "http_json.h"
#include "httpd.h"
#include "hub.h"
#include "log.h"
#include "migrate.h"
#include "internal_api.h"
#include "registry.h"
#include "router.h"
#include "schema.h"
#include "ticket.h"
#include "token.h"
#include "ws.h"

#define MIGRATE_RETRY_MS 1000

struct opts {
	const char *host, *advertise, *id, *database_url, *secret, *allowed_origins, *log_level, *apps;
	const char *commit_log;
	long lease_ms;
	long agones_sdk_port, agones_health_ms;
	long drain_grace_ms;
	long max_inboxes;
	long port, max_rooms, max_room_users, max_user_conns, max_frame, max_conns, heartbeat_ms, ping_ms,
	     room_idle_ms, pin_grace_ms, ring_size;
	long rate_limit, rate_burst, handshake_timeout_ms, max_pending_handshakes;
	long max_send_buffer;
	long max_write_delay_ms;
	long hold_load_pct;
	const char *io_uring;
	long max_used_tickets, ticket_ttl;
	long keepalive_ms;
	long edit_window_s;
	long call_ring_s;
	long game_hz, seat_grace_ms;
	long wb_compact_every;
	long parent_pid;
};

struct server {
	uv_loop_t *loop;
	struct opts o;
	char advertise[300], id[80];
	char apps[256];              /* the applications hosted, a text[] literal for the registry */
	struct db *db;
	struct httpd *httpd;
	struct ws_server *ws;
	struct hub *hub;
	struct registry *reg;
	struct ticket_jar *jar;
	struct iapi iapi;            /* the server API's routes (internal_api.h) */
	struct agones_sdk *sdk;      /* NULL unless on Agones */
	uv_timer_t retry;
	uv_signal_t sigint, sigterm;
	uv_timer_t grace;            /* bounds the drain */
	uint64_t drain_started;
	bool draining;
	enum { DRAIN_NONE, DRAIN_COMMITS, DRAIN_DEREGISTER, DRAIN_CLOSE } drain_stage;
	uint64_t hs_ok, hs_refused, hs_bad_ticket;
};

/* ------------------------------------------------------------------ HTTP */

static void get_healthz(struct httpd_req *req, const struct route_params *p, void *ud)
{
	(void)p;
	(void)ud;
	http_json_respond(req, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static void get_readyz(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct server *s = ud;
	bool ready = !s->draining && registry_ready(s->reg);

	(void)p;
	http_json_respond(req, ready ? 200 : 503,
			  json_pack("{s:s}", "status", ready ? "ready" : s->draining ? "draining" : "starting"),
			  NULL);
}

static void get_metrics(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct server *s = ud;
	char buf[8192];
	uint16_t codes[32];
	uint64_t counts[32];
	size_t n_codes = ws_server_closes(s->ws, codes, counts, 32);
	uint64_t frames, sends;
	bool holding;
	int off;

	(void)p;
	ws_server_output(s->ws, &frames, &sends, &holding);
	off = snprintf(buf, sizeof(buf),
		       "# HELP stateroom_session_connections Open WebSocket connections.\n"
		       "# TYPE stateroom_session_connections gauge\n"
		       "stateroom_session_connections %zu\n"
		       "# HELP stateroom_session_clients Connections admitted to a room.\n"
		       "# TYPE stateroom_session_clients gauge\n"
		       "stateroom_session_clients %zu\n"
		       "# HELP stateroom_session_rooms Rooms held in memory, inboxes not counted.\n"
		       "# TYPE stateroom_session_rooms gauge\n"
		       "stateroom_session_rooms %zu\n"
		       "# HELP stateroom_session_inboxes Users' inbox rooms held in memory (not among the rooms).\n"
		       "# TYPE stateroom_session_inboxes gauge\n"
		       "stateroom_session_inboxes %zu\n"
		       "# HELP stateroom_session_messages_total WebSocket messages received in rooms.\n"
		       "# TYPE stateroom_session_messages_total counter\n"
		       "stateroom_session_messages_total %" PRIu64 "\n"
		       "# HELP stateroom_session_handshakes_total WebSocket handshakes by outcome.\n"
		       "# TYPE stateroom_session_handshakes_total counter\n"
		       "stateroom_session_handshakes_total{result=\"ok\"} %" PRIu64 "\n"
		       "stateroom_session_handshakes_total{result=\"bad_ticket\"} %" PRIu64 "\n"
		       "stateroom_session_handshakes_total{result=\"refused\"} %" PRIu64 "\n"
		       "# HELP stateroom_session_rate_limited_total Times a connection was paused by the rate limit.\n"
		       "# TYPE stateroom_session_rate_limited_total counter\n"
		       "stateroom_session_rate_limited_total %" PRIu64 "\n"
		       "# HELP stateroom_session_pending_connections Connections not upgraded to WebSocket.\n"
		       "# TYPE stateroom_session_pending_connections gauge\n"
		       "stateroom_session_pending_connections %zu\n"
		       "# HELP stateroom_session_pending_evicted_total Connections closed to bound those not upgraded.\n"
		       "# TYPE stateroom_session_pending_evicted_total counter\n"
		       "stateroom_session_pending_evicted_total %" PRIu64 "\n"
		       "# HELP stateroom_session_frames_total WebSocket frames queued to connections.\n"
		       "# TYPE stateroom_session_frames_total counter\n"
		       "stateroom_session_frames_total %" PRIu64 "\n"
		       "# HELP stateroom_session_sends_total Send calls that carried them.\n"
		       "# TYPE stateroom_session_sends_total counter\n"
		       "stateroom_session_sends_total %" PRIu64 "\n"
		       "# HELP stateroom_session_holding_frames 1 while busy enough to hold frames back to send them together.\n"
		       "# TYPE stateroom_session_holding_frames gauge\n"
		       "stateroom_session_holding_frames %d\n"
		       "# HELP stateroom_session_closes_total Close frames sent, by code.\n"
		       "# TYPE stateroom_session_closes_total counter\n",
		       ws_server_conn_count(s->ws), hub_client_count(s->hub), hub_room_count(s->hub),
		       hub_inbox_count(s->hub),
		       hub_messages_total(s->hub), s->hs_ok, s->hs_bad_ticket, s->hs_refused,
		       hub_rate_limited_total(s->hub), httpd_pending_count(s->httpd),
		       httpd_pending_evicted(s->httpd), frames, sends, holding ? 1 : 0);
	for (size_t i = 0; i < n_codes && off > 0 && (size_t)off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off,
				"stateroom_session_closes_total{code=\"%u\"} %" PRIu64 "\n",
				codes[i], counts[i]);
	if (off < 0 || (size_t)off >= sizeof(buf))
		off = (int)strlen(buf);
	httpd_respond(req, 200, "text/plain; version=0.0.4", NULL, buf, (size_t)off);
}

static void post_internal_records(struct httpd_req *req, const struct route_params *p, void *ud)
{
	iapi_records(&((struct server *)ud)->iapi, req, p);
}

static void get_internal_presence(struct httpd_req *req, const struct route_params *p, void *ud)
{
	iapi_presence(&((struct server *)ud)->iapi, req, p);
}

static void post_internal_close(struct httpd_req *req, const struct route_params *p, void *ud)
{
	iapi_close(&((struct server *)ud)->iapi, req, p);
}

static const struct route routes[] = {
	{ HTTP_GET, "/healthz", get_healthz },
	{ HTTP_GET, "/readyz", get_readyz },
	{ HTTP_GET, "/metrics", get_metrics },
	{ HTTP_POST, "/internal/rooms/:id/records", post_internal_records },
	{ HTTP_GET, "/internal/rooms/:id/presence", get_internal_presence },
	{ HTTP_POST, "/internal/rooms/:id/close", post_internal_close },
};

static void on_request(struct httpd_req *req, void *ud)
{
	if (route_dispatch(routes, sizeof(routes) / sizeof(routes[0]), req, ud) != 0)
		http_json_error(req, 404, "not_found", "no such route", NULL);
}

static int64_t parse_since(const struct httpd_req *req)
{
	char buf[24], *end;
	long long v;

	if (httpd_query(req, "since", buf, sizeof(buf)) <= 0)
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end || v < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return v;
}

static const char *ticket_reason(enum ticket_result r)
{
	switch (r) {
	case TICKET_ELSEWHERE:
		return "ticket for another server";
	case TICKET_BUSY:
		return "too many joins, retry";
	default:
		return "bad or expired ticket";
	}
}

static void on_upgrade(struct httpd_req *req, void *ud)
{
	struct server *s = ud;
	struct hs_result hs;
	struct ticket t;
	enum ticket_result tr;
	char resp[256];
	size_t resp_len;
	int status, rc;

	status = hs_check(req, s->o.allowed_origins, app_protocols(), &hs);
	if (status != 0) {
		s->hs_refused++;
		if (status == HS_OLD_HTTP)
			http_json_error(req, 400, "bad_handshake", "a WebSocket upgrade needs HTTP/1.1",
					NULL);
		else if (status == 426)
			http_json_error(req, 426, "upgrade_required", "WebSocket version 13 only",
					"Sec-WebSocket-Version: 13\r\n");
		else if (status == 403)
			http_json_error(req, 403, "forbidden_origin", "origin not allowed", NULL);
		else
			http_json_error(req, 400, "bad_handshake", "not a valid WebSocket upgrade", NULL);
		return;
	}
	resp_len = hs_response(&hs, resp, sizeof(resp));
	tr = ticket_from_query(s->jar, req, (const unsigned char *)s->o.secret, strlen(s->o.secret),
			       s->id, registry_now(s->reg), &t);
	if (tr == TICKET_OK && !s->draining) {
		s->hs_ok++;
		rc = hub_accept(s->hub, req, resp, resp_len, &t, hs.protocol, parse_since(req));
	} else {
		struct ws_conn *c;
		if (tr != TICKET_OK)
			s->hs_bad_ticket++;
		/* The 101 first, so that a browser can see why it is turned away. */
		rc = ws_accept(s->ws, req, resp, resp_len, NULL, NULL, &c);
		if (rc == 0 && tr != TICKET_OK)
			ws_close(c, (uint16_t)tr, ticket_reason(tr));
		else if (rc == 0)
			ws_close(c, WIRE_CLOSE_RESTART, "server draining");
	}
	if (rc != 0)
		http_json_error(req, 503, "unavailable", "cannot take connections now", NULL);
}

/* --------------------------------------------------------------- startup */

static void migrate(struct server *s);
static void on_registry_drain(void *arg);

static void on_retry(uv_timer_t *t)
{
	migrate(t->data);
}

static void migrated(const char *err, void *arg)
{
	struct server *s = arg;
	struct registry_config rc = {
		.id = s->id,
		.boot = ticket_jar_boot(s->jar),
		.address = s->advertise,
		.apps = s->apps,
		.capacity = s->o.max_rooms,
		.inbox_capacity = s->o.max_inboxes,
		.heartbeat_ms = (uint64_t)s->o.heartbeat_ms,
		.pin_grace_ms = (uint64_t)s->o.pin_grace_ms,
		.on_drain = on_registry_drain,
		.drain_arg = s,
	};
	int r;

	if (s->draining)
		return;
	if (err) {
		log_write(LOG_WARN, "migrations failed, retrying", "{s:s}", "error", err);
		uv_timer_start(&s->retry, on_retry, MIGRATE_RETRY_MS, 0);
		return;
	}
	r = registry_start(s->loop, s->db, &rc, hub_stats, s->hub, &s->reg);
	if (r != 0) {
		log_write(LOG_ERROR, "cannot start the registry", "{s:i}", "error", r);
		uv_timer_start(&s->retry, on_retry, MIGRATE_RETRY_MS, 0);
		return;
	}
	hub_set_registry(s->hub, s->reg, s->db);
}

static void migrate(struct server *s)
{
	int r = migrate_run(s->db, schema_migrations, schema_migrations_len, migrated, s);

	if (r != 0) {
		log_write(LOG_WARN, "cannot queue migrations, retrying", "{s:i}", "error", r);
		uv_timer_start(&s->retry, on_retry, MIGRATE_RETRY_MS, 0);
	}
}

/* ---------------------------------------------------------------- agones */

/* Ready for Agones means ready to take rooms: registered, not draining. */
static bool sdk_can_ready(void *ud)
{
	struct server *s = ud;

	return !s->draining && registry_ready(s->reg);
}

static void on_room_changed(void *ud, const char *room_id, bool loaded)
{
	struct server *s = ud;

	agones_sdk_room(s->sdk, room_id, loaded);
}

/* -------------------------------------------------------------- shutdown */

static void db_closed(void *arg)
{
	(void)arg;
	log_write(LOG_INFO, "stopped", NULL);
}

static void httpd_stopped(void *arg)
{
	struct server *s = arg;

	registry_stop(s->reg);
	agones_sdk_shutdown(s->sdk);
	s->sdk = NULL;
	hub_close(s->hub);
	db_close(s->db, db_closed, s);
}

static void ws_closed(void *arg)
{
	struct server *s = arg;

	s->ws = NULL;
	httpd_stop(s->httpd, httpd_stopped, s);
}

/* The drain's steps, in order; each runs once, and the grace timer may
 * jump to the last. */
static void drain_close(void *arg)
{
	struct server *s = arg;

	if (s->drain_stage >= DRAIN_CLOSE)
		return;
	s->drain_stage = DRAIN_CLOSE;
	/* Held until now so that a second signal during the drain is ignored
	 * rather than fatal. */
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->grace, NULL);
	ws_server_close(s->ws, WIRE_CLOSE_RESTART, ws_closed, s);
}

static void drain_deregister(void *arg)
{
	struct server *s = arg;

	if (s->drain_stage >= DRAIN_DEREGISTER)
		return;
	s->drain_stage = DRAIN_DEREGISTER;
	log_write(LOG_INFO, "messages committed, leaving the registry", "{s:I}", "after_ms",
		  (json_int_t)(uv_now(s->loop) - s->drain_started));
	if (s->reg)
		registry_deregister(s->reg, drain_close, s);
	else
		drain_close(s);
}

static void drain_commits(void *arg)
{
	struct server *s = arg;

	if (s->drain_stage >= DRAIN_COMMITS)
		return;
	s->drain_stage = DRAIN_COMMITS;
	hub_drain(s->hub, drain_deregister, s);
}

static void on_grace(uv_timer_t *t)
{
	struct server *s = t->data;

	log_write(LOG_WARN, "drain grace time over, closing", "{s:i}", "grace_ms", (int)s->o.drain_grace_ms);
	if (s->drain_stage < DRAIN_DEREGISTER && s->reg) {
		s->drain_stage = DRAIN_DEREGISTER;
		registry_deregister(s->reg, NULL, NULL);
	}
	drain_close(s);
}

static void start_drain(struct server *s, const char *why)
{
	if (s->draining)
		return;
	s->draining = true;
	s->drain_started = uv_now(s->loop);
	agones_sdk_drain(s->sdk, hub_room_count(s->hub));
	log_write(LOG_INFO, "draining", "{s:s,s:i}", "why", why, "grace_ms", (int)s->o.drain_grace_ms);
	uv_close((uv_handle_t *)&s->retry, NULL);
	uv_timer_start(&s->grace, on_grace, (uint64_t)s->o.drain_grace_ms, 0);
	/* The row first, so that clients sent away find the room elsewhere. */
	if (s->reg)
		registry_drain(s->reg, drain_commits, s);
	else
		drain_commits(s);
}

static void on_registry_drain(void *arg)
{
	start_drain(arg, "registry");
}

static void on_signal(uv_signal_t *sig, int signum)
{
	start_drain(sig->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ------------------------------------------------------------------ main */

/* The kernel sends SIGTERM (a drain, see on_signal) when our parent dies.
 * It may have died before we asked: then we are someone else's child
 * already. Linux only: prctl() fails elsewhere, which we say. */
static void watch_parent(struct server *s, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		log_write(LOG_WARN, "cannot watch the parent process", "{s:s}", "error", strerror(errno));
	if (getppid() != parent)
		start_drain(s, "parent gone");
}

/* Every connection is a descriptor: take the soft limit up to the hard one
 * (100 000 connections need it; distributions start at 1024) and say so
 * when even that is below --max-conns. */
static void raise_nofile(long max_conns)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	/* Some descriptors go to the listener, PostgreSQL and the loop. */
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)max_conns + 64 > rl.rlim_cur)
		log_write(LOG_WARN, "open file limit below --max-conns", "{s:I,s:I}", "limit",
			  (json_int_t)rl.rlim_cur, "max_conns", (json_int_t)max_conns);
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct server *s = &srv;
	struct opts *o = &s->o;
	const struct cfg_opt opts[] = {
		{ "host", "SESSION_HOST", CFG_STR, &o->host, "127.0.0.1", 0, 0, "listen address" },
		{ "apps", "SESSION_APPS", CFG_STR, &o->apps, NULL, 0, 0,
		  "room applications hosted here, comma-separated (default: every one); empty: none,"
		  " inboxes only" },
		{ "port", "SESSION_PORT", CFG_INT, &o->port, "9001", 0, 65535,
		  "listen port (WebSocket, /healthz, /readyz, /metrics); 0: any free port" },
		{ "advertise", "SESSION_ADVERTISE", CFG_STR, &o->advertise, NULL, 0, 0,
		  "address clients are sent to (default HOST:PORT)" },
		{ "id", "SESSION_ID", CFG_STR, &o->id, NULL, 0, 0,
		  "server id: ticket audience, registry key (default ss-PORT)" },
		{ "database-url", "DATABASE_URL", CFG_STR, &o->database_url,
		  "postgresql://postgres@127.0.0.1:55432/stateroom", 0, 0, "PostgreSQL" },
		{ "secret", "STATEROOM_SECRET", CFG_STR, &o->secret, NULL, 0, 0,
		  "token key (required, 32 bytes or more)" },
		{ "max-rooms", "SESSION_MAX_ROOMS", CFG_INT, &o->max_rooms, "10", 1, 100000,
		  "rooms this server hosts (inboxes not counted)" },
		{ "max-inboxes", "SESSION_MAX_INBOXES", CFG_INT, &o->max_inboxes, "10000", 0, 1000000,
		  "users' inbox rooms this server hosts besides its rooms; 0: none" },
		{ "max-room-users", "SESSION_MAX_ROOM_USERS", CFG_INT, &o->max_room_users, "100", 1,
		  1000000, "users per room (a room's own capacity may be lower)" },
		{ "max-user-conns", "SESSION_MAX_USER_CONNS", CFG_INT, &o->max_user_conns, "10", 1,
		  1000000, "connections of one user in one room (tabs); the next is closed 4008" },
		{ "max-frame", "SESSION_MAX_FRAME", CFG_INT, &o->max_frame, "65536", 125, 16777216,
		  "largest incoming WebSocket message" },
		{ "max-conns", "SESSION_MAX_CONNS", CFG_INT, &o->max_conns, "10000", 1, 1000000,
		  "open sockets" },
		{ "allowed-origins", "STATEROOM_ALLOWED_ORIGINS", CFG_STR, &o->allowed_origins, "", 0, 0,
		  "comma-separated origins, or * (empty: browsers refused)" },
		{ "heartbeat-ms", "SESSION_HEARTBEAT_MS", CFG_INT, &o->heartbeat_ms, "1000", 10,
		  3600000, "registry heartbeat" },
		{ "max-send-buffer", "SESSION_MAX_SEND_BUFFER", CFG_INT, &o->max_send_buffer, "1048576",
		  4096, 1073741824,
		  "bytes a connection may leave unread behind the frame being written; past it, close 1008" },
		{ "max-write-delay-ms", "SESSION_MAX_WRITE_DELAY_MS", CFG_INT, &o->max_write_delay_ms, "5",
		  0, 1000, "a busy server holds outgoing frames at most this long to send them together (0: never)" },
		{ "max-used-tickets", "SESSION_MAX_USED_TICKETS", CFG_INT, &o->max_used_tickets, "1000000",
		  1000, 100000000,
		  "unexpired used tickets remembered (at most 64 bytes each, as used); when full, new joins close 4029" },
		{ "ticket-ttl", "STATEROOM_TICKET_TTL", CFG_INT, &o->ticket_ttl, WIRE_TICKET_TTL_DEFAULT, 1,
		  WIRE_TICKET_TTL_MAX, "seconds join tickets live (the backend's --ticket-ttl); longer ones are refused" },
		{ "hold-load-pct", "SESSION_HOLD_LOAD_PCT", CFG_INT, &o->hold_load_pct, "85", 0, 1000,
		  "busy means: sending every frame at once would take more than this % of the time" },
		{ "io-uring", "SESSION_IO_URING", CFG_STR, &o->io_uring, "auto", 0, 0,
		  "send a loop turn's frames in one io_uring submission: auto (when the kernel allows), on (or do not start), off" },
		{ "ping-ms", "SESSION_PING_MS", CFG_INT, &o->ping_ms, "25000", 10, 3600000,
		  "ping after this much silence; no answer within another period closes" },
		{ "keepalive-ms", "SESSION_KEEPALIVE_MS", CFG_INT, &o->keepalive_ms, "10000", 1000,
		  3600000,
		  "a native client sent nothing for this long gets a heartbeat frame (welcome's heartbeat_ms)" },
		{ "edit-window-s", "SESSION_EDIT_WINDOW_S", CFG_INT, &o->edit_window_s, "86400", 0,
		  315360000, "chat: an author may edit a message for this long after sending it (0: never)" },
		{ "call-ring-timeout-s", "SESSION_CALL_RING_TIMEOUT_S", CFG_INT, &o->call_ring_s, "30", 1,
		  3600, "chat: a DM's call rings the other member this long before it is missed" },
		{ "game-hz", "SESSION_GAME_HZ", CFG_INT, &o->game_hz, "20", 1, 1000,
		  "game: steps a second of a real-time room (app_room_set_step's default)" },
		{ "seat-grace-ms", "SESSION_SEAT_GRACE_MS", CFG_INT, &o->seat_grace_ms, "30000", 0,
		  86400000, "game: a seated player who dropped keeps the seat this long for a reconnect" },
		{ "wb-compact-every", "SESSION_WB_COMPACT_EVERY", CFG_INT, &o->wb_compact_every, "500", 1,
		  1000000, "whiteboard: a snapshot of the board after this many records (at most half of --ring-size)" },
		{ "room-idle-ms", "SESSION_ROOM_IDLE_MS", CFG_INT, &o->room_idle_ms, "30000", 0,
		  86400000, "an empty room is unloaded and unpinned after this" },
		{ "pin-grace-ms", "SESSION_PIN_GRACE_MS", CFG_INT, &o->pin_grace_ms, "15000", 0,
		  86400000, "a room pinned here that nobody joins is unpinned (its slot freed) after "
		  "this (every look-up renews it)" },
		{ "log-level", "STATEROOM_LOG_LEVEL", CFG_STR, &o->log_level, "info", 0, 0,
		  "debug, info, warn, error" },
		{ "agones-sdk-port", "AGONES_SDK_HTTP_PORT", CFG_INT, &o->agones_sdk_port, "0", 0, 65535,
		  "the Agones SDK sidecar's HTTP port, set by Agones (0: not on Agones)" },
		{ "agones-health-ms", "SESSION_AGONES_HEALTH_MS", CFG_INT, &o->agones_health_ms, "5000",
		  100, 3600000, "on Agones: Health every this long" },
		{ "drain-grace-ms", "SESSION_DRAIN_GRACE_MS", CFG_INT, &o->drain_grace_ms, "10000", 0,
		  3600000, "a drain waits this long at most for pending messages to commit" },
		{ "ring-size", "SESSION_RING_SIZE", CFG_INT, &o->ring_size, "1000", 1, 1000000,
		  "recent messages a room keeps in memory (for tests; see docs/protocol.md)" },
		{ "rate-limit", "SESSION_RATE_LIMIT", CFG_INT, &o->rate_limit, "20", 0, 1000000,
		  "WebSocket messages a second per connection, beyond which it is read no faster (0: no limit)" },
		{ "rate-burst", "SESSION_RATE_BURST", CFG_INT, &o->rate_burst, "40", 1, 1000000,
		  "messages a connection may send at once before it is slowed down" },
		{ "handshake-timeout-ms", "SESSION_HANDSHAKE_TIMEOUT_MS", CFG_INT,
		  &o->handshake_timeout_ms, "10000", 100, 3600000,
		  "a connection must send its whole HTTP request head within this" },
		{ "max-pending-handshakes", "SESSION_MAX_PENDING_HANDSHAKES", CFG_INT,
		  &o->max_pending_handshakes, "1024", 1, 1000000,
		  "connections not (yet) upgraded to WebSocket; past it the oldest idle one is closed" },
		{ "lease-ms", "SESSION_LEASE_MS", CFG_INT, &o->lease_ms, "3000", 0, 3600000,
		  "with no registry heartbeat for this long while the database connection is up (its "
		  "queries hang), let every room go (clients closed 1012 to look it up again): the "
		  "backends' --dead-after-ms; 0: never" },
		{ "commit-log", "SESSION_COMMIT_LOG", CFG_STR, &o->commit_log, "", 0, 0,
		  "append one JSON line per committed batch (room, server, epoch, seq range) to this file, "
		  "for the failover lab (scripts/chaos); empty: none" },
		{ "parent-pid", "SESSION_PARENT_PID", CFG_INT, &o->parent_pid, "0", 0, 2147483647,
		  "drain and exit when this parent process is gone (0: never; the process scheduler sets it)" },
	};
	char err[256];
	enum log_level level;
	enum uring_mode io_uring;
	int r;

	r = cfg_parse(opts, sizeof(opts) / sizeof(opts[0]), argc, argv,
		      "Usage: stateroom-session [options]\nThe Stateroom session server.", err, sizeof(err));
	if (r == CFG_HELP)
		return 0;
	if (r != 0) {
		fprintf(stderr, "stateroom-session: %s\n", err);
		return 2;
	}
	if (log_parse_level(o->log_level, &level) != 0) {
		fprintf(stderr, "stateroom-session: bad --log-level %s\n", o->log_level);
		return 2;
	}
	log_init("stateroom-session", level);
	if (!o->secret || strlen(o->secret) < 32) {
		fprintf(stderr, "stateroom-session: --secret (STATEROOM_SECRET) of 32 bytes or more is required\n");
		return 2;
	}
	if (o->advertise)
		snprintf(s->advertise, sizeof(s->advertise), "%s", o->advertise);
	else
		snprintf(s->advertise, sizeof(s->advertise), "%s:%ld", o->host, o->port);
	if (o->id)
		snprintf(s->id, sizeof(s->id), "%s", o->id);
	else
		snprintf(s->id, sizeof(s->id), "ss-%ld", o->port);
	if (strlen(s->id) < 1 || strlen(s->id) > 63) {
		fprintf(stderr, "stateroom-session: --id must be 1 to 63 characters\n");
		return 2;
	}
	if (app_host(o->apps) < 0 || app_hosted_array(s->apps, sizeof(s->apps)) < 0) {
		fprintf(stderr, "stateroom-session: --apps must name applications among: %s\n", app_names());
		return 2;
	}
	app_whiteboard_set_compact_every((size_t)o->wb_compact_every);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(o->max_conns);

	if (strcmp(o->io_uring, "auto") == 0) {
		io_uring = URING_AUTO;
	} else if (strcmp(o->io_uring, "on") == 0) {
		io_uring = URING_ON;
	} else if (strcmp(o->io_uring, "off") == 0) {
		io_uring = URING_OFF;
	} else {
		fprintf(stderr, "stateroom-session: --io-uring must be auto, on or off\n");
		return 2;
	}

	s->loop = uv_default_loop();
	struct db_config dbc = { .conninfo = o->database_url };
	struct ws_config wsc = {
		.max_message = (size_t)o->max_frame,
		.ping_ms = (uint64_t)o->ping_ms,
		.max_queued = (size_t)o->max_send_buffer,
		.max_write_delay_ms = (uint64_t)o->max_write_delay_ms,
		.hold_load_pct = (unsigned)o->hold_load_pct,
		.io_uring = io_uring,
	};
	struct hub_config hc = {
		.server_id = s->id,
		.max_rooms = (unsigned)o->max_rooms,
		.max_inboxes = (unsigned)o->max_inboxes,
		.max_room_users = (unsigned)o->max_room_users,
		.room_idle_ms = (uint64_t)o->room_idle_ms,
		.on_room = on_room_changed,
		.on_room_ud = s,
		.log_window = (size_t)o->ring_size,
		.rate_limit = (unsigned)o->rate_limit,
		.rate_burst = (unsigned)o->rate_burst,
		.keepalive_ms = (uint64_t)o->keepalive_ms,
		.edit_window_ms = (int64_t)o->edit_window_s * 1000,
		.call_ring_ms = (int64_t)o->call_ring_s * 1000,
		.max_user_conns = (unsigned)o->max_user_conns,
		.game_hz = (unsigned)o->game_hz,
		.seat_grace_ms = (uint64_t)o->seat_grace_ms,
		.commit_log_fd = -1,
		.lease_ms = (uint64_t)o->lease_ms,
	};
	struct httpd_config htc = {
		.host = o->host,
		.port = (int)o->port,
		.max_conns = (unsigned)o->max_conns,
		.header_timeout_ms = (uint64_t)o->handshake_timeout_ms,
		.max_pending = (unsigned)o->max_pending_handshakes,
		.on_request = on_request,
		.on_upgrade = on_upgrade,
		.ud = s,
	};

	if (o->lease_ms > 0 && o->lease_ms < 2 * o->heartbeat_ms) {
		fprintf(stderr, "stateroom-session: --lease-ms must be 0 or at least twice --heartbeat-ms\n");
		return 2;
	}
	if (o->commit_log && o->commit_log[0] &&
	    (hc.commit_log_fd = open(o->commit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "stateroom-session: --commit-log %s: %s\n", o->commit_log, strerror(errno));
		return 2;
	}
	if ((r = db_open(s->loop, &dbc, &s->db)) != 0) {
		fprintf(stderr, "stateroom-session: database: %s\n", strerror(-r));
		return 1;
	}
	if ((r = ws_server_new(s->loop, &wsc, &s->ws)) != 0 ||
	    (r = hub_new(s->loop, &hc, s->ws, &s->hub)) != 0 ||
	    (r = ticket_jar_new((size_t)s->o.max_used_tickets, s->o.ticket_ttl, &s->jar)) != 0) {
		fprintf(stderr, "stateroom-session: %s\n", strerror(-r));
		return 1;
	}
	if ((r = httpd_start(s->loop, &htc, &s->httpd)) != 0) {
		log_write(LOG_ERROR, "cannot listen", "{s:s,s:i,s:s}", "host", o->host, "port",
			  (int)o->port, "error", uv_strerror(r));
		return 1;
	}
	s->iapi.hub = s->hub;
	s->iapi.secret = o->secret;
	s->iapi.server_id = s->id;
	if (o->port == 0) {
		/* Any free port (how the process scheduler starts us): advertise
		 * and name the one we got. */
		if (!o->advertise)
			snprintf(s->advertise, sizeof(s->advertise), "%s:%d", o->host, httpd_port(s->httpd));
		if (!o->id)
			snprintf(s->id, sizeof(s->id), "ss-%d", httpd_port(s->httpd));
	}
	log_write(LOG_INFO, "listening", "{s:s,s:i,s:s,s:s}", "host", o->host, "port",
		  httpd_port(s->httpd), "id", s->id, "advertise", s->advertise);
	if (o->agones_sdk_port > 0) {
		struct agones_sdk_config ac = {
			.port = (int)o->agones_sdk_port,
			.health_ms = (uint64_t)o->agones_health_ms,
			.can_ready = sdk_can_ready,
			.ud = s,
		};
		if ((r = agones_sdk_start(s->loop, &ac, &s->sdk)) != 0) {
			log_write(LOG_ERROR, "cannot start the Agones SDK client", "{s:s}", "error", strerror(-r));
			return 1;
		}
	}

	uv_timer_init(s->loop, &s->grace);
	s->grace.data = s;
	uv_timer_init(s->loop, &s->retry);
	s->retry.data = s;
	uv_signal_init(s->loop, &s->sigint);
	uv_signal_init(s->loop, &s->sigterm);
	s->sigint.data = s->sigterm.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	migrate(s);
	if (o->parent_pid > 0)
		watch_parent(s, (pid_t)o->parent_pid);

	uv_run(s->loop, UV_RUN_DEFAULT);
	ticket_jar_free(s->jar);
	uv_loop_close(s->loop);
	return 0;
}
