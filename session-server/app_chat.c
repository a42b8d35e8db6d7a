/* app_chat: the chat room application, in both protocols of
 * docs/protocol.md: compat (raw text in, the full snapshot out after every
 * join, leave and message) and native stateroom.v1 (deltas).
 *
 * A message is a record of kind "message" in the room's log, its payload the
 * text; a log holding any other kind is refused (1011) until the chat knows
 * what to show of it. A message is appended (app_log_append) and acknowledged
 * and fanned out only once committed; a batch that fails is rolled back and
 * its senders get an `unavailable` error (compat senders are closed with
 * 1011, their protocol has no errors). A room's recent messages live in a
 * ring (app_room_log_window() of them, loaded with the room), which serves
 * welcome (with since), history, the compat snapshot and the idempotency of
 * sends: a send whose (user, id) is still in the ring is acknowledged with
 * its original seq and not broadcast again. What the ring no longer holds
 * (a resume from further back, history pages beyond it) is read from the
 * database (app_log_read); a client resuming from there gets no frame before
 * its welcome, and the welcome carries everything committed up to then. A
 * client's own frames are let in (app_client_ready) once its welcome is
 * queued.
 *
 * An ephemeral room (not persistent) has only the ring: a message is acked
 * and fanned out as soon as it has its seq, history and resumes reach back
 * as far as the ring does, and what it has evicted is gone.
 *
 * Frames on the per-message path (message, ack, welcome, history, snapshot)
 * are written by hand into one reused buffer (jbuf); ring slots keep their
 * memory when a message is evicted, for the next one.
 *
 * Liveness: the welcome says "heartbeat_ms" (app_keepalive_ms()), and a
 * welcomed native client that has been sent nothing for that long gets the
 * room's one prebuilt {"type":"heartbeat"} at the next tick, so that a
 * client hearing nothing for about twice that knows the server is gone
 * (frozen, or cut off) rather than quiet. */
#include "app.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlist.h"
#include "dmnotify.h"
#include "jbuf.h"
#include "marks.h"
#include "wire.h"

#define CHAT_COMPAT_MESSAGES 100
#define CHAT_WELCOME_MESSAGES 50
/* Most messages a resuming welcome carries; from further back it carries the
 * latest ones and "more":true (page the rest with history). */
#define CHAT_CATCHUP_MAX 1000
#define CHAT_HISTORY_DEFAULT 50
#define CHAT_HISTORY_MAX 100
#define CHAT_TEXT_MAX 4000
/* The kind of the chat's records in the room's log: a message, its payload
 * the text. */
#define CHAT_KIND_MESSAGE "message"

#define HEARTBEAT "{\"type\":\"heartbeat\"}"

/* Its protocols, by app_client_protocol() index. */
enum chat_protocol { CHAT_COMPAT, CHAT_NATIVE };
static const char *const chat_protocols[] = {
	[CHAT_COMPAT] = "",
	[CHAT_NATIVE] = "stateroom.v1",
	NULL,
};

static bool is_native(const struct app_client *c)
{
	return app_client_protocol(c) == CHAT_NATIVE;
}

struct chat_msg {
	int64_t seq, ts;
	char *buf;               /* user, name, id, text; kept when the slot is reused */
	size_t cap;
	const char *user, *id;   /* user: the subject; id NULL for compat */
	const char *name;        /* the sender's name, as shown */
	const char *text;
	size_t text_len;
	struct app_client *from; /* to acknowledge once committed; NULL if gone */
	uint32_t key;            /* hash of (user, id), for the index */
};

enum wait_kind { WAIT_WELCOME, WAIT_HISTORY };

/* A database read in flight on behalf of a client. */
struct chat_wait {
	struct chat *ch;
	struct app_client *c;    /* NULL once it left */
	enum wait_kind kind;
	int64_t since;           /* welcome: the client's since */
	int64_t upto;            /* welcome: read up to here, the ring has the rest */
	struct dlist_node node;  /* in ch->waits */
};

struct chat {
	struct app_room *room;
	struct chat_msg *ring;
	size_t size;
	size_t head, n;          /* oldest at ring[head] */
	int64_t seq;             /* latest in the ring; 0 before the first */
	int64_t committed;       /* latest durable: what clients may see */
	struct jbuf out;         /* the frame being written */
	struct ws_frame *heartbeat;
	struct marks *marks;     /* read marks, written on tick and dispose */
	struct dmn *dm;          /* "dm" events, if the room is a direct conversation */
	struct dlist waits;
	/* Ring slot + 1 of each message with an id, by its key (linear
	 * probing, at most half full): a send's retry is found without
	 * comparing it with every message in the ring. */
	uint32_t *index;
	size_t index_mask;
};

