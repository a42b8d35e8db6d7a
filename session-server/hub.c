/* hub: rooms in memory (hub.h; the files of the hub are listed in
 * hub_internal.h). */
#include "hub.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "container.h"
#include "hookev.h"
#include "hub_internal.h"
#include "log.h"
#include "rules.h"
#include "store.h"

#define HUB_TICK_MS 1000
/* Where the session servers are told of a room's moderation (migration
 * 020): {"room","action"} after an action, {"room","deleted":true}. */
#define HUB_ROOM_CHANNEL "stateroom_room"

/* -------------------------------------------------------------- members */

/* rooms.members, the number of distinct users connected, is written by the
 * transport and not by an application: it is a fact of who is connected
 * (room_join/room_leave), the same for every application, and the rooms
 * list shows it for rooms of any kind. It changes with every join and leave,
 * so it is written at most once a tick per room, one write in flight; a
 * room freed meanwhile leaves its struct to the write's callback. */
struct members {
	long written;                 /* -1: none yet */
	long sent;                    /* in the write in flight */
	bool writing, orphan;
};

static void members_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct members *m = arg;

	(void)sqlstate;
	m->writing = false;
	if (m->orphan) {
		free(m);
		return;
	}
	if (res)
		m->written = m->sent;
	else
		log_write(LOG_WARN, "writing the member count failed", "{s:s}", "error",
			  err ? err : "");
}

/* Writes n while the room is pinned here; a failed write is tried again at
 * the next tick. */
static void members_flush(struct app_room *r, long n)
{
	struct hub *h = r->hub;
	struct members *m = r->members;
	char count[24];
	const char *p[] = { r->room.id, count, h->cfg.server_id };

	if (!h->db || m->writing || n == m->written)
		return;
	snprintf(count, sizeof(count), "%ld", n);
	if (db_query(h->db, "UPDATE rooms SET members = $2::integer WHERE id = $1 AND server_id = $3",
		     3, p, members_done, m) != 0)
		return;
	m->writing = true;
	m->sent = n;
}

static void members_free(struct members *m)
{
	if (m && m->writing)
		m->orphan = true;
	else
		free(m);
}

/* ------------------------------------------------------------------ rooms */

static void room_free(struct app_room *r)
{
	struct hub *h = r->hub;

	if (r->life != LIFE_LOADING && !r->inbox && !h->closing && h->cfg.on_room)
		h->cfg.on_room(h->cfg.on_room_ud, r->room.id, false);
	if (r->counted && r->inbox)
		h->n_inboxes--;
	else if (r->counted)
		h->n_rooms--;
	step_close(r);
	if (r->life != LIFE_LOADING)
		r->app->dispose(r->state);
	members_free(r->members);
	rules_free(r->rules);
	rlog_fini(&r->log);
	room_table_remove(&h->table, &r->room);
	room_fini(&r->room);
	free(r);
}
static void on_fetched(void *arg, int status, const struct registry_room *row);
static void room_loaded(struct app_room *r, int status, const struct app_record *recs, size_t n);
static void finish_load(struct app_room *r, uint16_t code, const char *reason);
static void rules_refresh(struct app_room *r);

static int start_fetch(struct app_room *r)
{
	struct hub *h = r->hub;
	int rc;

	if (!h->reg || !h->db)
		return -EAGAIN;
	assert(!r->fetching);
	rc = registry_fetch_room(h->reg, r->room.id, on_fetched, r);
	if (rc == 0)
		r->fetching = true;
	return rc;
}

static void hub_maybe_free(struct hub *h);

/* Lets a room's clients go (they look it up again) and stops its writes. */
static void kill_room(struct app_room *r, uint16_t code, const char *reason)
{
	struct app_client *c;

	assert(r->life != LIFE_LOADING);
	r->life = LIFE_DEAD;
	step_stop(r);
	dlist_for_each(c, &r->clients.l, node)
		ws_close(c->ws, code, reason);
	while ((c = client_list_first(&r->waiters)))
		admit_refuse(c, code, reason);
	rlog_stop(&r->log);
}

