/* admit: the connections of the hub (hub_internal.h): a client made from
 * its ticket, its admission into a loaded room or its refusal, the pacing
 * of its input, and the WebSocket callbacks that hand its frames to its
 * room's application and take it out of its room when it is gone. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "hookev.h"
#include "hub_internal.h"
#include "rules.h"
#include "strpack.h"

void admit_refuse(struct app_client *c, uint16_t code, const char *reason)
{
	assert(c->where != CL_IN);
	if (c->where == CL_WAITING)
		client_list_remove(&c->room->waiters, c);
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

void admit_join(struct app_room *r, struct app_client *c)
{
	int proto = protocol_served(r, c);
	enum room_join_result joined;

	assert(c->where == CL_OUT);
	if (proto < 0) {
		admit_refuse(c, WIRE_CLOSE_SUBPROTOCOL, "subprotocol not served by this room");
		return;
	}
	/* A ticket minted before the ban. */
	if (r->rules && rules_banned(r->rules, c->strs, rules_now())) {
		admit_refuse(c, WIRE_CLOSE_BANNED, "banned");
		return;
	}
	joined = room_join(&r->room, c->strs, c->name);
	switch (joined) {
	case ROOM_JOINED_FIRST:
	case ROOM_JOINED_AGAIN:
		break;
	case ROOM_FULL:
		admit_refuse(c, WIRE_CLOSE_ROOM_FULL, "room full");
		return;
	case ROOM_TOO_MANY_TABS:
		admit_refuse(c, WIRE_CLOSE_USER_CONNS, "too many connections of this user in this room");
		return;
	case ROOM_BAD_USER:
	case ROOM_NO_MEMORY:
		admit_refuse(c, WIRE_CLOSE_INTERNAL, "cannot join");
		return;
	}
	c->where = CL_IN;
	c->protocol = (uint8_t)proto;
	c->room = r;
	client_list_append(&r->clients, c);
	r->empty_since = 0;
	r->hub->n_clients++;
	if (joined == ROOM_JOINED_FIRST && !r->inbox)
		hev_joined(r->hub->hev, r->room.id, c->strs, c->name);
	r->app->join(r->state, c, joined == ROOM_JOINED_FIRST);
}

/* A client's frames are delivered while it is in its room, its
 * application has let them in, its bucket has a token and the server does
 * not drain; otherwise its socket is not read, and what it sends waits in
 * the kernel, in order. A drain reads nothing more: what was read is
 * committed and acked before the 1012, and the rest the client sends again
 * where the room goes (an application need not recognise a retried id
 * across a move: the whiteboard forgets them at each snapshot). */
void admit_update_input(struct app_client *c)
{
	if (c->where == CL_IN && c->ready && !c->throttled && !c->hub->draining)
		ws_resume_input(c->ws);
	else
		ws_pause_input(c->ws);
}

void admit_paced(struct pace_bucket *b)
{
	struct app_client *c = container_of(b, struct app_client, bucket);

	assert(c->throttled);
	c->throttled = false;
	admit_update_input(c);
}

static void on_message(struct ws_conn *ws, void *ud, bool binary, const uint8_t *data, size_t len)
{
	struct app_client *c = ud;
	struct hub *h = c->hub;

	(void)ws;
	assert(c->where == CL_IN && c->ready && !c->throttled);
	/* Delivered only while in and ready (admit_update_input): the bucket
	 * had a token for this one. Without one for the next, c is not read
	 * until it has one again (TCP slows the sender down meanwhile). */
	if (pace_take(&h->pace, &c->bucket)) {
		c->throttled = true;
		ws_pause_input(c->ws);
	}
	h->messages++;
	c->room->app->frame(c->room->state, c, binary, data, len);
}

/* The member of c's user held c's strings: another of its tabs in r lends
 * its own before c is freed (room.h). */
static void lend_strings(struct app_room *r, struct app_client *c)
{
	struct app_client *o;

	dlist_for_each(o, &r->clients.l, node)
		if (strcmp(o->strs, c->strs) == 0) {
			room_rebind(&r->room, c->strs, o->strs, o->name);
			return;
		}
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
		client_list_remove(&r->waiters, c);
	} else if (c->where == CL_IN) {
		enum room_leave_result left = room_leave(&r->room, c->strs);
		bool last = left == ROOM_LEFT;
		client_list_remove(&r->clients, c);
		if (left == ROOM_TABS_REMAIN && room_holds(&r->room, c->strs))
			lend_strings(r, c);
		h->n_clients--;
		if (last && !r->inbox)
			hev_left(h->hev, r->room.id, c->strs, c->name);
		r->app->leave(r->state, c, last);
		if (r->clients.n == 0)
			r->empty_since = uv_now(h->loop);
	}
	free(c);
}

static const struct ws_handler admit_ws_handler = {
	.on_message = on_message,
	.on_gone = on_gone,
};

int admit_accept(struct hub *h, struct httpd_req *req, const char *response, size_t len,
		 const struct ticket *t, const char *protocol, int64_t since, struct app_client **out)
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
	rc = ws_accept(h->ws, req, response, len, &admit_ws_handler, c, &c->ws);
	if (rc != 0) {
		free(c);
		return rc;
	}
	/* Nothing is read before the application has let the client in. */
	ws_pause_input(c->ws);
	*out = c;
	return 0;
}