/* ------------------------------------------------------------- the ring */

static struct chat_msg *msg_at(struct chat *ch, size_t i)
{
	return &ch->ring[(ch->head + i) % ch->size];
}

static int64_t first_seq(const struct chat *ch)
{
	return ch->seq - (int64_t)ch->n + 1;
}

/* FNV-1a of user, a NUL, id. */
static uint32_t key_of(const char *user, const char *id)
{
	uint32_t h = 2166136261u;

	for (const char *p = user; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h *= 16777619u;
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static int index_init(struct chat *ch)
{
	size_t n = 2;

	while (n < 2 * ch->size)
		n *= 2;
	ch->index = calloc(n, sizeof(*ch->index));
	if (!ch->index)
		return -ENOMEM;
	ch->index_mask = n - 1;
	return 0;
}

static void index_add(struct chat *ch, struct chat_msg *m)
{
	size_t i = m->key & ch->index_mask;

	while (ch->index[i])
		i = (i + 1) & ch->index_mask;
	ch->index[i] = (uint32_t)(m - ch->ring) + 1;
}

/* Removes m, moving later entries of its probe run back into the hole so
 * that lookups need no tombstones. */
static void index_remove(struct chat *ch, struct chat_msg *m)
{
	size_t mask = ch->index_mask, i = m->key & mask, j;
	uint32_t slot = (uint32_t)(m - ch->ring) + 1;

	while (ch->index[i] != slot) {
		if (!ch->index[i])
			return;
		i = (i + 1) & mask;
	}
	for (j = (i + 1) & mask; ch->index[j]; j = (j + 1) & mask) {
		size_t home = ch->ring[ch->index[j] - 1].key & mask;
		/* The entry at j may fill the hole at i unless its home lies
		 * cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			ch->index[i] = ch->index[j];
			i = j;
		}
	}
	ch->index[i] = 0;
}

static struct chat_msg *find_sent(struct chat *ch, const char *user, const char *id)
{
	uint32_t key = key_of(user, id);

	for (size_t i = key & ch->index_mask; ch->index[i]; i = (i + 1) & ch->index_mask) {
		struct chat_msg *m = &ch->ring[ch->index[i] - 1];
		if (m->key == key && strcmp(m->id, id) == 0 && strcmp(m->user, user) == 0)
			return m;
	}
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Messages ring[0..visible) are committed. */
static size_t visible(const struct chat *ch)
{
	return ch->n - (size_t)(ch->seq - ch->committed);
}

/* Ring position of a committed seq in [first_seq, committed]. */
static size_t pos_of(const struct chat *ch, int64_t seq)
{
	return (size_t)(seq - first_seq(ch));
}

static struct chat_msg *append(struct chat *ch, int64_t seq, int64_t ts, const char *user,
			       const char *name, const char *id, const char *text, size_t text_len)
{
	size_t ul = strlen(user) + 1, nl = strlen(name) + 1, il = id ? strlen(id) + 1 : 0;
	size_t need = ul + nl + il + text_len + 1;
	struct chat_msg *m;
	char *buf;

	m = msg_at(ch, ch->n == ch->size ? 0 : ch->n);
	if (m->cap < need) {
		buf = realloc(m->buf, need);
		if (!buf)
			return NULL;
		m->buf = buf;
		m->cap = need;
	}
	if (ch->n == ch->size) {
		if (m->id)
			index_remove(ch, m);
		ch->head = (ch->head + 1) % ch->size;
		ch->n--;
	}
	ch->n++;
	buf = m->buf;
	m->user = memcpy(buf, user, ul);
	m->name = memcpy(buf + ul, name, nl);
	buf += ul + nl;
	m->id = id ? memcpy(buf, id, il) : NULL;
	memcpy(buf + il, text, text_len);
	buf[il + text_len] = '\0';
	m->text = buf + il;
	m->text_len = text_len;
	m->seq = ch->seq = seq;
	m->ts = ts;
	m->from = NULL;
	if (id) {
		m->key = key_of(user, id);
		index_add(ch, m);
	}
	return m;
}

/* ---------------------------------------------------------------- frames */

/* A message as held in welcome and history arrays; typed adds "type":"message"
 * in front, for the live frame. name is what the sender is shown as, user
 * its subject (the "userId" that tells two senders of one name apart). */
static void put_msg(struct jbuf *b, bool typed, int64_t seq, const char *id, const char *name,
		    const char *user, const char *text, size_t text_len, int64_t ts)
{
	jbuf_puts(b, typed ? "{\"type\":\"message\",\"seq\":" : "{\"seq\":");
	jbuf_int(b, seq);
	jbuf_puts(b, ",\"id\":");
	jbuf_strz(b, id);
	jbuf_puts(b, ",\"user\":");
	jbuf_strz(b, name);
	jbuf_puts(b, ",\"userId\":");
	jbuf_strz(b, user);
	jbuf_puts(b, ",\"text\":");
	jbuf_str(b, text, text_len);
	jbuf_puts(b, ",\"ts\":");
	jbuf_int(b, ts);
	jbuf_put(b, "}", 1);
}

static void put_ring(struct jbuf *b, const struct chat_msg *m, bool typed)
{
	put_msg(b, typed, m->seq, m->id, m->name, m->user, m->text, m->text_len, m->ts);
}

static void put_rec(struct jbuf *b, const struct app_record *r)
{
	put_msg(b, false, r->seq, r->client_id, r->name, r->user, r->payload, r->payload_len, r->ts);
}

/* Whether recs[0..n) are all messages: the only kind the chat writes today,
 * and the only one its ring (one slot per seq, no gaps) can hold. A log with
 * other kinds is not served rather than served wrong. */
static bool all_messages(const struct app_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].kind, CHAT_KIND_MESSAGE) != 0)
			return false;
	return true;
}

/* Ring positions [from, to) as the elements of an array (no brackets). */
static void put_ring_range(struct chat *ch, size_t from, size_t to, bool comma)
{
	for (size_t i = from; i < to; i++) {
		if (comma || i > from)
			jbuf_put(&ch->out, ",", 1);
		put_ring(&ch->out, msg_at(ch, i), false);
	}
}

/* The members' names (ids: their subjects), in the order they joined. */
static void put_members(struct chat *ch, bool ids)
{
	size_t n = app_room_member_count(ch->room);

	jbuf_put(&ch->out, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jbuf_put(&ch->out, ",", 1);
		jbuf_strz(&ch->out, ids ? app_room_member(ch->room, i) : app_room_member_name(ch->room, i));
	}
	jbuf_put(&ch->out, "]", 1);
}

/* The welcome's fields from seq on, up to its messages array's opening. */
static void put_welcome_seq(struct chat *ch)
{
	jbuf_puts(&ch->out, ",\"seq\":");
	jbuf_int(&ch->out, ch->committed);
	jbuf_puts(&ch->out, ",\"heartbeat_ms\":");
	jbuf_int(&ch->out, (int64_t)app_keepalive_ms(ch->room));
	jbuf_puts(&ch->out, ",\"messages\":[");
}

/* The frame written in ch->out, with one reference; NULL on failure. */
static struct ws_frame *out_frame(struct chat *ch)
{
	return jbuf_ok(&ch->out) ? app_frame_text(ch->out.p, ch->out.len) : NULL;
}

static void send_out(struct chat *ch, struct app_client *c)
{
	if (jbuf_ok(&ch->out))
		app_send_text(c, ch->out.p, ch->out.len);
}

/* Serialises j (stolen) into a frame; NULL on failure. For the rare frames. */
static struct ws_frame *frame_of(json_t *j)
{
	char *s;
	struct ws_frame *f;

	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return NULL;
	f = app_frame_text(s, strlen(s));
	free(s);
	return f;
}

static void send_json(struct app_client *c, json_t *j)
{
	struct ws_frame *f = frame_of(j);

	if (f) {
		app_send_frame(c, f);
		app_frame_unref(f);
	}
}

static void send_error(struct app_client *c, const char *code, const char *message, const char *id)
{
	send_json(c, json_pack("{s:s,s:s,s:s,s:s*}", "type", "error", "code", code, "message", message,
			       "id", id));
}

static void send_ack(struct chat *ch, struct app_client *c, const char *id, int64_t seq)
{
	jbuf_reset(&ch->out);
	jbuf_puts(&ch->out, "{\"type\":\"ack\",\"id\":");
	jbuf_strz(&ch->out, id);
	jbuf_puts(&ch->out, ",\"seq\":");
	jbuf_int(&ch->out, seq);
	jbuf_put(&ch->out, "}", 1);
	send_out(ch, c);
}

/* A native client sees nothing before its welcome (its data is the wait
 * for it). */
static bool welcomed_native(struct app_client *c)
{
	return is_native(c) && !app_client_data(c);
}

/* Sends f (a reference is kept by the caller) to the welcomed native
 * clients, except those of user skip_user. */
static void broadcast_frame(struct chat *ch, struct ws_frame *f, const char *skip_user)
{
	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c)) {
		if (!welcomed_native(c) || (skip_user && strcmp(app_client_user(c), skip_user) == 0))
			continue;
		app_send_frame(c, f);
	}
}

