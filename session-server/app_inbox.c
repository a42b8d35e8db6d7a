/* app_inbox: a user's live inbox (docs/protocol.md, "The inbox";
 * docs/architecture.md, "Live updates").
 *
 * An inbox room belongs to one registered user: its id derives from the
 * user id (inbox_id.h), the backend gives tickets for it to that user only,
 * and this application closes with 4003 any client whose subject is not the
 * one the id derives from. It keeps no records.
 *
 * Events come from PostgreSQL: the first inbox room loaded makes the
 * server's database connection LISTEN on stateroom_inbox, and every
 * notification {"to":user,"event":{...}} whose user's inbox is loaded here
 * is forwarded to its clients as {"type":"event","event":{...}} (the room
 * is found by user in a hash, not by a scan of the rooms). When the
 * connection was lost and LISTEN is in force again, what was sent meanwhile
 * is lost: every client gets {"type":"resync"} and refetches.
 *
 * Presence: while the user has a client here, it is 'online', or 'away'
 * when every client said {"type":"presence","state":"away"}; 'offline' once
 * the last one left. Each change is one statement that writes users and
 * notifies every friend; writes are coalesced (one in flight per user, the
 * latest state wins), and outlive the room so the final 'offline' lands. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "inbox_id.h"
#include "wire.h"

#define INBOX_CHANNEL "stateroom_inbox"
#define HEARTBEAT "{\"type\":\"heartbeat\"}"
#define RESYNC "{\"type\":\"resync\"}"
/* A write of a disposed room's last state that failed is tried this often. */
#define INBOX_PRESENCE_TRIES 3

static const char *const inbox_protocols[] = { "stateroom.v1", NULL };

enum inbox_state { INBOX_OFFLINE, INBOX_ONLINE, INBOX_AWAY, INBOX_UNKNOWN };
static const char *const state_names[] = { "offline", "online", "away" };

/* A client that said it is away has this as its data; others NULL. */
static char away_mark;

/* The user's presence as written to the database. Separate from the room:
 * a write may answer after the room is gone. */
struct presence {
	struct db *db;
	char user[WIRE_SUB_MAX + 1];
	char room[WIRE_ROOM_ID_MAX + 1];
	enum inbox_state want, written;
	bool inflight;
	bool orphan;   /* the room is disposed: free once want is written */
	int tries;
};

struct inbox {
	struct app_room *room;
	struct inbox *next;  /* in its hash bucket */
	uint32_t hash;
	bool hashed;         /* owner known and in the table */
	struct presence *presence;
	struct ws_frame *heartbeat;
};

/* The loaded inboxes by owner (chained, grown at load factor 1). The loop
 * is single-threaded and the table is the server's, as LISTEN is. */
static struct {
	struct inbox **buckets;
	size_t mask, count;
	bool listening;
} tab;

