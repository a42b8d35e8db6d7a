#include "registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container.h"
#include "log.h"

/* Unpin forgotten rooms every this many heartbeats: often, so that a room
 * nobody joins holds its slot little longer than --pin-grace-ms (one
 * indexed UPDATE). */
#define SWEEP_EVERY 2
/* Room for the text[] literal of held room ids; if they do not fit, the
 * stats callback leaves it empty and that round sweeps nothing. */
#define IDS_MAX 65536
/* An inbox joined within pin_grace_ms of its look-up has its member count
 * written within a hub tick (a second); this much more keeps the inbox
 * sweep clear of that write. */
#define INBOX_SWEEP_MARGIN_MS 5000

struct registry {
	uv_loop_t *loop;
	struct db *db;
	char *id, *boot, *address, *apps;
	long capacity, inbox_capacity;
	uint64_t heartbeat_ms, pin_grace_ms;
	registry_stats_fn stats;
	void *ud;
	void (*on_drain)(void *arg);
	void *drain_arg;
	bool deregistered;
	uv_timer_t timer;
	bool registered, draining, stopping, timer_open, beat_in_flight;
	uint64_t last_ok;
	int64_t clock_offset_ms;     /* PostgreSQL's clock minus ours, at the last heartbeat */
	unsigned beats, pending;
};

static void on_beat(uv_timer_t *t);

/* PostgreSQL's clock, in ms since the Unix epoch, read with each heartbeat. */
#define DB_CLOCK_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fetch {
	struct registry *r;
	registry_room_fn cb;
	void *arg;
};

struct drain {
	struct registry *r;
	void (*done)(void *arg);
	void *arg;
};

static void maybe_free(struct registry *r)
{
	if (!r->stopping || r->timer_open || r->pending > 0)
		return;
	free(r->id);
	free(r->boot);
	free(r->apps);
	free(r->address);
	free(r);
}

static void query_done(struct registry *r)
{
	r->pending--;
	maybe_free(r);
}

static int query(struct registry *r, const char *sql, int n, const char *const *params,
		 db_result_fn cb, void *arg)
{
	int rc = db_query(r->db, sql, n, params, cb, arg);

	if (rc == 0)
		r->pending++;
	return rc;
}

static const char *state(const struct registry *r)
{
	return r->draining ? "draining" : "up";
}

static void beat_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct registry *r = arg;

	(void)sqlstate;
	r->beat_in_flight = false;
	if (!r->stopping && !r->deregistered) {
		if (!res) {
			log_write(LOG_WARN, "heartbeat failed", "{s:s}", "error", err ? err : "");
		} else if (strcmp(PQcmdTuples(res), "0") == 0) {
			/* Our row was deleted: register again at once. */
			r->registered = false;
			uv_timer_start(&r->timer, on_beat, 0, r->heartbeat_ms);
		} else {
			if (!r->registered)
				log_write(LOG_INFO, "registered", "{s:s,s:s}", "id", r->id, "address", r->address);
			r->registered = true;
			r->last_ok = uv_now(r->loop);
			if (PQntuples(res) == 1 && PQnfields(res) == 2)
				r->clock_offset_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10) - wall_ms();
			if (!r->draining && r->on_drain && PQntuples(res) == 1 &&
			    strcmp(PQgetvalue(res, 0, 0), "draining") == 0) {
				log_write(LOG_INFO, "drain requested in the registry", NULL);
				r->on_drain(r->drain_arg);
			}
		}
	}
	query_done(r);
}

static void sweep_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct registry *r = arg;

	(void)sqlstate;
	if (!res)
		log_write(LOG_WARN, "unpin sweep failed", "{s:s}", "error", err ? err : "");
	else if (strcmp(PQcmdTuples(res), "0") != 0)
		log_write(LOG_INFO, "unpinned forgotten rooms", "{s:s}", "count", PQcmdTuples(res));
	query_done(r);
}

