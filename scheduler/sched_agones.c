/* The `agones` scheduler: session servers are Agones GameServers of one
 * Fleet, and a room is placed by a GameServerAllocation through the
 * Kubernetes API (docs/deploy.md, "The Agones API, as this code uses it").
 *
 * place: allocate with the high-density pattern (fill Allocated servers
 * that have a free `rooms` slot first, then a Ready one; count the room in
 * the `rooms` counter and add its id to the `rooms` list), then record the
 * placement in PostgreSQL exactly as `local` does (rooms.server_id, epoch 1,
 * and the server's registry row, created if the server has not registered
 * yet). So every later look-up is a database read, never an allocation.
 *
 * locate: from PostgreSQL. A room on a live server is answered at once. A
 * room on a draining server is placed anew. A room whose server stopped
 * heartbeating is placed anew only once the Kubernetes API says that
 * GameServer is gone. A room the database has no server for is first
 * looked for in the servers' `rooms` lists (an allocation with
 * containsValue, the only way to ask Agones), then placed anew. Every new
 * placement bumps the epoch, compare-and-set on the old one.
 *
 * An inbox (a room of kind 'inbox', which takes no room slot) is never
 * allocated as a room: it goes to the allocated GameServer with the fewest
 * inboxes under its bound, chosen in PostgreSQL among the servers this
 * scheduler had allocated (stateroom_agones_pin_inbox, migration 016), and
 * only when none has inbox room is a Ready GameServer allocated for it,
 * with no counter or list action, so that the fleet's `rooms` counters
 * count chat rooms only. One such allocation at a time per replica: the
 * inboxes that find no room meanwhile wait for it, then look again.
 *
 * Allocation calls are retried with backoff on Contention, 5xx, 429 and
 * transport errors; 401 and 403 are configuration errors and fail at once
 * with a log line that says what to fix. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "http_client.h"
#include "log.h"
#include "sched_backends.h"
#include "scheduler.h"

#define AG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount/"
#define AG_DEFAULT_TOKEN_FILE AG_SA_DIR "token"
#define AG_DEFAULT_CA_FILE AG_SA_DIR "ca.crt"
#define AG_NAMESPACE_FILE AG_SA_DIR "namespace"
#define AG_DEFAULT_FLEET "stateroom-session"
#define AG_TRIES 5               /* allocation attempts before giving up */
#define AG_BACKOFF_MS 100        /* first wait; doubles */
#define AG_TIMEOUT_MS 5000       /* one API call */
#define AG_TOKEN_MAX 16384
#define AG_DEFAULT_CAPACITY 10   /* rooms, when the answer does not say */

struct agones {
	const struct sched_env *env;
	struct hc *http;
	char *api;                  /* no trailing slash */
	char *ns, *fleet;
	char *token_file;           /* NULL: no token (kubectl proxy) */
	char *ca_file;              /* NULL: the system's CAs */
	char *alloc_url;
	char dead_ms[24];
	struct ag_op *moving;       /* locates re-placing a room now, one per room */
	struct ag_op *inbox_alloc;  /* the inbox allocating a GameServer now, or NULL */
	struct ag_op *inbox_waiters;/* inboxes waiting for it to end */
	unsigned inbox_allocs;      /* inbox allocations ended so far */
};

/* NEW: a room, counted; FIND: who lists the room; INBOX: a Ready server for
 * inboxes, counting nothing. */
enum ag_alloc { AG_ALLOC_NEW, AG_ALLOC_FIND, AG_ALLOC_INBOX };

struct ag_op {                  /* one place or locate; freed in its timer's close callback */
	struct agones *a;
	uv_timer_t timer;           /* backoff between allocation attempts */
	sched_cb cb;
	void *arg;
	bool is_place;
	enum ag_alloc kind;
	int tries;
	bool retried_lookup;        /* locate: the epoch moved under us once already */
	bool inbox;                 /* locate: the room is an inbox */
	unsigned inbox_allocs;      /* a->inbox_allocs when the inbox pick was asked */
	struct ag_op *next_inbox_waiter;
	char room[33];
	char *owner, *owner_name, *name, *visibility;
	char app[WIRE_APP_NAME_MAX + 1];  /* place: rooms.app (the fleet's servers host them all) */
	int capacity;
	bool ephemeral;
	int64_t epoch;              /* locate: the room's epoch when read */
	struct sched_placement old; /* locate: the pin we read */
	struct sched_placement got; /* the allocated server */
	long server_capacity;
	bool moving;                /* in a->moving */
	struct ag_op *next_moving;
	struct ag_op *followers;    /* later locates of the same room, answered with ours */
	struct ag_op *next_follower;
};

