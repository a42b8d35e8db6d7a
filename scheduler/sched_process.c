/* The `process` scheduler: the local scheduler's placement (the same SQL
 * functions, over every registered server), plus session servers started on
 * this host when every live one is full, and stopped again once they have
 * hosted no room for a while.
 *
 * Growing. A place or locate that finds every live server full (for an
 * inbox: every one at its inbox bound) asks PostgreSQL what to do
 * (stateroom_spawn_claim in schema/migrations/006_spawns.sql and
 * 015_inbox_capacity.sql): start a server, wait for the one some replica is
 * starting, place again, or give up because max_servers are up.
 * A request waits at most spawn_wait_ms, trying again every PROC_POLL_MS;
 * then it gets SCHED_FULL.
 *
 * Children. Each is stateroom-session with this backend's environment plus
 * its id, port 0 (it listens on a free port and registers that), host,
 * database URL, secret and ticket lifetime. Every tick the scheduler reads their registry
 * rows. A child with no room pinned or held for server_idle_ms is marked
 * draining (stateroom_retire_idle, only if still empty, under placement's
 * lock) and sent SIGTERM, and drains. A child that exits has its registry
 * row deleted at once, so its rooms re-pin on their next look-up. One that
 * failed (a signal we did not send, or a non-zero status) delays this
 * replica's next start by a backoff doubling from PROC_BACKOFF_MIN_MS to
 * PROC_BACKOFF_MAX_MS; if it never registered its spawn row is held as long,
 * so the other replicas wait too.
 *
 * The minimum. With min_servers > 0 (start() is called once the database
 * is ready) every tick checks that this many children are running and
 * neither stopping nor leaving (their row set to 'draining' by the operator);
 * if not, it starts one, after the backoff of a failure, recording a spawn
 * row first so that requests here or in another replica that find every
 * server full wait for it instead of starting another. So a child that dies
 * is replaced after the backoff, and one being drained at once (its clients
 * then find the new one). The idle rule never stops a child that the
 * minimum needs.
 *
 * Each child gets SESSION_PARENT_PID, this backend's pid: if the backend is
 * killed outright, the kernel sends its children SIGTERM and they drain
 * (session-server/main.c), rather than live on with nobody to supervise
 * them.
 *
 * Stopping (stop): waiting requests fail with SCHED_UNAVAIL, every child
 * gets SIGTERM (it drains its clients, who resume elsewhere), and done runs
 * once all have exited, their rows are gone and the timers are closed. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "log.h"
#include "sched_backends.h"
#include "scheduler.h"
#include "strpack.h"

#define PROC_POLL_MS 50
#define PROC_TICK_MAX_MS 1000
#define PROC_BACKOFF_MIN_MS 1000
#define PROC_BACKOFF_MAX_MS 30000
#define PROC_KILL_AFTER_MS 20000     /* SIGKILL a child this long after SIGTERM */
#define PROC_ID_LEN 32

extern char **environ;

/* Variables of the backend's environment that each child gets its own
 * value of, or none (SESSION_ADVERTISE: the child advertises its real port). */
static const char *const proc_env_skip[] = {
	"SESSION_ID=", "SESSION_PORT=", "SESSION_HOST=", "SESSION_ADVERTISE=", "DATABASE_URL=",
	"STATEROOM_SECRET=", "STATEROOM_TICKET_TTL=", "SESSION_PARENT_PID=",
};

#define PROC_N_OWNED 6

struct proc;

struct proc_child {
	uv_process_t handle;
	struct proc *p;
	struct proc_child *next;
	char id[PROC_ID_LEN];
	uint64_t started;         /* uv_now() at spawn */
	uint64_t idle_since;      /* 0 while it hosts a room */
	uint64_t term_sent;       /* 0 until we signal it to stop */
	bool registered, retiring, unwanted;
	bool leaving;             /* its row is no longer 'up', and not by our doing */
};

