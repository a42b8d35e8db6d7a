/* app_chat: the chat room application, in both protocols of
 * docs/protocol.md: compat (raw text in, the full snapshot out after every
 * join, leave and message) and native stateroom.v1 (deltas).
 *
 * A message is appended to the room's log (app_log_append) and acknowledged
 * and fanned out only once committed. A room's recent messages live in a
 * ring of the last CHAT_RING (loaded from the log when the room is), which
 * serves welcome (with since), history, the compat snapshot and the
 * idempotency of sends: a send whose (user, id) is still in the ring is
 * acknowledged with its original seq and not broadcast again. */
#include "app.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAT_RING 1000
#define CHAT_COMPAT_MESSAGES 100
#define CHAT_WELCOME_MESSAGES 50
#define CHAT_HISTORY_DEFAULT 50
#define CHAT_HISTORY_MAX 100
#define CHAT_TEXT_MAX 4000
#define CHAT_ID_MAX 64

struct chat_msg {
	int64_t seq, ts;
	char *user, *id, *text;  /* one allocation, at user; id NULL for compat */
	struct app_client *from; /* to acknowledge once committed; NULL if gone */
};

struct chat {
	struct app_room *room;
	struct chat_msg ring[CHAT_RING];
	size_t head, n;          /* oldest at ring[head] */
	int64_t seq;             /* latest in the ring; 0 before the first */
	int64_t committed;       /* latest durable: what clients may see */
};

/* ------------------------------------------------------------- the ring */

static struct chat_msg *msg_at(struct chat *ch, size_t i)
{
	return &ch->ring[(ch->head + i) % CHAT_RING];
}

static int64_t first_seq(const struct chat *ch)
{
	return ch->seq - (int64_t)ch->n + 1;
}

