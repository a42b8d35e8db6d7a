/* app_services: the services of the transport that app.h declares, for a
 * room's application: its room, its clients, frames, the log (roomlog.h
 * writes it, store.h reads it back) and the database; on top of the hub's
 * rooms (hub.c) and connections (admit.c), through hub_internal.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "app.h"
#include "container.h"
#include "hub_internal.h"
#include "rules.h"
#include "store.h"

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
	return client_list_first(&r->clients);
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

int64_t app_edit_window_ms(const struct app_room *r)
{
	return r->hub->cfg.edit_window_ms;
}

int64_t app_call_ring_ms(const struct app_room *r)
{
	return r->hub->cfg.call_ring_ms;
}

void app_close(struct app_client *c, uint16_t code, const char *reason)
{
	ws_close(c->ws, code, reason);
}

void app_client_ready(struct app_client *c)
{
	assert(c->where == CL_IN);
	c->ready = true;
	admit_update_input(c);
}

void app_client_set_data(struct app_client *c, void *data)
{
	c->app_data = data;
}

void *app_client_data(const struct app_client *c)
{
	return c->app_data;
}

int64_t app_log_append(struct app_room *r, const struct app_record *rec)
{
	if (r->hub->closing)
		return -EPIPE;
	return rlog_append(&r->log, rec);
}

struct log_read {
	struct app_room *r;
	app_read_fn cb;
	void *arg;
};

static void log_read_done(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct log_read *rd = arg;
	struct app_room *r = rd->r;

	r->reads--;
	rd->cb(rd->arg, status, recs, n);
	free(rd);
	hub_room_answered(r);
}

int app_log_read(struct app_room *r, int64_t after, int64_t before, size_t limit,
		 app_read_fn cb, void *arg)
{
	struct hub *h = r->hub;
	struct log_read *rd;
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
	rc = store_range(h->db, r->room.id, after, before, limit, log_read_done, rd);
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

enum app_role app_room_role(const struct app_room *r, const char *user)
{
	return rules_role(r->rules, user);
}

int64_t app_room_muted_until(const struct app_room *r, const char *user)
{
	/* Asked on every send: a room with no mute reads no clock. */
	if (!r->rules || !r->rules->n_mutes)
		return 0;
	return rules_muted(r->rules, user, rules_now());
}

const char *app_room_owner(const struct app_room *r)
{
	return r->rules ? r->rules->owner : NULL;
}

size_t app_room_moderator_count(const struct app_room *r)
{
	return r->rules ? r->rules->n_mods : 0;
}

const char *app_room_moderator(const struct app_room *r, size_t i)
{
	return r->rules->mods[i];
}

/* In app_services.c rather than hub.c: they are services of the hub to the
 * rest of the server, on top of the rooms table. */
struct app_room *hub_room(struct hub *h, const char *id)
{
	struct room *found;
	struct app_room *r;

	/* A draining server commits what it took, then lets its rooms go:
	 * nothing new, so that what the server API publishes commits before. */
	if (h->draining || !(found = room_table_find(&h->table, id)))
		return NULL;
	r = container_of(found, struct app_room, room);
	return r->life == LIFE_READY && !r->inbox && r->state ? r : NULL;
}

int hub_room_publish(struct app_room *r, const char *kind, const char *name, const char *payload,
		     size_t len, void (*done)(void *arg, int status, int64_t seq), void *arg)
{
	if (!r->app->publish)
		return -ENOTSUP;
	return r->app->publish(r->state, kind, name, payload, len, done, arg);
}

/* A room's step timer: its own allocation, so that the room can be freed
 * while the handle's close is still under way. */
struct room_step {
	uv_timer_t timer;
	struct app_room *r;           /* NULL once closing */
};

static void on_step(uv_timer_t *t)
{
	struct room_step *s = t->data;
	struct app_room *r = s->r;

	if (r && r->life == LIFE_READY && !r->hub->closing && r->app->step)
		r->app->step(r->state, uv_now(r->hub->loop));
}

int app_room_set_step(struct app_room *r, uint64_t interval_ms)
{
	struct room_step *s = r->step;

	if (r->life == LIFE_DEAD || r->hub->closing)
		return -EPIPE;
	if (interval_ms == 0) {
		if (s)
			uv_timer_stop(&s->timer);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		uv_timer_init(r->hub->loop, &s->timer);
		s->timer.data = s;
		s->r = r;
		r->step = s;
	}
	uv_timer_start(&s->timer, on_step, interval_ms, interval_ms);
	return 0;
}

uint64_t app_step_default_ms(const struct app_room *r)
{
	unsigned hz = r->hub->cfg.game_hz ? r->hub->cfg.game_hz : 20;

	return hz >= 1000 ? 1 : 1000 / hz;
}

uint64_t app_seat_grace_ms(const struct app_room *r)
{
	return r->hub->cfg.seat_grace_ms;
}

int app_room_seats(const struct app_room *r)
{
	return r->seats;
}

void step_stop(struct app_room *r)
{
	if (r->step)
		uv_timer_stop(&r->step->timer);
}

static void step_closed(uv_handle_t *h)
{
	free(h->data);
}

void step_close(struct app_room *r)
{
	struct room_step *s = r->step;

	if (!s)
		return;
	r->step = NULL;
	s->r = NULL;
	uv_close((uv_handle_t *)&s->timer, step_closed);
}