struct proc_op {                  /* one place or locate until it is answered */
	struct proc *p;
	struct proc_op *next;     /* parked list */
	sched_cb cb;
	void *arg;
	uint64_t deadline;
	bool place;
	const char *room, *owner, *owner_name, *name, *visibility, *app;  /* in buf */
	int capacity;
	bool ephemeral;
	bool suspected;           /* locate: suspect holds a client's suspicion */
	struct sched_suspect suspect;  /* its user in buf */
	char buf[];
};

struct proc_idq {                 /* a query about one child; it may be gone by the answer */
	struct proc *p;
	char id[PROC_ID_LEN];
};

struct proc {
	const struct sched_env *env;
	uv_loop_t *loop;
	char dead_ms[24], max[16], wait_ms[24];
	char owner[128];
	char **envp;              /* the children's environment, NULL-terminated */
	char *owned[PROC_N_OWNED];  /* the entries of envp allocated here */
	size_t id_slot;           /* envp[id_slot]: SESSION_ID=..., set per spawn */
	uv_timer_t poll, tick;
	bool timers, tick_busy, stopping, closing;
	bool started;             /* start() ran: the minimum is kept */
	bool min_busy;            /* the minimum's next spawn row is being recorded */
	unsigned closing_timers;
	struct proc_child *children;
	unsigned n_children;      /* until each handle is closed */
	struct proc_op *parked;
	unsigned n_ops, n_queries;
	unsigned failures;
	uint64_t backoff_until;
	void (*stop_done)(void *arg);
	void *stop_arg;
};

static void proc_op_try(struct proc_op *op);
static void proc_maybe_stopped(struct proc *p);

/* ---- helpers ----------------------------------------------------------- */

static int proc_query(struct proc *p, const char *sql, int n, const char *const *params,
		      db_result_fn cb, void *arg)
{
	int rc = db_query(p->env->db, sql, n, params, cb, arg);

	if (rc == 0)
		p->n_queries++;
	return rc;
}

static void proc_query_done(struct proc *p)
{
	p->n_queries--;
	proc_maybe_stopped(p);
}