/* Answers the clients waiting for a load: admitted, or refused with code. */
static void finish_load(struct app_room *r, uint16_t code, const char *reason)
{
	struct hub *h = r->hub;
	struct app_client *c;

	while ((c = client_list_first(&r->waiters))) {
		client_list_remove(&r->waiters, c);
		c->where = CL_OUT;
		if (code)
			admit_refuse(c, code, reason);
		else if (c->epoch != r->epoch)
			admit_refuse(c, WIRE_CLOSE_NOT_HERE, "room not hosted here at that epoch");
		else
			admit_join(r, c);
	}
	if (r->life == LIFE_LOADING)
		room_free(r);
	else if (r->clients.n == 0 && r->empty_since == 0)
		r->empty_since = uv_now(h->loop);
}

/* During shutdown every answer just frees what waited for it. */
bool hub_room_answered(struct app_room *r)
{
	struct hub *h = r->hub;
	struct app_client *c;

	if (!h->closing)
		return false;
	while ((c = client_list_first(&r->waiters)))
		admit_refuse(c, WIRE_CLOSE_RESTART, "server shutting down");
	if (!r->fetching && !rlog_writing(&r->log) && r->reads == 0)
		room_free(r);
	hub_maybe_free(h);
	return true;
}

static const struct rlog_ops room_log_ops;

/* The room's latest records are in (status 0), or could not be read. */
static void room_loaded(struct app_room *r, int status, const struct app_record *recs, size_t n)
{
	struct hub *h = r->hub;

	if (h->draining) {
		finish_load(r, WIRE_CLOSE_RESTART, "server draining");
		return;
	}
	if (status != 0 || !(r->members = calloc(1, sizeof(*r->members))))
		goto fail;
	r->members->written = -1;
	rlog_init(&r->log, &room_log_ops, r, r->persistent ? h->db : NULL, r->room.id,
		  h->cfg.server_id, r->epoch, n > 0 ? recs[n - 1].seq : 0);
	if (r->app->create(r, recs, n, &r->state) != 0)
		goto fail;
	assert(r->life == LIFE_LOADING);
	r->life = LIFE_READY;
	if (h->cfg.on_room && !r->inbox)
		h->cfg.on_room(h->cfg.on_room_ud, r->room.id, true);
	finish_load(r, 0, NULL);
	if (r->rules_again && r->life == LIFE_READY) {
		r->rules_again = false;
		rules_refresh(r);
	}
	return;
fail:
	finish_load(r, WIRE_CLOSE_INTERNAL, "room could not be loaded");
}

static void on_loaded(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct app_room *r = arg;

	assert(r->fetching);
	r->fetching = false;
	if (hub_room_answered(r))
		return;
	room_loaded(r, status, recs, n);
}

/* The room's log, after its row (and rules): room_loaded follows. */
static void load_log(struct app_room *r)
{
	struct hub *h = r->hub;

	/* An ephemeral room starts empty, at seq 1. */
	if (!r->persistent) {
		room_loaded(r, 0, NULL, 0);
		return;
	}
	if (store_load(h->db, r->room.id, h->cfg.log_window, on_loaded, r) == 0) {
		r->fetching = true;
		return;
	}
	finish_load(r, WIRE_CLOSE_INTERNAL, "room could not be loaded");
}

/* Takes fresh rules (r's capacity follows them). */
static void set_rules(struct app_room *r, struct rules *fresh)
{
	rules_free(r->rules);
	r->rules = fresh;
	room_set_capacity(&r->room, fresh->capacity > 0 ? (unsigned)fresh->capacity : 0,
			  r->hub->cfg.max_room_users);
}

/* The rules of a loading room, read before anyone is admitted (its
 * actions come after it is loaded, in a re-read). */
static void on_rules_loaded(void *arg, int status, struct rules *fresh,
			    const struct app_action *acts, size_t n, bool more)
{
	struct app_room *r = arg;

	(void)acts;
	(void)n;
	(void)more;
	assert(r->fetching);
	r->fetching = false;
	if (hub_room_answered(r)) {
		rules_free(fresh);
		return;
	}
	if (status == -ENOENT) {
		finish_load(r, WIRE_CLOSE_DELETED, "room deleted");
		return;
	}
	if (status != 0 || r->hub->draining) {
		finish_load(r, r->hub->draining ? WIRE_CLOSE_RESTART : WIRE_CLOSE_INTERNAL,
			    r->hub->draining ? "server draining" : "room could not be loaded");
		return;
	}
	set_rules(r, fresh);
	r->acted = fresh->actions;
	/* A persistent room logs the actions its log lacks (taken while it was
	 * loaded nowhere); an ephemeral one those from now on. */
	r->handed = r->persistent ? RULES_AFTER_LOGGED : fresh->actions;
	if (r->persistent && fresh->actions > fresh->logged)
		r->rules_again = true;
	load_log(r);
}

