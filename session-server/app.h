/* app: the room application interface.
 *
 * The transport (connections, handshake, tickets, framing, fan-out, room
 * loading) knows nothing of what a room does. That lives in an application:
 * a const struct room_app_ops, chosen per room by the rooms.app column from
 * the registry in app.c. To write one (a game, a shared document):
 *
 *   1. app_NAME.c defines `const struct room_app_ops app_NAME_ops` with the
 *      callbacks below; every callback runs on the loop, one at a time.
 *   2. Add it to the table in app.c and to session-server/meson.build.
 *   3. Create rooms with app = 'NAME'.
 *
 * Callbacks never run re-entrantly: a connection closed or a frame sent from
 * inside a callback takes effect after it returns. Frames are built once and
 * may be sent to many clients (app_frame_text, app_send_frame).
 *
 * Clients connect in one of two modes: native (subprotocol stateroom.v1) or
 * compat (no subprotocol); an application may serve either or both.
 *
 * Persistence: a room has an append-only log of records in PostgreSQL. An
 * application appends with app_log_append(), which assigns the next seq at
 * once; committed() tells it when records are durable (in seq order, in
 * batches: group commit), and that is when it should acknowledge and fan
 * out. When the room is loaded, create() receives its latest records. If
 * this server turns out to have lost the room (fenced), the transport closes
 * every client with 4004 and committed() never comes for what was pending. */
#ifndef STATEROOM_APP_H
#define STATEROOM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app_room;    /* a loaded room, owned by the transport */
struct app_client;  /* one connection in a room, owned by the transport */
struct ws_frame;    /* an outgoing text frame, built once, reference-counted */

/* Records given to create() from the last APP_HYDRATE_RECORDS of the log. */
#define APP_HYDRATE_RECORDS 1000

struct app_record {
	int64_t seq;
	int64_t ts;              /* milliseconds since the Unix epoch */
	const char *user;
	const char *client_id;   /* NULL when none */
	const char *body;        /* body_len bytes, no NUL inside */
	size_t body_len;
};

struct room_app_ops {
	const char *name;
	/* The room has been loaded on this server; recent[0..n) are the latest
	 * records of its log, oldest first (valid during the call). Returns 0
	 * with *state set, or a negative errno: the room then fails to load
	 * (close 1011). */
	int (*create)(struct app_room *room, const struct app_record *recent, size_t n, void **state);
	/* c was admitted; first: it is the user's first connection. */
	void (*join)(void *state, struct app_client *c, bool first);
	/* A complete message from c (text is valid UTF-8 and at most
	 * --max-frame bytes). */
	void (*frame)(void *state, struct app_client *c, bool binary, const uint8_t *data, size_t len);
	/* c has left (it is no longer among the room's clients and may only be
	 * queried during this call); last: it was the user's last connection. */
	void (*leave)(void *state, struct app_client *c, bool last);
	/* Every record up to seq is durable. */
	void (*committed)(void *state, int64_t seq);
	/* About once a second while the room is loaded; may be NULL. */
	void (*tick)(void *state, uint64_t now_ms);
	/* The room is unloaded: free state. */
	void (*dispose)(void *state);
};

/* The application registered under name, or NULL. */
const struct room_app_ops *app_find(const char *name);

/* ---- services of the transport ---- */

const char *app_room_id(const struct app_room *r);
size_t app_room_member_count(const struct app_room *r);
/* Distinct users in the order they joined; i < app_room_member_count(). */
const char *app_room_member(const struct app_room *r, size_t i);
/* The room's admitted clients: first, then next until NULL. */
struct app_client *app_room_clients(struct app_room *r);
struct app_client *app_client_next(struct app_client *c);

const char *app_client_user(const struct app_client *c);
const char *app_client_name(const struct app_client *c);
bool app_client_native(const struct app_client *c);
/* The "since" query parameter (last seq the client saw), or -1. */
int64_t app_client_since(const struct app_client *c);

/* A frame carrying payload[0..len), with one reference; NULL on ENOMEM. */
struct ws_frame *app_frame_text(const void *payload, size_t len);
void app_frame_unref(struct ws_frame *f);
/* Queue a frame to c (takes its own reference). Returns 0 or a negative
 * errno (c is closing: nothing to do). */
int app_send_frame(struct app_client *c, struct ws_frame *f);
int app_send_text(struct app_client *c, const void *payload, size_t len);
/* Closes c with a WebSocket close code; leave() follows later. */
void app_close(struct app_client *c, uint16_t code, const char *reason);

/* Appends a record (everything copied; body must not contain NUL) and
 * returns its seq, the room's next; committed() follows once it is durable.
 * Returns a negative errno when the room cannot take writes (closing). */
int64_t app_log_append(struct app_room *r, const char *user, const char *client_id,
		       const char *body, size_t body_len, int64_t ts);

extern const struct room_app_ops app_chat_ops;

#endif