static struct proc_child *proc_child_find(struct proc *p, const char *id)
{
	for (struct proc_child *c = p->children; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static uint64_t proc_tick_ms(const struct proc *p)
{
	uint64_t t = (uint64_t)p->env->server_idle_ms / 4;

	return t < PROC_POLL_MS ? PROC_POLL_MS : t > PROC_TICK_MAX_MS ? PROC_TICK_MAX_MS : t;
}

static void proc_on_tick(uv_timer_t *t);

static void proc_timers_init(struct proc *p)
{
	if (p->timers)
		return;
	uv_timer_init(p->loop, &p->poll);
	uv_timer_init(p->loop, &p->tick);
	p->timers = true;
	uv_timer_start(&p->tick, proc_on_tick, proc_tick_ms(p), proc_tick_ms(p));
}

/* Children that count toward the minimum. */
static unsigned proc_kept(const struct proc *p)
{
	unsigned n = 0;

	for (const struct proc_child *c = p->children; c; c = c->next)
		n += !c->term_sent && !c->leaving && !c->retiring;
	return n;
}

/* A fresh server id: "sp-" and 12 hex digits. Returns 0 or a libuv error. */
static int proc_new_id(char id[PROC_ID_LEN])
{
	unsigned char rnd[6];
	int rc = uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL);

	if (rc < 0)
		return rc;
	snprintf(id, PROC_ID_LEN, "sp-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
		 rnd[4], rnd[5]);
	return 0;
}

static void proc_signal(struct proc_child *c, int sig)
{
	int rc = uv_process_kill(&c->handle, sig);

	if (rc < 0 && rc != UV_ESRCH)
		log_write(LOG_WARN, "cannot signal a session server", "{s:s,s:i,s:s}", "id", c->id,
			  "signal", sig, "error", uv_strerror(rc));
	c->term_sent = uv_now(c->p->loop);
}

/* ---- children ---------------------------------------------------------- */

static void proc_child_closed(uv_handle_t *h)
{
	struct proc_child *c = container_of((uv_process_t *)h, struct proc_child, handle);
	struct proc *p = c->p;

	free(c);
	p->n_children--;
	proc_maybe_stopped(p);
}

/* For the queries that only tidy rows up: a failure is logged, nothing more. */
static void proc_on_tidied(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc *p = arg;

	if (!res)
		log_write(LOG_WARN, "cannot update the session server registry", "{s:s}", "error",
			  err ? err : "");
	proc_query_done(p);
}

static void proc_child_on_exit(uv_process_t *h, int64_t status, int sig)
{
	struct proc_child *c = container_of(h, struct proc_child, handle);
	struct proc *p = c->p;
	bool failed = c->unwanted || (!c->term_sent && (sig != 0 || status != 0));
	uint64_t backoff = 0;
	char backoff_s[24];
	const char *params[2];

	for (struct proc_child **pp = &p->children; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (failed) {
		unsigned shift = p->failures < 5 ? p->failures : 5;
		backoff = (uint64_t)PROC_BACKOFF_MIN_MS << shift;
		if (backoff > PROC_BACKOFF_MAX_MS)
			backoff = PROC_BACKOFF_MAX_MS;
		p->failures++;
		p->backoff_until = uv_now(p->loop) + backoff;
	}
	log_write(failed ? LOG_WARN : LOG_INFO, "session server exited", "{s:s,s:I,s:i,s:b,s:I}",
		  "id", c->id, "status", (json_int_t)status, "signal", sig, "registered", c->registered,
		  "backoff_ms", (json_int_t)backoff);
	snprintf(backoff_s, sizeof backoff_s, "%" PRIu64, c->registered ? 0 : backoff);
	params[0] = c->id;
	params[1] = backoff_s;
	if (proc_query(p, "SELECT stateroom_spawn_exited($1, $2::bigint)", 2, params,
		       proc_on_tidied, p) < 0)
		log_write(LOG_WARN, "cannot remove an exited session server's row", "{s:s}", "id", c->id);
	uv_close((uv_handle_t *)h, proc_child_closed);
}

/* Starts stateroom-session as server id; why goes to the log. Returns 0 or a
 * negative libuv error. */
static int proc_spawn(struct proc *p, const char *id, const char *why)
{
	struct proc_child *c = calloc(1, sizeof *c);
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	char id_env[PROC_ID_LEN + 16];
	char *args[2];
	int rc;

	if (!c)
		return UV_ENOMEM;
	c->p = p;
	snprintf(c->id, sizeof c->id, "%s", id);
	snprintf(id_env, sizeof id_env, "SESSION_ID=%s", id);
	args[0] = (char *)p->env->session_binary;
	args[1] = NULL;
	/* Logs go where the backend's go; stdin is nobody's. */
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = 1;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	memset(&o, 0, sizeof o);
	o.exit_cb = proc_child_on_exit;
	o.file = p->env->session_binary;
	o.args = args;
	o.env = p->envp;
	o.stdio_count = 3;
	o.stdio = stdio;
	/* uv_spawn has exec'd (or failed) when it returns: the stack string is
	 * only needed until then. */
	p->envp[p->id_slot] = id_env;
	rc = uv_spawn(p->loop, &c->handle, &o);
	p->envp[p->id_slot] = NULL;
	p->n_children++;
	if (rc < 0) {
		/* The handle was initialised all the same and must be closed. */
		uv_close((uv_handle_t *)&c->handle, proc_child_closed);
		return rc;
	}
	c->started = uv_now(p->loop);
	c->next = p->children;
	p->children = c;
	proc_timers_init(p);
	log_write(LOG_INFO, "session server started", "{s:s,s:i,s:s,s:s}", "id", id, "pid",
		  c->handle.pid, "binary", p->env->session_binary, "why", why);
	return 0;
}

/* proc_spawn failed for server id (recorded in session_spawns): a binary that
 * cannot be started now will not start at the next request either. */
static void proc_spawn_failed(struct proc *p, const char *id, int rc)
{
	const char *params[2] = { id, NULL };
	char backoff[24];

	log_write(LOG_ERROR, "cannot start a session server", "{s:s,s:s}", "binary",
		  p->env->session_binary, "error", uv_strerror(rc));
	p->failures++;
	p->backoff_until = uv_now(p->loop) + PROC_BACKOFF_MAX_MS;
	snprintf(backoff, sizeof backoff, "%d", PROC_BACKOFF_MAX_MS);
	params[1] = backoff;
	proc_query(p, "SELECT stateroom_spawn_exited($1, $2::bigint)", 2, params, proc_on_tidied, p);
}

/* ---- supervision: the tick --------------------------------------------- */

static void proc_on_retired(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc_idq *r = arg;
	struct proc *p = r->p;
	struct proc_child *c = proc_child_find(p, r->id);

	if (c) {
		c->retiring = false;
		if (!res) {
			log_write(LOG_WARN, "cannot retire an idle session server", "{s:s,s:s}", "id", r->id,
				  "error", err ? err : "");
		} else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
			log_write(LOG_INFO, "stopping an idle session server", "{s:s,s:I}", "id", c->id,
				  "idle_ms", (json_int_t)p->env->server_idle_ms);
			proc_signal(c, SIGTERM);
		} else {
			c->idle_since = 0;  /* a room came meanwhile */
		}
	}
	free(r);
	proc_query_done(p);
}

static void proc_retire(struct proc *p, struct proc_child *c)
{
	struct proc_idq *r = malloc(sizeof *r);
	const char *params[1];

	if (!r)
		return;
	r->p = p;
	memcpy(r->id, c->id, sizeof r->id);
	params[0] = r->id;
	if (proc_query(p, "SELECT stateroom_retire_idle($1)", 1, params, proc_on_retired, r) < 0) {
		free(r);
		return;
	}
	c->retiring = true;
}

static void proc_on_min_row(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc_idq *q = arg;
	struct proc *p = q->p;
	int rc;

	p->min_busy = false;
	if (!res) {
		log_write(LOG_WARN, "cannot record a session server to start", "{s:s}", "error",
			  err ? err : "");
	} else if (p->stopping || proc_kept(p) >= (unsigned)p->env->min_servers) {
		/* Too late, or a request started one meanwhile: the row goes. */
		const char *params[2] = { q->id, "0" };

		proc_query(p, "SELECT stateroom_spawn_exited($1, $2::bigint)", 2, params, proc_on_tidied, p);
	} else if ((rc = proc_spawn(p, q->id, "minimum")) < 0) {
		proc_spawn_failed(p, q->id, rc);
	}
	free(q);
	proc_query_done(p);
}

/* Starts one more child if fewer than min_servers count (see the top). */
static void proc_keep_min(struct proc *p)
{
	struct proc_idq *q;
	const char *params[3];

	if (!p->started || p->stopping || p->min_busy || uv_now(p->loop) < p->backoff_until ||
	    proc_kept(p) >= (unsigned)p->env->min_servers)
		return;
	q = malloc(sizeof *q);
	if (!q)
		return;
	q->p = p;
	if (proc_new_id(q->id) < 0) {
		free(q);
		return;
	}
	params[0] = q->id;
	params[1] = p->owner;
	params[2] = p->wait_ms;
	if (proc_query(p, "INSERT INTO session_spawns (id, owner, deadline)"
			  " VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')",
		       3, params, proc_on_min_row, q) < 0) {
		free(q);
		return;
	}
	p->min_busy = true;
}

/* Rows: id, state, rooms (and inboxes) pinned plus held. */
static void proc_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc *p = arg;
	uint64_t now = uv_now(p->loop);
	unsigned kept = proc_kept(p);

