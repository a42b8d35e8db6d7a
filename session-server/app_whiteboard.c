/* app_whiteboard: a shared canvas (docs/protocol.md, "Whiteboard"; the
 * worked example of docs/apps.md).
 *
 * Every change is a record of the room's log (wb_model.h has the kinds),
 * acknowledged and fanned out once committed. The board (struct wbm) is
 * the state after every record appended, committed or not, so that what a
 * frame is checked against includes what is on its way (two quick undos
 * undo two ops); a rollback rebuilds it from the records kept. Those are
 * the records from the latest committed snapshot on (or from the first the
 * room loaded with): what a welcome sends, and where a retried frame id is
 * looked up first. A retry may come after a snapshot has let its record go
 * (a client whose ack was lost with its server resends on the next one), so
 * the ids of the latest WB_IDS records are also kept apart, as a hash of
 * user and id with the seq: the same window as the records a room loads
 * with, whatever the snapshots.
 *
 * Compaction: after every `--wb-compact-every` records (at most half the
 * room's window, --ring-size, so that the records a room loads with always
 * hold its latest snapshot) a snapshot record of the board is appended,
 * with its state hash; once it commits, the records before it are
 * forgotten. Cursors are not records: they go to the others at most every
 * 50 ms per connection, and are lost with a drop, as they may be. */
#include "app.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jbuf.h"
#include "log.h"
#include "wb_model.h"
#include "wire.h"

#define HEARTBEAT "{\"type\":\"heartbeat\"}"
#define WB_CURSOR_MS 50
#define WB_IDS 1024

static const char *const wb_protocols[] = { "stateroom.v1", NULL };

static size_t compact_every = 500;

void app_whiteboard_set_compact_every(size_t n)
{
	compact_every = n ? n : 1;
}

/* A record from the latest committed snapshot on; strings in buf. */
struct wb_rec {
	int64_t seq, ts, target;
	const char *kind;        /* one of wb_model.h's (static storage) */
	char *buf, *user, *name, *client_id, *payload;
	size_t payload_len;
	struct app_client *from; /* to acknowledge once committed; NULL: gone */
};

/* A record's (user, client id), hashed, and its seq. */
struct wb_id {
	uint64_t key;
	int64_t seq;
};

struct wb {
	struct app_room *room;
	struct wb_id ids[WB_IDS];  /* a ring: the latest at ids_next - 1 */
	size_t ids_next;
	struct wbm board;        /* after every record in recs */
	struct wb_rec *recs;
	size_t n, cap;
	int64_t seq, committed;  /* the latest appended, the latest durable */
	size_t since_snap;       /* records appended since the latest snapshot */
	size_t every;
	struct jbuf out;
	struct ws_frame *heartbeat;
};

/* Per connection: when its last cursor went out. */
struct wb_client {
	uint64_t cursor_at;
};

static const char *kind_of(const char *k)
{
	static const char *const kinds[] = { WBM_KIND_OP, WBM_KIND_UNDO, WBM_KIND_REDO,
					     WBM_KIND_CLEAR, WBM_KIND_SNAPSHOT };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps a copy of r (of a known kind). */
static struct wb_rec *rec_push(struct wb *wb, const struct app_record *r, const char *kind)
{
	size_t ul = strlen(r->user ? r->user : ""), nl = strlen(r->name ? r->name : "");
	size_t il = r->client_id ? strlen(r->client_id) + 1 : 0;
	struct wb_rec *e;
	char *p;

	if (wb->n == wb->cap) {
		size_t cap = wb->cap ? wb->cap * 2 : 64;
		struct wb_rec *recs = realloc(wb->recs, cap * sizeof(*recs));
		if (!recs)
			return NULL;
		wb->recs = recs;
		wb->cap = cap;
	}
	if (!(p = malloc(ul + nl + il + r->payload_len + 3)))
		return NULL;
	e = &wb->recs[wb->n++];
	*e = (struct wb_rec){ .seq = r->seq, .ts = r->ts, .target = r->target, .kind = kind, .buf = p,
			      .payload_len = r->payload_len };
	e->user = p;
	memcpy(p, r->user ? r->user : "", ul + 1);
	e->name = p += ul + 1;
	memcpy(p, r->name ? r->name : "", nl + 1);
	p += nl + 1;
	if (il) {
		e->client_id = p;
		memcpy(p, r->client_id, il);
		p += il;
	}
	e->payload = p;
	memcpy(p, r->payload, r->payload_len);
	p[r->payload_len] = '\0';
	return e;
}

/* FNV-1a over user, a NUL and id: two users' equal ids are two keys. */
static uint64_t id_key(const char *user, const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = user;; p++) {
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		if (!*p)
			break;
	}
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	return h;
}