/* Sends j (stolen) likewise. */
static void broadcast_native(struct chat *ch, json_t *j, const char *skip_user)
{
	struct ws_frame *f = frame_of(j);

	if (f) {
		broadcast_frame(ch, f, skip_user);
		app_frame_unref(f);
	}
}

/* The live frame of ring message m to every welcomed native client. */
static void broadcast_msg(struct chat *ch, const struct chat_msg *m)
{
	struct ws_frame *f;

	jbuf_reset(&ch->out);
	put_ring(&ch->out, m, true);
	f = out_frame(ch);
	if (f) {
		broadcast_frame(ch, f, NULL);
		app_frame_unref(f);
	}
}

/* The compat snapshot to every compat client, built only if there is one. */
static void broadcast_snapshot(struct chat *ch)
{
	struct ws_frame *f = NULL;

	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c)) {
		if (is_native(c))
			continue;
		if (!f) {
			size_t n = visible(ch);
			size_t from = n > CHAT_COMPAT_MESSAGES ? n - CHAT_COMPAT_MESSAGES : 0;
			jbuf_reset(&ch->out);
			jbuf_puts(&ch->out, "{\"messages\":[");
			for (size_t i = from; i < n; i++) {
				struct chat_msg *m = msg_at(ch, i);
				jbuf_puts(&ch->out, i > from ? ",{\"userId\":" : "{\"userId\":");
				jbuf_strz(&ch->out, m->name);
				jbuf_puts(&ch->out, ",\"msg\":");
				jbuf_str(&ch->out, m->text, m->text_len);
				jbuf_puts(&ch->out, ",\"ts\":");
				jbuf_int(&ch->out, m->ts);
				jbuf_put(&ch->out, "}", 1);
			}
			jbuf_puts(&ch->out, "],\"connectedUsers\":");
			put_members(ch, false);
			jbuf_put(&ch->out, "}", 1);
			if (!(f = out_frame(ch)))
				return;
		}
		app_send_frame(c, f);
	}
	app_frame_unref(f);
}

