#include "hub.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "container.h"
#include "dlist.h"
#include "log.h"
#include "pace.h"
#include "room.h"
#include "roomlog.h"
#include "store.h"
#include "strpack.h"

#define HUB_TICK_MS 1000

enum client_where { CL_OUT, CL_WAITING, CL_IN };

/* A room's life, only forward: loading (its row and log are being read,
 * clients wait), ready (its application runs, it takes clients), dead
 * (fenced or failed: takes no one, unloads when empty). */
enum room_life { LIFE_LOADING, LIFE_READY, LIFE_DEAD };

struct client_list {
	struct dlist l;
	size_t n;
};

struct app_client {
	struct hub *hub;
	struct ws_conn *ws;
	struct app_room *room;
	int64_t epoch;                /* the ticket's */
	const char *name, *room_id;   /* the ticket's, in strs after the user */
	int64_t since;
	void *app_data;
	struct dlist_node node;       /* in its room's clients or waiters */
	struct pace_bucket bucket;    /* the rate limit */
	uint64_t sent_at;             /* loop time a frame was last queued by the app */
	/* The small fields last, next to strs, so that no padding sits
	 * between them: an idle connection pays for every byte here. */
	enum client_where where;
	/* Its subprotocol: until admitted, 1 + its index in app_protocols() (0:
	 * none); then its index in its room application's protocols. */
	uint8_t protocol;
	bool ready;                   /* the application let its frames in */
	bool throttled;               /* its bucket is empty (pace_take): not read meanwhile */
	/* The ticket's user, name and room, NUL-terminated one after the
	 * other: a connection costs their lengths, not the ticket's maxima. */
	char strs[];
};

struct app_room {
	struct room room;
	struct hub *hub;
	enum room_life life;
	bool fetching;                /* its rooms row or its log is being read */
	bool persistent;              /* false: no log in the database (app.h) */
	int64_t epoch;
	struct rlog log;              /* from when it is ready */
	unsigned reads;               /* app_log_read() queries in flight */
	struct members *members;      /* rooms.members on its way out */
	const struct room_app_ops *app;
	void *state;
	struct client_list clients;   /* admitted, in join order */
	struct client_list waiters;   /* waiting for the room to load */
	uint64_t empty_since;         /* 0 while someone is in */
	int64_t drain_upto;           /* draining: its clients go once this seq is committed */
};

struct hub {
	uv_loop_t *loop;
	struct hub_config cfg;
	struct ws_server *ws;
	struct registry *reg;
	struct db *db;
	struct room_table table;
	uv_timer_t timer;
	struct pace pace;             /* the connections' token buckets */
	unsigned timers_open;
	bool draining, closing;
	void (*drain_done)(void *arg);  /* hub_drain's, until it has run */
	void *drain_arg;
	size_t n_clients;
	uint64_t messages;
};

/* ------------------------------------------------------------------ lists */

static void list_append(struct client_list *l, struct app_client *c)
{
	dlist_push_back(&l->l, &c->node);
	l->n++;
}

static void list_remove(struct client_list *l, struct app_client *c)
{
	dlist_remove(&l->l, &c->node);
	l->n--;
}

static struct app_client *list_first(const struct client_list *l)
{
	return dlist_first(&l->l, struct app_client, node);
}

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

	if (r->life != LIFE_LOADING && !h->closing && h->cfg.on_room)
		h->cfg.on_room(h->cfg.on_room_ud, r->room.id, false);
	if (r->life != LIFE_LOADING)
		r->app->dispose(r->state);
	members_free(r->members);
	rlog_fini(&r->log);
	room_table_remove(&h->table, &r->room);
	room_fini(&r->room);
	free(r);
}

/* Sends a client away before it was admitted. */
static void refuse(struct app_client *c, uint16_t code, const char *reason)
{
	if (c->where == CL_WAITING)
		list_remove(&c->room->waiters, c);
	c->where = CL_OUT;
	c->room = NULL;
	ws_close(c->ws, code, reason);
}