static void id_remember(struct wb *wb, const char *user, const char *id, int64_t seq)
{
	if (!id)
		return;
	wb->ids[wb->ids_next % WB_IDS] = (struct wb_id){ .key = id_key(user ? user : "", id), .seq = seq };
	wb->ids_next++;
}

/* The seq of user's record with id among the latest WB_IDS, or 0. */
static int64_t id_seq(const struct wb *wb, const char *user, const char *id)
{
	uint64_t key = id_key(user, id);
	size_t n = wb->ids_next < WB_IDS ? wb->ids_next : WB_IDS;

	for (size_t i = 0; i < n; i++)
		if (wb->ids[i].key == key && wb->ids[i].seq > 0)
			return wb->ids[i].seq;
	return 0;
}

static struct app_record record_of(const struct wb_rec *e)
{
	return (struct app_record){ .seq = e->seq, .ts = e->ts, .kind = e->kind, .user = e->user,
				    .name = e->name, .client_id = e->client_id, .payload = e->payload,
				    .payload_len = e->payload_len, .target = e->target };
}

/* Forgets the records before recs[i]. */
static void drop_before(struct wb *wb, size_t i)
{
	if (i == 0)
		return;  /* recs may still be NULL */
	for (size_t k = 0; k < i; k++)
		free(wb->recs[k].buf);
	memmove(wb->recs, wb->recs + i, (wb->n - i) * sizeof(*wb->recs));
	wb->n -= i;
}

/* The board again from the records kept, and the count since the latest
 * snapshot among them. */