/* Counts r (loading, its application just known) against its kind's bound.
 * Returns false when that bound is reached: the room is then unpinned, so
 * that its next look-up places it on a server with a free slot rather than
 * here again. */
static bool count_room(struct app_room *r, const struct registry_room *row)
{
	struct hub *h = r->hub;
	size_t *n;

	r->inbox = r->app == &app_inbox_ops;
	n = r->inbox ? &h->n_inboxes : &h->n_rooms;
	if (*n >= (r->inbox ? h->cfg.max_inboxes : h->cfg.max_rooms)) {
		log_write(LOG_WARN, r->inbox ? "no inbox slot" : "no room slot", "{s:s}", "room",
			  r->room.id);
		registry_unpin(h->reg, r->room.id, row->epoch);
		return false;
	}
	(*n)++;
	r->counted = true;
	return true;
}

static void on_fetched(void *arg, int status, const struct registry_room *row)
{
	struct app_room *r = arg;
	struct hub *h = r->hub;
	uint16_t code = 0;
	const char *reason = NULL;

	assert(r->fetching);
	r->fetching = false;
	if (hub_room_answered(r))
		return;

	if (h->draining) {
		code = WIRE_CLOSE_RESTART;
		reason = "server draining";
	} else if (status == -EIO) {
		code = WIRE_CLOSE_INTERNAL;
		reason = "room could not be loaded";
	} else if (status != 0 || !row->pinned_here) {
		code = WIRE_CLOSE_NOT_HERE;
		reason = "room not hosted here";
		if (r->life != LIFE_LOADING) {
			/* Re-pinned elsewhere: we have been fenced. */
			log_write(LOG_WARN, "room fenced", "{s:s}", "room", r->room.id);
			kill_room(r, WIRE_CLOSE_NOT_HERE, reason);
		}
	} else if (r->life == LIFE_LOADING) {
		r->app = app_find(row->app);
		if (!r->app) {
			log_write(LOG_ERROR, "unknown room application", "{s:s,s:s}", "room", r->room.id,
				  "app", row->app);
			code = WIRE_CLOSE_INTERNAL;
			reason = "unknown room application";
		} else if (!app_hosted(r->app)) {
			/* Placement pins a room only where its application runs
			 * (migration 022); a pin from before this server came back
			 * with fewer applications is another server's to take. */
			code = WIRE_CLOSE_NOT_HERE;
			reason = "room application not hosted here";
		} else if (!count_room(r, row)) {
			code = WIRE_CLOSE_NOT_HERE;
			reason = r->inbox ? "no inbox slot on this server" : "no room slot on this server";
		} else {
			r->epoch = row->epoch;
			r->persistent = row->persistent;
			r->seats = row->seats;
			room_set_capacity(&r->room, row->capacity > 0 ? (unsigned)row->capacity : 0,
					  h->cfg.max_room_users);
			/* An inbox has no moderation: its owner alone may join. */
			if (r->inbox) {
				load_log(r);
				return;
			}
			if (rules_fetch(h->db, r->room.id, RULES_AFTER_LAST, on_rules_loaded, r) == 0) {
				r->fetching = true;
				return;
			}
			code = WIRE_CLOSE_INTERNAL;
			reason = "room could not be loaded";
		}
	} else if (row->epoch > r->epoch) {
		/* Pinned here again at a newer epoch: the room may have lived on
		 * other servers meanwhile (moved away on a suspicion, then back),
		 * and what we hold is what it was when it left: records since
		 * would be missing from its welcomes and its seqs would be taken
		 * again (found by the failover lab). Let it go as if fenced; its
		 * clients look it up again and find it loaded afresh here. */
		code = WIRE_CLOSE_NOT_HERE;
		reason = "room moved: look it up again";
		log_write(LOG_INFO, "room pinned here again: loading it afresh", "{s:s}", "room", r->room.id);
		kill_room(r, code, reason);
	} else {
		room_set_capacity(&r->room, row->capacity > 0 ? (unsigned)row->capacity : 0,
				  h->cfg.max_room_users);
	}
	finish_load(r, code, reason);
}

