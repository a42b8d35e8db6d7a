/* stateroom-backend: the stateless HTTP API (log in, create rooms, find
 * where a room lives and hand out join tickets) and the web client.
 *
 * Start: options → PostgreSQL (connecting in the background) → scheduler →
 * listen → migrations, retried until the database answers; until they are
 * applied every API route that needs the database (all but /api/me) answers
 * 503 and /readyz says not ready; then the scheduler starts what it runs by
 * itself (the process scheduler's --min-servers).
 * Stop (SIGINT, SIGTERM): new requests get 503 (/healthz and /metrics still
 * answer), the scheduler lets go of what it runs, requests waiting on the
 * database finish, then httpd, the scheduler and the database close and the
 * loop ends. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "files.h"
#include "ice.h"
#include "http_client.h"
#include "service_tokens.h"
#include "sniff.h"
#include "thumbs.h"
#include "config.h"
#include "container.h"
#include "log.h"
#include "migrate.h"
#include "pwhash.h"
#include "schema.h"
#include "static_files.h"
#include "throttle.h"
#include "push.h"
#include "webhooks.h"
#include "reminders.h"
#include "email.h"

#ifndef STATEROOM_CLIENT_DIR
#define STATEROOM_CLIENT_DIR "client"
#endif
#ifndef STATEROOM_SESSION_BINARY
#define STATEROOM_SESSION_BINARY "stateroom-session"
#endif

#define MAIN_SECRET_MIN 32
#define MAIN_MIGRATE_RETRY_MS 1000
/* Password hashes at once: each takes 19 MiB, and libuv's pool has 4
 * threads; more at once would only add latency. Beyond that they wait in
 * turn by client: 8 a client, 1024 in all (at most 1 KiB of password
 * each; at 20 to 50 ms a hash, the last waits a few seconds). */
#define MAIN_PW_INFLIGHT 4
#define MAIN_PW_WAITING 1024
#define MAIN_PW_PER_CLIENT 8

struct main_ctx {
	struct backend be;
	uv_signal_t sigint, sigterm;
	uv_timer_t timer;       /* migration retries, then the deferred stop */
	int exit_code;
	bool sched_stopped;     /* the scheduler let go of what it runs */
	struct rem *rem;        /* reminders and the outbox sweeper, once migrated */
};

static void main_migrate(struct main_ctx *m);
static void main_stop_continue(uv_timer_t *t);

/* ---- stopping ---------------------------------------------------------- */

/* The handles live in struct main_ctx on main()'s stack: closing them
 * frees nothing, and ends the loop. */
static void main_on_db_closed(void *arg)
{
	struct main_ctx *m = arg;

	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->timer, NULL);
}

static void main_on_httpd_stopped(void *arg)
{
	struct main_ctx *m = arg;

	m->be.httpd = NULL;
	m->be.sched->destroy(m->be.sched_state);
	m->be.sched_state = NULL;
	/* Nothing waits on it any more: its requests held the stop. */
	hc_close(m->be.hc, NULL, NULL);
	m->be.hc = NULL;
	wh_close(m->be.wh);
	m->be.wh = NULL;
	rem_close(m->rem);
	m->rem = NULL;
	push_close(m->be.push);
	m->be.push = NULL;
	em_close(m->be.em);
	m->be.em = NULL;
	db_close(m->be.db, main_on_db_closed, m);
	m->be.db = NULL;
}

static void main_on_sched_stopped(void *arg)
{
	struct main_ctx *m = arg;

	m->sched_stopped = true;
	if (m->be.pending == 0)
		uv_timer_start(&m->timer, main_stop_continue, 0, 0);
}

/* Runs from a timer, so never inside a callback of httpd or db. */
static void main_stop_continue(uv_timer_t *t)
{
	struct main_ctx *m = container_of(t, struct main_ctx, timer);

	httpd_stop(m->be.httpd, main_on_httpd_stopped, m);
}

static void main_stop(struct main_ctx *m, int exit_code)
{
	if (m->be.stopping)
		return;
	m->be.stopping = true;
	m->exit_code = exit_code;
	log_write(LOG_INFO, "stopping", "{s:i}", "waiting", (int)m->be.pending);
	uv_timer_stop(&m->timer);
	/* The scheduler first: requests waiting for it end, and the servers it
	 * started drain while the backend still answers monitoring. */
	if (m->be.sched->stop)
		m->be.sched->stop(m->be.sched_state, main_on_sched_stopped, m);
	else
		m->sched_stopped = true;
	if (m->be.pending == 0 && m->sched_stopped)
		uv_timer_start(&m->timer, main_stop_continue, 0, 0);
}

void be_hold(struct backend *be)
{
	be->pending++;
}

void be_release(struct backend *be)
{
	struct main_ctx *m = container_of(be, struct main_ctx, be);

	if (--be->pending == 0 && be->stopping && m->sched_stopped)
		uv_timer_start(&m->timer, main_stop_continue, 0, 0);
}