static void on_beat(uv_timer_t *t)
{
	struct registry *r = container_of(t, struct registry, timer);
	char rooms[24], inboxes[24], conns[24], cap[24], icap[24], idle[24], inbox_idle[24];
	char *ids;
	struct registry_stats st = { 0, 0, 0 };

	if (r->beat_in_flight || r->deregistered)
		return;
	ids = malloc(IDS_MAX);
	if (!ids)
		return;
	ids[0] = '\0';
	r->stats(r->ud, &st, ids, IDS_MAX);
	snprintf(rooms, sizeof(rooms), "%ld", st.rooms);
	snprintf(inboxes, sizeof(inboxes), "%ld", st.inboxes);
	snprintf(conns, sizeof(conns), "%ld", st.conns);
	snprintf(cap, sizeof(cap), "%ld", r->capacity);
	snprintf(icap, sizeof(icap), "%ld", r->inbox_capacity);
	snprintf(idle, sizeof(idle), "%" PRIu64, r->pin_grace_ms);
	snprintf(inbox_idle, sizeof(inbox_idle), "%" PRIu64, r->pin_grace_ms + INBOX_SWEEP_MARGIN_MS);

	if (!r->registered) {
		const char *p[] = { r->id, r->address, cap, rooms, conns, state(r), r->boot, icap,
				    inboxes, r->apps };
		if (query(r, "INSERT INTO session_servers"
			     " (id, address, capacity, rooms, connections, state, boot, inbox_capacity,"
			     " inboxes, apps, started_at, heartbeat_at)"
			     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], now(), now())"
			     " ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address,"
			     " capacity = EXCLUDED.capacity, rooms = EXCLUDED.rooms,"
			     " connections = EXCLUDED.connections, state = EXCLUDED.state,"
			     " boot = EXCLUDED.boot, inbox_capacity = EXCLUDED.inbox_capacity,"
			     " inboxes = EXCLUDED.inboxes, apps = EXCLUDED.apps, started_at = now(),"
			     " heartbeat_at = now()"
			     " RETURNING state, " DB_CLOCK_MS,
			  10, p, beat_done, r) == 0)
			r->beat_in_flight = true;
	} else {
		const char *p[] = { r->id, rooms, conns, state(r), r->boot, inboxes, icap };
		/* A 'draining' set by the operator stays, and comes back to us.
		 * The boot (and the inbox bound) is set again because the agones
		 * scheduler may have made the row anew (without one) after it
		 * was deleted. */
		if (query(r, "UPDATE session_servers SET heartbeat_at = now(), rooms = $2,"
			     " connections = $3,"
			     " state = CASE WHEN state = 'draining' THEN state ELSE $4 END, boot = $5,"
			     " inboxes = $6, inbox_capacity = $7"
			     " WHERE id = $1 RETURNING state, " DB_CLOCK_MS,
			  7, p, beat_done, r) == 0)
			r->beat_in_flight = true;
		if (++r->beats % SWEEP_EVERY == 0 && ids[0] == '{') {
			const char *sp[] = { r->id, idle, ids, inbox_idle };
			query(r, "UPDATE rooms SET server_id = NULL, pinned_at = NULL, members = 0"
				 " WHERE server_id = $1"
				 " AND ((kind <> 'inbox'"
				 "   AND pinned_at < now() - make_interval(secs => $2::double precision / 1000)"
				 "   AND NOT (id = ANY ($3::text[])))"
				 "  OR (kind = 'inbox' AND members = 0"
				 "   AND pinned_at < now() - make_interval(secs => $4::double precision / 1000)))",
			      4, sp, sweep_done, r);
		}
	}
	free(ids);
}

int registry_start(uv_loop_t *loop, struct db *db, const struct registry_config *cfg,
		   registry_stats_fn stats, void *ud, struct registry **out)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->id = strdup(cfg->id);
	r->boot = strdup(cfg->boot);
	r->address = strdup(cfg->address);
	r->apps = strdup(cfg->apps ? cfg->apps : "{}");
	if (!r->id || !r->boot || !r->address || !r->apps) {
		free(r->id);
		free(r->boot);
		free(r->address);
		free(r->apps);
		free(r);
		return -ENOMEM;
	}
	r->loop = loop;
	r->db = db;
	r->capacity = cfg->capacity;
	r->inbox_capacity = cfg->inbox_capacity;
	r->heartbeat_ms = cfg->heartbeat_ms;
	r->pin_grace_ms = cfg->pin_grace_ms;
	r->stats = stats;
	r->ud = ud;
	r->on_drain = cfg->on_drain;
	r->drain_arg = cfg->drain_arg;
	uv_timer_init(loop, &r->timer);
	r->timer_open = true;
	uv_timer_start(&r->timer, on_beat, 0, cfg->heartbeat_ms);
	*out = r;
	return 0;
}

bool registry_ready(const struct registry *r)
{
	return r && r->registered && !r->draining && !r->stopping &&
	       uv_now(r->loop) - r->last_ok < 3 * r->heartbeat_ms;
}