/* ----------------------------------------------------------------- drain */

static void drain_room(struct app_room *r)
{
	struct app_client *c;

	r->drain_upto = 0;
	dlist_for_each(c, &r->clients.l, node)
		ws_close(c->ws, WIRE_CLOSE_RESTART, "server draining");
}

/* Sends away the clients of rooms with nothing left to wait for, and tells
 * hub_drain's caller once no room has anything left to write. */
static void drain_check(struct hub *h)
{
	bool quiet = true;

	for (size_t i = 0; i < h->table.n; i++) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		/* A write that failed or was fenced: what it held is not coming. */
		if (r->drain_upto && !rlog_writing(&r->log))
			drain_room(r);
		if (rlog_busy(&r->log) || r->fetching)
			quiet = false;
	}
	if (quiet && h->drain_done) {
		void (*done)(void *) = h->drain_done;
		h->drain_done = NULL;
		done(h->drain_arg);
	}
}

/* ------------------------------------------------------------------- log */

static bool log_answered(void *owner)
{
	return hub_room_answered(owner);
}

/* One line of --commit-log; a short write is not retried (the file is for
 * the lab, which then sees an ack it cannot account for). */
static void commit_log(struct app_room *r, int64_t from, int64_t to, bool restored)
{
	struct hub *h = r->hub;
	char line[256];
	int n;

	if (h->cfg.commit_log_fd < 0)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"room\":\"%s\",\"server\":\"%s\",\"epoch\":%" PRId64 ",\"from\":%" PRId64
		     ",\"to\":%" PRId64 "%s}\n",
		     r->room.id, h->cfg.server_id, r->epoch, from, to, restored ? ",\"restored\":true" : "");
	if (n > 0 && (size_t)n < sizeof(line) && write(h->cfg.commit_log_fd, line, (size_t)n) < 0)
		log_write(LOG_WARN, "commit log write failed", "{s:s}", "error", strerror(errno));
}

static void log_committed(void *owner, int64_t from, int64_t seq)
{
	struct app_room *r = owner;
	struct hub *h = r->hub;

	commit_log(r, from, seq, false);
	r->app->committed(r->state, seq);
	if (r->drain_upto && seq >= r->drain_upto)
		drain_room(r);
	if (h->draining)
		drain_check(h);
}

static void log_rolled_back(void *owner, int64_t seq)
{
	struct app_room *r = owner;

	r->app->rollback(r->state, seq);
	/* Action records may have gone with the batch: once the log is back,
	 * the actions after its last are handed over again. */
	if (r->rules) {
		r->handed = RULES_AFTER_LOGGED;
		r->rules_stale = true;
	}
}

static void log_restored(void *owner, const struct app_record *recs, size_t n)
{
	struct app_room *r = owner;

	commit_log(r, recs[0].seq, recs[n - 1].seq, true);
	r->app->restore(r->state, recs, n);
}

static void log_lost(void *owner, int err)
{
	if (err == -ESTALE)
		kill_room(owner, WIRE_CLOSE_NOT_HERE, "room moved to another server");
	else
		kill_room(owner, WIRE_CLOSE_INTERNAL, "out of memory");
}

static const struct rlog_ops room_log_ops = {
	.committed = log_committed,
	.rolled_back = log_rolled_back,
	.restored = log_restored,
	.lost = log_lost,
	.answered = log_answered,
};

/* ------------------------------------------------------------ moderation */

/* Closes every connection of user in r with code. */
static void close_user(struct app_room *r, const char *user, uint16_t code, const char *reason)
{
	struct app_client *c;

	dlist_for_each(c, &r->clients.l, node)
		if (strcmp(c->strs, user) == 0)
			ws_close(c->ws, code, reason);
}