/* The index of c's subprotocol in its room application's, or -1. */
static int protocol_served(const struct app_room *r, const struct app_client *c)
{
	const char *want = c->protocol ? app_protocols()[c->protocol - 1] : "";

	for (int i = 0; r->app->protocols[i]; i++)
		if (strcmp(r->app->protocols[i], want) == 0)
			return i;
	return -1;
}

static void admit(struct app_room *r, struct app_client *c)
{
	int proto = protocol_served(r, c);
	enum room_join_result joined;

	if (proto < 0) {
		refuse(c, WIRE_CLOSE_SUBPROTOCOL, "subprotocol not served by this room");
		return;
	}
	joined = room_join(&r->room, c->strs, c->name);
	switch (joined) {
	case ROOM_JOINED_FIRST:
	case ROOM_JOINED_AGAIN:
		break;
	case ROOM_FULL:
		refuse(c, WIRE_CLOSE_ROOM_FULL, "room full");
		return;
	case ROOM_TOO_MANY_TABS:
		refuse(c, WIRE_CLOSE_USER_CONNS, "too many connections of this user in this room");
		return;
	case ROOM_BAD_USER:
	case ROOM_NO_MEMORY:
		refuse(c, WIRE_CLOSE_INTERNAL, "cannot join");
		return;
	}
	c->where = CL_IN;
	c->protocol = (uint8_t)proto;
	c->room = r;
	list_append(&r->clients, c);
	r->empty_since = 0;
	r->hub->n_clients++;
	r->app->join(r->state, c, joined == ROOM_JOINED_FIRST);
}

static void on_fetched(void *arg, int status, const struct registry_room *row);

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
	dlist_for_each(c, &r->clients.l, node)
		ws_close(c->ws, code, reason);
	while ((c = list_first(&r->waiters)))
		refuse(c, code, reason);
	rlog_stop(&r->log);
}

/* Answers the clients waiting for a load: admitted, or refused with code. */
static void finish_load(struct app_room *r, uint16_t code, const char *reason)
{
	struct hub *h = r->hub;
	struct app_client *c;

	while ((c = list_first(&r->waiters))) {
		list_remove(&r->waiters, c);
		c->where = CL_OUT;
		if (code)
			refuse(c, code, reason);
		else if (c->epoch != r->epoch)
			refuse(c, WIRE_CLOSE_NOT_HERE, "room not hosted here at that epoch");
		else
			admit(r, c);
	}
	if (r->life == LIFE_LOADING)
		room_free(r);
	else if (r->clients.n == 0 && r->empty_since == 0)
		r->empty_since = uv_now(h->loop);
}

/* During shutdown every answer just frees what waited for it. */
static bool closing_cleanup(struct app_room *r)
{
	struct hub *h = r->hub;
	struct app_client *c;

	if (!h->closing)
		return false;
	while ((c = list_first(&r->waiters)))
		refuse(c, WIRE_CLOSE_RESTART, "server shutting down");
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
	if (h->cfg.on_room)
		h->cfg.on_room(h->cfg.on_room_ud, r->room.id, true);
	finish_load(r, 0, NULL);
	return;
fail:
	finish_load(r, WIRE_CLOSE_INTERNAL, "room could not be loaded");
}

static void on_loaded(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct app_room *r = arg;

	assert(r->fetching);
	r->fetching = false;
	if (closing_cleanup(r))
		return;
	room_loaded(r, status, recs, n);
}

