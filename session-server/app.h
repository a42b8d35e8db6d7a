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
 * Subprotocols: an application lists those it serves (ops.protocols; ""
 * for a client that asked for none) and asks app_client_protocol() which one
 * a client speaks. The handshake answers before the room, and so its
 * application, is known (the room's row is read after the 101), so it picks
 * among the union of every registered application's (app_protocols()); a
 * client whose choice its room's application does not serve is then closed
 * by the transport, before join(), with 4006. Offering the union costs
 * nothing for an application that serves them all (the chat: stateroom.v1
 * and none), and a refusal after the 101 is one a browser can read.
 *
 * Persistence: a room has an append-only log of records in PostgreSQL
 * (struct app_record: typed by the application, which alone knows what its
 * kinds mean; the log hands back records of every kind, and the application
 * decides what its clients see of them). An
 * application appends with app_log_append(), which assigns the next seq at
 * once; committed() tells it when records are durable (in seq order, in
 * batches: group commit), and that is when it should acknowledge and fan
 * out. When the room is loaded, create() receives its latest records
 * (app_room_log_window() of them). If this server turns out to have lost the
 * room (fenced), the transport closes every client with 4004 and committed()
 * never comes for what was pending.
 *
 * A batch that fails (the database is down, say) is rolled back: rollback()
 * says that nothing after a seq is written, and app_log_append() refuses
 * records until the transport has read the end of the log back from the
 * database (so seqs stay gapless and unique). If that read finds that the
 * failed batch did commit after all (its answer was lost with the
 * connection), restore() hands those records over as durable.
 *
 * Older records than the application keeps are read with app_log_read().
 *
 * An ephemeral room (rooms.persistent false, app_room_persistent()) has no
 * log in the database: it starts at seq 1 each time it is loaded, and
 * app_log_append() only assigns the next seq. Its records are durable at
 * once (committed() is not called for them: the application announces them
 * as soon as app_log_append() returns), rollback() and restore() never come,
 * and app_log_read() returns -ENOENT. */
#ifndef STATEROOM_APP_H
#define STATEROOM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app_room;    /* a loaded room, owned by the transport */
struct app_client;  /* one connection in a room, owned by the transport */
struct ws_frame;    /* an outgoing text frame, built once, reference-counted */
struct db;          /* the database connection (db.h) */

/* Most bytes of a record's kind. */
#define APP_KIND_MAX 32

/* One record of a room's log. kind is the application's own name for what
 * the record is (the chat's messages are "message"), 1 to APP_KIND_MAX
 * bytes; payload is the application's bytes. The other fields are the
 * transport's: seqs, idempotency and resumes work on them whatever the
 * kind. */
struct app_record {
	int64_t seq;
	int64_t ts;              /* milliseconds since the Unix epoch */
	const char *kind;
	const char *user;        /* the sender's subject (ticket "sub") */
	const char *name;        /* the sender's name as shown (ticket "name") */
	const char *client_id;   /* NULL when none */
	const char *payload;     /* payload_len bytes, no NUL inside */
	size_t payload_len;
	/* The application's links between records, 0 for none (NULL in the
	 * database): target, the seq of the record this one changes; reply_to,
	 * the seq of a record this one answers. The transport only keeps them. */
	int64_t target;
	int64_t reply_to;
	/* Taken only by app_log_append, never handed back (0: none): when this
	 * record commits, the payload of record `scrub` and of every record
	 * whose target is `scrub` become empty in the database, in the same
	 * transaction (a deletion that must remove text from storage, not just
	 * hide it). Records in the same batch are scrubbed as they are written. */
	int64_t scrub;
};

/* One moderation action of a room (docs/protocol.md, "Roles and
 * moderation"): a row of room_actions. Strings are valid during the call. */
struct app_action {
	int64_t id;                /* grows in the order actions were taken */
	int64_t ts;                /* when, ms since the Unix epoch */
	const char *action;        /* settings, promote, demote, transfer, kick, ban, unban,
				    * mute, unmute, invite, uninvite, invite_link, revoke_link */
	const char *actor;         /* the subject who took it */
	const char *actor_name;
	const char *target;        /* the subject it was taken on; NULL for none */
	const char *target_name;   /* NULL for none */
	const char *detail;        /* a JSON object, the action's own (migration 020) */
};

/* A user's role in a room (rooms.owner; room_roles). */
enum app_role { APP_ROLE_MEMBER, APP_ROLE_MODERATOR, APP_ROLE_OWNER };

struct room_app_ops {
	const char *name;
	/* The subprotocols it serves, NULL-terminated, each at most 64 bytes of
	 * RFC 6455 token characters; "" for a client that asked for none. */
	const char *const *protocols;
	/* The room has been loaded on this server; recent[0..n) are the latest
	 * records of its log, oldest first (valid during the call). Returns 0
	 * with *state set, or a negative errno: the room then fails to load
	 * (close 1011). */
	int (*create)(struct app_room *room, const struct app_record *recent, size_t n, void **state);
	/* c was admitted; first: it is the user's first connection. Its
	 * frames wait (unread, in order) until app_client_ready(c). */
	void (*join)(void *state, struct app_client *c, bool first);
	/* A complete message from c (text is valid UTF-8 and at most
	 * --max-frame bytes). */
	void (*frame)(void *state, struct app_client *c, bool binary, const uint8_t *data, size_t len);
	/* c has left (it is no longer among the room's clients and may only be
	 * queried during this call); last: it was the user's last connection. */
	void (*leave)(void *state, struct app_client *c, bool last);
	/* Every record up to seq is durable. */
	void (*committed)(void *state, int64_t seq);
	/* The records after seq are not durable (or it is not known whether
	 * they are): forget them; their senders should hear of it now. The next
	 * record appended after recovery gets the next free seq, which may be
	 * seq + 1 again. */
	void (*rollback)(void *state, int64_t seq);
	/* Records that rollback() dropped but that turned out durable, oldest
	 * first (valid during the call): they now follow the last durable one. */
	void (*restore)(void *state, const struct app_record *recs, size_t n);
	/* About once a second while the room is loaded; may be NULL. now_ms
	 * is the loop's clock, the one of app_client_sent_at(). */
	void (*tick)(void *state, uint64_t now_ms);
	/* Every interval of app_room_set_step(), while the room is loaded and
	 * alive (never after a fence, nor once the server shuts down); may be
	 * NULL for an application that never asks. now_ms as tick's. A step
	 * timer drifts with the loop: an application that counts game time
	 * counts steps, not the clock. */
	void (*step)(void *state, uint64_t now_ms);
	/* The room is unloaded: free state. */
	void (*dispose)(void *state);
	/* Moderation actions taken in the room (struct app_action; valid
	 * during the call), oldest first, that its log does not hold yet; may
	 * be NULL (the application keeps no record of them). The transport
	 * reads them from the database's room_actions when the room loads and
	 * whenever one is taken, and again after a rollback: so the same
	 * action may come more than once, and the application must take each
	 * once (the chat appends a record with client id "act:<id>" and skips
	 * ids it holds). An action it cannot take now (its log recovers):
	 * return a negative errno, and they come again about a tick later;
	 * 0 when taken. Enforcement (closing a banned or removed user's
	 * connections) is the transport's, whatever this does. */
	int (*actions)(void *state, const struct app_action *acts, size_t n);
	/* A record the app's backend publishes through the server API
	 * (docs/protocol.md, "Server API"), as the user WIRE_SERVER_SUB shown
	 * as name; may be NULL (the application takes none: 409). kind is
	 * 1..APP_KIND_MAX bytes or NULL (the application's default), payload
	 * is valid UTF-8 without NUL. Returns 0, after which done runs exactly
	 * once (perhaps before publish returns) with 0 and the record's seq
	 * once it is durable, or a negative errno (rolled back: -EIO; the room
	 * unloaded first: -EPIPE); or returns a negative errno and done never
	 * runs: -EINVAL for a kind or payload the application refuses, -EAGAIN
	 * when it cannot take a record now. */
	int (*publish)(void *state, const char *kind, const char *name, const char *payload,
		       size_t len, void (*done)(void *arg, int status, int64_t seq), void *arg);
};

/* The application registered under name, or NULL. */
const struct room_app_ops *app_find(const char *name);

/* Which applications clients may choose (every one but the inbox) this
 * server hosts: list is comma-separated names (--apps), "" for none (a
 * server for inboxes only), NULL for all. Returns 0, or -EINVAL for a
 * name that is no such application (nothing changed). Call before the
 * loop runs. */
int app_host(const char *list);
/* Whether rooms of a are loaded here (the inbox always is). */
bool app_hosted(const struct room_app_ops *a);
/* The hosted ones as a PostgreSQL text[] literal ("{chat}"), for the
 * registry; 0, or -ENOSPC. */
int app_hosted_array(char *buf, size_t len);
/* Every application a client may choose, comma-separated (--help, errors). */
const char *app_names(void);

/* Every subprotocol some application serves (not ""), NULL-terminated: what
 * the handshake may choose. */
const char *const *app_protocols(void);

/* ---- services of the transport ---- */

const char *app_room_id(const struct app_room *r);
size_t app_room_member_count(const struct app_room *r);
/* Distinct users in the order they joined; i < app_room_member_count().
 * A user is its subject; two users may show the same name. */
const char *app_room_member(const struct app_room *r, size_t i);
const char *app_room_member_name(const struct app_room *r, size_t i);
/* The room's admitted clients: first, then next until NULL. */
struct app_client *app_room_clients(struct app_room *r);
struct app_client *app_client_next(struct app_client *c);

/* Who the client is (the ticket's sub: what the member count keys on, and
 * what an application's idempotency or read marks should), and the name others see (its "name"). */
const char *app_client_user(const struct app_client *c);
const char *app_client_name(const struct app_client *c);
/* Which of the application's protocols c speaks: an index into
 * ops.protocols. */
size_t app_client_protocol(const struct app_client *c);
/* The "since" query parameter (last seq the client saw), or -1. */
int64_t app_client_since(const struct app_client *c);

/* A frame carrying payload[0..len), with one reference; NULL on ENOMEM. */
struct ws_frame *app_frame_text(const void *payload, size_t len);
void app_frame_unref(struct ws_frame *f);
/* Queue a frame to c (takes its own reference). Returns 0 or a negative
 * errno (c is closing: nothing to do). */
int app_send_frame(struct app_client *c, struct ws_frame *f);
int app_send_text(struct app_client *c, const void *payload, size_t len);
/* When a frame was last queued to c by app_send_frame or app_send_text (its
 * admission if none), on the loop's clock (tick's now_ms). */
uint64_t app_client_sent_at(const struct app_client *c);
/* --keepalive-ms: an application whose clients rely on hearing from the
 * server (the native chat protocol) sends them a frame when they have been
 * sent nothing for this long (checked in tick). */
uint64_t app_keepalive_ms(const struct app_room *r);
/* --edit-window-s, in milliseconds: how long after sending it an author may
 * still change a message (the chat's edits). */
int64_t app_edit_window_ms(const struct app_room *r);
/* --call-ring-timeout-s, in milliseconds: how long a DM's call rings the
 * other member before it counts as missed. */
int64_t app_call_ring_ms(const struct app_room *r);
/* c may send frames now (its welcome, say, is queued): frame() gets what
 * it sent since it connected, in order, once back in the loop. */
void app_client_ready(struct app_client *c);
/* Closes c with a WebSocket close code; leave() follows later. */
void app_close(struct app_client *c, uint16_t code, const char *reason);

/* Appends *rec (its seq is ignored; everything copied; the payload must not
 * contain NUL) and returns its seq, the room's next; committed() or
 * rollback() follows (in an ephemeral room: nothing is copied, and it is
 * durable at once). Returns a negative errno: -EINVAL when the kind is not
 * 1 to APP_KIND_MAX bytes; when the room cannot take writes, -EAGAIN while
 * it recovers from a failed batch, -EPIPE when it is closing. */
int64_t app_log_append(struct app_room *r, const struct app_record *rec);

/* Whether the room's records are written to the database (see above). */
bool app_room_persistent(const struct app_room *r);

/* How many of the latest records create() gets (--ring-size). */
size_t app_room_log_window(const struct app_room *r);

/* status 0: recs[0..n) (valid during the call) are the latest records with
 * after < seq < before, at most limit, oldest first; -EIO: database error. */
typedef void (*app_read_fn)(void *arg, int status, const struct app_record *recs, size_t n);

/* Reads durable records from the database. Returns 0, after which cb runs
 * exactly once, later (even while the room is being unloaded: the room's
 * state is disposed of only after every read has answered); or a negative
 * errno, and cb never runs. */
int app_log_read(struct app_room *r, int64_t after, int64_t before, size_t limit,
		 app_read_fn cb, void *arg);

/* The server's database connection (db.h), for an application's own
 * tables (the chat's read marks, say): never NULL while the room is loaded.
 * Queries run in order on one connection shared by every room, so an
 * application writes at most one statement per room at a time, coalesced
 * (at most about one a tick), never one per frame. Their callbacks may run
 * after dispose() (at shutdown the database fails them): what they use must
 * outlive the room's state. */
struct db *app_db(const struct app_room *r);

/* The room's rules as this server last read them (the transport re-reads
 * them whenever a moderator or the owner acts): user's role, and until
 * when user is muted (ms since the Unix epoch; 0: not muted; a mute stops
 * at its end without a re-read). A room whose rules are not read (an
 * inbox) has every user a member and no one muted. */
enum app_role app_room_role(const struct app_room *r, const char *user);
int64_t app_room_muted_until(const struct app_room *r, const char *user);
/* The room's owner (NULL: none known) and its moderators, i <
 * app_room_moderator_count(). */
const char *app_room_owner(const struct app_room *r);
size_t app_room_moderator_count(const struct app_room *r);
const char *app_room_moderator(const struct app_room *r, size_t i);

/* Asks for step() every interval_ms (from create() on; again: a new
 * interval, 0: no more steps). The timer is the transport's, one per room
 * that asks, and goes with the room. Returns 0, or a negative errno
 * (-EPIPE: the room is dying or the server closing; -ENOMEM). */
int app_room_set_step(struct app_room *r, uint64_t interval_ms);
/* --game-hz as an interval in milliseconds: a real-time application's
 * default step. */
uint64_t app_step_default_ms(const struct app_room *r);
/* --seat-grace-ms: how long a seated player who dropped keeps the seat. */
uint64_t app_seat_grace_ms(const struct app_room *r);
/* The seats the room was created with (POST /api/rooms "seats",
 * rooms.seats); 0 when none were given (the application's default). */
int app_room_seats(const struct app_room *r);

/* One pointer of the application's per connection, NULL at first. */
void app_client_set_data(struct app_client *c, void *data);
void *app_client_data(const struct app_client *c);

extern const struct room_app_ops app_chat_ops;
extern const struct room_app_ops app_inbox_ops;
extern const struct room_app_ops app_game_ops;
extern const struct room_app_ops app_whiteboard_ops;

/* --wb-compact-every: the whiteboard appends a snapshot after this many
 * records (1 or more; call before the loop runs). */
void app_whiteboard_set_compact_every(size_t n);

#endif