static void on_rules(void *arg, int status, struct rules *fresh, const struct app_action *acts,
		     size_t n, bool more)
{
	struct app_room *r = arg;
	struct app_client *c;
	int64_t now = rules_now();
	bool again;

	r->reads--;
	r->rules_busy = false;
	if (hub_room_answered(r) || r->life != LIFE_READY) {
		rules_free(fresh);
		return;
	}
	if (status == -ENOENT) {
		log_write(LOG_INFO, "room deleted", "{s:s}", "room", r->room.id);
		kill_room(r, WIRE_CLOSE_DELETED, "room deleted");
		return;
	}
	if (status != 0) {
		r->rules_stale = true;
		return;
	}
	set_rules(r, fresh);
	dlist_for_each(c, &r->clients.l, node)
		if (rules_banned(r->rules, c->strs, now))
			ws_close(c->ws, WIRE_CLOSE_BANNED, "banned");
	for (size_t i = 0; i < n; i++) {
		if (acts[i].id <= r->acted)
			continue;
		r->acted = acts[i].id;
		if (acts[i].target && strcmp(acts[i].action, "kick") == 0)
			close_user(r, acts[i].target, WIRE_CLOSE_REMOVED, "removed");
	}
	again = r->rules_again || more;
	r->rules_again = false;
	if (n > 0 && r->app->actions) {
		if (r->app->actions(r->state, acts, n) != 0) {
			r->rules_stale = true;
			return;
		}
		r->handed = acts[n - 1].id;
	} else if (n > 0) {
		r->handed = acts[n - 1].id;
	}
	if (again)
		rules_refresh(r);
}

/* Reads r's rules and its actions not handed over yet again (once at a
 * time: told meanwhile, it reads once more after). */
static void rules_refresh(struct app_room *r)
{
	struct hub *h = r->hub;

	if (!r->rules || r->life != LIFE_READY || !h->db)
		return;
	if (r->rules_busy) {
		r->rules_again = true;
		return;
	}
	r->rules_stale = false;
	if (rules_fetch(h->db, r->room.id, r->handed, on_rules, r) != 0) {
		r->rules_stale = true;
		return;
	}
	r->rules_busy = true;
	r->reads++;
}

/* A notification on stateroom_room; NULL: LISTEN again after the database
 * came back, and what was told meanwhile is lost: every room re-reads. */
static void on_room_notify(void *arg, const char *payload)
{
	struct hub *h = arg;
	json_t *j;
	const char *id;
	struct room *found;
	struct app_room *r;

	if (h->closing)
		return;
	if (!payload) {
		for (size_t i = 0; i < h->table.n; i++) {
			r = container_of(h->table.rooms[i], struct app_room, room);
			if (r->life == LIFE_LOADING)
				r->rules_again = true;
			else
				rules_refresh(r);
		}
		return;
	}
	j = json_loads(payload, 0, NULL);
	id = json_string_value(json_object_get(j, "room"));
	found = id ? room_table_find(&h->table, id) : NULL;
	if (found) {
		r = container_of(found, struct app_room, room);
		if (r->life == LIFE_LOADING) {
			/* Its load reads it after: a deletion finds no room. */
			r->rules_again = true;
		} else if (r->life == LIFE_READY && r->rules &&
			   json_is_true(json_object_get(j, "deleted"))) {
			/* Its log is gone with it: nobody should come back. */
			log_write(LOG_INFO, "room deleted", "{s:s}", "room", r->room.id);
			kill_room(r, WIRE_CLOSE_DELETED, "room deleted");
		} else {
			rules_refresh(r);
		}
	}
	json_decref(j);
}

/* ---------------------------------------------------------------- attach */

static void wait_for_load(struct app_room *r, struct app_client *c)
{
	assert(c->where == CL_OUT);
	c->where = CL_WAITING;
	c->room = r;
	client_list_append(&r->waiters, c);
}

/* Takes a new client to its room: into it at once when the room is ready
 * at the client's epoch, else to wait for the room's row (and log) to be
 * read; a room not held yet is made here, loading. */