static struct chat_msg *find_sent(struct chat *ch, const char *user, const char *id)
{
	for (size_t i = ch->n; i-- > 0;) {
		struct chat_msg *m = msg_at(ch, i);
		if (m->id && strcmp(m->id, id) == 0 && strcmp(m->user, user) == 0)
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

static struct chat_msg *append(struct chat *ch, int64_t seq, int64_t ts, const char *user,
			       const char *id, const char *text, size_t text_len)
{
	size_t ul = strlen(user) + 1, il = id ? strlen(id) + 1 : 0;
	char *buf = malloc(ul + il + text_len + 1);
	struct chat_msg *m;

	if (!buf)
		return NULL;
	if (ch->n == CHAT_RING) {
		free(msg_at(ch, 0)->user);
		ch->head = (ch->head + 1) % CHAT_RING;
		ch->n--;
	}
	m = msg_at(ch, ch->n++);
	m->user = buf;
	memcpy(buf, user, ul);
	m->id = id ? memcpy(buf + ul, id, il) : NULL;
	m->text = buf + ul + il;
	memcpy(m->text, text, text_len);
	m->text[text_len] = '\0';
	m->seq = ch->seq = seq;
	m->ts = ts;
	m->from = NULL;
	return m;
}

/* ---------------------------------------------------------------- frames */

/* A message as held in welcome and history arrays; typed adds "type":"message"
 * in front, for the live frame. */
static json_t *msg_json(const struct chat_msg *m, bool typed)
{
	if (typed)
		return json_pack("{s:s,s:I,s:s?,s:s,s:s,s:I}", "type", "message",
				 "seq", (json_int_t)m->seq, "id", m->id, "user", m->user,
				 "text", m->text, "ts", (json_int_t)m->ts);
	return json_pack("{s:I,s:s?,s:s,s:s,s:I}", "seq", (json_int_t)m->seq, "id", m->id,
			 "user", m->user, "text", m->text, "ts", (json_int_t)m->ts);
}

/* Messages ring[from..to) as a JSON array of msg_json objects. */
static json_t *msgs_json(struct chat *ch, size_t from, size_t to)
{
	json_t *a = json_array();

	for (size_t i = from; a && i < to; i++) {
		if (json_array_append_new(a, msg_json(msg_at(ch, i), false)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *members_json(struct chat *ch)
{
	json_t *a = json_array();
	size_t n = app_room_member_count(ch->room);

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(app_room_member(ch->room, i))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Serialises j (stolen) into a frame; NULL on failure. */
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

/* Sends j (stolen) to the native clients, except those of user skip_user. */
static void broadcast_native(struct chat *ch, json_t *j, const char *skip_user)
{
	struct ws_frame *f = NULL;

	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c)) {
		if (!app_client_native(c) || (skip_user && strcmp(app_client_user(c), skip_user) == 0))
			continue;
		if (!f && !(f = frame_of(j)))
			return;
		j = NULL;
		app_send_frame(c, f);
	}
	json_decref(j);
	app_frame_unref(f);
}

/* The compat snapshot to every compat client, built only if there is one. */
static void broadcast_snapshot(struct chat *ch)
{
	struct ws_frame *f = NULL;

	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c)) {
		if (app_client_native(c))
			continue;
		if (!f) {
			size_t n = visible(ch);
			size_t from = n > CHAT_COMPAT_MESSAGES ? n - CHAT_COMPAT_MESSAGES : 0;
			json_t *msgs = json_array();
			for (size_t i = from; msgs && i < n; i++) {
				struct chat_msg *m = msg_at(ch, i);
				json_array_append_new(msgs, json_pack("{s:s,s:s,s:I}", "userId", m->user,
								      "msg", m->text, "ts", (json_int_t)m->ts));
			}
			f = frame_of(json_pack("{s:o*,s:o*}", "messages", msgs, "connectedUsers",
					       members_json(ch)));
			if (!f)
				return;
		}
		app_send_frame(c, f);
	}
	app_frame_unref(f);
}

/* A new message goes to the log; committed() announces it. */
static void publish(struct chat *ch, struct app_client *from, const char *id, const char *text,
		    size_t len)
{
	int64_t ts = now_ms();
	int64_t seq;
	struct chat_msg *m;

	/* Never evict a message that is not yet committed. */
	if (ch->n == CHAT_RING && msg_at(ch, 0)->seq > ch->committed)
		seq = -EAGAIN;
	else
		seq = app_log_append(ch->room, app_client_user(from), id, text, len, ts);
	if (seq < 0 || !(m = append(ch, seq, ts, app_client_user(from), id, text, len))) {
		/* A seq taken but not held would be a gap: the room cannot go on. */
		if (seq >= 0)
			app_close(from, 1011, "out of memory");
		else if (app_client_native(from))
			send_error(from, "unavailable", "the room cannot take messages now", id);
		return;
	}
	m->from = from;
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

	if (!id || id_len < 1 || id_len > CHAT_ID_MAX || memchr(id, '\0', id_len)) {
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
		send_json(c, json_pack("{s:s,s:s,s:I}", "type", "ack", "id", id, "seq",
				       (json_int_t)dup->seq));
		return;
	}
	publish(ch, c, id, text, len);
}

static void on_history(struct chat *ch, struct app_client *c, json_t *o)
{
	json_int_t before = ch->committed + 1, limit = CHAT_HISTORY_DEFAULT;
	int64_t first = first_seq(ch);
	size_t end, start;

	if (!get_int(o, "before", false, 1, INT64_MAX, &before) ||
	    !get_int(o, "limit", false, 1, CHAT_HISTORY_MAX, &limit)) {
		send_error(c, "bad_frame", "history takes an integer before >= 1 and limit 1..100", NULL);
		return;
	}
	/* Ring positions of seqs first .. before-1. */
	if (before <= first)
		end = 0;
	else if (before > ch->committed)
		end = visible(ch);
	else
		end = (size_t)(before - first);
	start = end > (size_t)limit ? end - (size_t)limit : 0;
	send_json(c, json_pack("{s:s,s:o*,s:b}", "type", "history", "messages",
			       msgs_json(ch, start, end), "more", start > 0));
}

static void on_native(struct chat *ch, struct app_client *c, const uint8_t *data, size_t len)
{
	json_t *o = json_loadb((const char *)data, len, 0, NULL);
	const char *type;

	if (!json_is_object(o)) {
		send_error(c, "bad_json", "a frame is one JSON object", NULL);
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
		broadcast_native(ch, json_pack("{s:s,s:s}", "type", "typing", "user", app_client_user(c)),
				 app_client_user(c));
	} else if (strcmp(type, "read") == 0) {
		json_int_t seq;
		if (!get_int(o, "seq", true, 0, INT64_MAX, &seq))
			send_error(c, "bad_frame", "read needs an integer seq >= 0", NULL);
		else
			broadcast_native(ch, json_pack("{s:s,s:s,s:I}", "type", "read", "user",
						       app_client_user(c), "seq", seq), NULL);
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
	struct chat *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	ch->room = room;
	for (size_t i = n > CHAT_RING ? n - CHAT_RING : 0; i < n; i++) {
		const struct app_record *r = &recent[i];
		if (!append(ch, r->seq, r->ts, r->user, r->client_id, r->body, r->body_len)) {
			chat_dispose(ch);
			return -ENOMEM;
		}
	}
	ch->committed = ch->seq;
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
		if (m->from && app_client_native(m->from))
			send_json(m->from, json_pack("{s:s,s:s,s:I}", "type", "ack", "id", m->id,
						     "seq", (json_int_t)m->seq));
		m->from = NULL;
		broadcast_native(ch, msg_json(m, true), NULL);
		broadcast_snapshot(ch);
	}
}

static void send_welcome(struct chat *ch, struct app_client *c)
{
	int64_t since = app_client_since(c), first = first_seq(ch);
	size_t n = visible(ch), start;

	if (since < 0)
		start = n > CHAT_WELCOME_MESSAGES ? n - CHAT_WELCOME_MESSAGES : 0;
	else if (since >= ch->committed)
		start = n;
	else if (since < first)
		start = 0;
	else
		start = (size_t)(since - first + 1);
	send_json(c, json_pack("{s:s,s:s,s:s,s:o*,s:I,s:o*}", "type", "welcome",
			       "room", app_room_id(ch->room), "user", app_client_user(c),
			       "members", members_json(ch), "seq", (json_int_t)ch->committed,
			       "messages", msgs_json(ch, start, n)));
}

static void chat_join(void *state, struct app_client *c, bool first)
{
	struct chat *ch = state;

	if (app_client_native(c))
		send_welcome(ch, c);
	if (first)
		broadcast_native(ch, json_pack("{s:s,s:s}", "type", "presence", "joined",
					       app_client_user(c)), app_client_user(c));
	broadcast_snapshot(ch);
}

static void chat_frame(void *state, struct app_client *c, bool binary, const uint8_t *data,
		       size_t len)
{
	struct chat *ch = state;

	if (app_client_native(c)) {
		if (binary)
			send_error(c, "binary_unsupported", "frames are JSON text", NULL);
		else
			on_native(ch, c, data, len);
		return;
	}
	if (binary) {
		app_close(c, 1003, "binary frames are not supported");
		return;
	}
	if (len == 0)
		return;
	if (len > CHAT_TEXT_MAX) {
		app_close(c, 1009, "message over 4000 bytes");
		return;
	}
	if (memchr(data, '\0', len)) {
		app_close(c, 1007, "NUL in a message");
		return;
	}
	publish(ch, c, NULL, (const char *)data, len);
}

static void chat_leave(void *state, struct app_client *c, bool last)
{
	struct chat *ch = state;

	for (size_t i = visible(ch); i < ch->n; i++)
		if (msg_at(ch, i)->from == c)
			msg_at(ch, i)->from = NULL;

	if (last)
		broadcast_native(ch, json_pack("{s:s,s:s}", "type", "presence", "left",
					       app_client_user(c)), NULL);
	broadcast_snapshot(ch);
}

static void chat_dispose(void *state)
{
	struct chat *ch = state;

	if (!ch)
		return;
	for (size_t i = 0; i < ch->n; i++)
		free(msg_at(ch, i)->user);
	free(ch);
}

const struct room_app_ops app_chat_ops = {
	.name = "chat",
	.create = chat_create,
	.join = chat_join,
	.frame = chat_frame,
	.leave = chat_leave,
	.committed = chat_committed,
	.tick = NULL,
	.dispose = chat_dispose,
};