static void ag_allocate(struct ag_op *op);
static void ag_lookup(struct ag_op *op);
static void ag_inbox_pin(struct ag_op *op);

/* ---- helpers ------------------------------------------------------------ */

/* Kubernetes names (RFC 1123 subdomains): safe in a URL path and a label. */
static bool ag_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static char *ag_strdup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Reads a small text file without its trailing whitespace. Returns a new
 * string, or NULL (missing, unreadable, too large, or holding control
 * characters, which must never reach a header). */
static char *ag_read_small(const char *path)
{
	char buf[AG_TOKEN_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == sizeof buf - 1)
		return NULL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
			   buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return NULL;
	return len > 0 ? strdup(buf) : NULL;
}

static void ag_op_closed(uv_handle_t *h)
{
	struct ag_op *op = container_of((uv_timer_t *)h, struct ag_op, timer);

	free(op->owner);
	free(op->owner_name);
	free(op->name);
	free(op->visibility);
	free(op);
}

/* Answers the caller, and the locates that waited on this one, and
 * releases the operation. */
static void ag_done(struct ag_op *op, enum sched_result err, const struct sched_placement *p)
{
	struct sched_placement named;
	struct ag_op *f, *next;

	if (op->moving) {
		struct ag_op **pp = &op->a->moving;

		while (*pp != op)
			pp = &(*pp)->next_moving;
		*pp = op->next_moving;
		op->moving = false;
	}
	if (err == SCHED_OK) {
		named = *p;
		named.name = op->name;
		p = &named;
	}
	op->cb(err, err == SCHED_OK ? p : NULL, op->arg);
	for (f = op->followers; f; f = next) {
		next = f->next_follower;
		ag_done(f, err, p);
	}
	op->followers = NULL;
	if (op->a->inbox_alloc == op) {
		/* The inboxes that waited look again (the new server has room),
		 * or share the failure rather than each asking Agones in turn. */
		struct ag_op *w = op->a->inbox_waiters;

		op->a->inbox_alloc = NULL;
		op->a->inbox_waiters = NULL;
		op->a->inbox_allocs++;
		for (; w; w = next) {
			next = w->next_inbox_waiter;
			if (err == SCHED_OK)
				ag_inbox_pin(w);
			else
				ag_done(w, err, NULL);
		}
	}
	uv_close((uv_handle_t *)&op->timer, ag_op_closed);
}

/* A room whose pin is gone, draining or dead is placed anew: an inbox by
 * ag_inbox_pin, any other room by an allocation that counts it. */
static void ag_place_anew(struct ag_op *op)
{
	if (op->inbox) {
		ag_inbox_pin(op);
		return;
	}
	op->kind = AG_ALLOC_NEW;
	ag_allocate(op);
}

/* Many clients of a room whose server died look it up at the same moment:
 * one re-placement (one allocation) answers them all. Returns true when op
 * now waits on another locate of the same room. */
static bool ag_follow(struct ag_op *op)
{
	struct ag_op *lead;

	if (op->moving)
		return false;
	for (lead = op->a->moving; lead; lead = lead->next_moving) {
		if (strcmp(lead->room, op->room) == 0) {
			op->next_follower = lead->followers;
			lead->followers = op;
			return true;
		}
	}
	op->moving = true;
	op->next_moving = op->a->moving;
	op->a->moving = op;
	return false;
}

/* One API call with the current token (re-read every time: projected
 * service-account tokens rotate). */
static int ag_call(struct agones *a, const char *method, const char *url, const char *body,
		   hc_done_fn done, void *arg)
{
	static const char *const headers[] = {
		"Content-Type: application/json", "Accept: application/json", NULL
	};
	struct hc_request req = {
		.method = method,
		.url = url,
		.headers = body ? headers : headers + 1,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.ca_file = a->ca_file,
		.timeout_ms = AG_TIMEOUT_MS,
	};
	char *token = NULL;
	int rc;

	if (a->token_file) {
		token = ag_read_small(a->token_file);
		if (!token)
			log_write(LOG_WARN, "agones: cannot read the service-account token, calling without one",
				  "{s:s}", "token_file", a->token_file);
	}
	req.bearer = token;
	rc = hc_request(a->http, &req, done, arg);
	free(token);
	return rc;
}