	p->tick_busy = false;
	if (!res) {
		log_write(LOG_WARN, "cannot read the session servers' rows", "{s:s}", "error", err ? err : "");
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct proc_child *c = proc_child_find(p, PQgetvalue(res, i, 0));
		bool up = strcmp(PQgetvalue(res, i, 1), "up") == 0;
		bool idle = up && strcmp(PQgetvalue(res, i, 2), "0") == 0;

		if (!c || c->term_sent)
			continue;
		if (!c->registered) {
			const char *params[1] = { c->id };

			c->registered = true;
			p->failures = 0;
			log_write(LOG_INFO, "session server registered", "{s:s,s:I}", "id", c->id,
				  "after_ms", (json_int_t)(now - c->started));
			/* Its spawn row has done its job (the next claim would drop it). */
			proc_query(p, "DELETE FROM session_spawns WHERE id = $1", 1, params,
				   proc_on_tidied, p);
		}
		if (!up) {
			/* Drained by the operator: it exits by itself once done. */
			if (!c->leaving && !c->retiring) {
				c->leaving = true;
				kept--;
				log_write(LOG_INFO, "session server draining", "{s:s}", "id", c->id);
			}
			continue;
		}
		if (!idle) {
			c->idle_since = 0;
		} else if (!c->idle_since) {
			c->idle_since = now;
		} else if (!c->retiring && !p->stopping && kept > (unsigned)p->env->min_servers &&
			   now - c->idle_since >= (uint64_t)p->env->server_idle_ms) {
			proc_retire(p, c);
			kept -= c->retiring;
		}
	}
	proc_keep_min(p);  /* at once, so that a drained child's clients find its successor */
out:
	proc_query_done(p);
}