static void chat_committed(void *state, int64_t seq);

/* A new message goes to the log; committed() announces it. */
static void publish(struct chat *ch, struct app_client *from, const char *id, const char *text,
		    size_t len)
{
	int64_t ts = now_ms();
	struct app_record rec = {
		.kind = CHAT_KIND_MESSAGE, .ts = ts, .user = app_client_user(from),
		.name = app_client_name(from), .client_id = id, .payload = text, .payload_len = len,
	};
	int64_t seq;
	struct chat_msg *m;

	/* Never evict a message that is not yet committed. */
	if (ch->n == ch->size && msg_at(ch, 0)->seq > ch->committed)
		seq = -EAGAIN;
	else
		seq = app_log_append(ch->room, &rec);
	if (seq < 0 ||
	    !(m = append(ch, seq, ts, app_client_user(from), app_client_name(from), id, text, len))) {
		/* A seq taken but not held would be a gap: the room cannot go on. */
		if (seq >= 0)
			app_close(from, WIRE_CLOSE_INTERNAL, "out of memory");
		else if (is_native(from))
			send_error(from, "unavailable", "the room cannot take messages now, retry", id);
		else
			app_close(from, WIRE_CLOSE_INTERNAL, "the room cannot take messages now");
		return;
	}
	m->from = from;
	if (!app_room_persistent(ch->room))
		chat_committed(ch, seq);
}

/* ------------------------------------------------------ database reads */

static void on_waited(void *arg, int status, const struct app_record *recs, size_t n);

/* Reads after < seq < before (the latest limit) for w. Returns 0 or a
 * negative errno (w is then neither linked nor freed). */
static int wait_read(struct chat *ch, struct chat_wait *w, int64_t after, int64_t before,
		     size_t limit)
{
	int rc = app_log_read(ch->room, after, before, limit, on_waited, w);

	if (rc == 0)
		dlist_push_front(&ch->waits, &w->node);
	return rc;
}