/* Logs a Kubernetes error answer (a Status object when it parses). */
static void ag_log_status(enum log_level level, const char *what, const struct hc_response *res,
			  const char *hint)
{
	json_t *j = json_loads(res->body, 0, NULL);
	const char *reason = json_string_value(json_object_get(j, "reason"));
	const char *message = json_string_value(json_object_get(j, "message"));

	log_write(level, what, "{s:i,s:s,s:s,s:s?}", "status", (int)res->status,
		  "reason", reason ? reason : "(none)", "message", message ? message : res->body,
		  "hint", hint);
	json_decref(j);
}

/* ---- PostgreSQL ----------------------------------------------------------- */

/* Both create or correct the allocated server's registry row (the address
 * from the allocation wins: the server itself only knows its pod's address;
 * allocated, so that inboxes may go there) and pin the room there. */
static const char ag_sql_place[] =
	"WITH srv AS (INSERT INTO session_servers (id, address, capacity, allocated)"
	" VALUES ($6, $7, $8::integer, true)"
	" ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, allocated = true RETURNING id)"
	" INSERT INTO rooms (id, owner, owner_name, name, capacity, visibility, persistent, server_id,"
	"                    epoch, pinned_at, app)"
	" SELECT $1, $2, nullif($10, $2), $3, $4::integer, $5, NOT $9::boolean, srv.id, 1, now(), $11"
	" FROM srv"
	" ON CONFLICT (id) DO NOTHING RETURNING epoch";

/* Compare-and-set on the epoch read by the look-up; also answers the
 * server's boot (NULL while it has not registered) for the ticket. */
static const char ag_sql_repin[] =
	"WITH srv AS (INSERT INTO session_servers (id, address, capacity, allocated)"
	" VALUES ($3, $4, $5::integer, true)"
	" ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, allocated = true"
	" RETURNING id, boot)"
	" UPDATE rooms SET server_id = srv.id, epoch = rooms.epoch + 1, pinned_at = now()"
	" FROM srv WHERE rooms.id = $1 AND rooms.epoch = $2::bigint"
	" RETURNING rooms.epoch, srv.boot";

/* The room, its pin and whether that server is live; a live pin is touched
 * (pinned_at) as by `local`, so the server's sweep keeps it. */
static const char ag_sql_lookup[] =
	"WITH cur AS (SELECT r.id, r.server_id, s.address, r.epoch, s.state, r.name, s.boot, r.kind,"
	" coalesce(s.state = 'up' AND s.heartbeat_at > now() - $2::bigint * interval '1 millisecond',"
	" false) AS live"
	" FROM rooms r LEFT JOIN session_servers s ON s.id = r.server_id WHERE r.id = $1),"
	" touched AS (UPDATE rooms SET pinned_at = now() FROM cur"
	" WHERE rooms.id = cur.id AND cur.live RETURNING 1)"
	" SELECT server_id, address, epoch, live, state, name, boot, kind = 'inbox' FROM cur";

static void ag_on_recorded(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct ag_op *op = arg;
	struct sched_placement p = op->got;

	if (!res) {
		log_write(LOG_WARN, "agones: recording the placement failed", "{s:s,s:s,s:s,s:s?}",
			  "room", op->room, "server", p.server_id, "error", err ? err : "",
			  "sqlstate", sqlstate);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		if (op->is_place) {
			ag_done(op, SCHED_EXISTS, NULL);
		} else if (!op->retried_lookup) {
			/* Another replica re-placed the room first: answer its pin. */
			op->retried_lookup = true;
			ag_lookup(op);
		} else {
			ag_done(op, SCHED_UNAVAIL, NULL);
		}
		return;
	}
	p.epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (!op->is_place)
		snprintf(p.boot, sizeof p.boot, "%s", PQgetvalue(res, 0, 1));
	log_write(LOG_INFO, op->is_place ? "agones: room placed" : "agones: room re-placed",
		  "{s:s,s:s,s:s,s:I}", "room", op->room, "server", p.server_id, "address", p.address,
		  "epoch", (json_int_t)p.epoch);
	ag_done(op, SCHED_OK, &p);
}

static void ag_record(struct ag_op *op)
{
	struct db *db = op->a->env->db;
	char cap[24], num[24];
	int rc;

	snprintf(cap, sizeof cap, "%ld", op->server_capacity);
	if (op->is_place) {
		const char *params[11] = { op->room, op->owner, op->name, num, op->visibility,
					   op->got.server_id, op->got.address, cap,
					   op->ephemeral ? "t" : "f", op->owner_name, op->app };

		snprintf(num, sizeof num, "%d", op->capacity);
		rc = db_query(db, ag_sql_place, 11, params, ag_on_recorded, op);
	} else {
		const char *params[5] = { op->room, num, op->got.server_id, op->got.address, cap };

		snprintf(num, sizeof num, "%lld", (long long)op->epoch);
		rc = db_query(db, ag_sql_repin, 5, params, ag_on_recorded, op);
	}
	if (rc < 0)
		ag_done(op, SCHED_UNAVAIL, NULL);
}