static uint32_t hash_user(const char *user)
{
	uint32_t h = 2166136261u;

	for (const char *p = user; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static int tab_grow(void)
{
	size_t n = tab.buckets ? 2 * (tab.mask + 1) : 64;
	struct inbox **b = calloc(n, sizeof *b);

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; tab.buckets && i <= tab.mask; i++)
		while (tab.buckets[i]) {
			struct inbox *ib = tab.buckets[i];

			tab.buckets[i] = ib->next;
			ib->next = b[ib->hash & (n - 1)];
			b[ib->hash & (n - 1)] = ib;
		}
	free(tab.buckets);
	tab.buckets = b;
	tab.mask = n - 1;
	return 0;
}

static struct inbox *tab_find(const char *user)
{
	uint32_t h = hash_user(user);

	if (!tab.buckets)
		return NULL;
	for (struct inbox *ib = tab.buckets[h & tab.mask]; ib; ib = ib->next)
		if (ib->hash == h && strcmp(ib->presence->user, user) == 0)
			return ib;
	return NULL;
}

static int tab_add(struct inbox *ib)
{
	if ((!tab.buckets || tab.count > tab.mask) && tab_grow() < 0)
		return -ENOMEM;
	ib->hash = hash_user(ib->presence->user);
	ib->next = tab.buckets[ib->hash & tab.mask];
	tab.buckets[ib->hash & tab.mask] = ib;
	tab.count++;
	ib->hashed = true;
	return 0;
}

static void tab_remove(struct inbox *ib)
{
	struct inbox **p;

	if (!ib->hashed)
		return;
	for (p = &tab.buckets[ib->hash & tab.mask]; *p != ib; p = &(*p)->next)
		;
	*p = ib->next;
	tab.count--;
	ib->hashed = false;
}

/* ------------------------------------------------------------- events */

static void send_all(struct inbox *ib, struct ws_frame *f)
{
	for (struct app_client *c = app_room_clients(ib->room); c; c = app_client_next(c))
		app_send_frame(c, f);
}

static void on_notify(void *arg, const char *payload)
{
	json_t *root, *event, *out;
	const char *to;
	struct inbox *ib;
	char *text;
	struct ws_frame *f;

	if (!payload) {
		f = app_frame_text(RESYNC, sizeof(RESYNC) - 1);
		for (size_t i = 0; f && tab.buckets && i <= tab.mask; i++)
			for (ib = tab.buckets[i]; ib; ib = ib->next)
				send_all(ib, f);
		if (f)
			app_frame_unref(f);
		return;
	}
	/* Anyone with SQL access can notify: nothing is trusted but the shape. */
	root = json_loads(payload, 0, NULL);
	to = json_string_value(json_object_get(root, "to"));
	event = json_object_get(root, "event");
	ib = to ? tab_find(to) : NULL;
	if (!ib || !json_is_object(event) || !app_room_clients(ib->room)) {
		json_decref(root);
		return;
	}
	out = json_pack("{s:s,s:O}", "type", "event", "event", event);
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	json_decref(root);
	if (!text)
		return;
	f = app_frame_text(text, strlen(text));
	free(text);
	if (f) {
		send_all(ib, f);
		app_frame_unref(f);
	}
}

/* ----------------------------------------------------------- presence */

static void presence_flush(struct presence *p);

static void on_presence_written(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct presence *p = arg;

	p->inflight = false;
	if (res) {
		p->tries = 0;
	} else {
		/* Not known: written again at the next change or tick. */
		p->written = INBOX_UNKNOWN;
		p->tries++;
	}
	if (!p->orphan) {
		if (res)
			presence_flush(p);
		return;
	}
	/* A disposed room's last state: tried a few times, and freed once
	 * written, given up, or not taken (the database is closing: a query
	 * refused now is never answered). */
	if (p->tries < INBOX_PRESENCE_TRIES)
		presence_flush(p);
	if (!p->inflight)
		free(p);
}

/* One statement: the user's row (naming the server and process that hold
 * the inbox room, by the room's pin) and a notification to each friend. */
static void presence_flush(struct presence *p)
{
	const char *params[3] = { p->user, state_names[p->want], p->room };

	if (p->inflight || p->want == p->written)
		return;
	if (db_query(p->db,
		     "WITH u AS ("
		     " UPDATE users u SET presence = $2, last_seen = now(),"
		     "  presence_server = r.server_id, presence_boot = s.boot"
		     " FROM rooms r LEFT JOIN session_servers s ON s.id = r.server_id"
		     " WHERE u.id = $1 AND r.id = $3"
		     " RETURNING u.id, u.presence, u.last_seen)"
		     " SELECT count(pg_notify('" INBOX_CHANNEL "', json_build_object("
		     "  'to', f.friend_id, 'event', json_build_object('type', 'presence',"
		     "  'userId', u.id, 'state', u.presence, 'lastSeen', u.last_seen))::text))"
		     " FROM u JOIN friends f ON f.user_id = u.id",
		     3, params, on_presence_written, p) < 0)
		return;  /* the queue is full: tried again at the next tick */
	p->inflight = true;
	p->written = p->want;
}

/* The state the clients add up to: online if any is, away if all are. */
static void presence_update(struct inbox *ib)
{
	enum inbox_state st = INBOX_OFFLINE;

	for (struct app_client *c = app_room_clients(ib->room); c; c = app_client_next(c)) {
		if (app_client_data(c) != &away_mark) {
			st = INBOX_ONLINE;
			break;
		}
		st = INBOX_AWAY;
	}
	ib->presence->want = st;
	if (ib->hashed)
		presence_flush(ib->presence);
}

/* --------------------------------------------------------- the room */

static int inbox_create(struct app_room *room, const struct app_record *recent, size_t n, void **state)
{
	struct inbox *ib;
	int rc;

	if (!tab.listening) {
		rc = db_listen(app_db(room), INBOX_CHANNEL, on_notify, NULL);
		if (rc < 0)
			return rc;
		tab.listening = true;
	}
	ib = calloc(1, sizeof *ib);
	if (!ib)
		return -ENOMEM;
	ib->presence = calloc(1, sizeof *ib->presence);
	ib->heartbeat = app_frame_text(HEARTBEAT, sizeof(HEARTBEAT) - 1);
	if (!ib->presence || !ib->heartbeat) {
		free(ib->presence);
		if (ib->heartbeat)
			app_frame_unref(ib->heartbeat);
		free(ib);
		return -ENOMEM;
	}
	ib->room = room;
	ib->presence->db = app_db(room);
	ib->presence->want = ib->presence->written = INBOX_OFFLINE;
	snprintf(ib->presence->room, sizeof ib->presence->room, "%s", app_room_id(room));
	*state = ib;
	return 0;
}

static void send_error(struct app_client *c, const char *code, const char *message)
{
	json_t *j = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text)
		app_send_text(c, text, strlen(text));
	free(text);
	json_decref(j);
}