static void proc_on_tick(uv_timer_t *t)
{
	struct proc *p = container_of(t, struct proc, tick);
	uint64_t now = uv_now(p->loop);
	char *ids = NULL;
	size_t off = 0;
	const char *params[1];

	/* Sized for every child: an id left out would never count as
	 * registered, and the check below would kill its server. */
	if (!p->stopping && !p->tick_busy && p->n_children > 0)
		ids = malloc((size_t)p->n_children * PROC_ID_LEN);
	for (struct proc_child *c = p->children; c; c = c->next) {
		if (c->term_sent && now - c->term_sent >= PROC_KILL_AFTER_MS) {
			log_write(LOG_WARN, "session server did not stop, killing it", "{s:s}", "id", c->id);
			proc_signal(c, SIGKILL);
		} else if (!c->registered && !c->term_sent &&
			   now - c->started >= (uint64_t)p->env->spawn_wait_ms) {
			log_write(LOG_WARN, "session server did not register in time, killing it",
				  "{s:s,s:I}", "id", c->id, "wait_ms", (json_int_t)p->env->spawn_wait_ms);
			c->unwanted = true;
			proc_signal(c, SIGKILL);
		}
		if (ids && !c->term_sent)
			off += (size_t)sprintf(ids + off, "%s%s", off ? "," : "", c->id);
	}
	proc_keep_min(p);
	if (off > 0) {
		params[0] = ids;
		if (proc_query(p, "SELECT s.id, s.state, s.rooms + s.inboxes + (SELECT count(*) FROM rooms r"
				  " WHERE r.server_id = s.id) FROM session_servers s"
				  " WHERE s.id = ANY (string_to_array($1, ','))",
			       1, params, proc_on_rows, p) == 0)
			p->tick_busy = true;
	}
	free(ids);
}

/* ---- requests ---------------------------------------------------------- */

