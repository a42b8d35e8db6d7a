/* app_chat: the chat room application, in both protocols of
 * docs/protocol.md: compat (raw text in, the full snapshot out after every
 * join, leave and message) and native stateroom.v1 (deltas).
 *
 * A message is a record of kind "message" in the room's log, its payload the
 * text (reply_to: the message it answers). Its changes are records too, each
 * with its own seq and target (the message): "edit" (payload: the new
 * text), "delete" (empty; it scrubs the message's and its changes' payloads
 * from storage, app_record.scrub) and "reaction" (payload
 * {"emoji","on"}: a toggle). Every kind has a ring slot; a message's slot
 * also holds its committed state (latest edit, deleted, reactions), folded
 * in as its changes commit, so that welcomes, history and snapshots show
 * each message as it is now at no more cost per message than before.
 * Changes are taken for messages the ring holds only: so every change of a
 * message lies within a ring's length of records after it, which is what
 * lets a page read from the database be folded from a bounded read. Kinds
 * the chat does not know are kept in the ring and not shown. A message is appended (app_log_append) and acknowledged
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
#include "action_line.h"
#include "app.h"
#include "call.h"
#include "callring.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dlist.h"
#include "dmnotify.h"
#include "jbuf.h"
#include "log.h"
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
#define CHAT_KIND_EDIT "edit"
#define CHAT_KIND_DELETE "delete"
#define CHAT_KIND_REACTION "reaction"
/* A moderation action (app.h's struct app_action), client id "act:<id>",
 * payload {"action","target"?,"targetName"?,"detail"?}. */
#define CHAT_KIND_ACTION "action"
/* A DM's call that was missed, declined or held (callring.h), no client
 * id, payload {"action":"call","target","targetName"?,"detail"}: shown as
 * an action record (action_line.h), so every client already shows it. */
#define CHAT_KIND_CALL "call"
/* The moderation frames' bounds (docs/protocol.md): a reason, a duration,
 * and how many of them a room waits for at once. */
#define CHAT_REASON_MAX 200
#define CHAT_DURATION_MAX 31536000
#define CHAT_ACTS_MAX 8
/* Reactions: an emoji is 1 to 32 bytes; a message has at most 20 distinct
 * ones; a message's frame names the first 20 users of each. */
#define CHAT_EMOJI_MAX 32
#define CHAT_EMOJI_PER_MSG 20
#define CHAT_REACTION_IDS 20

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

enum chat_kind { CK_MESSAGE, CK_EDIT, CK_DELETE, CK_REACTION, CK_ACTION, CK_OTHER };

/* One emoji on a message: the users who have it on, in the order they
 * reacted. */
struct chat_reaction {
	char emoji[CHAT_EMOJI_MAX + 1];
	char **users;
	uint32_t n, cap;
};

/* A ring slot: one record of any kind. */
struct chat_msg {
	int64_t seq, ts;
	char *buf;               /* user, name, id, text; kept when the slot is reused */
	size_t cap;
	const char *user, *id;   /* user: the subject; id NULL for compat */
	const char *name;        /* the sender's name, as shown */
	/* a message's or an edit's text, a reaction's emoji, an action's JSON
	 * object as clients see it (its payload with "text" added) */
	const char *text;
	size_t text_len;
	struct app_client *from; /* to acknowledge once committed; NULL if gone */
	/* A server API publish to answer once committed (app.h), or NULL. */
	void (*pub_done)(void *arg, int status, int64_t seq);
	void *pub_arg;
	uint32_t key;            /* hash of (user, id), for the index */
	enum chat_kind kind;
	bool on;                 /* a reaction: on or off */
	int64_t target, reply_to;
	/* A message's committed state, and what is appended but not committed
	 * (so that a change is refused or counted before its commit). */
	bool deleted, delete_pending;
	int64_t edit_seq;        /* its latest edit; 0: none */
	bool counted;            /* a reaction counted in its target's react_pending */
	uint32_t react_pending;
	struct chat_reaction *reacts;
	uint32_t n_reacts, cap_reacts;
};

/* A record as the ring takes it: for a reaction, text is the emoji. */
struct chat_in {
	const struct app_record *r;
	enum chat_kind kind;
	const char *text;
	size_t text_len;
	bool on;
};

enum wait_kind { WAIT_WELCOME, WAIT_HISTORY };

/* A database read in flight on behalf of a client. */
struct chat_wait {
	struct chat *ch;
	struct app_client *c;    /* NULL once it left */
	enum wait_kind kind;
	int64_t since;           /* welcome: the client's since */
	int64_t upto;            /* welcome: read up to here, the ring has the rest;
				  * history: the page is [since, upto) */
	int64_t hi;              /* history: read below here (the ring's start, or less) */
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
	struct call *call;       /* who is in the room's call (call.h) */
	struct callring cr;      /* a DM's ringing (callring.h) */
	struct dlist waits;
	/* Moderation: the frames waiting for the database (struct chat_act),
	 * and the latest action appended and committed (its id). */
	struct dlist acts;
	size_t n_acts;
	int64_t act_last, act_committed;
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

static enum chat_kind kind_of(const char *kind)
{
	if (strcmp(kind, CHAT_KIND_MESSAGE) == 0)
		return CK_MESSAGE;
	if (strcmp(kind, CHAT_KIND_EDIT) == 0)
		return CK_EDIT;
	if (strcmp(kind, CHAT_KIND_DELETE) == 0)
		return CK_DELETE;
	if (strcmp(kind, CHAT_KIND_REACTION) == 0)
		return CK_REACTION;
	if (strcmp(kind, CHAT_KIND_ACTION) == 0 || strcmp(kind, CHAT_KIND_CALL) == 0)
		return CK_ACTION;
	return CK_OTHER;
}

static void reacts_clear(struct chat_msg *m)
{
	for (uint32_t i = 0; i < m->n_reacts; i++) {
		for (uint32_t j = 0; j < m->reacts[i].n; j++)
			free(m->reacts[i].users[j]);
		free(m->reacts[i].users);
	}
	free(m->reacts);
	m->reacts = NULL;
	m->n_reacts = m->cap_reacts = 0;
}

static struct chat_reaction *react_find(struct chat_msg *m, const char *emoji, size_t len)
{
	for (uint32_t i = 0; i < m->n_reacts; i++)
		if (strlen(m->reacts[i].emoji) == len && memcmp(m->reacts[i].emoji, emoji, len) == 0)
			return &m->reacts[i];
	return NULL;
}

/* Folds user's reaction (on or off) into m. Returns 0 or -ENOMEM. */
static int react_fold(struct chat_msg *m, const char *user, const char *emoji, size_t len, bool on)
{
	struct chat_reaction *re = react_find(m, emoji, len);
	uint32_t i;

	if (re)
		for (i = 0; i < re->n && strcmp(re->users[i], user) != 0; i++)
			;
	if (!on) {
		if (!re || i == re->n)
			return 0;
		free(re->users[i]);
		memmove(&re->users[i], &re->users[i + 1], (re->n - i - 1) * sizeof(*re->users));
		if (--re->n == 0) {
			/* Emoji keep the order they came in. */
			free(re->users);
			memmove(re, re + 1, (size_t)(&m->reacts[--m->n_reacts] - re) * sizeof(*re));
		}
		return 0;
	}
	if (re && i < re->n)
		return 0;
	if (!re) {
		if (m->n_reacts == m->cap_reacts) {
			uint32_t cap = m->cap_reacts ? m->cap_reacts * 2 : 2;
			struct chat_reaction *p = realloc(m->reacts, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			m->reacts = p;
			m->cap_reacts = cap;
		}
		re = &m->reacts[m->n_reacts++];
		memset(re, 0, sizeof(*re));
		memcpy(re->emoji, emoji, len);
	}
	if (re->n == re->cap) {
		uint32_t cap = re->cap ? re->cap * 2 : 4;
		char **p = realloc(re->users, cap * sizeof(*p));
		if (!p)
			goto fail;
		re->users = p;
		re->cap = cap;
	}
	if (!(re->users[re->n] = strdup(user)))
		goto fail;
	re->n++;
	return 0;
fail:
	if (re->n == 0) {
		free(re->users);
		m->n_reacts--;  /* it was the last one */
	}
	return -ENOMEM;
}

static struct chat_msg *append(struct chat *ch, const struct chat_in *in)
{
	const struct app_record *r = in->r;
	const char *id = r->client_id;
	size_t ul = strlen(r->user) + 1, nl = strlen(r->name) + 1, il = id ? strlen(id) + 1 : 0;
	size_t need = ul + nl + il + in->text_len + 1;
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
		if (m->id && ch->index && m->kind != CK_ACTION)
			index_remove(ch, m);
		ch->head = (ch->head + 1) % ch->size;
		ch->n--;
	}
	if (m->reacts)
		reacts_clear(m);
	ch->n++;
	buf = m->buf;
	m->user = memcpy(buf, r->user, ul);
	m->name = memcpy(buf + ul, r->name, nl);
	buf += ul + nl;
	m->id = id ? memcpy(buf, id, il) : NULL;
	memcpy(buf + il, in->text, in->text_len);
	buf[il + in->text_len] = '\0';
	m->text = buf + il;
	m->text_len = in->text_len;
	m->seq = ch->seq = r->seq;
	m->ts = r->ts;
	m->from = NULL;
	m->pub_done = NULL;
	m->kind = in->kind;
	m->on = in->on;
	m->target = r->target;
	m->reply_to = r->reply_to;
	m->deleted = m->delete_pending = false;
	m->edit_seq = 0;
	m->react_pending = 0;
	m->counted = false;
	/* An action's client id is no send of its actor's to retry. */
	if (id && ch->index && in->kind != CK_ACTION) {
		m->key = key_of(r->user, id);
		index_add(ch, m);
	}
	return m;
}

/* The message the ring holds at seq, or NULL. */
static struct chat_msg *find_msg(struct chat *ch, int64_t seq)
{
	struct chat_msg *m;