/* A welcome for c up to its messages array's opening, in ch->out. */
static void put_welcome_head(struct chat *ch, struct app_client *c)
{
	jbuf_reset(&ch->out);
	jbuf_puts(&ch->out, "{\"type\":\"welcome\",\"room\":");
	jbuf_strz(&ch->out, app_room_id(ch->room));
	jbuf_puts(&ch->out, ",\"user\":");
	jbuf_strz(&ch->out, app_client_name(c));
	jbuf_puts(&ch->out, ",\"userId\":");
	jbuf_strz(&ch->out, app_client_user(c));
	jbuf_puts(&ch->out, ",\"members\":");
	put_members(ch, false);
	/* Beside members rather than in it: members stays the list of names
	 * that clients of the first native protocol read. */
	jbuf_puts(&ch->out, ",\"memberIds\":");
	put_members(ch, true);
	put_welcome_seq(ch);
}

/* A history frame up to its messages array's opening, in ch->out. */
static void put_history_head(struct chat *ch)
{
	jbuf_reset(&ch->out);
	jbuf_puts(&ch->out, "{\"type\":\"history\",\"messages\":[");
}

/* Closes the history frame in ch->out and sends it to c. */
static void send_history_end(struct chat *ch, struct app_client *c, bool more)
{
	jbuf_puts(&ch->out, more ? "],\"more\":true}" : "],\"more\":false}");
	send_out(ch, c);
}

/* The welcome for a client resuming from before the ring: recs[0..n) from
 * the database cover (since, upto], the ring the rest up to committed. */
static void send_catchup_welcome(struct chat *ch, struct chat_wait *w,
				 const struct app_record *recs, size_t n)
{
	size_t end = visible(ch), from = w->upto < ch->committed ? pos_of(ch, w->upto + 1) : end;
	size_t total = n + (end - from), skip = total > CHAT_CATCHUP_MAX ? total - CHAT_CATCHUP_MAX : 0;
	size_t rskip = skip > n ? n : skip;
	int64_t first;
	bool comma = false;

	from += skip - rskip;
	if (n > rskip)
		first = recs[rskip].seq;
	else if (from < end)
		first = msg_at(ch, from)->seq;
	else
		first = ch->committed + 1;
	put_welcome_head(ch, w->c);
	for (size_t i = rskip; i < n; i++, comma = true) {
		if (comma)
			jbuf_put(&ch->out, ",", 1);
		put_rec(&ch->out, &recs[i]);
	}
	put_ring_range(ch, from, end, comma);
	jbuf_put(&ch->out, "]", 1);
	if (first > w->since + 1)
		jbuf_puts(&ch->out, ",\"more\":true");
	jbuf_put(&ch->out, "}", 1);
	send_out(ch, w->c);
}

static void send_history_recs(struct chat *ch, struct app_client *c, const struct app_record *recs,
			      size_t n)
{
	put_history_head(ch);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jbuf_put(&ch->out, ",", 1);
		put_rec(&ch->out, &recs[i]);
	}
	send_history_end(ch, c, n > 0 && recs[0].seq > 1);
}

static void on_waited(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct chat_wait *w = arg;
	struct chat *ch = w->ch;
	struct app_client *c = w->c;

	dlist_remove(&ch->waits, &w->node);
	if (!c)
		goto out_free;
	if (status != 0 || !all_messages(recs, n)) {
		if (w->kind == WAIT_WELCOME)
			app_client_set_data(c, NULL);
		app_close(c, WIRE_CLOSE_INTERNAL, "messages could not be loaded");
		goto out_free;
	}
	if (w->kind == WAIT_HISTORY) {
		send_history_recs(ch, c, recs, n);
		goto out_free;
	}
	/* The ring moved past upto while we read: read up to where it is now. */
	if (w->upto < ch->committed && first_seq(ch) > w->upto + 1) {
		int64_t upto = w->upto;
		w->upto = ch->committed;
		if (wait_read(ch, w, w->since, w->upto + 1, CHAT_CATCHUP_MAX) == 0)
			return;
		w->upto = upto;
		app_client_set_data(c, NULL);
		app_close(c, WIRE_CLOSE_INTERNAL, "messages could not be loaded");
		goto out_free;
	}
	send_catchup_welcome(ch, w, recs, n);
	app_client_set_data(c, NULL);
	app_client_ready(c);
out_free:
	free(w);
}

/* ------------------------------------------------------------ native in */