static void proc_op_finish(struct proc_op *op, enum sched_result rc, const struct sched_placement *pl)
{
	struct proc *p = op->p;

	op->cb(rc, rc == SCHED_OK ? pl : NULL, op->arg);
	free(op);
	p->n_ops--;
	proc_maybe_stopped(p);
}

static void proc_on_poll(uv_timer_t *t)
{
	struct proc *p = container_of(t, struct proc, poll);
	struct proc_op *list = p->parked;

	p->parked = NULL;
	while (list) {
		struct proc_op *op = list;
		list = op->next;
		op->next = NULL;
		proc_op_try(op);
	}
}

static void proc_park(struct proc_op *op)
{
	struct proc *p = op->p;

	op->next = p->parked;
	p->parked = op;
	proc_timers_init(p);
	if (!uv_is_active((uv_handle_t *)&p->poll))
		uv_timer_start(&p->poll, proc_on_poll, PROC_POLL_MS, 0);
}

static void proc_on_claim(PGresult *res, const char *err, const char *sqlstate, void *arg);

/* Every live server is full. */
static void proc_need_server(struct proc_op *op)
{
	struct proc *p = op->p;
	uint64_t now = uv_now(p->loop);
	char id[PROC_ID_LEN];
	const char *params[7];

	if (p->stopping || now >= op->deadline) {
		proc_op_finish(op, SCHED_FULL, NULL);
		return;
	}
	if (now < p->backoff_until) {
		proc_park(op);
		return;
	}
	if (proc_new_id(id) < 0) {
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
		return;
	}
	params[0] = id;
	params[1] = p->owner;
	params[2] = p->max;
	params[3] = p->dead_ms;
	params[4] = p->wait_ms;
	params[5] = op->room;   /* its kind and application decide which slots count */
	params[6] = op->app;    /* a room being created: its application; NULL: the room's */
	if (db_query(p->env->db,
		     "SELECT stateroom_spawn_claim($1, $2, $3::integer, $4::bigint, $5::bigint, $6, $7),"
		     " $1",
		     7, params, proc_on_claim, op) < 0)
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
}

static void proc_on_claim(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc_op *op = arg;
	struct proc *p = op->p;
	const char *what, *id;
	int rc;

	if (!res || PQntuples(res) != 1 || PQnfields(res) != 2) {
		log_write(LOG_WARN, "spawn decision failed", "{s:s}", "error", err ? err : "bad result");
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
		return;
	}
	what = PQgetvalue(res, 0, 0);
	id = PQgetvalue(res, 0, 1);
	if (strcmp(what, "retry") == 0) {
		proc_op_try(op);
	} else if (strcmp(what, "wait") == 0) {
		proc_park(op);
	} else if (strcmp(what, "spawn") == 0) {
		if (p->stopping) {
			/* Too late to start anything; the spawn row expires. */
			proc_op_finish(op, SCHED_UNAVAIL, NULL);
			return;
		}
		rc = proc_spawn(p, id, "capacity");
		if (rc < 0) {
			proc_spawn_failed(p, id, rc);
			proc_op_finish(op, SCHED_FULL, NULL);
			return;
		}
		proc_park(op);
	} else {
		proc_op_finish(op, SCHED_FULL, NULL);  /* "max" */
	}
}

static void proc_on_placed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct proc_op *op = arg;
	const char *what = op->place ? "place" : "locate";
	struct sched_placement pl;
	enum sched_result rc;

	if (!res) {
		log_write(LOG_WARN, "scheduler query failed", "{s:s,s:s,s:s?}", "op", what,
			  "error", err ? err : "", "sqlstate", sqlstate);
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
		return;
	}
	rc = sched_sql_result(res, what, &pl);
	if (rc == SCHED_FULL)
		proc_need_server(op);
	else
		proc_op_finish(op, rc, &pl);
}