	if (seq < first_seq(ch) || seq > ch->seq)
		return NULL;
	m = msg_at(ch, (size_t)(seq - first_seq(ch)));
	return m->kind == CK_MESSAGE ? m : NULL;
}

/* Folds committed change m into its target's state. A deletion scrubs the
 * text of the message and of every change of it the ring holds, as the
 * store does in the database. Returns 0 or -ENOMEM. */
static int apply(struct chat *ch, struct chat_msg *m)
{
	struct chat_msg *t = m->kind == CK_MESSAGE || m->kind == CK_OTHER ? NULL : find_msg(ch, m->target);

	if (!t)
		return 0;
	switch (m->kind) {
	case CK_EDIT:
		if (!t->deleted)
			t->edit_seq = m->seq;
		return 0;
	case CK_DELETE:
		t->deleted = true;
		t->edit_seq = 0;
		t->text_len = 0;
		reacts_clear(t);
		for (size_t i = pos_of(ch, t->seq) + 1; i < ch->n; i++) {
			struct chat_msg *c = msg_at(ch, i);
			if (c->target == t->seq && c->kind != CK_MESSAGE)
				c->text_len = 0;
		}
		return 0;
	case CK_REACTION:
		if (t->deleted || m->text_len == 0)
			return 0;
		return react_fold(t, m->user, m->text, m->text_len, m->on);
	default:
		return 0;
	}
}

/* An action record's payload as clients see it: the object with its
 * "text" line, in *owned (free it); false when it is no action's. */
static bool action_in(const struct app_record *r, char **owned)
{
	json_t *o = json_loadb(r->payload, r->payload_len, 0, NULL);
	const char *action = json_string_value(json_object_get(o, "action"));
	const char *target = json_string_value(json_object_get(o, "targetName"));
	char line[512];

	if (!target)
		target = json_string_value(json_object_get(o, "target"));
	if (action) {
		action_line(line, sizeof(line), r->name, action, target, json_object_get(o, "detail"));
		if (json_object_set_new(o, "text", json_string(line)) == 0)
			*owned = json_dumps(o, JSON_COMPACT);
	}
	json_decref(o);
	return *owned != NULL;
}

/* Turns a stored record into what the ring takes: a reaction's payload is
 * {"emoji","on"} (empty once scrubbed: nothing to fold); an action's is
 * made into its client object, in *owned (free it after). */
static void in_of(const struct app_record *r, struct chat_in *in, char emoji[CHAT_EMOJI_MAX + 1],
		  char **owned)
{
	in->r = r;
	in->kind = kind_of(r->kind);
	in->text = r->payload;
	in->text_len = r->payload_len;
	in->on = false;
	*owned = NULL;
	if (in->kind == CK_ACTION) {
		if (action_in(r, owned)) {
			in->text = *owned;
			in->text_len = strlen(*owned);
		} else {
			in->kind = CK_OTHER;
		}
	}
	if (in->kind == CK_REACTION) {
		json_t *o = json_loadb(r->payload, r->payload_len, 0, NULL);
		const char *e = json_string_value(json_object_get(o, "emoji"));
		size_t len = json_string_length(json_object_get(o, "emoji"));
		in->text = emoji;
		in->text_len = 0;
		if (e && len <= CHAT_EMOJI_MAX && !memchr(e, '\0', len)) {
			memcpy(emoji, e, len);
			in->text_len = len;
			in->on = json_is_true(json_object_get(o, "on"));
		}
		json_decref(o);
	}
}

/* Appends a committed record and folds it in. */
static struct chat_msg *push_committed(struct chat *ch, const struct app_record *r)
{
	char emoji[CHAT_EMOJI_MAX + 1], *owned;
	struct chat_in in;
	struct chat_msg *m;