static bool get_int(json_t *o, const char *key, bool required, json_int_t min, json_int_t max,
		    json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return !required;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

static void on_send(struct chat *ch, struct app_client *c, json_t *o)
{
	json_t *jid = json_object_get(o, "id"), *jtext = json_object_get(o, "text");
	const char *id = json_string_value(jid), *text = json_string_value(jtext);
	size_t id_len = json_string_length(jid), len = json_string_length(jtext);
	struct chat_msg *dup;

	if (!id || id_len < 1 || id_len > WIRE_MSG_ID_MAX || memchr(id, '\0', id_len)) {
		send_error(c, "bad_frame", "send needs an id of 1 to 64 bytes", NULL);
		return;
	}
	if (!text || len == 0 || memchr(text, '\0', len)) {
		send_error(c, "bad_frame", "send needs a non-empty text without NUL", id);
		return;
	}
	if (len > CHAT_TEXT_MAX) {
		send_error(c, "too_long", "text is over 4000 bytes", id);
		return;
	}
	dup = find_sent(ch, app_client_user(c), id);
	if (dup && dup->seq > ch->committed) {
		dup->from = c;  /* still being written: the ack goes to the latest asker */
		return;
	}
	if (dup) {
		send_ack(ch, c, id, dup->seq);
		return;
	}
	publish(ch, c, id, text, len);
}

static void on_history(struct chat *ch, struct app_client *c, json_t *o)
{
	json_int_t before = ch->committed + 1, limit = CHAT_HISTORY_DEFAULT;
	int64_t lo;
	struct chat_wait *w;

	if (!get_int(o, "before", false, 1, INT64_MAX, &before) ||
	    !get_int(o, "limit", false, 1, CHAT_HISTORY_MAX, &limit)) {
		send_error(c, "bad_frame", "history takes an integer before >= 1 and limit 1..100", NULL);
		return;
	}
	if (before > ch->committed + 1)
		before = ch->committed + 1;
	lo = before - limit > 1 ? before - limit : 1;
	if (!app_room_persistent(ch->room)) {
		/* The ring is all there is: the page is clipped to it. */
		int64_t first = first_seq(ch);
		int64_t from = lo > first ? lo : first, to = before > from ? before : from;
		put_history_head(ch);
		put_ring_range(ch, pos_of(ch, from), pos_of(ch, to), false);
		send_history_end(ch, c, from > first);
		return;
	}
	/* Seqs are gapless from 1: the page is [lo, before), older ones exist
	 * when lo > 1. */
	if (before <= 1 || lo >= first_seq(ch)) {
		size_t from = before <= 1 ? 0 : pos_of(ch, lo), to = before <= 1 ? 0 : pos_of(ch, before);
		put_history_head(ch);
		put_ring_range(ch, from, to, false);
		send_history_end(ch, c, before > 1 && lo > 1);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w) {
		w->ch = ch;
		w->c = c;
		w->kind = WAIT_HISTORY;
	}
	if (!w || wait_read(ch, w, 0, before, (size_t)limit) != 0) {
		free(w);
		send_error(c, "unavailable", "history cannot be read now, retry", NULL);
	}
}

static void on_read(struct chat *ch, struct app_client *c, json_t *o)
{
	json_int_t seq;

	if (!get_int(o, "seq", true, 0, INT64_MAX, &seq)) {
		send_error(c, "bad_frame", "read needs an integer seq >= 0", NULL);
		return;
	}
	/* No one can have read past the latest message. */
	if (seq > ch->committed)
		seq = ch->committed;
	if (marks_set(ch->marks, app_client_user(c), seq) != 0) {
		send_error(c, "unavailable", "the read mark cannot be kept now", NULL);
		return;
	}
	broadcast_native(ch, json_pack("{s:s,s:s,s:s,s:I}", "type", "read", "user", app_client_name(c),
				       "userId", app_client_user(c), "seq", seq), NULL);
}

static void on_native(struct chat *ch, struct app_client *c, const uint8_t *data, size_t len)
{
	/* \u0000 is parsed so that a NUL in a text is a bad_frame like any
	 * other field out of range (PostgreSQL text cannot hold it). A key given
	 * twice is refused: which of its values counts is anyone's guess. */
	json_t *o = json_loadb((const char *)data, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
	const char *type;

	if (!json_is_object(o)) {
		send_error(c, "bad_json", "a frame is one JSON object, with each key once", NULL);
		goto out;
	}
	type = json_string_value(json_object_get(o, "type"));
	if (!type) {
		send_error(c, "bad_frame", "type must be a string", NULL);
	} else if (strcmp(type, "send") == 0) {
		on_send(ch, c, o);
	} else if (strcmp(type, "history") == 0) {
		on_history(ch, c, o);
	} else if (strcmp(type, "typing") == 0) {
		broadcast_native(ch, json_pack("{s:s,s:s,s:s}", "type", "typing", "user", app_client_name(c),
					   "userId", app_client_user(c)),
				 app_client_user(c));
	} else if (strcmp(type, "read") == 0) {
		on_read(ch, c, o);
	} else {
		send_error(c, "unknown_type", "unknown frame type", NULL);
	}
out:
	json_decref(o);
}

/* ------------------------------------------------------------- callbacks */

static void chat_dispose(void *state);

static int chat_create(struct app_room *room, const struct app_record *recent, size_t n,
		       void **state)
{
	struct chat *ch;

	if (!all_messages(recent, n))
		return -EPROTO;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->room = room;
	ch->size = app_room_log_window(room);
	ch->ring = calloc(ch->size, sizeof(*ch->ring));
	ch->heartbeat = app_frame_text(HEARTBEAT, sizeof(HEARTBEAT) - 1);
	ch->marks = marks_new(app_room_id(room));
	if (!ch->ring || !ch->heartbeat || !ch->marks || index_init(ch) != 0) {
		if (ch->heartbeat)
			app_frame_unref(ch->heartbeat);
		marks_free(ch->marks);
		free(ch->ring);
		free(ch);
		return -ENOMEM;
	}
	for (size_t i = n > ch->size ? n - ch->size : 0; i < n; i++) {
		const struct app_record *r = &recent[i];
		if (!append(ch, r->seq, r->ts, r->user, r->name, r->client_id, r->payload,
			    r->payload_len)) {
			chat_dispose(ch);
			return -ENOMEM;
		}
	}
	ch->committed = ch->seq;
	/* Only committed messages are announced; an ephemeral room has none. */
	if (app_room_persistent(room))
		ch->dm = dmn_new(app_db(room), app_room_id(room));
	*state = ch;
	return 0;
}

/* One message at a time: compat clients get a snapshot after every message,
 * as the seed sent them. */
static void chat_committed(void *state, int64_t seq)
{
	struct chat *ch = state;

	while (ch->committed < seq && ch->committed < ch->seq) {
		struct chat_msg *m = msg_at(ch, visible(ch));
		ch->committed = m->seq;
		if (m->from && is_native(m->from))
			send_ack(ch, m->from, m->id, m->seq);
		m->from = NULL;
		broadcast_msg(ch, m);
		broadcast_snapshot(ch);
		dmn_sent(ch->dm, m->user, m->seq);
	}
}

static void chat_rollback(void *state, int64_t seq)
{
	struct chat *ch = state;

	while (ch->n > 0 && ch->seq > seq) {
		struct chat_msg *m = msg_at(ch, ch->n - 1);
		if (m->from && is_native(m->from))
			send_error(m->from, "unavailable", "the message could not be saved, retry", m->id);
		else if (m->from)
			app_close(m->from, WIRE_CLOSE_INTERNAL, "the message could not be saved");
		m->from = NULL;
		if (m->id)
			index_remove(ch, m);
		ch->n--;
		ch->seq = m->seq - 1;
	}
	ch->seq = seq;
	if (ch->committed > seq)
		ch->committed = seq;
}

static void chat_restore(void *state, const struct app_record *recs, size_t n)
{
	struct chat *ch = state;

	for (size_t i = 0; i < n; i++) {
		const struct app_record *r = &recs[i];
		struct chat_msg *m;
		if (r->seq <= ch->committed)
			continue;
		m = append(ch, r->seq, r->ts, r->user, r->name, r->client_id, r->payload,
			   r->payload_len);
		if (!m) {
			/* Clients would see a gap: let them reconnect instead. */
			for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
				app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
			return;
		}
		ch->committed = m->seq;
		broadcast_msg(ch, m);
		broadcast_snapshot(ch);
		dmn_sent(ch->dm, m->user, m->seq);
	}
}

static void send_welcome(struct chat *ch, struct app_client *c)
{
	int64_t since = app_client_since(c);
	size_t n = visible(ch), start;
	struct chat_wait *w;

	if (since >= 0 && since < ch->committed && since + 1 < first_seq(ch) &&
	    app_room_persistent(ch->room)) {
		/* The ring does not reach back: the database does. */
		w = calloc(1, sizeof(*w));
		if (w) {
			w->ch = ch;
			w->c = c;
			w->kind = WAIT_WELCOME;
			w->since = since;
			w->upto = ch->committed;
		}
		if (!w || wait_read(ch, w, since, ch->committed + 1, CHAT_CATCHUP_MAX) != 0) {
			free(w);
			app_close(c, WIRE_CLOSE_INTERNAL, "messages could not be loaded");
			return;
		}
		app_client_set_data(c, w);
		return;
	}
	if (since < 0)
		start = n > CHAT_WELCOME_MESSAGES ? n - CHAT_WELCOME_MESSAGES : 0;
	else if (since >= ch->committed)
		start = n;
	else if (since + 1 < first_seq(ch))
		start = 0;  /* ephemeral: what the ring lost is gone */
	else
		start = pos_of(ch, since + 1);
	put_welcome_head(ch, c);
	put_ring_range(ch, start, n, false);
	jbuf_puts(&ch->out, "]}");
	send_out(ch, c);
}

static void chat_join(void *state, struct app_client *c, bool first)
{
	struct chat *ch = state;

	if (is_native(c))
		send_welcome(ch, c);
	/* Unless its welcome waits for the database, what it sent may come in. */
	if (!app_client_data(c))
		app_client_ready(c);
	if (first)
		broadcast_native(ch, json_pack("{s:s,s:s,s:s}", "type", "presence", "joined",
					       app_client_name(c), "userId", app_client_user(c)), app_client_user(c));
	broadcast_snapshot(ch);
}

static void chat_frame(void *state, struct app_client *c, bool binary, const uint8_t *data,
		       size_t len)
{
	struct chat *ch = state;

	if (is_native(c)) {
		if (binary)
			send_error(c, "binary_unsupported", "frames are JSON text", NULL);
		else
			on_native(ch, c, data, len);
		return;
	}
	if (binary) {
		app_close(c, WIRE_CLOSE_UNSUPPORTED, "binary frames are not supported");
		return;
	}
	if (len == 0)
		return;
	if (len > CHAT_TEXT_MAX) {
		app_close(c, WIRE_CLOSE_TOO_BIG, "message over 4000 bytes");
		return;
	}
	if (memchr(data, '\0', len)) {
		app_close(c, WIRE_CLOSE_BAD_DATA, "NUL in a message");
		return;
	}
	publish(ch, c, NULL, (const char *)data, len);
}

static void chat_leave(void *state, struct app_client *c, bool last)
{
	struct chat *ch = state;
	struct chat_wait *w;

	for (size_t i = visible(ch); i < ch->n; i++)
		if (msg_at(ch, i)->from == c)
			msg_at(ch, i)->from = NULL;
	dlist_for_each(w, &ch->waits, node)
		if (w->c == c)
			w->c = NULL;
	app_client_set_data(c, NULL);

	if (last)
		broadcast_native(ch, json_pack("{s:s,s:s,s:s}", "type", "presence", "left",
					       app_client_name(c), "userId", app_client_user(c)), NULL);
	broadcast_snapshot(ch);
}

static void chat_tick(void *state, uint64_t now_ms)
{
	struct chat *ch = state;
	uint64_t quiet = app_keepalive_ms(ch->room);

	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
		if (welcomed_native(c) && now_ms - app_client_sent_at(c) >= quiet)
			app_send_frame(c, ch->heartbeat);
	marks_flush(ch->marks, app_db(ch->room));
}

/* Reads still in flight hold their chat_wait, not ch: the transport
 * disposes of a room only once every read has answered. */
static void chat_dispose(void *state)
{
	struct chat *ch = state;

	if (!ch)
		return;
	for (size_t i = 0; i < ch->size; i++)
		free(ch->ring[i].buf);
	free(ch->ring);
	free(ch->index);
	/* The last second's marks; a write in flight keeps the marks until it
	 * answers. */
	marks_flush(ch->marks, app_db(ch->room));
	marks_free(ch->marks);
	dmn_free(ch->dm);
	app_frame_unref(ch->heartbeat);
	jbuf_fini(&ch->out);
	free(ch);
}

const struct room_app_ops app_chat_ops = {
	.name = "chat",
	.protocols = chat_protocols,
	.create = chat_create,
	.join = chat_join,
	.frame = chat_frame,
	.leave = chat_leave,
	.committed = chat_committed,
	.rollback = chat_rollback,
	.restore = chat_restore,
	.tick = chat_tick,
	.dispose = chat_dispose,
};
