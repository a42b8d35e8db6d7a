/* call: see call.h. The participants are a small array (CALL_MAX), kept in
 * the order they joined, so that the members frame lists them so. A
 * participant's id is "p" and a number counted per call: unique among the
 * connections the room has seen, and meaningless outside it. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_ID_MAX 24

struct call_part {
	struct app_client *c;
	char id[CALL_ID_MAX];
	bool audio, video, screen;
};

struct call {
	struct call_part parts[CALL_MAX];
	size_t n;
	uint64_t next_id;
};

struct call *call_new(void)
{
	return calloc(1, sizeof(struct call));
}

void call_free(struct call *call)
{
	free(call);
}

bool call_active(const struct call *call)
{
	return call->n > 0;
}

static void send_json(struct app_client *c, json_t *j)
{
	char *s;

	if (!j)
		return;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s) {
		app_send_text(c, s, strlen(s));
		free(s);
	}
}

static void send_error(struct app_client *c, const char *code, const char *message)
{
	send_json(c, json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message));
}

static struct call_part *find_client(struct call *call, const struct app_client *c)
{
	for (size_t i = 0; i < call->n; i++)
		if (call->parts[i].c == c)
			return &call->parts[i];
	return NULL;
}

static struct call_part *find_id(struct call *call, const char *id)
{
	for (size_t i = 0; i < call->n; i++)
		if (strcmp(call->parts[i].id, id) == 0)
			return &call->parts[i];
	return NULL;
}

/* Reads the optional booleans audio, video, screen of o into p; false
 * (and p unchanged) when one is there but not a boolean. */
static bool read_media(struct call_part *p, json_t *o)
{
	static const char *const keys[] = { "audio", "video", "screen" };
	bool *fields[] = { &p->audio, &p->video, &p->screen };
	bool v[3];

	for (size_t i = 0; i < 3; i++) {
		json_t *b = json_object_get(o, keys[i]);

		if (b && !json_is_boolean(b))
			return false;
		v[i] = b ? json_is_true(b) : *fields[i];
	}
	for (size_t i = 0; i < 3; i++)
		*fields[i] = v[i];
	return true;
}

static bool on_join(struct call *call, struct app_client *c, json_t *o, int64_t muted_until)
{
	struct call_part *p = find_client(call, c), fresh = { .c = c };

	if (muted_until) {
		send_json(c, json_pack("{s:s,s:s,s:s,s:I}", "type", "error", "code", "muted",
				       "message", "you are muted in this room", "until",
				       (json_int_t)muted_until));
		return false;
	}
	/* A join from a participant is taken as its state: a client that
	 * lost track of whether it joined may say so again. */
	if (!p && call->n == CALL_MAX) {
		send_error(c, "call_full", "the call has 6 participants already");
		return false;
	}
	if (!read_media(p ? p : &fresh, o)) {
		send_error(c, "bad_frame", "audio, video and screen are booleans");
		return false;
	}
	if (!p) {
		snprintf(fresh.id, sizeof(fresh.id), "p%llu", (unsigned long long)++call->next_id);
		call->parts[call->n++] = fresh;
		p = &call->parts[call->n - 1];
	}
	send_json(c, json_pack("{s:s,s:s,s:s}", "type", "call", "op", "joined", "self", p->id));
	return true;
}

static void remove_part(struct call *call, struct call_part *p)
{
	size_t i = (size_t)(p - call->parts);

	memmove(p, p + 1, (call->n - i - 1) * sizeof(*p));
	call->n--;
}

static void on_signal(struct call *call, struct call_part *from, json_t *o)
{
	const char *to = json_string_value(json_object_get(o, "to"));
	json_t *data = json_object_get(o, "data");
	struct call_part *target;
	size_t len;

	if (!to || !data || !(json_is_object(data) || json_is_string(data))) {
		send_error(from->c, "bad_frame", "signal needs to (a participant id) and data (an object or a string)");
		return;
	}
	/* The data is relayed as it came, so its size is what the target
	 * receives; json_dumpb measures without allocating. */
	len = json_dumpb(data, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (len == 0 || len > CALL_SIGNAL_MAX) {
		send_error(from->c, "too_big", "a signal's data is at most 32768 bytes");
		return;
	}
	target = find_id(call, to);
	if (!target || target == from) {
		send_error(from->c, "no_participant", "to is not another participant of the call");
		return;
	}
	send_json(target->c, json_pack("{s:s,s:s,s:s,s:O}", "type", "call", "op", "signal", "from",
				       from->id, "data", data));
}

bool call_frame(struct call *call, struct app_client *c, json_t *o, int64_t muted_until)
{
	const char *op = json_string_value(json_object_get(o, "op"));
	struct call_part *p;

	if (!op) {
		send_error(c, "bad_frame", "a call frame needs op");
		return false;
	}
	if (strcmp(op, "join") == 0)
		return on_join(call, c, o, muted_until);
	p = find_client(call, c);
	if (strcmp(op, "leave") == 0) {
		if (!p)
			return false;
		remove_part(call, p);
		send_json(c, json_pack("{s:s,s:s}", "type", "call", "op", "left"));
		return true;
	}
	if (strcmp(op, "signal") != 0 && strcmp(op, "state") != 0) {
		send_error(c, "bad_frame", "op is join, leave, signal or state");
		return false;
	}
	if (!p) {
		send_error(c, "not_in_call", "join the call first");
		return false;
	}
	if (strcmp(op, "signal") == 0) {
		on_signal(call, p, o);
		return false;
	}
	if (!read_media(p, o)) {
		send_error(c, "bad_frame", "audio, video and screen are booleans");
		return false;
	}
	return true;
}

bool call_leave(struct call *call, struct app_client *c)
{
	struct call_part *p = find_client(call, c);

	if (!p)
		return false;
	remove_part(call, p);
	return true;
}

bool call_has_user(const struct call *call, const char *user)
{
	for (size_t i = 0; i < call->n; i++)
		if (strcmp(app_client_user(call->parts[i].c), user) == 0)
			return true;
	return false;
}

struct app_client *call_first(const struct call *call)
{
	return call->n ? call->parts[0].c : NULL;
}

bool call_has_video(const struct call *call, const struct app_client *c)
{
	for (size_t i = 0; i < call->n; i++)
		if (call->parts[i].c == c)
			return call->parts[i].video;
	return false;
}

json_t *call_members(const struct call *call)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < call->n; i++) {
		const struct call_part *p = &call->parts[i];

		if (json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:b,s:b,s:b}", "id", p->id,
							 "userId", app_client_user(p->c), "user",
							 app_client_name(p->c), "audio", p->audio,
							 "video", p->video, "screen", p->screen)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	if (!list)
		return NULL;
	return json_pack("{s:s,s:s,s:o}", "type", "call", "op", "members", "participants", list);
}
