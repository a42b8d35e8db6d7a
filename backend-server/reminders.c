/* The reminder firer and the outbox sweeper: see reminders.h. */
#include "reminders.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

#define REM_CHANNEL "stateroom_reminders"
#define REM_FIRE_BATCH "100"
#define REM_SWEEP_BATCH "500"
#define REM_RETRY_MS 1000            /* after a failed statement */

struct rem {
	uv_loop_t *loop;
	struct db *db;
	struct rem_config cfg;
	uv_timer_t fire_timer, sweep_timer;
	uint64_t due;                /* when fire_timer fires (uv_now); 0: not armed */
	unsigned queries;            /* db queries of ours not yet answered */
	unsigned timers_open;
	bool started, closing, firing, fire_again, sweeping;
};

static void rem_fire(struct rem *r);
static void rem_sweep(struct rem *r);

int rem_new(const struct rem_config *cfg, struct rem **out)
{
	struct rem *r = calloc(1, sizeof *r);

	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	*out = r;
	return 0;
}

static void rem_maybe_free(struct rem *r)
{
	if (r->closing && !r->queries && !r->timers_open)
		free(r);
}

static void rem_on_fire_timer(uv_timer_t *t)
{
	struct rem *r = t->data;

	r->due = 0;
	rem_fire(r);
}

/* Fires within ms (keeps an earlier wake-up). */
static void rem_wake_in(struct rem *r, uint64_t ms)
{
	uint64_t at = uv_now(r->loop) + ms;

	if (r->closing || (r->due && r->due <= at))
		return;
	r->due = at;
	uv_timer_start(&r->fire_timer, rem_on_fire_timer, ms, 0);
}

static void rem_on_fired(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rem *r = arg;
	long fired;

	(void)sqlstate;
	r->queries--;
	r->firing = false;
	if (r->closing) {
		rem_maybe_free(r);
		return;
	}
	if (!res || PQntuples(res) != 1) {
		log_write(LOG_WARN, "reminders: firing failed", "{s:s}", "error", err ? err : "");
		rem_wake_in(r, REM_RETRY_MS);
		return;
	}
	fired = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (fired > 0)
		log_write(LOG_INFO, "reminders fired", "{s:i}", "count", (int)fired);
	/* A full batch: more may be due now. */
	if (fired >= atol(REM_FIRE_BATCH) || r->fire_again) {
		r->fire_again = false;
		rem_fire(r);
		return;
	}
	if (!PQgetisnull(res, 0, 1)) {
		long long ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

		rem_wake_in(r, ms < 0 ? 0 : (uint64_t)ms + 1);
	}
}

static void rem_fire(struct rem *r)
{
	const char *p[1] = { REM_FIRE_BATCH };

	if (r->closing)
		return;
	rem_wake_in(r, (uint64_t)r->cfg.poll_ms);
	if (r->firing) {
		r->fire_again = true;
		return;
	}
	if (db_query(r->db, "SELECT fired, next_ms FROM stateroom_reminders_fire($1::integer)", 1, p,
		     rem_on_fired, r) < 0)
		return;   /* the timer tries again */
	r->queries++;
	r->firing = true;
}

static void rem_on_notify(void *arg, const char *payload)
{
	struct rem *r = arg;

	(void)payload;   /* NULL (a new connection) also means: look again */
	if (r->closing)
		return;
	/* The new reminder may be due before the wake-up armed. */
	r->due = 0;
	uv_timer_stop(&r->fire_timer);
	rem_fire(r);
}

static void rem_on_swept(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct rem *r = arg;

	(void)sqlstate;
	r->queries--;
	r->sweeping = false;
	if (r->closing) {
		rem_maybe_free(r);
		return;
	}
	if (!res || PQntuples(res) != 1) {
		log_write(LOG_WARN, "notifications: sweeping failed", "{s:s}", "error", err ? err : "");
		return;   /* the next interval tries again */
	}
	/* A full batch: more is there; small batches keep locks short. */
	if (strtol(PQgetvalue(res, 0, 0), NULL, 10) >= atol(REM_SWEEP_BATCH))
		rem_sweep(r);
}

static void rem_sweep(struct rem *r)
{
	const char *p[1] = { REM_SWEEP_BATCH };

	if (r->closing || r->sweeping)
		return;
	if (db_query(r->db, "SELECT stateroom_notify_sweep($1::integer)", 1, p, rem_on_swept, r) < 0)
		return;
	r->queries++;
	r->sweeping = true;
}

static void rem_on_sweep_timer(uv_timer_t *t)
{
	rem_sweep(t->data);
}

static void rem_on_timer_closed(uv_handle_t *h)
{
	struct rem *r = h->data;

	r->timers_open--;
	rem_maybe_free(r);
}

void rem_start(struct rem *r, uv_loop_t *loop, struct db *db)
{
	if (r->started || r->closing)
		return;
	r->started = true;
	r->loop = loop;
	r->db = db;
	uv_timer_init(loop, &r->fire_timer);
	uv_timer_init(loop, &r->sweep_timer);
	r->fire_timer.data = r;
	r->sweep_timer.data = r;
	r->timers_open = 2;
	if (db_listen(db, REM_CHANNEL, rem_on_notify, r) < 0)
		log_write(LOG_WARN, "reminders: cannot listen; polling only", NULL);
	rem_fire(r);
	uv_timer_start(&r->sweep_timer, rem_on_sweep_timer, 0, (uint64_t)r->cfg.sweep_ms);
}

void rem_close(struct rem *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	if (r->started) {
		uv_close((uv_handle_t *)&r->fire_timer, rem_on_timer_closed);
		uv_close((uv_handle_t *)&r->sweep_timer, rem_on_timer_closed);
	}
	rem_maybe_free(r);
}