/* ---- the GameServer check ------------------------------------------------- */

static void ag_on_gameserver(const struct hc_response *res, void *arg)
{
	struct ag_op *op = arg;
	json_t *j;
	const char *state;

	if (res->err == 0 && res->status == 404) {
		log_write(LOG_INFO, "agones: pinned game server is gone, placing the room anew",
			  "{s:s,s:s}", "room", op->room, "server", op->old.server_id);
		ag_place_anew(op);
		return;
	}
	if (res->err != 0 || res->status != 200) {
		if (res->err != 0)
			log_write(LOG_WARN, "agones: game server check failed", "{s:s,s:s}",
				  "server", op->old.server_id, "error", res->error);
		else
			ag_log_status(LOG_ERROR, "agones: game server check refused", res,
				      res->status == 401 || res->status == 403
				      ? "the backend's Role needs get on gameservers (agones.dev)" : NULL);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	j = json_loads(res->body, 0, NULL);
	state = json_string_value(json_object_get(json_object_get(j, "status"), "state"));
	if (!state || strcmp(state, "Shutdown") == 0 || strcmp(state, "Error") == 0 ||
	    strcmp(state, "Unhealthy") == 0 || json_object_get(json_object_get(j, "metadata"),
							      "deletionTimestamp")) {
		log_write(LOG_INFO, "agones: pinned game server is going away, placing the room anew",
			  "{s:s,s:s,s:s}", "room", op->room, "server", op->old.server_id,
			  "state", state ? state : "(none)");
		json_decref(j);
		ag_place_anew(op);
		return;
	}
	/* It exists and Agones still counts it in: its heartbeat is late, not
	 * its life over; clients that cannot reach it will ask again. */
	log_write(LOG_WARN, "agones: pinned server is silent but its game server exists", "{s:s,s:s,s:s}",
		  "room", op->room, "server", op->old.server_id, "state", state);
	json_decref(j);
	ag_done(op, SCHED_OK, &op->old);
}

static void ag_check_gameserver(struct ag_op *op)
{
	struct agones *a = op->a;
	char *url;
	int rc;

	if (!ag_name_ok(op->old.server_id)) {
		/* Not a GameServer's name, so not one of ours: place anew. */
		ag_place_anew(op);
		return;
	}
	if (asprintf(&url, "%s/apis/agones.dev/v1/namespaces/%s/gameservers/%s", a->api, a->ns,
		     op->old.server_id) < 0) {
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	rc = ag_call(a, "GET", url, NULL, ag_on_gameserver, op);
	free(url);
	if (rc < 0)
		ag_done(op, SCHED_UNAVAIL, NULL);
}

/* ---- allocation ----------------------------------------------------------- */

static char *ag_alloc_body(const struct agones *a, enum ag_alloc kind, const char *room)
{
	json_t *body;
	char *s;

	if (kind == AG_ALLOC_INBOX)
		body = json_pack("{s:s,s:s,s:{s:s,s:[{s:s,s:{s:s}}]}}",
				 "apiVersion", "allocation.agones.dev/v1", "kind", "GameServerAllocation",
				 "spec", "scheduling", "Packed",
				 "selectors", "gameServerState", "Ready",
				 "matchLabels", "agones.dev/fleet", a->fleet);
	else if (kind == AG_ALLOC_FIND)
		body = json_pack("{s:s,s:s,s:{s:[{s:s,s:{s:s},s:{s:{s:s}}}]}}",
				 "apiVersion", "allocation.agones.dev/v1", "kind", "GameServerAllocation",
				 "spec", "selectors", "gameServerState", "Allocated",
				 "matchLabels", "agones.dev/fleet", a->fleet,
				 "lists", "rooms", "containsValue", room);
	else
		body = json_pack("{s:s,s:s,s:{s:s,s:[{s:s,s:s,s:s}],"
				 "s:[{s:s,s:{s:s},s:{s:{s:i}}},{s:s,s:{s:s},s:{s:{s:i}}}],"
				 "s:{s:{s:s,s:i}},s:{s:{s:[s]}}}}",
				 "apiVersion", "allocation.agones.dev/v1", "kind", "GameServerAllocation",
				 "spec",
				 "scheduling", "Packed",
				 "priorities", "type", "Counter", "key", "rooms", "order", "Ascending",
				 "selectors",
				 "gameServerState", "Allocated", "matchLabels", "agones.dev/fleet", a->fleet,
				 "counters", "rooms", "minAvailable", 1,
				 "gameServerState", "Ready", "matchLabels", "agones.dev/fleet", a->fleet,
				 "counters", "rooms", "minAvailable", 1,
				 "counters", "rooms", "action", "Increment", "amount", 1,
				 "lists", "rooms", "addValues", room);
	if (!body)
		return NULL;
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return s;
}

static void ag_on_backoff(uv_timer_t *t)
{
	ag_allocate(container_of(t, struct ag_op, timer));
}

/* Waits and tries again, or gives up after AG_TRIES attempts. */
static void ag_retry(struct ag_op *op, const char *why)
{
	uint64_t wait;
	uint32_t jitter;

	if (op->tries >= AG_TRIES) {
		log_write(LOG_ERROR, "agones: allocation failed, giving up", "{s:s,s:s,s:i}",
			  "room", op->room, "last_error", why, "tries", op->tries);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	/* Half the doubled step plus a random part of the other half, so that
	 * replicas that collided do not collide again: never rand(), which
	 * nothing seeds and so draws the same waits in every replica. */
	if (uv_random(NULL, NULL, &jitter, sizeof jitter, 0, NULL) < 0)
		jitter = (uint32_t)uv_hrtime();
	wait = (uint64_t)AG_BACKOFF_MS << (op->tries - 1);
	wait = wait / 2 + jitter % (wait / 2 + 1);
	log_write(LOG_INFO, "agones: allocation retry", "{s:s,s:s,s:i,s:I}", "room", op->room,
		  "reason", why, "try", op->tries, "wait_ms", (json_int_t)wait);
	if (uv_timer_start(&op->timer, ag_on_backoff, wait, 0) < 0)
		ag_done(op, SCHED_UNAVAIL, NULL);
}

/* The port named "default", or the only port. */
static long ag_port(json_t *ports)
{
	size_t i;
	json_t *p;

	json_array_foreach(ports, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		if (name && strcmp(name, "default") == 0)
			return (long)json_integer_value(json_object_get(p, "port"));
	}
	if (json_array_size(ports) == 1)
		return (long)json_integer_value(json_object_get(json_array_get(ports, 0), "port"));
	return 0;
}

/* Reads an Allocated answer into op->got. Returns 0 or -1 (logged). */
static int ag_read_allocated(struct ag_op *op, json_t *status)
{
	const char *name = json_string_value(json_object_get(status, "gameServerName"));
	const char *addr = json_string_value(json_object_get(status, "address"));
	long port = ag_port(json_object_get(status, "ports"));
	json_t *cap = json_object_get(json_object_get(json_object_get(status, "counters"), "rooms"),
				      "capacity");
	int n;

	if (!name || !*name || strlen(name) > 63 || !addr || !*addr || strpbrk(addr, " /\"\\") ||
	    port < 1 || port > 65535) {
		log_write(LOG_ERROR, "agones: Allocated answer without a usable name, address or port",
			  "{s:s,s:s?,s:s?,s:i}", "room", op->room, "gameServerName", name, "address", addr,
			  "port", (int)port);
		return -1;
	}
	memset(&op->got, 0, sizeof op->got);
	snprintf(op->got.server_id, sizeof op->got.server_id, "%s", name);
	/* An IPv6 address needs brackets before the port. */
	n = snprintf(op->got.address, sizeof op->got.address, strchr(addr, ':') ? "[%s]:%ld" : "%s:%ld",
		     addr, port);
	if (n < 0 || (size_t)n >= sizeof op->got.address)
		return -1;
	op->server_capacity = AG_DEFAULT_CAPACITY;
	if (json_is_integer(cap) && json_integer_value(cap) > 0 && json_integer_value(cap) < 1000000)
		op->server_capacity = (long)json_integer_value(cap);
	else if (json_is_string(cap) && atol(json_string_value(cap)) > 0)
		op->server_capacity = atol(json_string_value(cap));
	return 0;
}

static void ag_on_allocated(const struct hc_response *res, void *arg)
{
	struct ag_op *op = arg;
	json_t *j, *status;
	const char *state;

	if (res->err != 0) {
		log_write(LOG_WARN, "agones: Kubernetes API unreachable", "{s:s,s:s}", "api", op->a->api,
			  "error", res->error);
		ag_retry(op, res->error);
		return;
	}
	if (res->status == 401 || res->status == 403) {
		ag_log_status(LOG_ERROR, "agones: allocation refused by the Kubernetes API", res,
			      res->status == 401
			      ? "the service-account token is missing, invalid or expired (--agones-token-file)"
			      : "the backend's Role needs create on gameserverallocations (allocation.agones.dev)");
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	if (res->status >= 500 || res->status == 429) {
		ag_log_status(LOG_WARN, "agones: allocation failed on the server side", res, NULL);
		ag_retry(op, "server error");
		return;
	}
	if (res->status != 201 && res->status != 200) {
		ag_log_status(LOG_ERROR, "agones: allocation rejected", res,
			      res->status == 404 ? "is Agones installed, and are --agones-api and "
			      "--agones-namespace right?" : NULL);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	j = json_loads(res->body, 0, NULL);
	status = json_object_get(j, "status");
	state = json_string_value(json_object_get(status, "state"));
	if (state && strcmp(state, "Allocated") == 0) {
		int rc = ag_read_allocated(op, status);
		json_decref(j);
		if (rc < 0)
			ag_done(op, SCHED_UNAVAIL, NULL);
		else
			ag_record(op);
		return;
	}
	if (state && strcmp(state, "UnAllocated") == 0) {
		json_decref(j);
		if (op->kind == AG_ALLOC_FIND) {
			/* In no server's list: place it like a new room. */
			op->kind = AG_ALLOC_NEW;
			op->tries = 0;
			ag_allocate(op);
			return;
		}
		log_write(LOG_WARN, op->kind == AG_ALLOC_INBOX
			  ? "agones: no Ready game server for inboxes (every allocated one is at its inbox bound)"
			  : "agones: no game server with a free room slot", "{s:s,s:s}",
			  "room", op->room, "fleet", op->a->fleet);
		ag_done(op, SCHED_FULL, NULL);
		return;
	}
	if (state && strcmp(state, "Contention") == 0) {
		json_decref(j);
		ag_retry(op, "Contention");
		return;
	}
	log_write(LOG_ERROR, "agones: allocation answer without a known status.state", "{s:s,s:s}",
		  "room", op->room, "state", state ? state : "(none)");
	json_decref(j);
	ag_done(op, SCHED_UNAVAIL, NULL);
}

static void ag_allocate(struct ag_op *op)
{
	char *body = ag_alloc_body(op->a, op->kind, op->room);
	int rc;

	if (!body) {
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	op->tries++;
	rc = ag_call(op->a, "POST", op->a->alloc_url, body, ag_on_allocated, op);
	free(body);
	if (rc < 0) {
		log_write(LOG_ERROR, "agones: cannot start the allocation call", "{s:s,s:s}",
			  "url", op->a->alloc_url, "error", strerror(-rc));
		ag_done(op, SCHED_UNAVAIL, NULL);
	}
}

/* ---- locate --------------------------------------------------------------- */

static void ag_on_lookup(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct ag_op *op = arg;
	const char *server, *addr, *state;
	bool live;

	if (!res) {
		log_write(LOG_WARN, "scheduler query failed", "{s:s,s:s,s:s?}", "op", "locate",
			  "error", err ? err : "", "sqlstate", sqlstate);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		ag_done(op, SCHED_NOROOM, NULL);
		return;
	}
	server = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
	addr = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	op->epoch = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	live = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	op->inbox = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
	state = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);
	/* Kept for the answer, which may come after an allocation. */
	free(op->name);
	op->name = PQgetisnull(res, 0, 5) ? NULL : strdup(PQgetvalue(res, 0, 5));
	if (!PQgetisnull(res, 0, 5) && !op->name) {
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	memset(&op->old, 0, sizeof op->old);
	if (server && addr) {
		snprintf(op->old.server_id, sizeof op->old.server_id, "%s", server);
		snprintf(op->old.address, sizeof op->old.address, "%s", addr);
		snprintf(op->old.boot, sizeof op->old.boot, "%s", PQgetvalue(res, 0, 6));
		op->old.epoch = op->epoch;
	}
	op->tries = 0;
	if (live && op->epoch >= 1) {
		ag_done(op, SCHED_OK, &op->old);
	} else if (ag_follow(op)) {
		return;
	} else if ((!server || !addr) && !op->inbox) {
		op->kind = AG_ALLOC_FIND;
		ag_allocate(op);
	} else if (!server || !addr || (state && strcmp(state, "draining") == 0)) {
		/* An inbox is in no server's list: nothing to look for. */
		ag_place_anew(op);
	} else {
		ag_check_gameserver(op);
	}
}

/* ---- inboxes -------------------------------------------------------------- */

static void ag_on_inbox_pinned(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct ag_op *op = arg;
	struct agones *a = op->a;
	struct sched_placement p;
	const char *status;

	if (!res || PQntuples(res) != 1) {
		log_write(LOG_WARN, "scheduler query failed", "{s:s,s:s,s:s?}", "op", "inbox pin",
			  "error", err ? err : "unexpected result", "sqlstate", sqlstate);
		ag_done(op, SCHED_UNAVAIL, NULL);
		return;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		memset(&p, 0, sizeof p);
		snprintf(p.server_id, sizeof p.server_id, "%s", PQgetvalue(res, 0, 1));
		snprintf(p.address, sizeof p.address, "%s", PQgetvalue(res, 0, 2));
		p.epoch = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
		snprintf(p.boot, sizeof p.boot, "%s", PQgetvalue(res, 0, 4));
		log_write(LOG_INFO, "agones: inbox placed on an allocated server", "{s:s,s:s,s:I}",
			  "room", op->room, "server", p.server_id, "epoch", (json_int_t)p.epoch);
		ag_done(op, SCHED_OK, &p);
	} else if (strcmp(status, "moved") == 0 && !op->retried_lookup) {
		/* Another replica re-placed the inbox first: answer its pin. */
		op->retried_lookup = true;
		ag_lookup(op);
	} else if (strcmp(status, "none") != 0) {
		ag_done(op, SCHED_UNAVAIL, NULL);
	} else if (a->inbox_allocs != op->inbox_allocs) {
		/* A server was allocated for inboxes since we asked: look again. */
		ag_inbox_pin(op);
	} else if (a->inbox_alloc && a->inbox_alloc != op) {
		/* (op itself, when its record found the epoch moved and the
		 * look-up again left the inbox to place, allocates again.) */
		op->next_inbox_waiter = a->inbox_waiters;
		a->inbox_waiters = op;
	} else {
		a->inbox_alloc = op;
		op->kind = AG_ALLOC_INBOX;
		op->tries = 0;
		ag_allocate(op);
	}
}

/* Pins the inbox to an allocated server with inbox room, or allocates one. */
static void ag_inbox_pin(struct ag_op *op)
{
	char epoch[24];
	const char *params[3] = { op->room, epoch, op->a->dead_ms };

	snprintf(epoch, sizeof epoch, "%lld", (long long)op->epoch);
	op->inbox_allocs = op->a->inbox_allocs;
	if (db_query(op->a->env->db, "SELECT status, server_id, address, epoch, boot"
		     " FROM stateroom_agones_pin_inbox($1, $2::bigint, $3::bigint)",
		     3, params, ag_on_inbox_pinned, op) < 0)
		ag_done(op, SCHED_UNAVAIL, NULL);
}

static void ag_lookup(struct ag_op *op)
{
	const char *params[2] = { op->room, op->a->dead_ms };

	if (db_query(op->a->env->db, ag_sql_lookup, 2, params, ag_on_lookup, op) < 0)
		ag_done(op, SCHED_UNAVAIL, NULL);
}

/* ---- the sched_ops -------------------------------------------------------- */

static struct ag_op *ag_op_new(struct agones *a, const char *room, sched_cb cb, void *arg)
{
	struct ag_op *op;

	if (!room || strlen(room) >= sizeof op->room)
		return NULL;
	op = calloc(1, sizeof *op);
	if (!op)
		return NULL;
	if (uv_timer_init(a->env->loop, &op->timer) < 0) {
		free(op);
		return NULL;
	}
	op->a = a;
	op->cb = cb;
	op->arg = arg;
	strcpy(op->room, room);
	return op;
}

/* Failing before the callback was promised: the op never answers. Returns
 * rc, a negative errno. */
static int ag_op_abort(struct ag_op *op, int rc)
{
	uv_close((uv_handle_t *)&op->timer, ag_op_closed);
	return rc;
}

static int ag_place(void *state, const struct sched_room *room, sched_cb cb, void *arg)
{
	struct agones *a = state;
	struct ag_op *op;

	if (!room || !room->id || !room->owner || !room->visibility || room->capacity < 1 ||
	    (room->app && strlen(room->app) > WIRE_APP_NAME_MAX))
		return -EINVAL;
	op = ag_op_new(a, room->id, cb, arg);
	if (!op)
		return -ENOMEM;
	op->is_place = true;
	op->kind = AG_ALLOC_NEW;
	op->capacity = room->capacity;
	op->ephemeral = room->ephemeral;
	strcpy(op->app, room->app ? room->app : "chat");
	op->owner = strdup(room->owner);
	op->visibility = strdup(room->visibility);
	op->name = room->name ? strdup(room->name) : NULL;
	op->owner_name = room->owner_name ? strdup(room->owner_name) : NULL;
	if (!op->owner || !op->visibility || (room->name && !op->name) ||
	    (room->owner_name && !op->owner_name))
		return ag_op_abort(op, -ENOMEM);
	ag_allocate(op);
	return 0;
}

static int ag_locate(void *state, const char *room_id, const struct sched_suspect *suspect, sched_cb cb,
		     void *arg)
{
	struct agones *a = state;
	struct ag_op *op = ag_op_new(a, room_id, cb, arg);
	const char *params[2];
	int rc;

	(void)suspect; /* an allocated GameServer is judged by its heartbeats alone */
	if (!op)
		return -ENOMEM;
	params[0] = op->room;
	params[1] = a->dead_ms;
	rc = db_query(a->env->db, ag_sql_lookup, 2, params, ag_on_lookup, op);
	return rc < 0 ? ag_op_abort(op, rc) : 0;
}

static void ag_free(struct agones *a)
{
	free(a->api);
	free(a->ns);
	free(a->fleet);
	free(a->token_file);
	free(a->ca_file);
	free(a->alloc_url);
	free(a);
}

/* The in-cluster API address from the variables Kubernetes sets in every
 * pod, or NULL. */
static char *ag_in_cluster_api(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *url;

	if (!host || !*host || !port || !*port)
		return NULL;
	if (asprintf(&url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return NULL;
	return url;
}

static int ag_create(const struct sched_env *env, void **state)
{
	const struct sched_agones_config *cfg;
	struct agones *a;
	size_t len;
	int rc = -ENOMEM;

	if (!env || !env->db || !env->loop || env->dead_after_ms <= 0)
		return -EINVAL;
	cfg = &env->agones;
	a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->env = env;
	snprintf(a->dead_ms, sizeof a->dead_ms, "%lld", (long long)env->dead_after_ms);

	a->api = cfg->api && *cfg->api ? strdup(cfg->api) : ag_in_cluster_api();
	if (!a->api) {
		log_write(LOG_ERROR, "agones: no Kubernetes API: set --agones-api (for example "
			  "http://127.0.0.1:8001 with kubectl proxy) or run in a pod", NULL);
		rc = -EINVAL;
		goto out_free;
	}
	len = strlen(a->api);
	while (len > 0 && a->api[len - 1] == '/')
		a->api[--len] = '\0';

	if (cfg->ns && *cfg->ns)
		a->ns = strdup(cfg->ns);
	else if (!(a->ns = ag_read_small(AG_NAMESPACE_FILE)))
		a->ns = strdup("default");
	a->fleet = strdup(cfg->fleet && *cfg->fleet ? cfg->fleet : AG_DEFAULT_FLEET);
	if (!a->ns || !a->fleet)
		goto out_free;
	if (!ag_name_ok(a->ns) || !ag_name_ok(a->fleet)) {
		log_write(LOG_ERROR, "agones: namespace and fleet must be Kubernetes names (a-z 0-9 - .)",
			  "{s:s,s:s}", "namespace", a->ns, "fleet", a->fleet);
		rc = -EINVAL;
		goto out_free;
	}
	/* NULL means the default; "" means none (kubectl proxy). */
	a->token_file = cfg->token_file ? ag_strdup_or_null(cfg->token_file)
					: strdup(AG_DEFAULT_TOKEN_FILE);
	if (cfg->ca_file)
		a->ca_file = ag_strdup_or_null(cfg->ca_file);
	else if (access(AG_DEFAULT_CA_FILE, R_OK) == 0)
		a->ca_file = strdup(AG_DEFAULT_CA_FILE);
	if (asprintf(&a->alloc_url, "%s/apis/allocation.agones.dev/v1/namespaces/%s/gameserverallocations",
		     a->api, a->ns) < 0) {
		a->alloc_url = NULL;
		goto out_free;
	}
	rc = hc_new(env->loop, &a->http);
	if (rc < 0)
		goto out_free;
	log_write(LOG_INFO, "agones scheduler", "{s:s,s:s,s:s,s:s?,s:s?}", "api", a->api,
		  "namespace", a->ns, "fleet", a->fleet, "token_file", a->token_file,
		  "ca_file", a->ca_file);
	*state = a;
	return 0;

out_free:
	ag_free(a);
	return rc;
}

static void ag_on_http_closed(void *arg)
{
	ag_free(arg);
}

static void ag_destroy(void *state)
{
	struct agones *a = state;

	if (!a)
		return;
	hc_close(a->http, ag_on_http_closed, a);
}

const struct sched_ops sched_agones_ops = {
	.name = "agones",
	.create = ag_create,
	.place = ag_place,
	.locate = ag_locate,
	.destroy = ag_destroy,
};