static void inbox_join(void *state, struct app_client *c, bool first)
{
	struct inbox *ib = state;
	const char *user = app_client_user(c);
	json_t *j;
	char *text;

	/* The backend gives tickets for an inbox to its owner only; this holds
	 * even if a ticket for it were ever signed for somebody else. */
	if (!inbox_id_matches(user, app_room_id(ib->room))) {
		app_close(c, WIRE_CLOSE_FORBIDDEN, "not your inbox");
		return;
	}
	if (!ib->hashed) {
		snprintf(ib->presence->user, sizeof ib->presence->user, "%s", user);
		/* Without its entry the inbox hears no events: better refused. */
		if (tab_add(ib) < 0) {
			app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
			return;
		}
	}
	j = json_pack("{s:s,s:s,s:s,s:I}", "type", "welcome", "room", app_room_id(ib->room), "user",
		      app_client_name(c), "heartbeat_ms", (json_int_t)app_keepalive_ms(ib->room));
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text) {
		app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
		return;
	}
	app_send_text(c, text, strlen(text));
	free(text);
	app_client_ready(c);
	presence_update(ib);
}

static void inbox_frame(void *state, struct app_client *c, bool binary, const uint8_t *data,
			size_t len)
{
	struct inbox *ib = state;
	json_t *j;
	const char *type, *st;

	if (binary) {
		send_error(c, "binary_unsupported", "frames are JSON text");
		return;
	}
	j = json_loadb((const char *)data, len, 0, NULL);
	type = json_string_value(json_object_get(j, "type"));
	st = json_string_value(json_object_get(j, "state"));
	if (!type) {
		send_error(c, "bad_request", "a frame is a JSON object with a \"type\"");
	} else if (strcmp(type, "presence") != 0) {
		send_error(c, "unknown_type", "the inbox takes only \"presence\" frames");
	} else if (st && (strcmp(st, "away") == 0 || strcmp(st, "online") == 0)) {
		app_client_set_data(c, strcmp(st, "away") == 0 ? &away_mark : NULL);
		presence_update(ib);
	} else {
		send_error(c, "bad_request", "\"state\" is \"online\" or \"away\"");
	}
	json_decref(j);
}

static void inbox_leave(void *state, struct app_client *c, bool last)
{
	struct inbox *ib = state;

	app_client_set_data(c, NULL);
	presence_update(ib);
}

static void inbox_tick(void *state, uint64_t now_ms)
{
	struct inbox *ib = state;
	uint64_t quiet = app_keepalive_ms(ib->room);

	for (struct app_client *c = app_room_clients(ib->room); c; c = app_client_next(c))
		if (now_ms - app_client_sent_at(c) >= quiet)
			app_send_frame(c, ib->heartbeat);
	/* A write that failed or found the queue full. */
	if (ib->hashed)
		presence_flush(ib->presence);
}

static void inbox_dispose(void *state)
{
	struct inbox *ib = state;
	struct presence *p;

	if (!ib)
		return;
	p = ib->presence;
	tab_remove(ib);
	p->want = INBOX_OFFLINE;
	if (p->user[0])
		presence_flush(p);
	if (p->inflight)
		p->orphan = true;
	else
		free(p);
	app_frame_unref(ib->heartbeat);
	free(ib);
}

static void inbox_no_records(void *state, int64_t seq)
{
}

static void inbox_no_restore(void *state, const struct app_record *recs, size_t n)
{
}

const struct room_app_ops app_inbox_ops = {
	.name = "inbox",
	.protocols = inbox_protocols,
	.create = inbox_create,
	.join = inbox_join,
	.frame = inbox_frame,
	.leave = inbox_leave,
	.committed = inbox_no_records,
	.rollback = inbox_no_records,
	.restore = inbox_no_restore,
	.tick = inbox_tick,
	.dispose = inbox_dispose,
};