static void on_fetched(void *arg, int status, const struct registry_room *row)
{
	struct app_room *r = arg;
	struct hub *h = r->hub;
	uint16_t code = 0;
	const char *reason = NULL;

	assert(r->fetching);
	r->fetching = false;
	if (closing_cleanup(r))
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
		} else {
			r->epoch = row->epoch;
			r->persistent = row->persistent;
			room_set_capacity(&r->room, row->capacity > 0 ? (unsigned)row->capacity : 0,
					  h->cfg.max_room_users);
			/* An ephemeral room starts empty, at seq 1. */
			if (!r->persistent) {
				room_loaded(r, 0, NULL, 0);
				return;
			}
			if (store_load(h->db, r->room.id, h->cfg.log_window, on_loaded, r) == 0) {
				r->fetching = true;
				return;
			}
			code = WIRE_CLOSE_INTERNAL;
			reason = "room could not be loaded";
		}
	} else {
		if (row->epoch > r->epoch) {
			r->epoch = row->epoch;
			rlog_repin(&r->log, r->epoch);
		}
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
	return closing_cleanup(owner);
}

static void log_committed(void *owner, int64_t seq)
{
	struct app_room *r = owner;
	struct hub *h = r->hub;

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
}

static void log_restored(void *owner, const struct app_record *recs, size_t n)
{
	struct app_room *r = owner;

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

int64_t app_log_append(struct app_room *r, const struct app_record *rec)
{
	if (r->hub->closing)
		return -EPIPE;
	return rlog_append(&r->log, rec);
}

struct hub_read {
	struct app_room *r;
	app_read_fn cb;
	void *arg;
};

static void on_read(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct hub_read *rd = arg;
	struct app_room *r = rd->r;

	r->reads--;
	rd->cb(rd->arg, status, recs, n);
	free(rd);
	closing_cleanup(r);
}

int app_log_read(struct app_room *r, int64_t after, int64_t before, size_t limit,
		 app_read_fn cb, void *arg)
{
	struct hub *h = r->hub;
	struct hub_read *rd;
	int rc;

	if (!r->persistent)
		return -ENOENT;
	if (!h->db || h->closing)
		return -EPIPE;
	rd = malloc(sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->r = r;
	rd->cb = cb;
	rd->arg = arg;
	rc = store_range(h->db, r->room.id, after, before, limit, on_read, rd);
	if (rc != 0) {
		free(rd);
		return rc;
	}
	r->reads++;
	return 0;
}

bool app_room_persistent(const struct app_room *r)
{
	return r->persistent;
}

size_t app_room_log_window(const struct app_room *r)
{
	return r->hub->cfg.log_window;
}

struct db *app_db(const struct app_room *r)
{
	return r->hub->db;
}

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
				admit(r, c);
				return;
			}
			if (c->epoch < r->epoch) {
				ws_close(c->ws, WIRE_CLOSE_NOT_HERE, "room not hosted here at that epoch");
				return;
			}
		}
		/* Loading, or a newer epoch: ask the database (once). */
		c->where = CL_WAITING;
		c->room = r;
		list_append(&r->waiters, c);
		if (!r->fetching && start_fetch(r) != 0)
			refuse(c, WIRE_CLOSE_INTERNAL, "room could not be loaded");
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
	c->where = CL_WAITING;
	c->room = r;
	list_append(&r->waiters, c);
	if (start_fetch(r) != 0) {
		refuse(c, WIRE_CLOSE_INTERNAL, "room could not be loaded");
		room_free(r);
	}
}

/* ------------------------------------------------------------ connections */

/* A client's frames are delivered while it is in its room, its
 * application has let them in, and its bucket has a token; otherwise its
 * socket is not read, and what it sends waits in the kernel, in order. */
static void update_input(struct app_client *c)
{
	if (c->where == CL_IN && c->ready && !c->throttled)
		ws_resume_input(c->ws);
	else
		ws_pause_input(c->ws);
}

/* The pacer: c's bucket has a token again. */
static void on_paced(struct pace_bucket *b)
{
	struct app_client *c = container_of(b, struct app_client, bucket);

	assert(c->throttled);
	c->throttled = false;
	update_input(c);
}