	in_of(r, &in, emoji, &owned);
	m = append(ch, &in);
	free(owned);
	if (m && apply(ch, m) != 0)
		return NULL;
	return m;
}

/* The current text of message m. */
static const char *text_of(struct chat *ch, const struct chat_msg *m, size_t *len)
{
	if (m->edit_seq && !m->deleted && m->edit_seq >= first_seq(ch) && m->edit_seq <= ch->seq) {
		const struct chat_msg *e = msg_at(ch, pos_of(ch, m->edit_seq));
		*len = e->text_len;
		return e->text;
	}
	*len = m->deleted ? 0 : m->text_len;
	return m->text;
}

/* ---------------------------------------------------------------- frames */

/* A message as held in welcome and history arrays; typed adds "type":"message"
 * in front, for the live frame. name is what the sender is shown as, user
 * its subject (the "userId" that tells two senders of one name apart). Its
 * state (replyTo, edited, deleted, reactions) is written only when there is
 * some, so a plain message's frame is as it always was. */
static void put_msg(struct jbuf *b, struct chat *ch, const struct chat_msg *m, bool typed)
{
	size_t text_len;
	const char *text = text_of(ch, m, &text_len);

	if (m->kind == CK_ACTION) {
		/* Its object's fields follow the transport's (text is
		 * {"action",...,"text"}, never empty). */
		jbuf_puts(b, typed ? "{\"type\":\"action\",\"seq\":" : "{\"kind\":\"action\",\"seq\":");
		jbuf_int(b, m->seq);
		jbuf_puts(b, ",\"userId\":");
		jbuf_strz(b, m->user);
		jbuf_puts(b, ",\"user\":");
		jbuf_strz(b, m->name);
		jbuf_puts(b, ",\"ts\":");
		jbuf_int(b, m->ts);
		jbuf_put(b, ",", 1);
		jbuf_put(b, m->text + 1, m->text_len - 1);
		return;
	}

	jbuf_puts(b, typed ? "{\"type\":\"message\",\"seq\":" : "{\"seq\":");
	jbuf_int(b, m->seq);
	jbuf_puts(b, ",\"id\":");
	jbuf_strz(b, m->id);
	jbuf_puts(b, ",\"user\":");
	jbuf_strz(b, m->name);
	jbuf_puts(b, ",\"userId\":");
	jbuf_strz(b, m->user);
	jbuf_puts(b, ",\"text\":");
	jbuf_str(b, text, text_len);
	jbuf_puts(b, ",\"ts\":");
	jbuf_int(b, m->ts);
	if (m->reply_to) {
		jbuf_puts(b, ",\"replyTo\":");
		jbuf_int(b, m->reply_to);
	}
	if (m->deleted)
		jbuf_puts(b, ",\"deleted\":true");
	else if (m->edit_seq)
		jbuf_puts(b, ",\"edited\":true");
	if (m->n_reacts && !m->deleted) {
		jbuf_puts(b, ",\"reactions\":[");
		for (uint32_t i = 0; i < m->n_reacts; i++) {
			const struct chat_reaction *re = &m->reacts[i];
			jbuf_puts(b, i ? ",{\"emoji\":" : "{\"emoji\":");
			jbuf_strz(b, re->emoji);
			jbuf_puts(b, ",\"count\":");
			jbuf_int(b, re->n);
			jbuf_puts(b, ",\"userIds\":[");
			for (uint32_t j = 0; j < re->n && j < CHAT_REACTION_IDS; j++) {
				if (j)
					jbuf_put(b, ",", 1);
				jbuf_strz(b, re->users[j]);
			}
			jbuf_puts(b, "]}");
		}
		jbuf_put(b, "]", 1);
	}
	jbuf_put(b, "}", 1);
}

/* A change record as its live frame (and as an element of a welcome's
 * "changes"). */
static void put_change(struct jbuf *b, const struct chat_msg *m)
{
	switch (m->kind) {
	case CK_EDIT:
		jbuf_puts(b, "{\"type\":\"edit\",\"seq\":");
		break;
	case CK_DELETE:
		jbuf_puts(b, "{\"type\":\"delete\",\"seq\":");
		break;
	default:
		jbuf_puts(b, "{\"type\":\"reaction\",\"seq\":");
		break;
	}
	jbuf_int(b, m->seq);
	jbuf_puts(b, ",\"target\":");
	jbuf_int(b, m->target);
	if (m->kind == CK_EDIT) {
		jbuf_puts(b, ",\"text\":");
		jbuf_str(b, m->text, m->text_len);
		jbuf_puts(b, ",\"userId\":");
		jbuf_strz(b, m->user);
		jbuf_puts(b, ",\"user\":");
		jbuf_strz(b, m->name);
		jbuf_puts(b, ",\"ts\":");
		jbuf_int(b, m->ts);
	} else if (m->kind == CK_REACTION) {
		jbuf_puts(b, ",\"emoji\":");
		jbuf_str(b, m->text, m->text_len);
		jbuf_puts(b, m->on ? ",\"on\":true,\"userId\":" : ",\"on\":false,\"userId\":");
		jbuf_strz(b, m->user);
	}
	jbuf_put(b, "}", 1);
}

static bool is_change(const struct chat_msg *m)
{
	return m->kind == CK_EDIT || m->kind == CK_DELETE || m->kind == CK_REACTION;
}

/* The messages among ring positions [from, to) of chat src as the elements
 * of an array (no brackets), in ch->out. Returns whether it wrote one. */
static bool put_ring_range(struct chat *ch, struct chat *src, size_t from, size_t to, bool comma)
{
	for (size_t i = from; i < to; i++) {
		const struct chat_msg *m = msg_at(src, i);
		if (m->kind != CK_MESSAGE && m->kind != CK_ACTION)
			continue;
		if (comma)
			jbuf_put(&ch->out, ",", 1);
		comma = true;
		put_msg(&ch->out, src, m, false);
	}
	return comma;
}

/* The changes among ring positions [from, to) of src whose target is below
 * seq `below` (a message not shown beside them), as ,"changes":[...]. */
static void put_changes(struct chat *ch, struct chat *src, size_t from, size_t to, int64_t below)
{
	bool comma = false;

	for (size_t i = from; i < to; i++) {
		const struct chat_msg *m = msg_at(src, i);
		if (!is_change(m) || m->target >= below)
			continue;
		jbuf_puts(&ch->out, comma ? "," : ",\"changes\":[");
		comma = true;
		put_change(&ch->out, m);
	}
	if (comma)
		jbuf_put(&ch->out, "]", 1);
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

/* {"type":"presence",verb:c's name,"userId":c's user} likewise, written in
 * ch->out: a join's or a leave's only allocation is the frame, not the
 * objects and the string a json_pack would leave as holes between the
 * connections' structs during a burst of joins. */
static void broadcast_presence(struct chat *ch, struct app_client *c, const char *verb,
			       const char *skip_user)
{
	struct ws_frame *f;

	jbuf_reset(&ch->out);
	jbuf_puts(&ch->out, "{\"type\":\"presence\",\"");
	jbuf_puts(&ch->out, verb);
	jbuf_puts(&ch->out, "\":");
	jbuf_strz(&ch->out, app_client_name(c));
	jbuf_puts(&ch->out, ",\"userId\":");
	jbuf_strz(&ch->out, app_client_user(c));
	jbuf_put(&ch->out, "}", 1);
	f = out_frame(ch);
	if (f) {
		broadcast_frame(ch, f, skip_user);
		app_frame_unref(f);
	}
}

/* The live frame of ring record m to every welcomed native client. */
static void broadcast_msg(struct chat *ch, const struct chat_msg *m)
{
	struct ws_frame *f;

	jbuf_reset(&ch->out);
	if (m->kind == CK_MESSAGE || m->kind == CK_ACTION)
		put_msg(&ch->out, ch, m, true);
	else
		put_change(&ch->out, m);
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
			/* The latest messages not deleted, with their current text:
			 * compat clients know nothing of changes. */
			size_t n = visible(ch), from = n, k = 0;
			bool comma = false;
			while (from > 0 && k < CHAT_COMPAT_MESSAGES) {
				struct chat_msg *m = msg_at(ch, --from);
				k += m->kind == CK_MESSAGE && !m->deleted;
			}
			jbuf_reset(&ch->out);
			jbuf_puts(&ch->out, "{\"messages\":[");
			for (size_t i = from; i < n; i++) {
				struct chat_msg *m = msg_at(ch, i);
				const char *text;
				size_t text_len;
				if (m->kind != CK_MESSAGE || m->deleted)
					continue;
				text = text_of(ch, m, &text_len);
				jbuf_puts(&ch->out, comma ? ",{\"userId\":" : "{\"userId\":");
				comma = true;
				jbuf_strz(&ch->out, m->name);
				jbuf_puts(&ch->out, ",\"msg\":");
				jbuf_str(&ch->out, text, text_len);
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

/* Answers m's server API publish, if it has one: status 0 once committed. */
static void pub_answer(struct chat_msg *m, int status)
{
	void (*done)(void *arg, int status, int64_t seq) = m->pub_done;

	m->pub_done = NULL;
	if (done)
		done(m->pub_arg, status, status == 0 ? m->seq : 0);
}

/* A new record goes to the log; committed() announces it. rec has its
 * kind, payload and links; in says what the ring keeps of it. Returns its
 * ring slot, or NULL (the sender has been told). */
static struct chat_msg *publish(struct chat *ch, struct app_client *from, struct app_record *rec,
				const struct chat_in *in)
{
	int64_t seq;
	struct chat_msg *m;

	rec->ts = now_ms();
	rec->user = app_client_user(from);
	rec->name = app_client_name(from);
	/* Never evict a record that is not yet committed. */
	if (ch->n == ch->size && msg_at(ch, 0)->seq > ch->committed)
		seq = -EAGAIN;
	else
		seq = app_log_append(ch->room, rec);
	rec->seq = seq;
	if (seq < 0 || !(m = append(ch, in))) {
		/* A seq taken but not held would be a gap: the room cannot go on. */
		if (seq >= 0)
			app_close(from, WIRE_CLOSE_INTERNAL, "out of memory");
		else if (is_native(from))
			send_error(from, "unavailable", "the room cannot take messages now, retry",
				   rec->client_id);
		else
			app_close(from, WIRE_CLOSE_INTERNAL, "the room cannot take messages now");
		return NULL;
	}
	m->from = from;
	return m;
}

/* A plain message (native send, or a compat client's text). */
static void publish_text(struct chat *ch, struct app_client *from, const char *id,
			 const char *text, size_t len, int64_t reply_to)
{
	struct app_record rec = {
		.kind = CHAT_KIND_MESSAGE, .client_id = id, .payload = text, .payload_len = len,
		.reply_to = reply_to,
	};
	struct chat_in in = { .r = &rec, .kind = CK_MESSAGE, .text = text, .text_len = len };
	struct chat_msg *m = publish(ch, from, &rec, &in);

	if (m && !app_room_persistent(ch->room))
		chat_committed(ch, m->seq);
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

static const char *const role_names[] = {
	[APP_ROLE_MEMBER] = "member", [APP_ROLE_MODERATOR] = "moderator", [APP_ROLE_OWNER] = "owner",
};

/* c's role, the room's owner and moderators, and until when c is muted. */
static void put_roles(struct chat *ch, struct app_client *c)
{
	const char *owner = app_room_owner(ch->room);
	size_t n = app_room_moderator_count(ch->room);
	int64_t muted = app_room_muted_until(ch->room, app_client_user(c));
	bool comma = false;

	jbuf_puts(&ch->out, ",\"role\":\"");
	jbuf_puts(&ch->out, role_names[app_room_role(ch->room, app_client_user(c))]);
	jbuf_puts(&ch->out, "\",\"roles\":{");
	if (owner) {
		jbuf_strz(&ch->out, owner);
		jbuf_puts(&ch->out, ":\"owner\"");
		comma = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (comma)
			jbuf_put(&ch->out, ",", 1);
		comma = true;
		jbuf_strz(&ch->out, app_room_moderator(ch->room, i));
		jbuf_puts(&ch->out, ":\"moderator\"");
	}
	jbuf_put(&ch->out, "}", 1);
	if (muted) {
		jbuf_puts(&ch->out, ",\"mutedUntil\":");
		jbuf_int(&ch->out, muted);
	}
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
	put_roles(ch, c);
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

/* A ring slot pushed into another chat (a page being folded). */
static int push_slot(struct chat *dst, const struct chat_msg *m)
{
	struct app_record r = {
		.seq = m->seq, .ts = m->ts, .user = m->user, .name = m->name, .client_id = m->id,
		.target = m->target, .reply_to = m->reply_to,
	};
	struct chat_in in = { .r = &r, .kind = m->kind, .text = m->text, .text_len = m->text_len,
			      .on = m->on };
	struct chat_msg *c = append(dst, &in);

	return c ? apply(dst, c) : -ENOMEM;
}

static void page_free(struct chat *t)
{
	for (size_t i = 0; i < t->size; i++) {
		free(t->ring[i].buf);
		reacts_clear(&t->ring[i]);
	}
	free(t->ring);
}

/* Folds recs[0..n) from the database (gapless), then, if ring is set, the
 * committed ring records that follow them, into t: the state of each
 * message as it is now, when every change of it is among them. Returns 0
 * or -ENOMEM (t is then freed). */
static int page_fold(struct chat *t, const struct app_record *recs, size_t n, struct chat *ring)
{
	size_t vis = ring ? visible(ring) : 0;

	memset(t, 0, sizeof(*t));
	t->size = n + vis + 1;
	if (!(t->ring = calloc(t->size, sizeof(*t->ring))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!push_committed(t, &recs[i]))
			goto fail;
	for (size_t i = 0; i < vis; i++) {
		const struct chat_msg *m = msg_at(ring, i);
		if (t->n && m->seq <= t->seq)
			continue;
		if (t->n && m->seq != t->seq + 1)
			break;  /* not contiguous: the ring moved on */
		if (push_slot(t, m) != 0)
			goto fail;
	}
	t->committed = t->seq;
	return 0;
fail:
	page_free(t);
	return -ENOMEM;
}

/* The welcome for a client resuming from before the ring: recs[0..n) from
 * the database cover (since, upto], the ring the rest up to committed.
 * Every change of a message after since is after it, so the fold shows
 * each as it is now; changes of messages not shown come beside them. */
static int send_catchup_welcome(struct chat *ch, struct chat_wait *w,
				const struct app_record *recs, size_t n)
{
	struct chat t;
	size_t skip;
	int64_t first;

	if (page_fold(&t, recs, n, ch) != 0)
		return -ENOMEM;
	skip = t.n > CHAT_CATCHUP_MAX ? t.n - CHAT_CATCHUP_MAX : 0;
	first = skip < t.n ? msg_at(&t, skip)->seq : ch->committed + 1;
	put_welcome_head(ch, w->c);
	put_ring_range(ch, &t, skip, t.n, false);
	jbuf_put(&ch->out, "]", 1);
	put_changes(ch, &t, skip, t.n, first);
	if (first > w->since + 1)
		jbuf_puts(&ch->out, ",\"more\":true");
	jbuf_put(&ch->out, "}", 1);
	send_out(ch, w->c);
	page_free(&t);
	return 0;
}

/* A history page [w->since, w->upto) from the database: recs reach far
 * enough past it (a ring's length) to hold every change of its messages. */
static int send_history_recs(struct chat *ch, struct chat_wait *w, const struct app_record *recs,
			     size_t n)
{
	struct chat t;

	if (page_fold(&t, recs, n, w->hi == first_seq(ch) ? ch : NULL) != 0)
		return -ENOMEM;
	put_history_head(ch);
	if (t.n > 0 && w->upto > first_seq(&t))
		put_ring_range(ch, &t, w->since > first_seq(&t) ? pos_of(&t, w->since) : 0,
			       w->upto - 1 < t.seq ? pos_of(&t, w->upto) : t.n, false);
	send_history_end(ch, w->c, w->since > 1);
	page_free(&t);
	return 0;
}

static void on_waited(void *arg, int status, const struct app_record *recs, size_t n)
{
	struct chat_wait *w = arg;
	struct chat *ch = w->ch;
	struct app_client *c = w->c;

	dlist_remove(&ch->waits, &w->node);
	if (!c)
		goto out_free;
	if (status != 0) {
		if (w->kind == WAIT_WELCOME)
			app_client_set_data(c, NULL);
		app_close(c, WIRE_CLOSE_INTERNAL, "messages could not be loaded");
		goto out_free;
	}
	if (w->kind == WAIT_HISTORY) {
		if (send_history_recs(ch, w, recs, n) != 0)
			send_error(c, "unavailable", "history cannot be read now, retry", NULL);
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
	app_client_set_data(c, NULL);
	if (send_catchup_welcome(ch, w, recs, n) != 0) {
		app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
		goto out_free;
	}
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

/* The frame's client id, checked (an error is sent when it is bad). */
static const char *get_id(struct app_client *c, json_t *o, const char *what)
{
	json_t *jid = json_object_get(o, "id");
	const char *id = json_string_value(jid);
	size_t id_len = json_string_length(jid);

	if (!id || id_len < 1 || id_len > WIRE_MSG_ID_MAX || memchr(id, '\0', id_len)) {
		send_error(c, "bad_frame", what, NULL);
		return NULL;
	}
	return id;
}

/* A retried id (any kind of record): acknowledged with the seq it got, and
 * nothing else done. Returns whether it was one. */
static bool retried(struct chat *ch, struct app_client *c, const char *id)
{
	struct chat_msg *dup = find_sent(ch, app_client_user(c), id);

	if (!dup)
		return false;
	if (dup->seq > ch->committed)
		dup->from = c;  /* still being written: the ack goes to the latest asker */
	else
		send_ack(ch, c, id, dup->seq);
	return true;
}

/* A text field: 1 to 4000 bytes, no NUL. */
static const char *get_text(struct app_client *c, json_t *o, const char *id, size_t *len)
{
	json_t *jtext = json_object_get(o, "text");
	const char *text = json_string_value(jtext);

	*len = json_string_length(jtext);
	if (!text || *len == 0 || memchr(text, '\0', *len)) {
		send_error(c, "bad_frame", "a non-empty text without NUL is needed", id);
		return NULL;
	}
	if (*len > CHAT_TEXT_MAX) {
		send_error(c, "too_long", "text is over 4000 bytes", id);
		return NULL;
	}
	return text;
}

/* Whether c's user is muted; if so it is told, {"code":"muted","until"}. */
static bool muted(struct chat *ch, struct app_client *c, const char *id)
{
	int64_t until = app_room_muted_until(ch->room, app_client_user(c));

	if (until)
		send_json(c, json_pack("{s:s,s:s,s:s,s:s*,s:I}", "type", "error", "code", "muted",
				       "message", "you are muted in this room", "id", id,
				       "until", (json_int_t)until));
	return until != 0;
}

static void on_send(struct chat *ch, struct app_client *c, json_t *o)
{
	const char *id = get_id(c, o, "send needs an id of 1 to 64 bytes"), *text;
	json_int_t reply_to = 0;
	size_t len;

	if (!id || !(text = get_text(c, o, id, &len)))
		return;
	if (!get_int(o, "replyTo", false, 1, INT64_MAX, &reply_to)) {
		send_error(c, "bad_frame", "replyTo must be a message's seq", id);
		return;
	}
	if (retried(ch, c, id) || muted(ch, c, id))
		return;
	if (reply_to) {
		struct chat_msg *t = find_msg(ch, reply_to);
		/* Seqs are gapless from 1: one before the ring exists (it is not
		 * read back to see what it is). */
		bool older = reply_to < first_seq(ch) && app_room_persistent(ch->room);
		if (reply_to > ch->committed || (!older && !t)) {
			send_error(c, "not_found", "replyTo is no message of this room", id);
			return;
		}
		if (t && (t->deleted || t->delete_pending)) {
			send_error(c, "deleted", "the message replied to is deleted", id);
			return;
		}
	}
	publish_text(ch, c, id, text, len, reply_to);
}

/* The committed message a change names (seq), or NULL with an error sent:
 * not_found (no message of this room), too_old (before the ring: changes
 * are taken for the last --ring-size records' messages), deleted. */
static struct chat_msg *change_target(struct chat *ch, struct app_client *c, json_t *o,
				      const char *id)
{
	json_int_t seq;
	struct chat_msg *t;

	if (!get_int(o, "seq", true, 1, INT64_MAX, &seq)) {
		send_error(c, "bad_frame", "seq must be the seq of a message", id);
		return NULL;
	}
	if (seq <= ch->committed && seq < first_seq(ch) && app_room_persistent(ch->room)) {
		send_error(c, "too_old", "the message is too old to change", id);
		return NULL;
	}
	t = seq <= ch->committed ? find_msg(ch, seq) : NULL;
	if (!t) {
		send_error(c, "not_found", "no such message in this room", id);
		return NULL;
	}
	if (t->deleted || t->delete_pending) {
		send_error(c, "deleted", "the message is deleted", id);
		return NULL;
	}
	return t;
}

/* Who may delete message t: its author, the room's moderators and owner. */
static bool may_delete(struct chat *ch, const struct app_client *c, const struct chat_msg *t)
{
	return strcmp(app_client_user(c), t->user) == 0 ||
	       app_room_role(ch->room, app_client_user(c)) != APP_ROLE_MEMBER;
}

/* A change record of target t to the log; committed() folds it in and
 * announces it. */
static struct chat_msg *publish_change(struct chat *ch, struct app_client *c, const char *id,
				       const char *kind, enum chat_kind ck, struct chat_msg *t,
				       const char *payload, size_t payload_len, const char *text,
				       size_t text_len, bool on)
{
	struct app_record rec = {
		.kind = kind, .client_id = id, .payload = payload, .payload_len = payload_len,
		.target = t->seq, .scrub = ck == CK_DELETE ? t->seq : 0,
	};
	struct chat_in in = { .r = &rec, .kind = ck, .text = text, .text_len = text_len, .on = on };
	int64_t tseq = t->seq;
	struct chat_msg *m = publish(ch, c, &rec, &in);

	/* The append may have moved the ring: find the target again. */
	if (m && !(t = find_msg(ch, tseq)))
		return m;
	if (m && ck == CK_DELETE)
		t->delete_pending = true;
	if (m && !app_room_persistent(ch->room))
		chat_committed(ch, m->seq);
	return m;
}

static void on_edit(struct chat *ch, struct app_client *c, json_t *o)
{
	const char *id = get_id(c, o, "edit needs an id of 1 to 64 bytes"), *text;
	struct chat_msg *t;
	size_t len;

	if (!id || !(text = get_text(c, o, id, &len)) || retried(ch, c, id) || muted(ch, c, id) ||
	    !(t = change_target(ch, c, o, id)))
		return;
	if (strcmp(t->user, app_client_user(c)) != 0) {
		send_error(c, "not_allowed", "only its author edits a message", id);
		return;
	}
	if (now_ms() - t->ts > app_edit_window_ms(ch->room)) {
		send_error(c, "too_late", "the message is too old to edit", id);
		return;
	}
	publish_change(ch, c, id, CHAT_KIND_EDIT, CK_EDIT, t, text, len, text, len, false);
}

static void on_delete(struct chat *ch, struct app_client *c, json_t *o)
{
	const char *id = get_id(c, o, "delete needs an id of 1 to 64 bytes");
	struct chat_msg *t;

	if (!id || retried(ch, c, id) || !(t = change_target(ch, c, o, id)))
		return;
	if (!may_delete(ch, c, t)) {
		send_error(c, "not_allowed", "only its author or a moderator deletes a message", id);
		return;
	}
	publish_change(ch, c, id, CHAT_KIND_DELETE, CK_DELETE, t, "", 0, "", 0, false);
}

/* 1 to 32 bytes of UTF-8 (the frame's), no control characters. */
static bool emoji_ok(const char *e, size_t len)
{
	if (!e || len < 1 || len > CHAT_EMOJI_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)e[i] < 0x20 || e[i] == 0x7f)
			return false;
	return true;
}

static void on_react(struct chat *ch, struct app_client *c, json_t *o)
{
	const char *id = get_id(c, o, "react needs an id of 1 to 64 bytes");
	json_t *je = json_object_get(o, "emoji"), *jon = json_object_get(o, "on");
	const char *emoji = json_string_value(je);
	size_t len = json_string_length(je);
	struct chat_msg *t, *m;
	bool on, fresh;

	if (!id)
		return;
	if (!emoji_ok(emoji, len) || !json_is_boolean(jon)) {
		send_error(c, "bad_frame", "react needs an emoji of 1 to 32 bytes and a boolean on", id);
		return;
	}
	if (retried(ch, c, id) || muted(ch, c, id) || !(t = change_target(ch, c, o, id)))
		return;
	on = json_is_true(jon);
	fresh = on && !react_find(t, emoji, len);
	if (fresh && t->n_reacts + t->react_pending >= CHAT_EMOJI_PER_MSG) {
		send_error(c, "too_many_reactions", "a message has at most 20 different emoji", id);
		return;
	}
	jbuf_reset(&ch->out);
	jbuf_puts(&ch->out, "{\"emoji\":");
	jbuf_str(&ch->out, emoji, len);
	jbuf_puts(&ch->out, on ? ",\"on\":true}" : ",\"on\":false}");
	if (!jbuf_ok(&ch->out)) {
		send_error(c, "unavailable", "out of memory, retry", id);
		return;
	}
	m = publish_change(ch, c, id, CHAT_KIND_REACTION, CK_REACTION, t, ch->out.p, ch->out.len,
			   emoji, len, on);
	if (m && m->seq > ch->committed && fresh && (t = find_msg(ch, m->target))) {
		m->counted = true;
		t->react_pending++;
	}
}

static void on_history(struct chat *ch, struct app_client *c, json_t *o)
{
	json_int_t before = ch->committed + 1, limit = CHAT_HISTORY_DEFAULT;
	int64_t lo, hi;
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
		put_ring_range(ch, ch, pos_of(ch, from), pos_of(ch, to), false);
		send_history_end(ch, c, from > first);
		return;
	}
	/* Seqs are gapless from 1: the page is [lo, before), older ones exist
	 * when lo > 1. */
	if (before <= 1 || lo >= first_seq(ch)) {
		size_t from = before <= 1 ? 0 : pos_of(ch, lo), to = before <= 1 ? 0 : pos_of(ch, before);
		put_history_head(ch);
		put_ring_range(ch, ch, from, to, false);
		send_history_end(ch, c, before > 1 && lo > 1);
		return;
	}
	/* From the database, and far enough past the page (a ring's length,
	 * the farthest a change can be from its message) to fold in every
	 * change of its messages; what the ring holds comes from the ring. */
	hi = before + (int64_t)ch->size < first_seq(ch) ? before + (int64_t)ch->size : first_seq(ch);
	w = calloc(1, sizeof(*w));
	if (w) {
		w->ch = ch;
		w->c = c;
		w->kind = WAIT_HISTORY;
		w->since = lo;
		w->upto = before;
		w->hi = hi;
	}
	if (!w || wait_read(ch, w, lo - 1, hi, (size_t)(hi - lo)) != 0) {
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

/* A moderation frame waiting for stateroom_room_act. The callback may run
 * after dispose (app_db): ch is then NULL, as c once it has left. */
struct chat_act {
	struct chat *ch;
	struct app_client *c;
	struct dlist_node node;      /* in ch->acts */
	char action[8];
	char id[WIRE_MSG_ID_MAX + 1];
};

/* stateroom_room_act's statuses as frame errors (docs/protocol.md). */
static const struct { const char *status, *code, *message; } act_errors[] = {
	{ "no_room", "not_found", "this room takes no moderation" },
	{ "forbidden", "forbidden", "your role may not do this" },
	{ "outranked", "outranked", "the user's role is yours or above" },
	{ "no_user", "no_such_user", "no such user" },
	{ "exists", "exists", "already so" },
	{ "not_found", "not_found", "nothing to undo" },
	{ "invalid", "invalid_request", "the request does not fit the action" },
};

static void moderated(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct chat_act *a = arg;
	const char *status = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL;

	(void)err;
	(void)sqlstate;
	if (a->ch) {
		dlist_remove(&a->ch->acts, &a->node);
		a->ch->n_acts--;
	}
	if (!a->c || !a->ch)
		goto out;
	if (status && strcmp(status, "ok") == 0) {
		/* The action's record follows once logged (the notification). */
		send_json(a->c, json_pack("{s:s,s:s,s:s}", "type", "done", "id", a->id, "action",
					  a->action));
		goto out;
	}
	for (size_t i = 0; status && i < sizeof(act_errors) / sizeof(act_errors[0]); i++) {
		if (strcmp(status, act_errors[i].status) == 0) {
			send_error(a->c, act_errors[i].code, act_errors[i].message, a->id);
			goto out;
		}
	}
	send_error(a->c, "unavailable", "the action cannot be taken now, retry", a->id);
out:
	free(a);
}

/* kick, ban, unban, mute, unmute: checked here, decided by the database's
 * stateroom_room_act (the one place the rules of who may do what live),
 * one statement per frame; a member is refused without asking it. */
static void on_moderate(struct chat *ch, struct app_client *c, json_t *o, const char *action)
{
	const char *id = get_id(c, o, "a moderation frame needs an id of 1 to 64 bytes");
	json_t *juser = json_object_get(o, "userId"), *jreason = json_object_get(o, "reason");
	const char *user = json_string_value(juser), *reason = json_string_value(jreason);
	const char *target_name = NULL;
	bool takes_reason = strcmp(action, "kick") == 0 || strcmp(action, "ban") == 0;
	bool mute = strcmp(action, "mute") == 0;
	json_int_t duration = 0;
	json_t *detail;
	char *detail_s;
	struct chat_act *a;
	const char *p[7];
	int rc;

	if (!id)
		return;
	if (!user || !wire_sub_valid(user, json_string_length(juser))) {
		send_error(c, "bad_frame", "userId must be a user's id", id);
		return;
	}
	if (jreason && (!takes_reason || !reason || json_string_length(jreason) > CHAT_REASON_MAX ||
			memchr(reason, '\0', json_string_length(jreason)))) {
		send_error(c, "bad_frame", "reason: kick and ban take up to 200 bytes of text", id);
		return;
	}
	if (!get_int(o, "durationS", mute, 1, CHAT_DURATION_MAX, &duration) ||
	    (duration && !mute && strcmp(action, "ban") != 0)) {
		send_error(c, "bad_frame", "durationS: mute needs, ban takes 1 to 31536000 seconds", id);
		return;
	}
	if (app_room_role(ch->room, app_client_user(c)) == APP_ROLE_MEMBER) {
		send_error(c, "forbidden", "your role may not do this", id);
		return;
	}
	if (ch->n_acts >= CHAT_ACTS_MAX) {
		send_error(c, "unavailable", "too many actions at once, retry", id);
		return;
	}
	for (size_t i = 0; i < app_room_member_count(ch->room); i++)
		if (strcmp(app_room_member(ch->room, i), user) == 0)
			target_name = app_room_member_name(ch->room, i);
	detail = json_object();
	if (reason && *reason)
		json_object_set_new(detail, "reason", json_string(reason));
	if (duration)
		json_object_set_new(detail, "durationS", json_integer(duration));
	detail_s = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	a = calloc(1, sizeof(*a));
	if (!detail_s || !a) {
		free(detail_s);
		free(a);
		send_error(c, "unavailable", "out of memory, retry", id);
		return;
	}
	a->ch = ch;
	a->c = c;
	snprintf(a->action, sizeof(a->action), "%s", action);
	snprintf(a->id, sizeof(a->id), "%s", id);
	p[0] = app_room_id(ch->room);
	p[1] = app_client_user(c);
	p[2] = app_client_name(c);
	p[3] = action;
	p[4] = user;
	p[5] = target_name;
	p[6] = detail_s;
	rc = db_query(app_db(ch->room),
		      "SELECT status, action_id FROM stateroom_room_act($1, $2, $3, $4, $5, $6, $7::jsonb)",
		      7, p, moderated, a);
	free(detail_s);
	if (rc != 0) {
		free(a);
		send_error(c, "unavailable", "the action cannot be taken now, retry", id);
		return;
	}
	dlist_push_front(&ch->acts, &a->node);
	ch->n_acts++;
}

/* ----------------------------------------------------------- call ring */

/* A DM's call record: the caller its user, the callee its target. Lost
 * (with a warning) when the log cannot take a record now: it is a note of
 * what happened, not a message anyone sent. */
static void call_record(struct chat *ch, const char *outcome, const char *callee_name)
{
	struct callring *r = &ch->cr;
	json_t *o = json_pack("{s:s,s:s,s:s*,s:{s:s,s:b}}", "action", "call", "target", r->callee,
			      "targetName", callee_name, "detail", "outcome", outcome, "video", r->video);
	char *payload, emoji[CHAT_EMOJI_MAX + 1], *owned;
	struct app_record rec = { .kind = CHAT_KIND_CALL, .ts = now_ms(), .user = r->caller,
				  .name = r->caller_name };
	struct chat_in in;
	struct chat_msg *m;
	int64_t seq = -EAGAIN;

	if (o && strcmp(outcome, "ended") == 0)
		json_object_set_new(json_object_get(o, "detail"), "durationS",
				    json_integer(r->duration_ms / 1000));
	payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!payload)
		return;
	rec.payload = payload;
	rec.payload_len = strlen(payload);
	in_of(&rec, &in, emoji, &owned);
	/* Never evict a record that is not yet committed. */
	if (in.kind == CK_ACTION && !(ch->n == ch->size && msg_at(ch, 0)->seq > ch->committed))
		seq = app_log_append(ch->room, &rec);
	rec.seq = seq;
	m = seq >= 0 ? append(ch, &in) : NULL;
	free(owned);
	free(payload);
	if (seq >= 0 && !m) {
		/* A seq taken but not held would be a gap. */
		for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
			app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
		return;
	}
	if (seq < 0) {
		log_write(LOG_WARN, "call record not logged", "{s:s,s:s,s:i}", "room",
			  app_room_id(ch->room), "outcome", outcome, "error", (int)seq);
		return;
	}
	if (!app_room_persistent(ch->room))
		chat_committed(ch, m->seq);
}

/* Does what ring event ev says: the callee's inbox hears the ring and its
 * end, the room's clients the same (the caller's shows "Ringing…", then
 * why it stopped), and the log a record of a call missed, declined or
 * held. callee_name: the callee's name when known (a decline). */
static void ring_event(struct chat *ch, enum cr_event ev, const char *callee_name)
{
	struct callring *r = &ch->cr;
	const char *reason = cr_end_reason(ev), *outcome = cr_outcome(ev);
	const char *room = app_room_id(ch->room);
	json_int_t timeout_s = (json_int_t)(app_call_ring_ms(ch->room) / 1000);

	if (ev == CR_RING) {
		dmn_event(ch->dm, r->callee, r->caller,
			  json_pack("{s:s,s:s,s:{s:s,s:s},s:b,s:I}", "type", "call_ring", "roomId", room,
				    "from", "userId", r->caller, "name", r->caller_name, "video",
				    r->video, "timeoutS", timeout_s));
		broadcast_native(ch, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I}", "type", "call", "op",
					       "ring", "from", r->caller, "user", r->caller_name, "to",
					       r->callee, "video", r->video, "timeoutS", timeout_s),
				 NULL);
	}
	if (reason) {
		dmn_event(ch->dm, r->callee, r->caller,
			  json_pack("{s:s,s:s,s:s}", "type", "call_ring_end", "roomId", room, "reason",
				    reason));
		broadcast_native(ch, json_pack("{s:s,s:s,s:s}", "type", "call", "op", "ring_end",
					       "reason", reason), NULL);
	}
	if (outcome)
		call_record(ch, outcome, callee_name);
}

/* After a change of the call (c's frame or leave): in a DM, the ring
 * follows who of the two is in it. */
static void ring_follow(struct chat *ch, struct app_client *c)
{
	const char *user = app_client_user(c), *peer = dmn_peer(ch->dm, user);
	const char *users[2];
	bool in[2];

	if (!peer)
		return;  /* no DM (or not known yet): nothing rings */
	users[0] = user;
	users[1] = peer;
	in[0] = call_has_user(ch->call, user);
	in[1] = call_has_user(ch->call, peer);
	ring_event(ch, cr_update(&ch->cr, users, in, user, app_client_name(c),
				 call_has_video(ch->call, c), now_ms()), NULL);
}

/* The room is known to be a DM: a call joined before rings now. */
static void on_dm_known(void *arg)
{
	struct chat *ch = arg;

	if (ch->cr.state == CR_IDLE && call_active(ch->call))
		ring_follow(ch, call_first(ch->call));
}

/* {"type":"call","op":"decline"}: the callee turns the ring down, from any
 * of its connections to the DM (it need not be in the call). */
static void on_decline(struct chat *ch, struct app_client *c)
{
	int dm = dmn_is_dm(ch->dm);

	if (dm == 0)
		send_error(c, "not_a_dm", "only a direct conversation's call rings", NULL);
	else if (dm < 0)
		send_error(c, "unavailable", "the room is not ready for this yet, retry", NULL);
	else  /* nothing ringing for c: nothing to do */
		ring_event(ch, cr_decline(&ch->cr, app_client_user(c)), app_client_name(c));
}

static void on_call(struct chat *ch, struct app_client *c, json_t *o)
{
	const char *op = json_string_value(json_object_get(o, "op"));

	if (op && strcmp(op, "decline") == 0) {
		on_decline(ch, c);
		return;
	}
	if (call_frame(ch->call, c, o, app_room_muted_until(ch->room, app_client_user(c)))) {
		broadcast_native(ch, call_members(ch->call), NULL);
		ring_follow(ch, c);
	}
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
	} else if (strcmp(type, "edit") == 0) {
		on_edit(ch, c, o);
	} else if (strcmp(type, "delete") == 0) {
		on_delete(ch, c, o);
	} else if (strcmp(type, "react") == 0) {
		on_react(ch, c, o);
	} else if (strcmp(type, "history") == 0) {
		on_history(ch, c, o);
	} else if (strcmp(type, "typing") == 0) {
		/* A muted user's typing would be a way to speak. */
		if (!app_room_muted_until(ch->room, app_client_user(c)))
			broadcast_native(ch, json_pack("{s:s,s:s,s:s}", "type", "typing", "user",
						       app_client_name(c), "userId", app_client_user(c)),
					 app_client_user(c));
	} else if (strcmp(type, "read") == 0) {
		on_read(ch, c, o);
	} else if (strcmp(type, "call") == 0) {
		on_call(ch, c, o);
	} else if (strcmp(type, "kick") == 0 || strcmp(type, "ban") == 0 ||
		   strcmp(type, "unban") == 0 || strcmp(type, "mute") == 0 ||
		   strcmp(type, "unmute") == 0) {
		on_moderate(ch, c, o, type);
	} else {
		send_error(c, "unknown_type", "unknown frame type", NULL);
	}
out:
	json_decref(o);
}

/* ------------------------------------------------------------- callbacks */

static void chat_dispose(void *state);

/* The id of action record m (client id "act:<id>"), or 0. */
static int64_t act_of(const struct chat_msg *m)
{
	return m->kind == CK_ACTION && m->id && strncmp(m->id, "act:", 4) == 0 ?
		       strtoll(m->id + 4, NULL, 10) : 0;
}

/* m is committed: an action it holds is logged. */
static void note_committed(struct chat *ch, const struct chat_msg *m)
{
	int64_t id = act_of(m);

	if (id > ch->act_committed)
		ch->act_committed = id;
	if (id > ch->act_last)
		ch->act_last = id;
}

static int chat_create(struct app_room *room, const struct app_record *recent, size_t n,
		       void **state)
{
	struct chat *ch;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->room = room;
	ch->size = app_room_log_window(room);
	ch->ring = calloc(ch->size, sizeof(*ch->ring));
	ch->heartbeat = app_frame_text(HEARTBEAT, sizeof(HEARTBEAT) - 1);
	ch->marks = marks_new(app_room_id(room));
	ch->call = call_new();
	if (!ch->ring || !ch->heartbeat || !ch->marks || !ch->call || index_init(ch) != 0) {
		if (ch->heartbeat)
			app_frame_unref(ch->heartbeat);
		marks_free(ch->marks);
		call_free(ch->call);
		free(ch->ring);
		free(ch);
		return -ENOMEM;
	}
	for (size_t i = n > ch->size ? n - ch->size : 0; i < n; i++) {
		if (!push_committed(ch, &recent[i])) {
			chat_dispose(ch);
			return -ENOMEM;
		}
	}
	ch->committed = ch->seq;
	for (size_t i = 0; i < ch->n; i++)
		note_committed(ch, msg_at(ch, i));
	/* Only committed messages are announced; an ephemeral room has none. */
	if (app_room_persistent(room))
		ch->dm = dmn_new(app_db(room), app_room_id(room), on_dm_known, ch);
	*state = ch;
	return 0;
}

/* Announces ring record m, now committed (and folded in). */
static void announce(struct chat *ch, struct chat_msg *m)
{
	broadcast_msg(ch, m);
	if (m->kind == CK_MESSAGE) {
		broadcast_snapshot(ch);
		dmn_sent(ch->dm, m->user, m->seq);
	} else if (m->kind == CK_EDIT || m->kind == CK_DELETE) {
		broadcast_snapshot(ch);
	}
}

/* What change m (appended, not committed) holds of its target: undone when
 * m commits or is rolled back. */
static void settle(struct chat *ch, struct chat_msg *m)
{
	struct chat_msg *t = is_change(m) ? find_msg(ch, m->target) : NULL;

	if (t && m->kind == CK_DELETE)
		t->delete_pending = false;
	if (t && m->counted && t->react_pending > 0)
		t->react_pending--;
	m->counted = false;
}

/* One record at a time: compat clients get a snapshot after every message,
 * as the seed sent them. */
static void chat_committed(void *state, int64_t seq)
{
	struct chat *ch = state;

	while (ch->committed < seq && ch->committed < ch->seq) {
		struct chat_msg *m = msg_at(ch, visible(ch));
		ch->committed = m->seq;
		note_committed(ch, m);
		if (m->from && is_native(m->from))
			send_ack(ch, m->from, m->id, m->seq);
		m->from = NULL;
		pub_answer(m, 0);
		settle(ch, m);
		if (apply(ch, m) != 0) {
			/* Clients would see a wrong state: let them reconnect. */
			for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
				app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
			continue;
		}
		announce(ch, m);
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
		pub_answer(m, -EIO);
		settle(ch, m);
		if (m->id && m->kind != CK_ACTION)
			index_remove(ch, m);
		ch->n--;
		ch->seq = m->seq - 1;
	}
	ch->seq = seq;
	if (ch->committed > seq)
		ch->committed = seq;
	/* Actions dropped here come again (app.h). */
	ch->act_last = ch->act_committed;
}

static void chat_restore(void *state, const struct app_record *recs, size_t n)
{
	struct chat *ch = state;

	for (size_t i = 0; i < n; i++) {
		const struct app_record *r = &recs[i];
		struct chat_msg *m;
		if (r->seq <= ch->committed)
			continue;
		m = push_committed(ch, r);
		if (!m) {
			/* Clients would see a gap: let them reconnect instead. */
			for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
				app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
			return;
		}
		ch->committed = m->seq;
		note_committed(ch, m);
		announce(ch, m);
	}
}

/* Logs each action not logged yet as a record (app.h); -EAGAIN when the
 * log cannot take one now. */
static int chat_actions(void *state, const struct app_action *acts, size_t n)
{
	struct chat *ch = state;

	for (size_t i = 0; i < n; i++) {
		const struct app_action *a = &acts[i];
		json_t *o, *detail;
		char id[32], *payload, emoji[CHAT_EMOJI_MAX + 1], *owned;
		struct app_record rec = { .kind = CHAT_KIND_ACTION, .client_id = id, .ts = a->ts,
					  .user = a->actor, .name = a->actor_name };
		struct chat_in in;
		struct chat_msg *m;
		int64_t seq;

		if (a->id <= ch->act_last)
			continue;
		/* Never evict a record that is not yet committed. */
		if (ch->n == ch->size && msg_at(ch, 0)->seq > ch->committed)
			return -EAGAIN;
		snprintf(id, sizeof(id), "act:%" PRId64, a->id);
		detail = json_loads(a->detail, 0, NULL);
		o = json_pack("{s:s,s:s*,s:s*}", "action", a->action, "target", a->target,
			      "targetName", a->target_name);
		if (o && json_object_size(detail) > 0)
			json_object_set(o, "detail", detail);
		json_decref(detail);
		payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!payload)
			return -ENOMEM;
		rec.payload = payload;
		rec.payload_len = strlen(payload);
		in_of(&rec, &in, emoji, &owned);
		seq = in.kind == CK_ACTION ? app_log_append(ch->room, &rec) : -EINVAL;
		rec.seq = seq;
		m = seq >= 0 ? append(ch, &in) : NULL;
		free(owned);
		free(payload);
		if (seq >= 0 && !m) {
			/* A seq taken but not held would be a gap. */
			for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
				app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
			return -ENOMEM;
		}
		if (seq == -EINVAL)
			continue;
		if (seq < 0)
			return (int)seq;
		ch->act_last = a->id;
		if (!app_room_persistent(ch->room))
			chat_committed(ch, m->seq);
	}
	return 0;
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
	if (since < 0) {
		/* The latest messages, as they are now. */
		size_t k = 0;
		for (start = n; start > 0 && k < CHAT_WELCOME_MESSAGES; )
			k += msg_at(ch, --start)->kind == CK_MESSAGE;
	} else if (since >= ch->committed)
		start = n;
	else if (since + 1 < first_seq(ch))
		start = 0;  /* ephemeral: what the ring lost is gone */
	else
		start = pos_of(ch, since + 1);
	put_welcome_head(ch, c);
	put_ring_range(ch, ch, start, n, false);
	jbuf_put(&ch->out, "]", 1);
	/* A resume also gets the changes of messages it saw before. */
	if (since >= 0)
		put_changes(ch, ch, start, n, start < n ? msg_at(ch, start)->seq : ch->committed + 1);
	jbuf_put(&ch->out, "}", 1);
	send_out(ch, c);
}

static void chat_join(void *state, struct app_client *c, bool first)
{
	struct chat *ch = state;

	if (is_native(c))
		send_welcome(ch, c);
	/* Unless its welcome waits for the database, what it sent may come in
	 * (and it may hear who is in the call). */
	if (!app_client_data(c)) {
		app_client_ready(c);
		if (is_native(c) && call_active(ch->call))
			send_json(c, call_members(ch->call));
		if (is_native(c) && ch->cr.state == CR_RINGING)
			send_json(c, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I}", "type", "call", "op",
					       "ring", "from", ch->cr.caller, "user", ch->cr.caller_name,
					       "to", ch->cr.callee, "video", ch->cr.video, "timeoutS",
					       (json_int_t)(app_call_ring_ms(ch->room) / 1000)));
	}
	if (first)
		broadcast_presence(ch, c, "joined", app_client_user(c));
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
	/* The compat protocol has no errors: a muted user's texts are not
	 * stored, and the snapshots it gets show that they were not. */
	if (app_room_muted_until(ch->room, app_client_user(c)))
		return;
	publish_text(ch, c, NULL, (const char *)data, len, 0);
}

static void chat_leave(void *state, struct app_client *c, bool last)
{
	struct chat *ch = state;
	struct chat_wait *w;
	struct chat_act *a;

	for (size_t i = visible(ch); i < ch->n; i++)
		if (msg_at(ch, i)->from == c)
			msg_at(ch, i)->from = NULL;
	dlist_for_each(w, &ch->waits, node)
		if (w->c == c)
			w->c = NULL;
	dlist_for_each(a, &ch->acts, node)
		if (a->c == c)
			a->c = NULL;
	app_client_set_data(c, NULL);
	if (call_leave(ch->call, c)) {
		broadcast_native(ch, call_members(ch->call), NULL);
		ring_follow(ch, c);
	}

	if (last)
		broadcast_presence(ch, c, "left", NULL);
	broadcast_snapshot(ch);
}

static void chat_tick(void *state, uint64_t loop_ms)
{
	struct chat *ch = state;
	uint64_t quiet = app_keepalive_ms(ch->room);

	for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
		if (welcomed_native(c) && loop_ms - app_client_sent_at(c) >= quiet)
			app_send_frame(c, ch->heartbeat);
	/* The ring's times are the wall clock's, as the records' are. */
	ring_event(ch, cr_tick(&ch->cr, now_ms(), app_call_ring_ms(ch->room)), NULL);
	marks_flush(ch->marks, app_db(ch->room));
}

/* Reads still in flight hold their chat_wait, not ch: the transport
 * disposes of a room only once every read has answered. */
static void chat_dispose(void *state)
{
	struct chat *ch = state;
	struct chat_act *a;

	if (!ch)
		return;
	dlist_for_each(a, &ch->acts, node)
		a->ch = NULL;
	for (size_t i = 0; i < ch->size; i++) {
		pub_answer(&ch->ring[i], -EPIPE);
		free(ch->ring[i].buf);
		reacts_clear(&ch->ring[i]);
	}
	free(ch->ring);
	free(ch->index);
	/* The last second's marks; a write in flight keeps the marks until it
	 * answers. */
	marks_flush(ch->marks, app_db(ch->room));
	marks_free(ch->marks);
	/* Every connection left before: a ring still on would be the room
	 * going away under it (the callee's banner must stop). */
	if (ch->cr.state == CR_RINGING)
		dmn_event(ch->dm, ch->cr.callee, ch->cr.caller,
			  json_pack("{s:s,s:s,s:s}", "type", "call_ring_end", "roomId",
				    app_room_id(ch->room), "reason", "cancelled"));
	dmn_free(ch->dm);
	call_free(ch->call);
	app_frame_unref(ch->heartbeat);
	jbuf_fini(&ch->out);
	free(ch);
}

/* A message from the app's backend (server API): a "message" record of
 * WIRE_SERVER_SUB with no client id, taken like a send but from no
 * connection, answered once committed. */
static int chat_publish(void *state, const char *kind, const char *name, const char *payload,
			size_t len, void (*done)(void *arg, int status, int64_t seq), void *arg)
{
	struct chat *ch = state;
	struct app_record rec = {
		.kind = CHAT_KIND_MESSAGE, .payload = payload, .payload_len = len,
		.user = WIRE_SERVER_SUB, .name = name, .ts = now_ms(),
	};
	struct chat_in in = { .r = &rec, .kind = CK_MESSAGE, .text = payload, .text_len = len };
	struct chat_msg *m;

	if ((kind && strcmp(kind, CHAT_KIND_MESSAGE) != 0) || len == 0 || len > CHAT_TEXT_MAX)
		return -EINVAL;
	/* Never evict a record that is not yet committed. */
	if (ch->n == ch->size && msg_at(ch, 0)->seq > ch->committed)
		return -EAGAIN;
	rec.seq = app_log_append(ch->room, &rec);
	if (rec.seq < 0)
		return (int)rec.seq;
	m = append(ch, &in);
	if (!m) {
		/* A seq taken but not held would be a gap: the room cannot go on. */
		for (struct app_client *c = app_room_clients(ch->room); c; c = app_client_next(c))
			app_close(c, WIRE_CLOSE_INTERNAL, "out of memory");
		return -ENOMEM;
	}
	m->pub_done = done;
	m->pub_arg = arg;
	if (!app_room_persistent(ch->room))
		chat_committed(ch, m->seq);
	return 0;
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
	.actions = chat_actions,
	.publish = chat_publish,
};
