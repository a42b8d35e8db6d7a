/* hub_internal: what the files of the hub share; internal to them (hub.c,
 * admit.c, app_services.c), the rest of the server sees hub.h and app.h.
 *
 *   hub.c           rooms in memory: attach a connection to its room, load
 *                   (fence), drain, unload, the tick, rooms.members;
 *                   hub.h's functions
 *   admit.c         connections: a client made from its ticket, admission
 *                   into a loaded room or refusal, the pacing of its input,
 *                   the WebSocket callbacks
 *   app_services.c  the services of app.h, on top of the two
 *
 * hub.c calls admit.c and app_services.c calls both; admit.c calls neither.
 * The structs' fields are shared by the three. */
#ifndef STATEROOM_HUB_INTERNAL_H
#define STATEROOM_HUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "app.h"
#include "dlist.h"
#include "hub.h"
#include "pace.h"
#include "room.h"
#include "roomlog.h"

struct members;  /* rooms.members being written (hub.c) */
struct room_step;  /* a room's step timer (app_services.c) */

/* Where a connection is: out (not in a room: before attach, or refused),
 * waiting (for its room to load), in (admitted: among its room's clients). */
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
	/* Counted against its kind's bound (from its row's application on):
	 * an inbox against max_inboxes, any other room against max_rooms. */
	bool counted, inbox;
	int64_t epoch;
	struct rlog log;              /* from when it is ready */
	unsigned reads;               /* app_log_read() and rules queries in flight */
	struct members *members;      /* rooms.members on its way out */
	const struct room_app_ops *app;
	void *state;
	struct client_list clients;   /* admitted, in join order */
	struct client_list waiters;   /* waiting for the room to load */
	uint64_t empty_since;         /* 0 while someone is in */
	int64_t drain_upto;           /* draining: its clients go once this seq is committed */
	/* Its moderation (rules.h), read before anyone is admitted and again
	 * on every stateroom_room notification for it; NULL for an inbox. */
	struct rules *rules;
	int64_t acted;                /* the last action enforced (a kick closes once) */
	int64_t handed;               /* the last action its application took;
				       * RULES_AFTER_LOGGED: those after its log's last */
	bool rules_busy;              /* a re-read in flight (counted in reads) */
	bool rules_again;             /* told of a change meanwhile: re-read once it answers */
	bool rules_stale;             /* re-read at the next tick (a failed read, a rollback) */
	struct room_step *step;       /* app_room_set_step's timer; NULL until asked */
	int seats;                    /* rooms.seats; 0: none given */
};

struct hub {
	uv_loop_t *loop;
	struct hub_config cfg;
	struct ws_server *ws;
	struct registry *reg;
	struct db *db;
	struct hev *hev;                /* webhook events (hookev.h); NULL without db */
	struct room_table table;      /* rooms and inboxes, loading or loaded */
	size_t n_rooms, n_inboxes;    /* the counted ones of each kind */
	uv_timer_t timer;
	struct pace pace;             /* the connections' token buckets */
	unsigned timers_open;
	bool draining, closing;
	bool listening;               /* on stateroom_room (rules.h) */
	bool lease_lost;              /* cfg.lease_ms passed with no heartbeat */
	void (*drain_done)(void *arg);  /* hub_drain's, until it has run */
	void *drain_arg;
	size_t n_clients;
	uint64_t messages;
};

static inline void client_list_append(struct client_list *l, struct app_client *c)
{
	dlist_push_back(&l->l, &c->node);
	l->n++;
}

static inline void client_list_remove(struct client_list *l, struct app_client *c)
{
	dlist_remove(&l->l, &c->node);
	l->n--;
}

static inline struct app_client *client_list_first(const struct client_list *l)
{
	return dlist_first(&l->l, struct app_client, node);
}

/* ---- admit.c ---- */

/* A client for the upgraded req (ws_accept: response is the 101 answer),
 * from its ticket, not in any room yet (CL_OUT) and not read. protocol: one
 * of app_protocols() by pointer, or NULL. Returns 0 and *out, or a negative
 * errno (req not upgraded). */
int admit_accept(struct hub *h, struct httpd_req *req, const char *response, size_t len,
		 const struct ticket *t, const char *protocol, int64_t since, struct app_client **out);
/* Admits c (CL_OUT) into the loaded room r (its application's join), or
 * sends it away: 4010 for a user banned from r, 4006 for a subprotocol r's
 * application does not serve, 4009 when r is full, 4008 past the user's connections, 1011 when it
 * cannot join. */
void admit_join(struct app_room *r, struct app_client *c);
/* Sends c away before it was admitted (waiting or out). */
void admit_refuse(struct app_client *c, uint16_t code, const char *reason);
/* Reads c's socket or stops reading it, after a change of where it is,
 * whether its application let it in, or of its bucket. */
void admit_update_input(struct app_client *c);
/* The pacer's resume (pace_init): b's bucket has a token again. */
void admit_paced(struct pace_bucket *b);

/* ---- app_services.c ---- */

/* Stops r's step timer (its room died); it stays until step_close. */
void step_stop(struct app_room *r);
/* Closes r's step timer, if any: freed in its close callback, so r may be
 * freed at once. */
void step_close(struct app_room *r);

/* ---- hub.c ---- */

/* A query of r (its row, its log, a read) has answered. While the hub
 * closes, frees what waited for it (maybe r, maybe the hub) and returns
 * true: r must not be touched then. Else returns false. */
bool hub_room_answered(struct app_room *r);

#endif