static void on_message(struct ws_conn *ws, void *ud, bool binary, const uint8_t *data, size_t len)
{
	struct app_client *c = ud;
	struct hub *h = c->hub;

	(void)ws;
	assert(c->where == CL_IN && c->ready && !c->throttled);
	/* Delivered only while in and ready (update_input): the bucket had a
	 * token for this one. Without one for the next, c is not read until it
	 * has one again (TCP slows the sender down meanwhile). */
	if (pace_take(&h->pace, &c->bucket)) {
		c->throttled = true;
		ws_pause_input(c->ws);
	}
	h->messages++;
	c->room->app->frame(c->room->state, c, binary, data, len);
}

static void on_gone(struct ws_conn *ws, void *ud)
{
	struct app_client *c = ud;
	struct app_room *r = c->room;
	struct hub *h = c->hub;

	(void)ws;
	if (c->throttled)
		pace_forget(&h->pace, &c->bucket);
	if (c->where == CL_WAITING) {
		list_remove(&r->waiters, c);
	} else if (c->where == CL_IN) {
		bool last = room_leave(&r->room, c->strs) == ROOM_LEFT;
		list_remove(&r->clients, c);
		h->n_clients--;
		r->app->leave(r->state, c, last);
		if (r->clients.n == 0)
			r->empty_since = uv_now(h->loop);
	}
	free(c);
}

static const struct ws_handler hub_ws_handler = {
	.on_message = on_message,
	.on_gone = on_gone,
};

int hub_accept(struct hub *h, struct httpd_req *req, const char *response, size_t len,
	       const struct ticket *t, const char *protocol, int64_t since)
{
	const char *const *served = app_protocols();
	const char *strs[3] = { t->user, t->name, t->room }, *at[3];
	struct app_client *c = calloc(1, offsetof(struct app_client, strs) + strpack_size(strs, 3));
	int rc;

	if (!c)
		return -ENOMEM;
	c->hub = h;
	strpack(c->strs, strs, 3, at);
	c->name = at[1];
	c->room_id = at[2];
	c->epoch = t->epoch;
	for (size_t i = 0; protocol && served[i]; i++)
		if (served[i] == protocol)
			c->protocol = (uint8_t)(i + 1);
	c->since = since;
	pace_bucket_init(&h->pace, &c->bucket);
	c->sent_at = uv_now(h->loop);
	rc = ws_accept(h->ws, req, response, len, &hub_ws_handler, c, &c->ws);
	if (rc != 0) {
		free(c);
		return rc;
	}
	/* Nothing is read before the application has let the client in. */
	ws_pause_input(c->ws);
	attach(h, c);
	return 0;
}

/* ------------------------------------------------------------------ timer */

static void on_tick(uv_timer_t *t)
{
	struct hub *h = container_of(t, struct hub, timer);
	uint64_t now = uv_now(h->loop);

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
		rlog_tick(&r->log);
		members_flush(r, (long)r->room.n_members);
		unused = unused && !rlog_busy(&r->log) && !rlog_recovering(&r->log);
		if (unused && r->empty_since &&
		    now - r->empty_since >= h->cfg.room_idle_ms) {
			log_write(LOG_INFO, "room unloaded", "{s:s}", "room", r->room.id);
			members_flush(r, 0);
			if (h->reg)
				registry_unpin(h->reg, r->room.id, r->epoch);
			room_free(r);
		}
	}
	if (h->draining)
		drain_check(h);
}

int hub_new(uv_loop_t *loop, const struct hub_config *cfg, struct ws_server *ws, struct hub **out)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	if (room_table_init(&h->table, cfg->max_rooms) != 0) {
		free(h);
		return -ENOMEM;
	}
	h->loop = loop;
	h->cfg = *cfg;
	if (h->cfg.log_window == 0)
		h->cfg.log_window = 1000;
	h->ws = ws;
	uv_timer_init(loop, &h->timer);
	pace_init(&h->pace, loop, cfg->rate_limit, cfg->rate_burst, on_paced);
	h->timers_open = 2;
	uv_timer_start(&h->timer, on_tick, HUB_TICK_MS, HUB_TICK_MS);
	*out = h;
	return 0;
}