static void main_on_signal(uv_signal_t *s, int signum)
{
	struct main_ctx *m = s->data;

	log_write(LOG_INFO, "signal", "{s:s}", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
	main_stop(m, 0);
}

/* ---- migrations -------------------------------------------------------- */

static void main_on_retry(uv_timer_t *t)
{
	main_migrate(container_of(t, struct main_ctx, timer));
}

static void main_on_migrated(const char *err, void *arg)
{
	struct main_ctx *m = arg;

	if (m->be.stopping)
		return;
	if (!err) {
		m->be.ready = true;
		log_write(LOG_INFO, "database ready", "{s:i}", "migrations", (int)schema_migrations_len);
		if (m->be.sched->start)
			m->be.sched->start(m->be.sched_state);
		wh_start(m->be.wh, m->be.loop, m->be.db);
		if (rem_new(&(struct rem_config){ .poll_ms = m->be.cfg.reminder_poll_ms,
						  .sweep_ms = m->be.cfg.notify_sweep_ms }, &m->rem) < 0)
			log_write(LOG_ERROR, "reminders: out of memory; reminders do not fire", NULL);
		else
			rem_start(m->rem, m->be.loop, m->be.db);
		push_start(m->be.push, m->be.loop, m->be.db);
		em_start(m->be.em, m->be.loop, m->be.db);
		return;
	}
	/* An error on a live connection is in the SQL itself and retrying will
	 * not help; anything else is the database not being there yet. */
	if (db_connected(m->be.db)) {
		log_write(LOG_ERROR, "migration failed", "{s:s}", "error", err);
		main_stop(m, 1);
		return;
	}
	log_write(LOG_WARN, "database not reachable, retrying", "{s:s,s:i}", "error", err,
		  "retry_ms", MAIN_MIGRATE_RETRY_MS);
	uv_timer_start(&m->timer, main_on_retry, MAIN_MIGRATE_RETRY_MS, 0);
}

static void main_migrate(struct main_ctx *m)
{
	int rc = migrate_run(m->be.db, schema_migrations, schema_migrations_len, main_on_migrated, m);

	if (rc < 0) {
		log_write(LOG_WARN, "could not queue the migrations, retrying", "{s:s}", "error",
			  uv_strerror(rc));
		uv_timer_start(&m->timer, main_on_retry, MAIN_MIGRATE_RETRY_MS, 0);
	}
}

/* ---- start ------------------------------------------------------------- */

/* A trusted proxy carries many clients' connections: not bounded per address. */
static bool main_ip_exempt(const struct sockaddr *addr, void *ud)
{
	struct backend *be = ud;
	struct ca_addr a;

	return be->trust && ca_from_sockaddr(addr, &a) == 0 && ca_trusted(be->trust, &a);
}

static int main_options(struct backend_config *c, int argc, char **argv)
{
	const struct cfg_opt opts[] = {
		{ "host", "BACKEND_HOST", CFG_STR, &c->host, "127.0.0.1", 0, 0, "listen address" },
		{ "port", "BACKEND_PORT", CFG_INT, &c->port, "8080", 0, 65535,
		  "listen port (0: any free port, see the \"listening\" log line)" },
		{ "database-url", "DATABASE_URL", CFG_STR, &c->database_url,
		  "postgresql://postgres@127.0.0.1:55432/stateroom", 0, 0, "PostgreSQL connection URI" },
		{ "secret", "STATEROOM_SECRET", CFG_STR, &c->secret, NULL, 0, 0,
		  "token key shared with the session servers (required, 32 bytes or more)" },
		{ "scheduler", "STATEROOM_SCHEDULER", CFG_STR, &c->scheduler, "local", 0, 0,
		  "scheduler backend" },
		{ "session-servers", "STATEROOM_SESSION_SERVERS", CFG_STR, &c->session_servers, NULL, 0, 0,
		  "local: comma-separated host:port list (empty: every registered server)" },
		{ "dead-after-ms", "STATEROOM_DEAD_AFTER_MS", CFG_INT, &c->dead_after_ms, "3000",
		  100, 3600000, "a session server whose heartbeat is older is dead" },
		{ "suspect-after-ms", "STATEROOM_SUSPECT_AFTER_MS", CFG_INT, &c->suspect_after_ms, "1500",
		  100, 3600000, "a client found the room's server silent (?suspect=EPOCH): a heartbeat older "
		  "than this is dead for that room" },
		{ "suspect-quorum", "STATEROOM_SUSPECT_QUORUM", CFG_INT, &c->suspect_quorum, "2", 1, 1000,
		  "users who found a room's server silent within 10 s move the room however alive the server" },
		{ "room-capacity", "STATEROOM_ROOM_CAPACITY", CFG_INT, &c->room_capacity, "100",
		  1, 1000000, "users per room unless the create asks for fewer" },
		{ "ticket-ttl", "STATEROOM_TICKET_TTL", CFG_INT, &c->ticket_ttl, WIRE_TICKET_TTL_DEFAULT, 1,
		  WIRE_TICKET_TTL_MAX, "join ticket lifetime, seconds (session servers need the same)" },
		{ "token-ttl", "STATEROOM_TOKEN_TTL", CFG_INT, &c->token_ttl, "86400", 1, 31536000,
		  "user token lifetime, seconds" },
		{ "max-unjoined-rooms", "STATEROOM_MAX_UNJOINED_ROOMS", CFG_INT, &c->max_unjoined_rooms,
		  "3", 0, 1000000, "rooms a user may hold pinned with nobody in them; over it a create "
		  "is 429 too_many_rooms (0: no limit)" },
		{ "room-creates-per-minute", "STATEROOM_ROOM_CREATES_PER_MINUTE", CFG_INT,
		  &c->room_creates_per_minute, "10", 0, 1000000,
		  "rooms a user may create within any minute; over it 429 rate_limited (0: no limit)" },
		{ "client-dir", "STATEROOM_CLIENT_DIR", CFG_STR, &c->client_dir, STATEROOM_CLIENT_DIR, 0, 0,
		  "web client files" },
		{ "log-level", "STATEROOM_LOG_LEVEL", CFG_STR, &c->log_level, "info", 0, 0,
		  "debug, info, warn or error" },
		{ "agones-api", "STATEROOM_AGONES_API", CFG_STR, &c->agones_api, NULL, 0, 0,
		  "agones: Kubernetes API URL (default in a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)" },
		{ "agones-namespace", "STATEROOM_AGONES_NAMESPACE", CFG_STR, &c->agones_namespace, NULL,
		  0, 0, "agones: the fleet's namespace (default: the service account's, else default)" },
		{ "agones-fleet", "STATEROOM_AGONES_FLEET", CFG_STR, &c->agones_fleet, "stateroom-session",
		  0, 0, "agones: the Fleet of session servers" },
		{ "agones-token-file", "STATEROOM_AGONES_TOKEN_FILE", CFG_STR, &c->agones_token_file,
		  "/var/run/secrets/kubernetes.io/serviceaccount/token", 0, 0,
		  "agones: bearer token, re-read for every call (empty: none, for kubectl proxy)" },
		{ "agones-ca-file", "STATEROOM_AGONES_CA_FILE", CFG_STR, &c->agones_ca_file, NULL, 0, 0,
		  "agones: CA bundle for the API (default: the service account's ca.crt if present)" },
		{ "session-binary", "STATEROOM_SESSION_BINARY", CFG_STR, &c->session_binary,
		  STATEROOM_SESSION_BINARY, 0, 0, "process: the stateroom-session it starts" },
		{ "session-host", "STATEROOM_SESSION_HOST", CFG_STR, &c->session_host, "127.0.0.1", 0, 0,
		  "process: address the session servers it starts listen on and advertise" },
		{ "session-public", "STATEROOM_SESSION_PUBLIC", CFG_STR, &c->session_public, NULL, 0, 0,
		  "the host clients are sent to for a session server, from its address: {host} and {port} filled in (e.g. chat.example.com/ws/{port} behind a TLS proxy; unset: the address)" },
		{ "max-servers", "STATEROOM_MAX_SERVERS", CFG_INT, &c->max_servers, "4", 1, 1000,
		  "process: live session servers at most (counting every registered one)" },
		{ "min-servers", "STATEROOM_MIN_SERVERS", CFG_INT, &c->min_servers, "0", 0, 1000,
		  "process: session servers of its own it keeps running, replacing any that exits or drains" },
		{ "server-idle-ms", "STATEROOM_SERVER_IDLE_MS", CFG_INT, &c->server_idle_ms, "60000", 100,
		  86400000, "process: a server it started beyond --min-servers that hosted no room this long is stopped" },
		{ "spawn-wait-ms", "STATEROOM_SPAWN_WAIT_MS", CFG_INT, &c->spawn_wait_ms, "10000", 100,
		  600000, "process: how long a request waits for a new server before 503 no_capacity" },
		{ "admin-token", "STATEROOM_ADMIN_TOKEN", CFG_STR, &c->admin_token, NULL, 0, 0,
		  "operator token for /api/admin/* (unset: those routes answer 404)" },
		{ "trusted-proxies", "STATEROOM_TRUSTED_PROXIES", CFG_STR, &c->trusted_proxies, NULL, 0, 0,
		  "reverse proxies whose X-Forwarded-For names the client: comma-separated addresses and CIDR blocks (empty: the header is ignored)" },
		{ "max-conns", "BACKEND_MAX_CONNS", CFG_INT, &c->max_conns, "10000", 1, 1000000,
		  "open connections; past it the oldest that is not being answered is closed" },
		{ "max-conns-per-ip", "BACKEND_MAX_CONNS_PER_IP", CFG_INT, &c->max_conns_per_ip, "256", 0,
		  1000000, "open connections from one address (IPv6: one /64; trusted proxies: no bound); 0: no bound" },
		{ "header-timeout-ms", "BACKEND_HEADER_TIMEOUT_MS", CFG_INT, &c->header_timeout_ms, "10000",
		  100, 3600000, "a request (head and body) must arrive within this of its first byte" },
		{ "idle-timeout-ms", "BACKEND_IDLE_TIMEOUT_MS", CFG_INT, &c->idle_timeout_ms, "60000", 100,
		  3600000, "a kept-alive connection with no request this long is closed" },
		{ "login-failures-per-account", "STATEROOM_LOGIN_FAILURES_PER_ACCOUNT", CFG_INT,
		  &c->login_failures_per_account, "5", 0, 1000000,
		  "failed password logins for one name before each further one backs it off (0: no limit)" },
		{ "login-failures-per-ip", "STATEROOM_LOGIN_FAILURES_PER_IP", CFG_INT,
		  &c->login_failures_per_ip, "20", 0, 1000000,
		  "failed password logins from one address before each further one backs it off (0: no limit)" },
		{ "guest-logins-per-minute", "STATEROOM_GUEST_LOGINS_PER_MINUTE", CFG_INT,
		  &c->guest_logins_per_minute, "60", 0, 100000,
		  "guest logins (POST /api/login) an address may make a minute (0: no limit)" },
		{ "searches-per-minute", "STATEROOM_SEARCHES_PER_MINUTE", CFG_INT,
		  &c->searches_per_minute, "60", 0, 100000,
		  "people searches (GET /api/users?q=) a user may make a minute (0: no limit)" },
		{ "friend-requests-per-minute", "STATEROOM_FRIEND_REQUESTS_PER_MINUTE", CFG_INT,
		  &c->friend_requests_per_minute, "20", 0, 100000,
		  "friend requests a user may send a minute (0: no limit)" },
		{ "dm-starts-per-minute", "STATEROOM_DM_STARTS_PER_MINUTE", CFG_INT,
		  &c->dm_starts_per_minute, "30", 0, 100000,
		  "direct conversations (POST /api/dms) a user may start or open a minute (0: no limit)" },
		{ "files-dir", "STATEROOM_FILES_DIR", CFG_STR, &c->files_dir, "files", 0, 0,
		  "directory of the local file store (created if missing; spool/ inside it)" },
		{ "max-upload-bytes", "STATEROOM_MAX_UPLOAD_BYTES", CFG_INT, &c->max_upload_bytes,
		  "10485760", 1, 1073741824, "an uploaded file's size at most; over it 413 file_too_large" },
		{ "upload-types", "STATEROOM_UPLOAD_TYPES", CFG_STR, &c->upload_types,
		  "text/plain,image/png,image/jpeg,image/webp,image/gif,application/pdf", 0, 0,
		  "content types an upload may have (comma-separated, among these six)" },
		{ "max-image-pixels", "STATEROOM_MAX_IMAGE_PIXELS", CFG_INT, &c->max_image_pixels,
		  "50000000", 1, 1000000000, "an uploaded image's width × height at most, checked before "
		  "it is decoded; over it 422 image_too_large" },
		{ "upload-bytes-per-day", "STATEROOM_UPLOAD_BYTES_PER_DAY", CFG_INT, &c->upload_bytes_per_day,
		  "104857600", 0, 1099511627776L, "bytes a user may upload within any 24 hours; over it 429 "
		  "upload_quota (0: no limit)" },
		{ "room-files-bytes", "STATEROOM_ROOM_FILES_BYTES", CFG_INT, &c->room_files_bytes,
		  "1073741824", 0, 1099511627776L, "bytes of files a room may hold; over it 413 "
		  "room_files_full (0: no limit)" },
		{ "message-searches-per-minute", "STATEROOM_MESSAGE_SEARCHES_PER_MINUTE", CFG_INT,
		  &c->message_searches_per_minute, "30", 0, 100000,
		  "message searches (GET /api/rooms/:id/search, /api/search) a user may make a minute (0: no limit)" },
		{ "service-tokens", "STATEROOM_SERVICE_TOKENS", CFG_STR, &c->service_tokens, NULL, 0, 0,
		  "tokens of the server API (/api/server/*), comma-separated, or @FILE of them, one a line; "
		  "each 16 to 512 printable bytes (unset: those routes answer 404)" },
		{ "connect-hook-url", "STATEROOM_CONNECT_HOOK_URL", CFG_STR, &c->connect_hook_url, NULL, 0, 0,
		  "http(s) URL asked before each ticket whether the user may join (unset: no hook)" },
		{ "connect-hook-secret", "STATEROOM_CONNECT_HOOK_SECRET", CFG_STR, &c->connect_hook_secret,
		  NULL, 0, 0, "key of the hook's X-Stateroom-Signature (required with the URL, 16 bytes or more)" },
		{ "connect-hook-timeout-ms", "STATEROOM_CONNECT_HOOK_TIMEOUT_MS", CFG_INT,
		  &c->connect_hook_timeout_ms, "1000", 10, 60000, "the hook must answer within this" },
		{ "connect-hook-fail", "STATEROOM_CONNECT_HOOK_FAIL", CFG_STR, &c->connect_hook_fail, "closed",
		  0, 0, "a hook that fails (no answer in time, unreachable, a status but 2xx and 403): "
		  "closed refuses the ticket (503 hook_unavailable), open issues it" },
		{ "webhook-url", "STATEROOM_WEBHOOK_URL", CFG_STR, &c->webhook_urls, NULL, 0, 0,
		  "where room events are POSTed: comma-separated http(s) URLs (empty: no webhooks)" },
		{ "webhook-secret", "STATEROOM_WEBHOOK_SECRET", CFG_STR, &c->webhook_secret, NULL, 0, 0,
		  "HMAC-SHA256 key of X-Stateroom-Signature (required with --webhook-url, 16 bytes or more)" },
		{ "webhook-events", "STATEROOM_WEBHOOK_EVENTS", CFG_STR, &c->webhook_events,
		  "created,joined,left,unloaded,record", 0, 0,
		  "events sent: created, joined, left, unloaded, record (every kind) or record:KIND, comma-separated" },
		{ "webhook-max-attempts", "STATEROOM_WEBHOOK_MAX_ATTEMPTS", CFG_INT,
		  &c->webhook_max_attempts, "12", 1, 1000,
		  "attempts at an event before it goes to the dead letters" },
		{ "webhook-timeout-ms", "STATEROOM_WEBHOOK_TIMEOUT_MS", CFG_INT, &c->webhook_timeout_ms,
		  "10000", 100, 600000, "one attempt: a receiver slower than this has failed it" },
		{ "webhook-retry-base-ms", "STATEROOM_WEBHOOK_RETRY_BASE_MS", CFG_INT,
		  &c->webhook_retry_base_ms, "1000", 10, 86400000,
		  "wait after the first failed attempt, doubled after each further one (with jitter)" },
		{ "webhook-retry-max-ms", "STATEROOM_WEBHOOK_RETRY_MAX_MS", CFG_INT,
		  &c->webhook_retry_max_ms, "300000", 10, 86400000, "the wait between attempts at most" },
		{ "webhook-poll-ms", "STATEROOM_WEBHOOK_POLL_MS", CFG_INT, &c->webhook_poll_ms, "5000",
		  100, 3600000, "the outbox is read at least this often (NOTIFY wakes it sooner)" },
		{ "webhook-max-inflight", "STATEROOM_WEBHOOK_MAX_INFLIGHT", CFG_INT,
		  &c->webhook_max_inflight, "64", 1, 10000, "deliveries at once (one per room and URL)" },
		{ "stun-urls", "STATEROOM_STUN_URLS", CFG_STR, &c->stun_urls, NULL, 0, 0,
		  "STUN servers GET /api/ice gives browsers for calls: comma-separated stun: or stuns: URLs" },
		{ "turn-urls", "STATEROOM_TURN_URLS", CFG_STR, &c->turn_urls, NULL, 0, 0,
		  "TURN servers GET /api/ice gives, with credentials: comma-separated turn: or turns: URLs "
		  "(needs --turn-secret)" },
		{ "turn-secret", "STATEROOM_TURN_SECRET", CFG_STR, &c->turn_secret, NULL, 0, 0,
		  "the TURN server's static-auth-secret (coturn --use-auth-secret), 16 bytes or more" },
		{ "turn-ttl-s", "STATEROOM_TURN_TTL_S", CFG_INT, &c->turn_ttl_s, "86400", 60, 2592000,
		  "how long a TURN credential of GET /api/ice is valid" },
		{ "reminder-poll-ms", "STATEROOM_REMINDER_POLL_MS", CFG_INT, &c->reminder_poll_ms, "30000",
		  100, 3600000, "due reminders are looked for at least this often (a new one wakes it sooner)" },
		{ "notify-sweep-ms", "STATEROOM_NOTIFY_SWEEP_MS", CFG_INT, &c->notify_sweep_ms, "3600000",
		  1000, 86400000, "how often sent notifications (after 7 days) and fired reminders (after 30) are deleted" },
		{ "vapid-public-key", "STATEROOM_VAPID_PUBLIC_KEY", CFG_STR, &c->vapid_public_key, NULL, 0, 0,
		  "Web Push: the server's VAPID public key, a P-256 point (65 bytes) in base64url "
		  "(with --vapid-private-key; unset: no push, GET /api/push/key is 404)" },
		{ "vapid-private-key", "STATEROOM_VAPID_PRIVATE_KEY", CFG_STR, &c->vapid_private_key, NULL,
		  0, 0, "Web Push: its private key, 32 bytes in base64url (scripts/run makes a pair)" },
		{ "vapid-subject", "STATEROOM_VAPID_SUBJECT", CFG_STR, &c->vapid_subject, NULL, 0, 0,
		  "Web Push: a mailto: or https: URL where push services can reach the operator "
		  "(required with the keys)" },
		{ "push-grace-ms", "STATEROOM_PUSH_GRACE_MS", CFG_INT, &c->push_grace_ms, "5000", 0,
		  3600000, "a notification waits this long before it is pushed (read meanwhile: none)" },
		{ "push-timeout-ms", "STATEROOM_PUSH_TIMEOUT_MS", CFG_INT, &c->push_timeout_ms, "10000",
		  100, 120000, "one request to a push service: slower has failed it (retried)" },
		{ "push-max-inflight", "STATEROOM_PUSH_MAX_INFLIGHT", CFG_INT, &c->push_max_inflight, "64",
		  1, 10000, "requests to push services at once, over every user" },
		{ "push-max-attempts", "STATEROOM_PUSH_MAX_ATTEMPTS", CFG_INT, &c->push_max_attempts, "8",
		  1, 100, "attempts at a notification before it is given up ('failed')" },
		{ "push-retry-base-ms", "STATEROOM_PUSH_RETRY_BASE_MS", CFG_INT, &c->push_retry_base_ms,
		  "5000", 10, 86400000, "wait after a failed attempt, doubled after each further one "
		  "(with jitter; a longer Retry-After wins)" },
		{ "push-retry-max-ms", "STATEROOM_PUSH_RETRY_MAX_MS", CFG_INT, &c->push_retry_max_ms,
		  "600000", 10, 86400000, "the wait between attempts at most" },
		{ "push-ttl-s", "STATEROOM_PUSH_TTL_S", CFG_INT, &c->push_ttl_s, "86400", 0, 2419200,
		  "how long a push service keeps a notification for a browser that is offline" },
		{ "push-allow-http", "STATEROOM_PUSH_ALLOW_HTTP", CFG_BOOL, &c->push_allow_http, "false", 0,
		  0, "accept http:// endpoints and addresses (a local push service for tests; never in "
		  "production: anyone could make the backend POST to its network)" },
		{ "smtp-url", "STATEROOM_SMTP_URL", CFG_STR, &c->smtp_url, NULL, 0, 0,
		  "mail relay: smtp://HOST[:PORT] (STARTTLS when offered, required with --smtp-user) or "
		  "smtps://HOST[:PORT] (unset: no email; PUT /api/me/email is 503 email_disabled)" },
		{ "smtp-from", "STATEROOM_SMTP_FROM", CFG_STR, &c->smtp_from, NULL, 0, 0,
		  "the address mail comes from (required with --smtp-url)" },
		{ "smtp-user", "STATEROOM_SMTP_USER", CFG_STR, &c->smtp_user, NULL, 0, 0,
		  "user name at the relay (unset: no AUTH)" },
		{ "smtp-password", "STATEROOM_SMTP_PASSWORD", CFG_STR, &c->smtp_password, NULL, 0, 0,
		  "password at the relay (prefer the environment variable to the flag)" },
		{ "public-url", "STATEROOM_PUBLIC_URL", CFG_STR, &c->public_url, NULL, 0, 0,
		  "the http(s) address users open the web client at: links in mail start with it "
		  "(required with --smtp-url)" },
		{ "email-timeout-ms", "STATEROOM_EMAIL_TIMEOUT_MS", CFG_INT, &c->email_timeout_ms,
		  "30000", 100, 600000, "one mail: a relay slower than this has failed it" },
		{ "email-poll-ms", "STATEROOM_EMAIL_POLL_MS", CFG_INT, &c->email_poll_ms, "30000",
		  100, 3600000, "digests due are looked for at least this often (NOTIFY and the due "
		  "time wake it sooner)" },
		{ "email-retry-base-ms", "STATEROOM_EMAIL_RETRY_BASE_MS", CFG_INT,
		  &c->email_retry_base_ms, "60000", 10, 86400000,
		  "wait after a digest the relay did not take, doubled after each further failure "
		  "(with jitter)" },
		{ "email-retry-max-ms", "STATEROOM_EMAIL_RETRY_MAX_MS", CFG_INT, &c->email_retry_max_ms,
		  "3600000", 10, 86400000, "the wait between attempts at a digest at most" },
		{ "email-max-inflight", "STATEROOM_EMAIL_MAX_INFLIGHT", CFG_INT, &c->email_max_inflight,
		  "8", 1, 1000, "digests being sent at once" },
		{ "email-test-delay-ms", "STATEROOM_EMAIL_TEST_DELAY_MS", CFG_INT,
		  &c->email_test_delay_ms, "0", 0, 86400000,
		  "for tests: every user's digest delay, in ms, instead of their own (60 s at least); "
		  "0: off" },
	};
	char err[256];
	int rc;

	rc = cfg_parse(opts, sizeof opts / sizeof opts[0], argc, argv,
		       "Usage: stateroom-backend [OPTION]...\n"
		       "The Stateroom HTTP API and web client.", err, sizeof err);
	if (rc == CFG_HELP)
		return 1;
	if (rc < 0) {
		fprintf(stderr, "stateroom-backend: %s (try --help)\n", err);
		return -1;
	}
	return 0;
}

/* Sent with every answer, the web client's and the API's alike (a JSON answer
 * opened as a page gets the same policy). The CSP allows scripts, styles and
 * workers from this origin only (no inline code, no eval); WebSockets to the
 * session servers, which live on other ports or hosts (ws: wss:); images and
 * media the client makes itself (blob:, and data: images); camera,
 * microphone and screen capture for this origin's calls. HSTS is the TLS
 * proxy's to send (docs/deploy.md): the backend speaks plain HTTP. */
static const char main_security_headers[] =
	"Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
	"img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; worker-src 'self'; "
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"Referrer-Policy: no-referrer\r\n"
	"Permissions-Policy: camera=(self), microphone=(self), display-capture=(self), "
	"geolocation=(), payment=(), usb=()\r\n"
	"X-Frame-Options: DENY\r\n";

/* The senders made before the loop runs (each NULL-safe, so that any
 * not made yet is skipped), on a start that fails. */
static void main_close_senders(struct backend *be)
{
	wh_close(be->wh);
	push_close(be->push);
	em_close(be->em);
}

int main(int argc, char **argv)
{
	struct main_ctx m;
	struct backend *be = &m.be;
	enum log_level level;
	struct httpd_config hc;
	struct db_config dc;
	char err[160];
	int rc;

	memset(&m, 0, sizeof m);
	rc = main_options(&be->cfg, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (log_parse_level(be->cfg.log_level, &level) < 0) {
		fprintf(stderr, "stateroom-backend: --log-level: expected debug, info, warn or error\n");
		return 2;
	}
	log_init("stateroom-backend", level);
	if (!be->cfg.secret || strlen(be->cfg.secret) < MAIN_SECRET_MIN) {
		fprintf(stderr, "stateroom-backend: STATEROOM_SECRET (or --secret) is required and must be "
			"at least %d bytes\n", MAIN_SECRET_MIN);
		return 2;
	}
	if (be->cfg.min_servers > be->cfg.max_servers) {
		fprintf(stderr, "stateroom-backend: --min-servers (%ld) must not exceed --max-servers (%ld)\n",
			be->cfg.min_servers, be->cfg.max_servers);
		return 2;
	}
	be->sched = sched_find(be->cfg.scheduler);
	if (!be->sched) {
		fprintf(stderr, "stateroom-backend: --scheduler: unknown backend \"%s\" (known: %s)\n",
			be->cfg.scheduler, sched_names());
		return 2;
	}
	if (!rooms_public_valid(be->cfg.session_public, err, sizeof err)) {
		fprintf(stderr, "stateroom-backend: --session-public: %s\n", err);
		return 2;
	}
	if (ca_trust_parse(be->cfg.trusted_proxies, &be->trust, err, sizeof err) < 0) {
		fprintf(stderr, "stateroom-backend: --trusted-proxies: %s\n", err);
		return 2;
	}
	if (strcmp(be->cfg.connect_hook_fail, "open") != 0 &&
	    strcmp(be->cfg.connect_hook_fail, "closed") != 0) {
		fprintf(stderr, "stateroom-backend: --connect-hook-fail: expected open or closed\n");
		return 2;
	}
	be->hook_fail_open = strcmp(be->cfg.connect_hook_fail, "open") == 0;
	if (be->cfg.connect_hook_url && be->cfg.connect_hook_url[0] &&
	    (strncmp(be->cfg.connect_hook_url, "http://", 7) != 0 &&
	     strncmp(be->cfg.connect_hook_url, "https://", 8) != 0)) {
		fprintf(stderr, "stateroom-backend: --connect-hook-url: expected an http:// or https:// URL\n");
		return 2;
	}
	if (be->cfg.connect_hook_url && be->cfg.connect_hook_url[0] &&
	    (!be->cfg.connect_hook_secret || strlen(be->cfg.connect_hook_secret) < 16)) {
		fprintf(stderr, "stateroom-backend: --connect-hook-url needs --connect-hook-secret "
			"(STATEROOM_CONNECT_HOOK_SECRET) of 16 bytes or more\n");
		return 2;
	}
	if (!ice_urls_valid(be->cfg.stun_urls, false) || !ice_urls_valid(be->cfg.turn_urls, true)) {
		fprintf(stderr, "stateroom-backend: --stun-urls takes stun: or stuns: URLs and --turn-urls "
			"turn: or turns: URLs, comma-separated\n");
		return 2;
	}
	if (be->cfg.turn_urls && be->cfg.turn_urls[0] &&
	    (!be->cfg.turn_secret || strlen(be->cfg.turn_secret) < 16)) {
		fprintf(stderr, "stateroom-backend: --turn-urls needs --turn-secret (STATEROOM_TURN_SECRET) "
			"of 16 bytes or more\n");
		return 2;
	}
	if (st_parse(be->cfg.service_tokens, &be->service_tokens, err, sizeof err) < 0) {
		fprintf(stderr, "stateroom-backend: --service-tokens: %s\n", err);
		return 2;
	}

	if (sniff_parse_list(be->cfg.upload_types, &be->upload_types) < 0) {
		fprintf(stderr, "stateroom-backend: --upload-types: expected a comma-separated list of "
			"text/plain, image/png, image/jpeg, image/webp, image/gif, application/pdf\n");
		return 2;
	}
	if (wh_new(&(struct wh_config){
			.urls = be->cfg.webhook_urls, .secret = be->cfg.webhook_secret,
			.events = be->cfg.webhook_events, .max_attempts = be->cfg.webhook_max_attempts,
			.timeout_ms = be->cfg.webhook_timeout_ms,
			.retry_base_ms = be->cfg.webhook_retry_base_ms,
			.retry_max_ms = be->cfg.webhook_retry_max_ms, .poll_ms = be->cfg.webhook_poll_ms,
			.max_inflight = be->cfg.webhook_max_inflight,
		   }, &be->wh, err, sizeof err) < 0) {
		fprintf(stderr, "stateroom-backend: %s\n", err);
		return 2;
	}
	if (push_new(&(struct push_config){
			.public_key = be->cfg.vapid_public_key, .private_key = be->cfg.vapid_private_key,
			.subject = be->cfg.vapid_subject, .allow_http = be->cfg.push_allow_http,
			.grace_ms = be->cfg.push_grace_ms, .timeout_ms = be->cfg.push_timeout_ms,
			.max_inflight = be->cfg.push_max_inflight,
			.max_attempts = be->cfg.push_max_attempts,
			.retry_base_ms = be->cfg.push_retry_base_ms,
			.retry_max_ms = be->cfg.push_retry_max_ms, .ttl_s = be->cfg.push_ttl_s,
		     }, &be->push, err, sizeof err) < 0) {
		fprintf(stderr, "stateroom-backend: %s\n", err);
		wh_close(be->wh);
		return 2;
	}
	if (em_new(&(struct em_config){
			.smtp_url = be->cfg.smtp_url, .from = be->cfg.smtp_from,
			.user = be->cfg.smtp_user, .password = be->cfg.smtp_password,
			.public_url = be->cfg.public_url, .timeout_ms = be->cfg.email_timeout_ms,
			.poll_ms = be->cfg.email_poll_ms, .retry_base_ms = be->cfg.email_retry_base_ms,
			.retry_max_ms = be->cfg.email_retry_max_ms,
			.max_inflight = be->cfg.email_max_inflight,
			.test_delay_ms = be->cfg.email_test_delay_ms,
		   }, &be->em, err, sizeof err) < 0) {
		fprintf(stderr, "stateroom-backend: %s\n", err);
		main_close_senders(be);
		return 2;
	}
	rc = files_open(be->cfg.files_dir, &be->store);
	if (rc < 0) {
		fprintf(stderr, "stateroom-backend: --files-dir %s: %s\n", be->cfg.files_dir, strerror(-rc));
		main_close_senders(be);
		return 2;
	}
	if (thumbs_init(argv[0]) < 0) {
		fprintf(stderr, "stateroom-backend: libvips did not start\n");
		files_close(be->store);
		main_close_senders(be);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	be->loop = uv_default_loop();

	rc = sf_load(be->cfg.client_dir, &be->files);
	if (rc < 0)
		log_write(LOG_WARN, "web client not served", "{s:s,s:s}", "dir", be->cfg.client_dir,
			  "error", uv_strerror(rc));
	else if (!sf_lookup(be->files, "/", 1))
		log_write(LOG_WARN, "web client has no index.html", "{s:s}", "dir", be->cfg.client_dir);

	if (pw_new(be->loop, MAIN_PW_INFLIGHT, MAIN_PW_WAITING, MAIN_PW_PER_CLIENT, &be->pw) < 0) {
		log_write(LOG_ERROR, "password hashing unavailable (libsodium)", NULL);
		goto out_files;
	}
	if (thr_new(&(struct thr_config){
			.account_failures = (unsigned)be->cfg.login_failures_per_account,
			.ip_failures = (unsigned)be->cfg.login_failures_per_ip,
			.guest_per_minute = (unsigned)be->cfg.guest_logins_per_minute,
			.action_per_minute = {
				[THR_SEARCH] = (unsigned)be->cfg.searches_per_minute,
				[THR_FRIEND_REQUEST] = (unsigned)be->cfg.friend_requests_per_minute,
				[THR_DM_START] = (unsigned)be->cfg.dm_starts_per_minute,
				[THR_MESSAGE_SEARCH] = (unsigned)be->cfg.message_searches_per_minute,
			},
		    }, &be->thr) < 0) {
		log_write(LOG_ERROR, "login limits: out of memory", NULL);
		goto out_files;
	}

	memset(&dc, 0, sizeof dc);
	dc.conninfo = be->cfg.database_url;
	rc = db_open(be->loop, &dc, &be->db);
	if (rc < 0) {
		log_write(LOG_ERROR, "database", "{s:s}", "error", uv_strerror(rc));
		goto out_files;
	}

	if (hc_new(be->loop, &be->hc) < 0) {
		log_write(LOG_ERROR, "HTTP client: out of memory", NULL);
		goto out_db;
	}
	be->sched_env.loop = be->loop;
	be->sched_env.db = be->db;
	be->sched_env.servers = be->cfg.session_servers;
	be->sched_env.dead_after_ms = be->cfg.dead_after_ms;
	be->sched_env.agones.api = be->cfg.agones_api;
	be->sched_env.agones.ns = be->cfg.agones_namespace;
	be->sched_env.agones.fleet = be->cfg.agones_fleet;
	be->sched_env.agones.token_file = be->cfg.agones_token_file;
	be->sched_env.agones.ca_file = be->cfg.agones_ca_file;
	be->sched_env.session_binary = be->cfg.session_binary;
	be->sched_env.session_host = be->cfg.session_host;
	be->sched_env.database_url = be->cfg.database_url;
	be->sched_env.secret = be->cfg.secret;
	be->sched_env.ticket_ttl = be->cfg.ticket_ttl;
	be->sched_env.max_servers = (int)be->cfg.max_servers;
	be->sched_env.min_servers = (int)be->cfg.min_servers;
	be->sched_env.server_idle_ms = be->cfg.server_idle_ms;
	be->sched_env.spawn_wait_ms = be->cfg.spawn_wait_ms;
	rc = be->sched->create(&be->sched_env, &be->sched_state);
	if (rc < 0) {
		fprintf(stderr, "stateroom-backend: scheduler %s: %s (check --session-servers)\n",
			be->sched->name, uv_strerror(rc));
		rc = -2;
		goto out_db;
	}

	memset(&hc, 0, sizeof hc);
	hc.host = be->cfg.host;
	hc.port = (int)be->cfg.port;
	hc.max_conns = (unsigned)be->cfg.max_conns;
	/* No backend connection is ever upgraded: at the cap, the oldest that
	 * is not being answered makes way, as on the session server. */
	hc.max_pending = hc.max_conns;
	hc.max_conns_per_ip = (unsigned)be->cfg.max_conns_per_ip;
	hc.ip_exempt = main_ip_exempt;
	hc.header_timeout_ms = (uint64_t)be->cfg.header_timeout_ms;
	hc.idle_timeout_ms = (uint64_t)be->cfg.idle_timeout_ms;
	hc.on_request = be_on_request;
	hc.on_head = be_on_head;
	hc.headers = main_security_headers;
	hc.ud = be;
	rc = httpd_start(be->loop, &hc, &be->httpd);
	if (rc < 0) {
		log_write(LOG_ERROR, "cannot listen", "{s:s,s:i,s:s}", "host", be->cfg.host,
			  "port", (int)be->cfg.port, "error", uv_strerror(rc));
		goto out_sched;
	}

	uv_timer_init(be->loop, &m.timer);
	uv_signal_init(be->loop, &m.sigint);
	uv_signal_init(be->loop, &m.sigterm);
	m.sigint.data = m.sigterm.data = &m;
	uv_signal_start(&m.sigint, main_on_signal, SIGINT);
	uv_signal_start(&m.sigterm, main_on_signal, SIGTERM);

	log_write(LOG_INFO, "listening", "{s:s,s:i,s:s,s:s?,s:i}", "host", be->cfg.host,
		  "port", httpd_port(be->httpd), "scheduler", be->sched->name,
		  "session_servers", be->cfg.session_servers, "client_files", (int)sf_count(be->files));
	main_migrate(&m);

	uv_run(be->loop, UV_RUN_DEFAULT);
	uv_loop_close(be->loop);
	pw_free(be->pw);
	thr_free(be->thr);
	ca_trust_free(be->trust);
	st_free(be->service_tokens);
	sf_free(be->files);
	files_close(be->store);
	thumbs_shutdown();
	log_write(LOG_INFO, "stopped", NULL);
	return m.exit_code;

out_sched:
	be->sched->destroy(be->sched_state);
out_db:
	/* db_close finishes from the loop; run it so nothing leaks. */
	hc_close(be->hc, NULL, NULL);
	db_close(be->db, NULL, NULL);
	uv_run(be->loop, UV_RUN_DEFAULT);
	uv_loop_close(be->loop);
out_files:
	main_close_senders(be);
	pw_free(be->pw);
	thr_free(be->thr);
	ca_trust_free(be->trust);
	st_free(be->service_tokens);
	sf_free(be->files);
	files_close(be->store);
	thumbs_shutdown();
	return rc == -2 ? 2 : 1;
}