static void proc_op_try(struct proc_op *op)
{
	struct proc *p = op->p;
	int rc;

	if (p->stopping) {
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
		return;
	}
	if (op->place) {
		const struct sched_room room = {
			.id = op->room, .owner = op->owner, .owner_name = op->owner_name, .name = op->name,
			.capacity = op->capacity, .visibility = op->visibility,
			.ephemeral = op->ephemeral, .app = op->app,
		};

		rc = sched_sql_place(p->env->db, &room, NULL, p->dead_ms, proc_on_placed, op);
	} else {
		rc = sched_sql_locate(p->env->db, op->room, NULL, p->dead_ms, op->suspected ? &op->suspect : NULL,
				      proc_on_placed, op);
	}
	if (rc < 0)
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
}

static struct proc_op *proc_op_new(struct proc *p, const char *room, const struct sched_room *r,
				   const struct sched_suspect *s, sched_cb cb, void *arg)
{
	const char *strs[7] = { room, r ? r->owner : NULL, r ? r->owner_name : NULL,
				r ? r->name : NULL, r ? r->visibility : NULL,
				r ? (r->app ? r->app : "chat") : NULL, s ? s->user : NULL }, *at[7];
	struct proc_op *op = calloc(1, sizeof *op + strpack_size(strs, 7));

	if (!op)
		return NULL;
	op->p = p;
	op->cb = cb;
	op->arg = arg;
	op->deadline = uv_now(p->loop) + (uint64_t)p->env->spawn_wait_ms;
	strpack(op->buf, strs, 7, at);
	op->room = at[0];
	op->owner = at[1];
	op->owner_name = at[2];
	op->name = at[3];
	op->visibility = at[4];
	op->app = at[5];
	if (s) {
		op->suspected = true;
		op->suspect = *s;
		op->suspect.user = at[6];
	}
	return op;
}

static int proc_place(void *state, const struct sched_room *room, sched_cb cb, void *arg)
{
	struct proc *p = state;
	struct proc_op *op;

	if (!room || !room->id || !room->owner || !room->visibility || room->capacity < 1)
		return -EINVAL;
	if (p->stopping)
		return -ESHUTDOWN;
	op = proc_op_new(p, room->id, room, NULL, cb, arg);
	if (!op)
		return -ENOMEM;
	op->place = true;
	op->capacity = room->capacity;
	op->ephemeral = room->ephemeral;
	p->n_ops++;
	proc_op_try(op);
	return 0;
}

static int proc_locate(void *state, const char *room_id, const struct sched_suspect *suspect, sched_cb cb,
		       void *arg)
{
	struct proc *p = state;
	struct proc_op *op;

	if (!room_id)
		return -EINVAL;
	if (p->stopping)
		return -ESHUTDOWN;
	op = proc_op_new(p, room_id, NULL, suspect, cb, arg);
	if (!op)
		return -ENOMEM;
	p->n_ops++;
	proc_op_try(op);
	return 0;
}

/* ---- life cycle -------------------------------------------------------- */

static int proc_build_env(struct proc *p)
{
	const struct sched_env *e = p->env;
	size_t n = 0, k = 0;

	for (char **v = environ; *v; v++)
		n++;
	p->envp = calloc(n + PROC_N_OWNED + 2, sizeof *p->envp);
	if (!p->envp)
		return -ENOMEM;
	for (char **v = environ; *v; v++) {
		bool skip = false;
		for (size_t i = 0; i < sizeof proc_env_skip / sizeof proc_env_skip[0]; i++)
			skip = skip || strncmp(*v, proc_env_skip[i], strlen(proc_env_skip[i])) == 0;
		if (!skip)
			p->envp[k++] = *v;  /* borrowed: the backend never changes its environment */
	}
	if (asprintf(&p->owned[0], "SESSION_PORT=0") < 0 ||
	    asprintf(&p->owned[1], "SESSION_HOST=%s", e->session_host) < 0 ||
	    asprintf(&p->owned[2], "DATABASE_URL=%s", e->database_url) < 0 ||
	    asprintf(&p->owned[3], "STATEROOM_SECRET=%s", e->secret) < 0 ||
	    asprintf(&p->owned[4], "STATEROOM_TICKET_TTL=%ld", e->ticket_ttl) < 0 ||
	    asprintf(&p->owned[5], "SESSION_PARENT_PID=%d", (int)uv_os_getpid()) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < PROC_N_OWNED; i++)
		p->envp[k++] = p->owned[i];
	p->id_slot = k;
	return 0;
}