void hub_set_registry(struct hub *h, struct registry *reg, struct db *db)
{
	h->reg = reg;
	h->db = db;
}

void hub_drain(struct hub *h, void (*done)(void *arg), void *arg)
{
	h->draining = true;
	h->drain_done = done;
	h->drain_arg = arg;
	for (size_t i = 0; i < h->table.n; i++) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		struct app_client *c;

		while ((c = list_first(&r->waiters)))
			refuse(c, WIRE_CLOSE_RESTART, "server draining");
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
	for (size_t i = h->table.n; i-- > 0;) {
		struct app_room *r = container_of(h->table.rooms[i], struct app_room, room);
		if (!r->fetching && !rlog_writing(&r->log) && r->reads == 0)
			room_free(r);
	}
	h->timer.data = h;
	uv_close((uv_handle_t *)&h->timer, timer_closed);
	pace_close(&h->pace, timer_gone, h);
}

void hub_stats(void *ud, long *rooms, long *conns, char *ids, size_t ids_len)
{
	struct hub *h = ud;
	size_t off = 0;

	*rooms = (long)h->table.n;
	*conns = (long)ws_server_conn_count(h->ws);
	if (ids_len < 3)
		return;
	ids[off++] = '{';
	for (size_t i = 0; i < h->table.n; i++) {
		const char *id = h->table.rooms[i]->id;
		size_t n = strlen(id);
		if (off + n + 3 > ids_len) {
			ids[0] = '\0';
			return;
		}
		if (i > 0)
			ids[off++] = ',';
		memcpy(ids + off, id, n);
		off += n;
	}
	ids[off++] = '}';
	ids[off] = '\0';
}

size_t hub_room_count(const struct hub *h)
{
	return h->table.n;
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

/* ------------------------------------------------------- app.h services */

const char *app_room_id(const struct app_room *r)
{
	return r->room.id;
}

size_t app_room_member_count(const struct app_room *r)
{
	return r->room.n_members;
}

const char *app_room_member(const struct app_room *r, size_t i)
{
	return room_member(&r->room, i);
}

const char *app_room_member_name(const struct app_room *r, size_t i)
{
	return room_member_name(&r->room, i);
}

struct app_client *app_room_clients(struct app_room *r)
{
	return list_first(&r->clients);
}

struct app_client *app_client_next(struct app_client *c)
{
	return dlist_entry_or_null(c->node.next, struct app_client, node);
}

const char *app_client_user(const struct app_client *c)
{
	return c->strs;
}

const char *app_client_name(const struct app_client *c)
{
	return c->name;
}

size_t app_client_protocol(const struct app_client *c)
{
	return c->protocol;
}

int64_t app_client_since(const struct app_client *c)
{
	return c->since;
}

struct ws_frame *app_frame_text(const void *payload, size_t len)
{
	return ws_frame_text(payload, len);
}

void app_frame_unref(struct ws_frame *f)
{
	ws_frame_unref(f);
}

int app_send_frame(struct app_client *c, struct ws_frame *f)
{
	c->sent_at = uv_now(c->hub->loop);
	return ws_send(c->ws, f);
}

int app_send_text(struct app_client *c, const void *payload, size_t len)
{
	c->sent_at = uv_now(c->hub->loop);
	return ws_send_text(c->ws, payload, len);
}

uint64_t app_client_sent_at(const struct app_client *c)
{
	return c->sent_at;
}

uint64_t app_keepalive_ms(const struct app_room *r)
{
	return r->hub->cfg.keepalive_ms;
}

void app_close(struct app_client *c, uint16_t code, const char *reason)
{
	ws_close(c->ws, code, reason);
}

void app_client_ready(struct app_client *c)
{
	assert(c->where == CL_IN);
	c->ready = true;
	update_input(c);
}

void app_client_set_data(struct app_client *c, void *data)
{
	c->app_data = data;
}

void *app_client_data(const struct app_client *c)
{
	return c->app_data;
}