static void attach(struct hub *h, struct app_client *c)
{
	struct room *found;
	struct app_room *r;

	if (h->draining) {
		ws_close(c->ws, WIRE_CLOSE_RESTART, "server draining");
		return;
	}
	found = room_table_find(&h->table, c->room_id);
	if (found) {
		r = container_of(found, struct app_room, room);
		if (r->life == LIFE_DEAD) {
			ws_close(c->ws, WIRE_CLOSE_NOT_HERE, "room not hosted here");
			return;
		}
		if (r->life == LIFE_READY && !r->fetching) {
			if (c->epoch == r->epoch) {
				admit_join(r, c);
				return;
			}
			if (c->epoch < r->epoch) {
				ws_close(c->ws, WIRE_CLOSE_NOT_HERE, "room not hosted here at that epoch");
				return;
			}
		}
		/* Loading, or a newer epoch: ask the database (once). */
		wait_for_load(r, c);
		if (!r->fetching && start_fetch(r) != 0)
			admit_refuse(c, WIRE_CLOSE_INTERNAL, "room could not be loaded");
		return;
	}

	r = calloc(1, sizeof(*r));
	if (!r) {
		ws_close(c->ws, WIRE_CLOSE_INTERNAL, "out of memory");
		return;
	}
	r->hub = h;
	room_init(&r->room, c->room_id, h->cfg.max_room_users, h->cfg.max_room_users);
	r->room.max_tabs = h->cfg.max_user_conns;
	if (room_table_add(&h->table, &r->room) != 0) {
		room_fini(&r->room);
		free(r);
		ws_close(c->ws, WIRE_CLOSE_NOT_HERE, "no room slot on this server");
		return;
	}
	wait_for_load(r, c);
	if (start_fetch(r) != 0) {
		admit_refuse(c, WIRE_CLOSE_INTERNAL, "room could not be loaded");
		room_free(r);
	}
}

int hub_accept(struct hub *h, struct httpd_req *req, const char *response, size_t len,
	       const struct ticket *t, const char *protocol, int64_t since)
{
	struct app_client *c;
	int rc = admit_accept(h, req, response, len, t, protocol, since, &c);

	if (rc != 0)
		return rc;
	attach(h, c);
	return 0;
}

/* ------------------------------------------------------------------ timer */

/* The heartbeat is older than the lease while the database connection is
 * up (its queries hang: a partition, a frozen database): whoever the
 * backends chose for these rooms since, it may not be us. Lets every
 * client go to find out. A connection that is down (refused, reset) is
 * PostgreSQL stopped or restarting, for the backends too: the clients stay,
 * and their sends are answered unavailable until it is back. */
static void check_lease(struct hub *h)
{
	uint64_t age;

	if (!h->reg || !h->cfg.lease_ms)
		return;
	age = registry_beat_age(h->reg);
	if (age == UINT64_MAX || age <= h->cfg.lease_ms) {
		if (h->lease_lost)
			log_write(LOG_INFO, "heartbeat back: taking rooms again", NULL);
		h->lease_lost = false;
		return;
	}
	if (!db_connected(h->db))
		return;
	if (!h->lease_lost)
		log_write(LOG_WARN, "no heartbeat within the lease: letting every room go", "{s:I,s:I}",
			  "age_ms", (json_int_t)age, "lease_ms", (json_int_t)h->cfg.lease_ms);
	h->lease_lost = true;
	for (size_t i = 0; i < h->table.n; i++) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		if (r->life == LIFE_READY)
			kill_room(r, WIRE_CLOSE_RESTART, "cut off from the database: look the room up again");
	}
}

static void on_tick(uv_timer_t *t)
{
	struct hub *h = container_of(t, struct hub, timer);
	uint64_t now = uv_now(h->loop);

	check_lease(h);

	/* Backwards: room_free() moves the last room into the freed slot. */
	for (size_t i = h->table.n; i-- > 0;) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		bool unused = !r->fetching && !rlog_writing(&r->log) && r->reads == 0 &&
			      r->clients.n == 0 && r->waiters.n == 0;
		if (r->life == LIFE_DEAD) {
			if (unused)
				room_free(r);
			continue;
		}
		if (r->life == LIFE_LOADING)
			continue;
		if (r->app->tick)
			r->app->tick(r->state, now);
		if (r->rules_stale && !rlog_recovering(&r->log))
			rules_refresh(r);
		rlog_tick(&r->log);
		members_flush(r, (long)r->room.n_members);
		unused = unused && !rlog_busy(&r->log) && !rlog_recovering(&r->log);
		if (unused && r->empty_since &&
		    now - r->empty_since >= h->cfg.room_idle_ms) {
			log_write(LOG_INFO, "room unloaded", "{s:s}", "room", r->room.id);
			members_flush(r, 0);
			if (!r->inbox)
				hev_unloaded(h->hev, r->room.id);
			if (h->reg)
				registry_unpin(h->reg, r->room.id, r->epoch);
			room_free(r);
		}
	}
	hev_flush(h->hev);
	if (h->draining)
		drain_check(h);
}

