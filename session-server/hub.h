/* hub: rooms in memory and the connections in them.
 *
 * hub_accept() takes an upgraded WebSocket whose ticket has been verified
 * and attaches it to the ticket's room: a room not yet held is loaded
 * (hydrated) from its rooms row, while later joiners of the same room wait;
 * the row must pin the room to this server at the ticket's epoch (else close
 * 4004; database error 1011; no free slot 4004, and the room is unpinned so
 * that its next look-up places it elsewhere). An inbox room (application
 * `inbox`) takes a slot of max_inboxes, any other room one of max_rooms:
 * they are counted apart. A room at capacity
 * refuses new users with 4009, but a further tab of a member is admitted, up
 * to max_user_conns connections of one user in one room (past it: 4008).
 * What a room then does with frames is its application's business (app.h).
 * A client's socket is not read until it is admitted and its application
 * has let it in (app_client_ready): what it sends meanwhile waits, in order.
 *
 * A room's log (app_log_append) is written in batches, one in flight per
 * room, each only while the room is still pinned here at its epoch; a write
 * refused for that reason (fenced) closes the room's clients with 4004.
 *
 * A room left empty for room_idle_ms is unloaded and unpinned.
 *
 * Once the registry's heartbeat has been missing for longer than lease_ms
 * while the database connection is up (its queries hang: cut off from
 * PostgreSQL, or frozen), every room is unloaded and its clients closed
 * with 1012: they look the room up again, and the backends, which take this
 * server for dead by then, place it on a live one.
 *
 * Each connection has a token bucket (rate_limit frames a second, up to
 * rate_burst at once; pace.h): once it is empty the connection is not read
 * until a token has come back, so a fast sender is slowed down (TCP pushes
 * back on it) and every message is still processed, in order.
 *
 * The hub is three files, one job each (hub_internal.h): rooms (hub.c),
 * connections (admit.c) and the services of app.h (app_services.c). */
#ifndef STATEROOM_HUB_H
#define STATEROOM_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "httpd.h"
#include "registry.h"
#include "ticket.h"
#include "ws.h"

struct hub;
struct app_room;

struct hub_config {
	const char *server_id;        /* kept by pointer */
	unsigned max_rooms;           /* rooms other than inboxes */
	unsigned max_inboxes;         /* inbox rooms (application `inbox`) */
	unsigned max_room_users;
	uint64_t room_idle_ms;
	/* Told when a room that is no inbox is loaded (true) or unloaded
	 * (false), not while the hub closes; may be NULL. room_id is valid
	 * during the call. The Agones `rooms` counter and list count chat
	 * rooms only: the agones scheduler allocates no slot for an inbox. */
	void (*on_room)(void *ud, const char *room_id, bool loaded);
	void *on_room_ud;
	size_t log_window;            /* records loaded with a room (--ring-size); 0: 1000 */
	unsigned rate_limit;          /* messages a second per connection; 0: no limit */
	unsigned rate_burst;          /* bucket size; 0: rate_limit */
	uint64_t keepalive_ms;        /* app_keepalive_ms(): --keepalive-ms */
	int64_t edit_window_ms;       /* app_edit_window_ms(): --edit-window-s */
	int64_t call_ring_ms;         /* app_call_ring_ms(): --call-ring-timeout-s */
	unsigned max_user_conns;      /* connections of one user in one room; 0: no limit */
	unsigned game_hz;             /* app_step_default_ms(): --game-hz; 0: 20 */
	uint64_t seat_grace_ms;       /* app_seat_grace_ms(): --seat-grace-ms */
	/* --commit-log: a descriptor that gets one line per batch committed
	 * (or found committed on recovery): room, server, epoch, seq range,
	 * for the failover lab's checker. < 0: none. */
	int commit_log_fd;
	/* --lease-ms: with no heartbeat for longer than this while the
	 * database connection is up (hung), the backends may have re-pinned
	 * every room here, and this server cannot tell: every room's clients
	 * are closed with 1012, to look it up again, and the room is
	 * unloaded. 0: never. */
	uint64_t lease_ms;
};

/* Returns 0 and *out, or a negative errno. ws is borrowed. */
int hub_new(uv_loop_t *loop, const struct hub_config *cfg, struct ws_server *ws, struct hub **out);

/* Rooms are loaded through reg and db once they are set (after the
 * migrations); until then joins get 1011. */
void hub_set_registry(struct hub *h, struct registry *reg, struct db *db);

/* Upgrades req (writing response, the 101 answer) and attaches the client.
 * protocol: the subprotocol chosen, one of app_protocols() (by pointer), or
 * NULL; a room whose application does not serve it closes the client with
 * 4006 (app.h). since: the last seq the client saw, or -1. Returns 0, or a negative errno
 * when the request could not be upgraded (the caller answers it). */
int hub_accept(struct hub *h, struct httpd_req *req, const char *response, size_t len,
	       const struct ticket *t, const char *protocol, int64_t since);

/* Refuses new clients with 1012, and closes each room's clients with 1012
 * once the messages it had received are committed (acked), so that they look
 * the room up again and resume elsewhere. done(arg) runs once, maybe before
 * hub_drain returns, when no room has a write in flight or waiting (or
 * never, if the database stays away: the caller bounds the wait). */
void hub_drain(struct hub *h, void (*done)(void *arg), void *arg);

/* Stops the room timer; h is freed once pending room loads have answered
 * (db_close fails them). Connections must already be gone (ws_server_close).
 * NULL-safe. */
void hub_close(struct hub *h);

/* registry_stats_fn for registry_start (ud is the hub): ids lists the rooms
 * that are no inbox. */
void hub_stats(void *ud, struct registry_stats *st, char *ids, size_t ids_len);

/* The room id if it is loaded here and running (no inbox), and the server
 * is not draining; else NULL: what the server API acts on (internal_api.h). */
struct app_room *hub_room(struct hub *h, const char *id);
/* Hands a record to r's application (room_app_ops.publish); -ENOTSUP when
 * it takes none. */
int hub_room_publish(struct app_room *r, const char *kind, const char *name, const char *payload,
		     size_t len, void (*done)(void *arg, int status, int64_t seq), void *arg);

/* Rooms held that are no inbox, and inbox rooms held. */
size_t hub_room_count(const struct hub *h);
size_t hub_inbox_count(const struct hub *h);
size_t hub_client_count(const struct hub *h);
uint64_t hub_messages_total(const struct hub *h);
/* Times a connection was paused by the rate limit. */
uint64_t hub_rate_limited_total(const struct hub *h);

#endif