int64_t registry_now(const struct registry *r)
{
	int64_t ms = wall_ms() + (r ? r->clock_offset_ms : 0);

	return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

uint64_t registry_beat_age(const struct registry *r)
{
	return r->last_ok ? uv_now(r->loop) - r->last_ok : UINT64_MAX;
}

static void fetch_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct fetch *f = arg;
	struct registry *r = f->r;
	struct registry_room row;
	int status = 0;

	(void)sqlstate;
	memset(&row, 0, sizeof(row));
	if (!res) {
		log_write(LOG_WARN, "room fetch failed", "{s:s}", "error", err ? err : "");
		status = -EIO;
	} else if (PQntuples(res) != 1) {
		status = -ENOENT;
	} else {
		row.capacity = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(row.app, sizeof(row.app), "%s", PQgetvalue(res, 0, 1));
		row.pinned_here = !PQgetisnull(res, 0, 2) && strcmp(PQgetvalue(res, 0, 2), r->id) == 0;
		row.epoch = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
		row.persistent = strcmp(PQgetvalue(res, 0, 4), "f") != 0;
		if (!PQgetisnull(res, 0, 5))
			row.seats = (int)strtol(PQgetvalue(res, 0, 5), NULL, 10);
	}
	f->cb(f->arg, status, status == 0 ? &row : NULL);
	free(f);
	query_done(r);
}

int registry_fetch_room(struct registry *r, const char *room_id, registry_room_fn cb, void *arg)
{
	struct fetch *f = malloc(sizeof(*f));
	const char *p[] = { room_id };
	int rc;

	if (!f)
		return -ENOMEM;
	f->r = r;
	f->cb = cb;
	f->arg = arg;
	rc = query(r, "SELECT capacity, app, server_id, epoch, persistent, seats FROM rooms WHERE id = $1", 1, p,
		   fetch_done, f);
	if (rc != 0)
		free(f);
	return rc;
}

static void unpin_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	(void)sqlstate;
	if (!res)
		log_write(LOG_WARN, "unpin failed", "{s:s}", "error", err ? err : "");
	query_done(arg);
}

void registry_unpin(struct registry *r, const char *room_id, int64_t epoch)
{
	char e[24];
	const char *p[] = { room_id, r->id, e };

	snprintf(e, sizeof(e), "%" PRId64, epoch);
	query(r, "UPDATE rooms SET server_id = NULL, pinned_at = NULL, members = 0"
		 " WHERE id = $1 AND server_id = $2 AND epoch = $3",
	      3, p, unpin_done, r);
}

static void drain_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct drain *d = arg;
	struct registry *r = d->r;

	(void)sqlstate;
	if (!res)
		log_write(LOG_WARN, "registry update failed", "{s:s}", "error", err ? err : "");
	if (d->done)
		d->done(d->arg);
	free(d);
	query_done(r);
}

void registry_drain(struct registry *r, void (*done)(void *arg), void *arg)
{
	struct drain *d = malloc(sizeof(*d));
	const char *p[] = { r->id };

	r->draining = true;
	if (!d) {
		done(arg);
		return;
	}
	d->r = r;
	d->done = done;
	d->arg = arg;
	if (query(r, "UPDATE session_servers SET state = 'draining', heartbeat_at = now()"
		     " WHERE id = $1", 1, p, drain_done, d) != 0) {
		free(d);
		done(arg);
	}
}

void registry_deregister(struct registry *r, void (*done)(void *arg), void *arg)
{
	struct drain *d = malloc(sizeof(*d));
	const char *p[] = { r->id };

	r->deregistered = true;
	uv_timer_stop(&r->timer);
	if (!d)
		goto out_done;
	d->r = r;
	d->done = done;
	d->arg = arg;
	if (query(r, "DELETE FROM session_servers WHERE id = $1", 1, p, drain_done, d) != 0) {
		free(d);
		goto out_done;
	}
	return;

out_done:
	if (done)
		done(arg);
}

static void timer_closed(uv_handle_t *h)
{
	struct registry *r = container_of((uv_timer_t *)h, struct registry, timer);

	r->timer_open = false;
	maybe_free(r);
}

void registry_stop(struct registry *r)
{
	if (!r || r->stopping)
		return;
	r->stopping = true;
	uv_close((uv_handle_t *)&r->timer, timer_closed);
}