int hub_new(uv_loop_t *loop, const struct hub_config *cfg, struct ws_server *ws, struct hub **out)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	/* Loading rooms are counted once their application is known; until
	 * then the table's size bounds them. */
	if (room_table_init(&h->table, (size_t)cfg->max_rooms + cfg->max_inboxes) != 0) {
		free(h);
		return -ENOMEM;
	}
	h->loop = loop;
	h->cfg = *cfg;
	if (h->cfg.log_window == 0)
		h->cfg.log_window = 1000;
	h->ws = ws;
	uv_timer_init(loop, &h->timer);
	pace_init(&h->pace, loop, cfg->rate_limit, cfg->rate_burst, admit_paced);
	h->timers_open = 2;
	uv_timer_start(&h->timer, on_tick, HUB_TICK_MS, HUB_TICK_MS);
	*out = h;
	return 0;
}

void hub_set_registry(struct hub *h, struct registry *reg, struct db *db)
{
	h->reg = reg;
	h->db = db;
	if (db && !h->hev)
		h->hev = hev_new(db);
	if (db && !h->listening && db_listen(db, HUB_ROOM_CHANNEL, on_room_notify, h) == 0)
		h->listening = true;
}

void hub_drain(struct hub *h, void (*done)(void *arg), void *arg)
{
	h->draining = true;
	h->drain_done = done;
	h->drain_arg = arg;
	for (size_t i = 0; i < h->table.n; i++) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		struct app_client *c;

		while ((c = client_list_first(&r->waiters)))
			admit_refuse(c, WIRE_CLOSE_RESTART, "server draining");
		dlist_for_each(c, &r->clients.l, node)
			admit_update_input(c);
		/* What the clients sent should be durable (committed(), where an
		 * application acknowledges) before they are sent away, so that
		 * they need not send it again elsewhere. */
		if (rlog_writing(&r->log) && r->life != LIFE_DEAD && rlog_last_seq(&r->log) > 0)
			r->drain_upto = rlog_last_seq(&r->log);
		else
			drain_room(r);
	}
	drain_check(h);
}

static void hub_maybe_free(struct hub *h)
{
	/* While closing, a room is held only for a query in flight. */
	if (!h->closing || h->timers_open || h->table.n > 0)
		return;
	room_table_fini(&h->table);
	free(h);
}

static void timer_gone(void *arg)
{
	struct hub *h = arg;

	h->timers_open--;
	hub_maybe_free(h);
}

static void timer_closed(uv_handle_t *handle)
{
	timer_gone(handle->data);
}

void hub_close(struct hub *h)
{
	if (!h || h->closing)
		return;
	h->closing = true;
	hev_free(h->hev);
	h->hev = NULL;
	for (size_t i = h->table.n; i-- > 0;) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		if (!r->fetching && !rlog_writing(&r->log) && r->reads == 0)
			room_free(r);
		else
			step_stop(r);
	}
	h->timer.data = h;
	uv_close((uv_handle_t *)&h->timer, timer_closed);
	pace_close(&h->pace, timer_gone, h);
}

void hub_stats(void *ud, struct registry_stats *st, char *ids, size_t ids_len)
{
	struct hub *h = ud;
	size_t off = 0;

	st->rooms = (long)h->n_rooms;
	st->inboxes = (long)h->n_inboxes;
	st->conns = (long)ws_server_conn_count(h->ws);
	if (ids_len < 3)
		return;
	ids[off++] = '{';
	for (size_t i = 0; i < h->table.n; i++) {
		const char *id = h->table.rooms[i]->id;
		size_t n = strlen(id);
		/* Inboxes are swept by their member count (registry.h). */
		if (container_of(h->table.rooms[i], struct app_room, room)->inbox)
			continue;
		if (off + n + 3 > ids_len) {
			ids[0] = '\0';
			return;
		}
		if (off > 1)
			ids[off++] = ',';
		memcpy(ids + off, id, n);
		off += n;
	}
	ids[off++] = '}';
	ids[off] = '\0';
}

size_t hub_room_count(const struct hub *h)
{
	return h->n_rooms;
}

size_t hub_inbox_count(const struct hub *h)
{
	return h->n_inboxes;
}

size_t hub_client_count(const struct hub *h)
{
	return h->n_clients;
}

uint64_t hub_messages_total(const struct hub *h)
{
	return h->messages;
}

uint64_t hub_rate_limited_total(const struct hub *h)
{
	return pace_limited_total(&h->pace);
}