static void proc_destroy(void *state)
{
	struct proc *p = state;

	if (!p)
		return;
	for (size_t i = 0; i < PROC_N_OWNED; i++)
		free(p->owned[i]);
	free(p->envp);
	free(p);
}

static int proc_create(const struct sched_env *env, void **state)
{
	struct proc *p;
	char host[64];
	size_t host_len = sizeof host;
	int rc;

	if (!env || !env->db || env->dead_after_ms <= 0 || !env->session_binary || !env->session_host ||
	    !env->database_url || !env->secret || env->max_servers < 1 || env->min_servers < 0 ||
	    env->min_servers > env->max_servers || env->server_idle_ms < 1 || env->spawn_wait_ms < 1)
		return -EINVAL;
	p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->env = env;
	p->loop = env->loop;
	snprintf(p->dead_ms, sizeof p->dead_ms, "%" PRId64, env->dead_after_ms);
	snprintf(p->max, sizeof p->max, "%d", env->max_servers);
	snprintf(p->wait_ms, sizeof p->wait_ms, "%" PRId64, env->spawn_wait_ms);
	if (uv_os_gethostname(host, &host_len) < 0)
		strcpy(host, "?");
	snprintf(p->owner, sizeof p->owner, "%s pid %d", host, (int)uv_os_getpid());
	rc = proc_build_env(p);
	if (rc < 0) {
		proc_destroy(p);
		return rc;
	}
	*state = p;
	return 0;
}

static void proc_start(void *state)
{
	struct proc *p = state;

	p->started = true;
	if (p->env->min_servers > 0) {
		proc_timers_init(p);
		proc_keep_min(p);
	}
}

static void proc_timer_closed(uv_handle_t *h)
{
	struct proc *p = h->data;

	if (--p->closing_timers == 0)
		p->stop_done(p->stop_arg);
}

static void proc_maybe_stopped(struct proc *p)
{
	if (!p->stopping || p->closing || p->n_ops || p->n_queries || p->n_children)
		return;
	p->closing = true;
	if (!p->timers) {
		p->stop_done(p->stop_arg);
		return;
	}
	p->closing_timers = 2;
	p->poll.data = p->tick.data = p;
	uv_close((uv_handle_t *)&p->poll, proc_timer_closed);
	uv_close((uv_handle_t *)&p->tick, proc_timer_closed);
}

static void proc_stop(void *state, void (*done)(void *arg), void *arg)
{
	struct proc *p = state;
	struct proc_op *list = p->parked;

	p->stopping = true;
	p->stop_done = done;
	p->stop_arg = arg;
	p->parked = NULL;
	p->n_ops++;  /* hold: the callbacks below must not finish the stop early */
	while (list) {
		struct proc_op *op = list;
		list = op->next;
		proc_op_finish(op, SCHED_UNAVAIL, NULL);
	}
	for (struct proc_child *c = p->children; c; c = c->next) {
		if (!c->term_sent) {
			log_write(LOG_INFO, "stopping a session server", "{s:s}", "id", c->id);
			proc_signal(c, SIGTERM);
		}
	}
	p->n_ops--;
	proc_maybe_stopped(p);
}

const struct sched_ops sched_process_ops = {
	.name = "process",
	.create = proc_create,
	.start = proc_start,
	.place = proc_place,
	.locate = proc_locate,
	.stop = proc_stop,
	.destroy = proc_destroy,
};