static int rebuild(struct wb *wb)
{
	wbm_reset(&wb->board);
	wb->since_snap = 0;
	for (size_t i = 0; i < wb->n; i++) {
		struct app_record r = record_of(&wb->recs[i]);
		if (wbm_apply(&wb->board, &r) == -ENOMEM)
			return -ENOMEM;
		wb->since_snap = strcmp(r.kind, WBM_KIND_SNAPSHOT) == 0 ? 0 : wb->since_snap + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- frames */

static void put_rec(struct jbuf *b, const struct wb_rec *e)
{
	jbuf_puts(b, "{\"type\":");
	jbuf_strz(b, e->kind);
	jbuf_puts(b, ",\"seq\":");
	jbuf_int(b, e->seq);
	if (strcmp(e->kind, WBM_KIND_SNAPSHOT) == 0) {
		/* Its payload's fields: upto, hash, ops. */
		jbuf_put(b, ",", 1);
		jbuf_put(b, e->payload + 1, e->payload_len - 1);
		return;
	}
	jbuf_puts(b, ",\"ts\":");
	jbuf_int(b, e->ts);
	jbuf_puts(b, ",\"userId\":");
	jbuf_strz(b, e->user);
	jbuf_puts(b, ",\"user\":");
	jbuf_strz(b, e->name);
	if (strcmp(e->kind, WBM_KIND_OP) == 0) {
		jbuf_puts(b, ",\"op\":");
		jbuf_put(b, e->payload, e->payload_len);
	} else if (e->target) {
		jbuf_puts(b, ",\"target\":");
		jbuf_int(b, e->target);
	}
	jbuf_put(b, "}", 1);
}

static void send_out(struct wb *wb, struct app_client *c)
{
	if (jbuf_ok(&wb->out))
		app_send_text(c, wb->out.p, wb->out.len);
}

static void broadcast_out(struct wb *wb, const struct app_client *skip)
{
	struct ws_frame *f = jbuf_ok(&wb->out) ? app_frame_text(wb->out.p, wb->out.len) : NULL;

	if (!f)
		return;
	for (struct app_client *c = app_room_clients(wb->room); c; c = app_client_next(c))
		if (c != skip && app_client_data(c))
			app_send_frame(c, f);
	app_frame_unref(f);
}

static void send_error(struct wb *wb, struct app_client *c, const char *code, const char *message,
		       const char *id)
{
	jbuf_reset(&wb->out);
	jbuf_puts(&wb->out, "{\"type\":\"error\",\"code\":");
	jbuf_strz(&wb->out, code);
	jbuf_puts(&wb->out, ",\"message\":");
	jbuf_strz(&wb->out, message);
	if (id) {
		jbuf_puts(&wb->out, ",\"id\":");
		jbuf_strz(&wb->out, id);
	}
	jbuf_put(&wb->out, "}", 1);
	send_out(wb, c);
}

static void send_ack(struct wb *wb, struct app_client *c, const char *id, int64_t seq)
{
	jbuf_reset(&wb->out);
	jbuf_puts(&wb->out, "{\"type\":\"ack\",\"id\":");
	jbuf_strz(&wb->out, id);
	jbuf_puts(&wb->out, ",\"seq\":");
	jbuf_int(&wb->out, seq);
	jbuf_put(&wb->out, "}", 1);
	send_out(wb, c);
}

static void put_person(struct jbuf *b, const char *type, const char *key, struct app_client *c)
{
	jbuf_reset(b);
	jbuf_puts(b, "{\"type\":");
	jbuf_strz(b, type);
	jbuf_puts(b, ",\"");
	jbuf_puts(b, key);
	jbuf_puts(b, "\":");
	jbuf_strz(b, app_client_name(c));
	jbuf_puts(b, ",\"userId\":");
	jbuf_strz(b, app_client_user(c));
}

/* The board is wrong or incomplete here: clients reconnect and get it
 * from the log. */
static void close_all(struct wb *wb, const char *why)
{
	for (struct app_client *c = app_room_clients(wb->room); c; c = app_client_next(c))
		app_close(c, WIRE_CLOSE_INTERNAL, why);
}

/* --------------------------------------------------------------- records */

static void wb_committed(void *state, int64_t seq);

/* Appends the compacted board after everything appended so far. */
static void compact(struct wb *wb)
{
	size_t len;
	char *snap = wbm_snapshot(&wb->board, wb->seq, &len);
	struct app_record rec = { .kind = WBM_KIND_SNAPSHOT, .ts = now_ms(), .user = "", .name = "",
				  .payload = snap, .payload_len = len };

	/* Not now (no memory, the log recovering): after the next record. */
	if (!snap || (rec.seq = app_log_append(wb->room, &rec)) < 0) {
		free(snap);
		return;
	}
	wb->seq = rec.seq;
	if (!rec_push(wb, &rec, WBM_KIND_SNAPSHOT))
		close_all(wb, "out of memory");
	free(snap);
	wb->since_snap = 0;
	if (!app_room_persistent(wb->room))
		wb_committed(wb, rec.seq);
}

/* Logs rec (kind, client id, payload, target) from c: applied to the board
 * now, acked and fanned out once committed. */
static void publish(struct wb *wb, struct app_client *c, struct app_record *rec)
{
	struct wb_rec *e;

	rec->ts = now_ms();
	rec->user = app_client_user(c);
	rec->name = app_client_name(c);
	rec->seq = app_log_append(wb->room, rec);
	if (rec->seq < 0) {
		send_error(wb, c, "unavailable", "the room cannot take changes now, retry",
			   rec->client_id);
		return;
	}
	wb->seq = rec->seq;
	/* A seq taken but not held would be a gap, a board not applied a lie. */
	if (!(e = rec_push(wb, rec, rec->kind)) || wbm_apply(&wb->board, rec) == -ENOMEM) {
		close_all(wb, "out of memory");
		return;
	}
	e->from = c;
	id_remember(wb, rec->user, rec->client_id, rec->seq);
	if (++wb->since_snap >= wb->every)
		compact(wb);
	if (!app_room_persistent(wb->room))
		wb_committed(wb, rec->seq);
}

static void wb_committed(void *state, int64_t seq)
{
	struct wb *wb = state;
	size_t snap = 0;

	for (size_t i = 0; i < wb->n; i++) {
		struct wb_rec *e = &wb->recs[i];
		if (e->seq <= wb->committed || e->seq > seq)
			continue;
		if (e->from && e->client_id)
			send_ack(wb, e->from, e->client_id, e->seq);
		e->from = NULL;
		if (strcmp(e->kind, WBM_KIND_SNAPSHOT) == 0) {
			snap = i;
			continue;  /* the others have every op it holds */
		}
		jbuf_reset(&wb->out);
		put_rec(&wb->out, e);
		broadcast_out(wb, NULL);
	}
	if (seq > wb->committed)
		wb->committed = seq < wb->seq ? seq : wb->seq;
	if (snap)
		drop_before(wb, snap);
}

static void wb_rollback(void *state, int64_t seq)
{
	struct wb *wb = state;

	/* What is not durable was never sent: its id may come again. */
	for (size_t i = 0; i < WB_IDS; i++)
		if (wb->ids[i].seq > seq)
			wb->ids[i].seq = 0;
	while (wb->n > 0 && wb->recs[wb->n - 1].seq > seq) {
		struct wb_rec *e = &wb->recs[--wb->n];
		if (e->from && e->client_id)
			send_error(wb, e->from, "unavailable", "the change could not be saved, retry",
				   e->client_id);
		free(e->buf);
	}
	wb->seq = seq;
	if (wb->committed > seq)
		wb->committed = seq;
	if (rebuild(wb) != 0)
		close_all(wb, "out of memory");
}

static void wb_restore(void *state, const struct app_record *recs, size_t n)
{
	struct wb *wb = state;

	for (size_t i = 0; i < n; i++) {
		const char *kind = kind_of(recs[i].kind);
		struct wb_rec *e;
		if (recs[i].seq <= wb->committed || !kind)
			continue;
		if (!(e = rec_push(wb, &recs[i], kind)) || wbm_apply(&wb->board, &recs[i]) == -ENOMEM) {
			close_all(wb, "out of memory");
			return;
		}
		id_remember(wb, recs[i].user, recs[i].client_id, recs[i].seq);
		wb->since_snap = strcmp(kind, WBM_KIND_SNAPSHOT) == 0 ? 0 : wb->since_snap + 1;
		if (wb->seq < e->seq)
			wb->seq = e->seq;
		wb_committed(wb, e->seq);
	}
}

/* ---------------------------------------------------------- frames in */

static const char *get_id(struct wb *wb, struct app_client *c, json_t *o)
{
	json_t *jid = json_object_get(o, "id");
	const char *id = json_string_value(jid);
	size_t len = json_string_length(jid);

	if (!id || len < 1 || len > WIRE_MSG_ID_MAX || memchr(id, '\0', len)) {
		send_error(wb, c, "bad_frame", "a change needs an id of 1 to 64 bytes", NULL);
		return NULL;
	}
	return id;
}

/* A retried id whose record is still kept: acked with its seq again (or
 * once committed), nothing else done. */
static bool retried(struct wb *wb, struct app_client *c, const char *id)
{
	const char *user = app_client_user(c);
	int64_t seq;

	for (size_t i = wb->n; i-- > 0;) {
		struct wb_rec *e = &wb->recs[i];
		if (!e->client_id || strcmp(e->client_id, id) != 0 || strcmp(e->user, user) != 0)
			continue;
		if (e->seq > wb->committed)
			e->from = c;
		else
			send_ack(wb, c, id, e->seq);
		return true;
	}
	/* Let go by a snapshot since, and so durable. */
	seq = id_seq(wb, user, id);
	if (seq > 0 && seq <= wb->committed) {
		send_ack(wb, c, id, seq);
		return true;
	}
	return false;
}

static void on_op(struct wb *wb, struct app_client *c, json_t *o, const char *id)
{
	json_t *op = json_object_get(o, "op"), *targets;
	const char *why;
	char *canon;
	size_t len;
	struct app_record rec = { .kind = WBM_KIND_OP, .client_id = id };

	if (wbm_op_check(op, &canon, &len, &why) != 0) {
		send_error(wb, c, "bad_op", why, id);
		return;
	}
	targets = json_object_get(op, "targets");
	for (size_t i = 0; i < json_array_size(targets); i++)
		if (!wbm_find(&wb->board, json_integer_value(json_array_get(targets, i)))) {
			send_error(wb, c, "not_found", "an erase target is no op on the board", id);
			goto out;
		}
	if (wb->board.n >= WBM_OPS_MAX || wb->board.bytes + len > WBM_BYTES_MAX) {
		send_error(wb, c, "board_full", "the board is full: clear it first", id);
		goto out;
	}
	rec.payload = canon;
	rec.payload_len = len;
	publish(wb, c, &rec);
out:
	free(canon);
}

static void on_target(struct wb *wb, struct app_client *c, json_t *o, const char *id, bool redo)
{
	json_t *t = json_object_get(o, "target");
	struct app_record rec = { .kind = redo ? WBM_KIND_REDO : WBM_KIND_UNDO, .client_id = id,
				  .payload = "" };

	if (!json_is_integer(t) || json_integer_value(t) < 1) {
		send_error(wb, c, "bad_frame", "target must be an op's seq", id);
		return;
	}
	rec.target = json_integer_value(t);
	switch (wbm_can_target(&wb->board, app_client_user(c), rec.target, redo)) {
	case WBM_TARGET_NOT_FOUND:
		send_error(wb, c, "not_found", "target is no op on the board", id);
		return;
	case WBM_TARGET_NOT_YOURS:
		send_error(wb, c, "not_yours", "only its author undoes or redoes an op", id);
		return;
	case WBM_TARGET_STATE:
		send_error(wb, c, redo ? "not_undone" : "already_undone",
			   redo ? "the op is not undone" : "the op is undone already", id);
		return;
	case WBM_TARGET_OK:
		break;
	}
	publish(wb, c, &rec);
}

static void on_cursor(struct wb *wb, struct app_client *c, json_t *o)
{
	struct wb_client *wc = app_client_data(c);
	json_t *jx = json_object_get(o, "x"), *jy = json_object_get(o, "y");
	double x = json_number_value(jx), y = json_number_value(jy);
	uint64_t now;

	if (!json_is_number(jx) || !json_is_number(jy) || !isfinite(x) || !isfinite(y) || x < 0 ||
	    y < 0 || x > WBM_CANVAS || y > WBM_CANVAS) {
		send_error(wb, c, "bad_frame", "x and y must be numbers from 0 to 4096", NULL);
		return;
	}
	now = mono_ms();
	if (now - wc->cursor_at < WB_CURSOR_MS)
		return;
	wc->cursor_at = now;
	put_person(&wb->out, "cursor", "user", c);
	jbuf_puts(&wb->out, ",\"x\":");
	jbuf_int(&wb->out, (int64_t)lround(x));
	jbuf_puts(&wb->out, ",\"y\":");
	jbuf_int(&wb->out, (int64_t)lround(y));
	jbuf_put(&wb->out, "}", 1);
	broadcast_out(wb, c);
}

static void wb_frame(void *state, struct app_client *c, bool binary, const uint8_t *data, size_t len)
{
	struct wb *wb = state;
	json_t *o;
	const char *type, *id;

	if (binary) {
		send_error(wb, c, "binary_unsupported", "frames are JSON text", NULL);
		return;
	}
	o = json_loadb((const char *)data, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
	type = json_string_value(json_object_get(o, "type"));
	if (!json_is_object(o)) {
		send_error(wb, c, "bad_json", "a frame is one JSON object, with each key once", NULL);
	} else if (!type) {
		send_error(wb, c, "bad_frame", "type must be a string", NULL);
	} else if (strcmp(type, "cursor") == 0) {
		on_cursor(wb, c, o);
	} else if (strcmp(type, "op") != 0 && strcmp(type, "undo") != 0 && strcmp(type, "redo") != 0 &&
		   strcmp(type, "clear") != 0) {
		/* Named by its id, if it has one, so that a client waiting for
		 * its ack hears of it. */
		json_t *jid = json_object_get(o, "id");
		size_t n = json_string_length(jid);
		const char *fid = json_string_value(jid);
		send_error(wb, c, "unknown_type", "unknown frame type",
			   fid && n >= 1 && n <= WIRE_MSG_ID_MAX && !memchr(fid, '\0', n) ? fid : NULL);
	} else if (!(id = get_id(wb, c, o)) || retried(wb, c, id)) {
		/* answered */
	} else if (app_room_muted_until(wb->room, app_client_user(c))) {
		send_error(wb, c, "muted", "you are muted in this room", id);
	} else if (strcmp(type, "op") == 0) {
		on_op(wb, c, o, id);
	} else if (strcmp(type, "clear") == 0) {
		struct app_record rec = { .kind = WBM_KIND_CLEAR, .client_id = id, .payload = "" };
		publish(wb, c, &rec);
	} else {
		on_target(wb, c, o, id, type[0] == 'r');
	}
	json_decref(o);
}

/* ---------------------------------------------------------- the room */

static void wb_dispose(void *state);

static int wb_create(struct app_room *room, const struct app_record *recent, size_t n, void **state)
{
	struct wb *wb = calloc(1, sizeof(*wb));
	size_t start = 0, window = app_room_log_window(room);

	if (!wb)
		return -ENOMEM;
	wb->room = room;
	wbm_init(&wb->board);
	wb->every = compact_every < window / 2 ? compact_every : (window / 2 ? window / 2 : 1);
	wb->heartbeat = app_frame_text(HEARTBEAT, sizeof(HEARTBEAT) - 1);
	if (!wb->heartbeat) {
		wb_dispose(wb);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(recent[i].kind, WBM_KIND_SNAPSHOT) == 0)
			start = i;
	if (n > 0 && start == 0 && recent[0].seq != 1 && strcmp(recent[0].kind, WBM_KIND_SNAPSHOT) != 0)
		log_write(LOG_WARN, "whiteboard: no snapshot among the records loaded; the board starts at the first",
			  "{s:s,s:I}", "room", app_room_id(room), "seq", (json_int_t)recent[0].seq);
	for (size_t i = 0; i < n; i++)
		id_remember(wb, recent[i].user, recent[i].client_id, recent[i].seq);
	for (size_t i = start; i < n; i++) {
		const char *kind = kind_of(recent[i].kind);
		if (!kind)
			continue;
		if (!rec_push(wb, &recent[i], kind)) {
			wb_dispose(wb);
			return -ENOMEM;
		}
	}
	if (rebuild(wb) != 0) {
		wb_dispose(wb);
		return -ENOMEM;
	}
	wb->seq = wb->committed = n > 0 ? recent[n - 1].seq : 0;
	*state = wb;
	return 0;
}

static void send_welcome(struct wb *wb, struct app_client *c)
{
	int64_t since = app_client_since(c), first = wb->n ? wb->recs[0].seq : wb->committed + 1;
	bool resume = since >= 0 && since <= wb->committed && since + 1 >= first;
	size_t members = app_room_member_count(wb->room);
	bool comma = false;

	put_person(&wb->out, "welcome", "user", c);
	jbuf_puts(&wb->out, ",\"room\":");
	jbuf_strz(&wb->out, app_room_id(wb->room));
	jbuf_puts(&wb->out, ",\"app\":\"whiteboard\",\"seq\":");
	jbuf_int(&wb->out, wb->committed);
	jbuf_puts(&wb->out, ",\"heartbeat_ms\":");
	jbuf_int(&wb->out, (int64_t)app_keepalive_ms(wb->room));
	jbuf_puts(&wb->out, ",\"canvas\":4096,\"members\":[");
	for (size_t i = 0; i < members; i++) {
		jbuf_puts(&wb->out, i ? ",{\"userId\":" : "{\"userId\":");
		jbuf_strz(&wb->out, app_room_member(wb->room, i));
		jbuf_puts(&wb->out, ",\"user\":");
		jbuf_strz(&wb->out, app_room_member_name(wb->room, i));
		jbuf_put(&wb->out, "}", 1);
	}
	jbuf_puts(&wb->out, resume ? "],\"reset\":false,\"records\":[" : "],\"reset\":true,\"records\":[");
	for (size_t i = 0; i < wb->n && wb->recs[i].seq <= wb->committed; i++) {
		if (resume && wb->recs[i].seq <= since)
			continue;
		if (comma)
			jbuf_put(&wb->out, ",", 1);
		comma = true;
		put_rec(&wb->out, &wb->recs[i]);
	}
	jbuf_puts(&wb->out, "]}");
	send_out(wb, c);
}

static void wb_join(void *state, struct app_client *c, bool first)
{
	struct wb *wb = state;
	struct wb_client *wc = calloc(1, sizeof(*wc));

	if (!wc) {
		app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
		return;
	}
	app_client_set_data(c, wc);
	send_welcome(wb, c);
	app_client_ready(c);
	if (first) {
		put_person(&wb->out, "presence", "joined", c);
		jbuf_put(&wb->out, "}", 1);
		broadcast_out(wb, c);
	}
}

static void wb_leave(void *state, struct app_client *c, bool last)
{
	struct wb *wb = state;

	for (size_t i = 0; i < wb->n; i++)
		if (wb->recs[i].from == c)
			wb->recs[i].from = NULL;
	free(app_client_data(c));
	app_client_set_data(c, NULL);
	if (last) {
		put_person(&wb->out, "presence", "left", c);
		jbuf_put(&wb->out, "}", 1);
		broadcast_out(wb, c);
	}
}

static void wb_tick(void *state, uint64_t now_ms)
{
	struct wb *wb = state;
	uint64_t quiet = app_keepalive_ms(wb->room);

	for (struct app_client *c = app_room_clients(wb->room); c; c = app_client_next(c))
		if (app_client_data(c) && now_ms - app_client_sent_at(c) >= quiet)
			app_send_frame(c, wb->heartbeat);
}

static void wb_dispose(void *state)
{
	struct wb *wb = state;

	drop_before(wb, wb->n);
	free(wb->recs);
	wbm_fini(&wb->board);
	if (wb->heartbeat)
		app_frame_unref(wb->heartbeat);
	jbuf_fini(&wb->out);
	free(wb);
}

const struct room_app_ops app_whiteboard_ops = {
	.name = "whiteboard",
	.protocols = wb_protocols,
	.create = wb_create,
	.join = wb_join,
	.frame = wb_frame,
	.leave = wb_leave,
	.committed = wb_committed,
	.rollback = wb_rollback,
	.restore = wb_restore,
	.tick = wb_tick,
	.dispose = wb_dispose,
};
