/* app_game: a real-time arena game, server-authoritative at --game-hz
 * (docs/protocol.md, "Game"). The rules are game_model.h's; this file is
 * the room around them: seats and spectators, validated inputs, a state
 * delta per step to every client, and the log.
 *
 * The live model runs ahead of the log: an input changes the game at once
 * (a real-time game cannot wait for a commit to move a player), and its
 * record is appended in the same order it was applied, so that the log
 * replays to the same states. Until a record is durable it stays in
 * `pending`; committed() acknowledges it to its sender; a rollback puts it
 * back to be appended again (with the same payload, so the log still
 * matches what the live model did), and records the log refuses while it
 * recovers wait there too, in order.
 *
 * A restart resumes from the log: create() restores the state of the
 * latest `hash` record in the window (it carries the full state and its
 * hash) and applies the records after it. Seated players of a restored
 * game are away until they come back (within --seat-grace-ms). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "app.h"
#include "dlist.h"
#include "game_model.h"
#include "jbuf.h"
#include "log.h"
#include "wire.h"

#define HEARTBEAT "{\"type\":\"heartbeat\"}"
#define GAME_ID_MAX 64
/* A direction component a client may send, before it is normalised: any
 * finite number this size or less (an impossible one is corrected). */
#define GAME_DIR_IN_MAX 1e6
/* gone_at of a restored seat: away from the first step on. */
#define GONE_AT_FIRST_STEP UINT64_MAX

static const char *const game_protocols[] = { "stateroom.v1", NULL };

/* A record the live model has applied and the log does not hold durably
 * yet; its sender hears the ack once it is. */
struct pending {
	struct dlist_node node;
	int64_t seq;                  /* 0: not appended (yet, or again) */
	char kind[8];
	char *payload;
	struct app_client *from;      /* NULL: a record of the server's, or its sender left */
	char id[GAME_ID_MAX + 1];
	int seat;                     /* told in the ack of a sit; -1: none */
	char user[GM_USER_MAX + 1];   /* "" for the server's */
	char name[GM_NAME_MAX + 1];
};

struct game {
	struct app_room *room;
	struct gm_state g;
	unsigned hz;
	uint64_t now;                 /* the loop's clock at the last step */
	int64_t committed;            /* the last durable seq */
	struct dlist pending;
	uint32_t dirty;               /* seats (and GM_SEATS_MAX: the coin) to send at the next step */
	bool active;                  /* something happened since the last hash record */
	uint64_t gone_at[GM_SEATS_MAX];  /* a seated player's last connection left; 0: here */
	struct ws_frame *heartbeat;
	struct jbuf out;
};

/* A client's data: non-NULL once welcomed. */
static char welcomed_mark;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_out(struct game *gm, struct app_client *c)
{
	if (jbuf_ok(&gm->out))
		app_send_text(c, gm->out.p, gm->out.len);
}

static void send_error(struct game *gm, struct app_client *c, const char *code, const char *message,
		       const char *id)
{
	jbuf_reset(&gm->out);
	jbuf_puts(&gm->out, "{\"type\":\"error\",\"code\":");
	jbuf_strz(&gm->out, code);
	jbuf_puts(&gm->out, ",\"message\":");
	jbuf_strz(&gm->out, message);
	if (id) {
		jbuf_puts(&gm->out, ",\"id\":");
		jbuf_strz(&gm->out, id);
	}
	jbuf_put(&gm->out, "}", 1);
	send_out(gm, c);
}

static void send_ack(struct game *gm, struct app_client *c, const char *id, int64_t seq, int seat,
		     bool corrected)
{
	jbuf_reset(&gm->out);
	jbuf_puts(&gm->out, "{\"type\":\"ack\",\"id\":");
	jbuf_strz(&gm->out, id);
	jbuf_puts(&gm->out, ",\"seq\":");
	jbuf_int(&gm->out, seq);
	if (seat >= 0) {
		jbuf_puts(&gm->out, ",\"seat\":");
		jbuf_int(&gm->out, seat);
	}
	if (corrected)
		jbuf_puts(&gm->out, ",\"corrected\":true");
	jbuf_put(&gm->out, "}", 1);
	send_out(gm, c);
}

/* ------------------------------------------------------------------ log */

static void settle(struct game *gm, struct pending *p)
{
	if (p->from && p->id[0])
		send_ack(gm, p->from, p->id, p->seq, p->seat, false);
	dlist_remove(&gm->pending, &p->node);
	free(p->payload);
	free(p);
}

/* Appends the pending records not in the log yet, in order; one the log
 * refuses (it recovers) waits for the next step with those after it. */
static void flush(struct game *gm)
{
	struct pending *p, *tmp;

	dlist_for_each_safe(p, tmp, &gm->pending, node) {
		struct app_record rec = { .ts = wall_ms(), .kind = p->kind, .user = p->user,
					  .name = p->name, .client_id = p->id[0] ? p->id : NULL,
					  .payload = p->payload, .payload_len = strlen(p->payload) };
		int64_t seq;

		if (p->seq)
			continue;
		seq = app_log_append(gm->room, &rec);
		if (seq < 0) {
			if (seq != -EAGAIN)
				log_write(LOG_WARN, "game record not written", "{s:s,s:s,s:i}", "room",
					  app_room_id(gm->room), "kind", p->kind, "error", (int)seq);
			return;
		}
		p->seq = seq;
		if (!app_room_persistent(gm->room)) {
			gm->committed = seq;
			settle(gm, p);
		}
	}
}

/* Logs what the live model just did: kind with payload (taken), for
 * client c's request id when c is not NULL. */
static void emit(struct game *gm, const char *kind, char *payload, struct app_client *c, const char *id,
		 int seat)
{
	struct pending *p;

	if (!payload || !(p = calloc(1, sizeof(*p)))) {
		free(payload);
		log_write(LOG_ERROR, "game record lost: out of memory", "{s:s}", "room", app_room_id(gm->room));
		return;
	}
	snprintf(p->kind, sizeof p->kind, "%s", kind);
	p->payload = payload;
	p->from = c;
	p->seat = seat;
	if (c) {
		snprintf(p->id, sizeof p->id, "%s", id ? id : "");
		snprintf(p->user, sizeof p->user, "%s", app_client_user(c));
		snprintf(p->name, sizeof p->name, "%s", app_client_name(c));
	}
	dlist_push_back(&gm->pending, &p->node);
	flush(gm);
}

static void game_committed(void *state, int64_t seq)
{
	struct game *gm = state;
	struct pending *p, *tmp;

	gm->committed = seq;
	dlist_for_each_safe(p, tmp, &gm->pending, node) {
		if (!p->seq || p->seq > seq)
			break;
		settle(gm, p);
	}
}

static void game_rollback(void *state, int64_t seq)
{
	struct game *gm = state;
	struct pending *p;

	dlist_for_each(p, &gm->pending, node)
		if (p->seq > seq)
			p->seq = 0;
}

/* The failed batch's records did commit: they are the first of those put
 * back, in the same order. */
static void game_restore(void *state, const struct app_record *recs, size_t n)
{
	struct game *gm = state;
	struct pending *p, *tmp;
	size_t i = 0;

	dlist_for_each_safe(p, tmp, &gm->pending, node) {
		if (i == n)
			break;
		if (p->seq)
			continue;
		p->seq = recs[i].seq;
		gm->committed = recs[i++].seq;
		settle(gm, p);
	}
}

/* ---------------------------------------------------------------- frames */

static void put_player(struct jbuf *b, const struct game *gm, int seat)
{
	const struct gm_player *p = &gm->g.p[seat];

	jbuf_puts(b, "{\"seat\":");
	jbuf_int(b, seat);
	if (!p->taken) {
		jbuf_puts(b, ",\"userId\":null}");
		return;
	}
	jbuf_puts(b, ",\"userId\":");
	jbuf_strz(b, p->user);
	jbuf_puts(b, ",\"name\":");
	jbuf_strz(b, p->name);
	jbuf_puts(b, ",\"x\":");
	jbuf_int(b, p->x);
	jbuf_puts(b, ",\"y\":");
	jbuf_int(b, p->y);
	jbuf_puts(b, ",\"dx\":");
	jbuf_int(b, p->dx);
	jbuf_puts(b, ",\"dy\":");
	jbuf_int(b, p->dy);
	jbuf_puts(b, ",\"score\":");
	jbuf_int(b, p->score);
	jbuf_puts(b, gm->gone_at[seat] ? ",\"away\":true}" : ",\"away\":false}");
}

static void put_coin(struct jbuf *b, const struct game *gm)
{
	jbuf_puts(b, ",\"coin\":[");
	jbuf_int(b, gm->g.coin_x);
	jbuf_put(b, ",", 1);
	jbuf_int(b, gm->g.coin_y);
	jbuf_put(b, "]", 1);
}

static void send_welcome(struct game *gm, struct app_client *c)
{
	struct jbuf *b = &gm->out;
	int seat = gm_seat_of(&gm->g, app_client_user(c));
	bool comma = false;

	jbuf_reset(b);
	jbuf_puts(b, "{\"type\":\"welcome\",\"room\":");
	jbuf_strz(b, app_room_id(gm->room));
	jbuf_puts(b, ",\"app\":\"game\",\"userId\":");
	jbuf_strz(b, app_client_user(c));
	jbuf_puts(b, ",\"user\":");
	jbuf_strz(b, app_client_name(c));
	jbuf_puts(b, ",\"seq\":");
	jbuf_int(b, gm->committed);
	jbuf_puts(b, ",\"heartbeat_ms\":");
	jbuf_int(b, (int64_t)app_keepalive_ms(gm->room));
	jbuf_puts(b, ",\"tick\":");
	jbuf_int(b, (int64_t)gm->g.tick);
	jbuf_puts(b, ",\"hz\":");
	jbuf_int(b, gm->hz);
	jbuf_puts(b, ",\"seats\":");
	jbuf_int(b, gm->g.seats);
	jbuf_puts(b, ",\"seat\":");
	if (seat >= 0)
		jbuf_int(b, seat);
	else
		jbuf_puts(b, "null");
	jbuf_puts(b, ",\"arena\":{\"width\":");
	jbuf_int(b, GM_WIDTH);
	jbuf_puts(b, ",\"height\":");
	jbuf_int(b, GM_HEIGHT);
	jbuf_puts(b, ",\"radius\":");
	jbuf_int(b, GM_RADIUS);
	jbuf_puts(b, ",\"coinRadius\":");
	jbuf_int(b, GM_COIN_RADIUS);
	jbuf_puts(b, ",\"speed\":");
	jbuf_int(b, GM_SPEED);
	jbuf_puts(b, ",\"dirMax\":");
	jbuf_int(b, GM_DIR_MAX);
	jbuf_puts(b, ",\"graceMs\":");
	jbuf_int(b, (int64_t)app_seat_grace_ms(gm->room));
	jbuf_puts(b, "},\"players\":[");
	for (int i = 0; i < gm->g.seats; i++) {
		if (!gm->g.p[i].taken)
			continue;
		if (comma)
			jbuf_put(b, ",", 1);
		put_player(b, gm, i);
		comma = true;
	}
	jbuf_put(b, "]", 1);
	put_coin(b, gm);
	jbuf_put(b, "}", 1);
	send_out(gm, c);
}

/* The step's delta: {"type":"state","tick","players":[changed],"coin"?}
 * to every welcomed client, built once. */
static void broadcast_state(struct game *gm, uint32_t changed)
{
	struct jbuf *b = &gm->out;
	struct ws_frame *f;
	bool comma = false;

	jbuf_reset(b);
	jbuf_puts(b, "{\"type\":\"state\",\"tick\":");
	jbuf_int(b, (int64_t)gm->g.tick);
	jbuf_puts(b, ",\"players\":[");
	for (int i = 0; i < gm->g.seats; i++) {
		if (!(changed & (1u << i)))
			continue;
		if (comma)
			jbuf_put(b, ",", 1);
		put_player(b, gm, i);
		comma = true;
	}
	jbuf_put(b, "]", 1);
	if (changed & (1u << GM_SEATS_MAX))
		put_coin(b, gm);
	jbuf_put(b, "}", 1);
	if (!jbuf_ok(b) || !(f = app_frame_text(b->p, b->len)))
		return;
	for (struct app_client *c = app_room_clients(gm->room); c; c = app_client_next(c))
		if (app_client_data(c))
			app_send_frame(c, f);
	app_frame_unref(f);
}

/* --------------------------------------------------------------- actions */

static void unseat(struct game *gm, int seat, struct app_client *c, const char *id)
{
	gm_unseat(&gm->g, seat);
	gm->gone_at[seat] = 0;
	gm->dirty |= 1u << seat;
	emit(gm, "unseat", gm_rec_unseat(&gm->g, seat), c, id, -1);
}

static void on_sit(struct game *gm, struct app_client *c, const char *id)
{
	const char *user = app_client_user(c);
	int seat = gm_seat_of(&gm->g, user);

	if (seat >= 0) {
		/* Already seated (a retried sit, another tab): nothing to log. */
		if (id)
			send_ack(gm, c, id, gm->committed, seat, false);
		return;
	}
	seat = gm_free_seat(&gm->g);
	if (seat < 0) {
		send_error(gm, c, "no_seat", "every seat is taken; watch as a spectator", id);
		return;
	}
	if (strlen(user) > GM_USER_MAX || gm_sit(&gm->g, seat, user, app_client_name(c)) != 0) {
		send_error(gm, c, "bad_request", "this user cannot sit", id);
		return;
	}
	gm->gone_at[seat] = 0;
	gm->dirty |= 1u << seat;
	emit(gm, "seat", gm_rec_seat(&gm->g, seat), c, id, seat);
}

static void on_stand(struct game *gm, struct app_client *c, const char *id)
{
	int seat = gm_seat_of(&gm->g, app_client_user(c));

	if (seat < 0) {
		send_error(gm, c, "not_seated", "you have no seat", id);
		return;
	}
	unseat(gm, seat, c, id);
}

/* A direction component: any finite JSON number, in units of a full-speed
 * direction (1 is GM_DIR_MAX); what is over the cap is corrected later. */
static bool dir_part(const json_t *v, int32_t *out)
{
	double d;

	if (!json_is_number(v))
		return false;
	d = json_number_value(v);
	if (!(d >= -GAME_DIR_IN_MAX && d <= GAME_DIR_IN_MAX))
		return false;
	d *= GM_DIR_MAX;
	*out = (int32_t)(d < 0 ? d - 0.5 : d + 0.5);
	return true;
}

static void on_input(struct game *gm, struct app_client *c, json_t *o, const char *id)
{
	const json_t *dir = json_object_get(o, "dir"), *tick = json_object_get(o, "tick");
	int seat = gm_seat_of(&gm->g, app_client_user(c));
	int32_t dx, dy, ndx, ndy;
	bool corrected;
	struct gm_player *p;

	if (!json_is_array(dir) || json_array_size(dir) != 2 || !dir_part(json_array_get(dir, 0), &dx) ||
	    !dir_part(json_array_get(dir, 1), &dy)) {
		send_error(gm, c, "bad_request", "dir must be [dx, dy], two numbers", id);
		return;
	}
	/* The tick the client saw: told, checked, not believed (the server
	 * applies every input at its own current tick). */
	if (tick && !json_is_null(tick) && (!json_is_integer(tick) || json_integer_value(tick) < 0)) {
		send_error(gm, c, "bad_request", "tick must be a non-negative integer", id);
		return;
	}
	if (seat < 0) {
		send_error(gm, c, "not_seated", "sit first: spectators cannot move", id);
		return;
	}
	ndx = dx;
	ndy = dy;
	corrected = gm_dir_normalise(&ndx, &ndy);
	p = &gm->g.p[seat];
	if (p->dx == ndx && p->dy == ndy) {
		if (id)
			send_ack(gm, c, id, gm->committed, -1, corrected);
		return;
	}
	gm_input(&gm->g, seat, ndx, ndy);
	gm->dirty |= 1u << seat;
	if (corrected && id) {
		/* Said now: the ack after the commit says only the seq. */
		jbuf_reset(&gm->out);
		jbuf_puts(&gm->out, "{\"type\":\"corrected\",\"id\":");
		jbuf_strz(&gm->out, id);
		jbuf_puts(&gm->out, ",\"dir\":[");
		jbuf_int(&gm->out, ndx);
		jbuf_put(&gm->out, ",", 1);
		jbuf_int(&gm->out, ndy);
		jbuf_puts(&gm->out, "]}");
		send_out(gm, c);
	}
	emit(gm, "input", gm_rec_input(&gm->g, seat), c, id, -1);
}

static void game_frame(void *state, struct app_client *c, bool binary, const uint8_t *data, size_t len)
{
	struct game *gm = state;
	json_t *o;
	const char *type, *id = NULL;
	const json_t *jid;

	if (binary) {
		send_error(gm, c, "binary_unsupported", "frames are JSON text", NULL);
		return;
	}
	o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		send_error(gm, c, "bad_json", "a frame is one JSON object", NULL);
		json_decref(o);
		return;
	}
	jid = json_object_get(o, "id");
	if (jid && !json_is_null(jid)) {
		if (!json_is_string(jid) || json_string_length(jid) < 1 ||
		    json_string_length(jid) > GAME_ID_MAX ||
		    strlen(json_string_value(jid)) != json_string_length(jid)) {
			send_error(gm, c, "bad_request", "id must be a string of 1 to 64 bytes", NULL);
			json_decref(o);
			return;
		}
		id = json_string_value(jid);
	}
	type = json_string_value(json_object_get(o, "type"));
	if (!type)
		send_error(gm, c, "bad_request", "type must be a string", id);
	else if (strcmp(type, "input") == 0)
		on_input(gm, c, o, id);
	else if (strcmp(type, "sit") == 0)
		on_sit(gm, c, id);
	else if (strcmp(type, "stand") == 0)
		on_stand(gm, c, id);
	else
		send_error(gm, c, "unknown_type", "unknown frame type", id);
	json_decref(o);
}

/* ------------------------------------------------------------------ life */

static void game_dispose(void *state);

/* Resumes from recent records: the state of the latest hash record that
 * checks out, then what follows it; or the whole game from its seed. */
static int resume(struct game *gm, const struct app_record *recent, size_t n)
{
	size_t from = n + 1;
	bool has;
	uint64_t h;

	for (size_t i = n; i-- > 0 && from > n;) {
		json_t *o;
		const json_t *st;
		const char *hs;
		uint64_t want;

		if (strcmp(recent[i].kind, "hash") != 0)
			continue;
		o = json_loadb(recent[i].payload, recent[i].payload_len, 0, NULL);
		st = json_object_get(o, "state");
		hs = json_string_value(json_object_get(o, "hash"));
		if (st && hs && sscanf(hs, "%16" SCNx64, &want) == 1 && gm_from_json(&gm->g, st) == 0 &&
		    gm_hash(&gm->g) == want)
			from = i + 1;
		json_decref(o);
	}
	if (from > n) {
		/* No snapshot: the whole game, from its seed, or nothing. */
		if (strcmp(recent[0].kind, "seed") != 0)
			return -EIO;
		from = 0;
	}
	for (size_t i = from; i < n; i++)
		if (gm_apply_record(&gm->g, recent[i].kind, recent[i].payload, recent[i].payload_len, &has,
				    &h) != 0)
			log_write(LOG_WARN, "game record refused on load", "{s:s,s:I}", "room",
				  app_room_id(gm->room), "seq", (json_int_t)recent[i].seq);
	for (int i = 0; i < gm->g.seats; i++)
		gm->gone_at[i] = gm->g.p[i].taken ? GONE_AT_FIRST_STEP : 0;
	gm->committed = recent[n - 1].seq;
	return 0;
}

static int game_create(struct app_room *room, const struct app_record *recent, size_t n, void **state)
{
	struct game *gm = calloc(1, sizeof(*gm));
	uint64_t step_ms;
	int rc;

	if (!gm)
		return -ENOMEM;
	gm->room = room;
	step_ms = app_step_default_ms(room);
	gm->hz = (unsigned)(1000 / step_ms);
	gm->heartbeat = app_frame_text(HEARTBEAT, sizeof(HEARTBEAT) - 1);
	if (!gm->heartbeat) {
		free(gm);
		return -ENOMEM;
	}
	if (n > 0) {
		rc = resume(gm, recent, n);
		if (rc != 0) {
			log_write(LOG_ERROR, "game cannot resume: no seed or snapshot in the loaded records",
				  "{s:s}", "room", app_room_id(room));
			game_dispose(gm);
			return rc;
		}
	} else {
		uint64_t seed;
		int seats = app_room_seats(room);

		if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
			seed = (uint64_t)wall_ms();
		gm_init(&gm->g, seed, seats ? seats : GM_SEATS_DEFAULT);
		emit(gm, "seed", gm_rec_seed(&gm->g, gm->hz), NULL, NULL, -1);
	}
	rc = app_room_set_step(room, step_ms);
	if (rc != 0) {
		game_dispose(gm);
		return rc;
	}
	*state = gm;
	return 0;
}

static void game_step(void *state, uint64_t now_ms)
{
	struct game *gm = state;
	uint64_t grace = app_seat_grace_ms(gm->room);
	uint32_t changed;

	gm->now = now_ms;
	for (int i = 0; i < gm->g.seats; i++) {
		if (gm->gone_at[i] == GONE_AT_FIRST_STEP)
			gm->gone_at[i] = now_ms;
		else if (gm->gone_at[i] && now_ms - gm->gone_at[i] >= grace)
			unseat(gm, i, NULL, NULL);
	}
	flush(gm);
	changed = gm_step(&gm->g) | gm->dirty;
	gm->dirty = 0;
	if (changed) {
		gm->active = true;
		broadcast_state(gm, changed);
	}
	/* Every second of play: the hash (and the state, to resume from). */
	if (gm->g.tick % gm->hz == 0 && gm->active) {
		gm->active = false;
		emit(gm, "hash", gm_rec_hash(&gm->g), NULL, NULL, -1);
	}
}

static void game_join(void *state, struct app_client *c, bool first)
{
	struct game *gm = state;
	int seat = gm_seat_of(&gm->g, app_client_user(c));

	(void)first;
	if (seat >= 0 && gm->gone_at[seat]) {
		/* Back within the grace period: the seat is theirs again. */
		gm->gone_at[seat] = 0;
		gm->dirty |= 1u << seat;
	}
	send_welcome(gm, c);
	app_client_set_data(c, &welcomed_mark);
	app_client_ready(c);
}

static void game_leave(void *state, struct app_client *c, bool last)
{
	struct game *gm = state;
	struct pending *p;
	int seat;

	dlist_for_each(p, &gm->pending, node)
		if (p->from == c)
			p->from = NULL;
	app_client_set_data(c, NULL);
	if (!last || (seat = gm_seat_of(&gm->g, app_client_user(c))) < 0)
		return;
	/* Dropped: the seat waits for them, standing still. */
	gm->gone_at[seat] = gm->now ? gm->now : 1;
	gm->dirty |= 1u << seat;
	if (gm->g.p[seat].dx || gm->g.p[seat].dy) {
		gm_input(&gm->g, seat, 0, 0);
		emit(gm, "input", gm_rec_input(&gm->g, seat), NULL, NULL, -1);
	}
}

static void game_tick(void *state, uint64_t now_ms)
{
	struct game *gm = state;
	uint64_t quiet = app_keepalive_ms(gm->room);

	for (struct app_client *c = app_room_clients(gm->room); c; c = app_client_next(c))
		if (app_client_data(c) && now_ms - app_client_sent_at(c) >= quiet)
			app_send_frame(c, gm->heartbeat);
}

static void game_dispose(void *state)
{
	struct game *gm = state;
	struct pending *p, *tmp;

	if (!gm)
		return;
	dlist_for_each_safe(p, tmp, &gm->pending, node) {
		dlist_remove(&gm->pending, &p->node);
		free(p->payload);
		free(p);
	}
	app_frame_unref(gm->heartbeat);
	jbuf_fini(&gm->out);
	free(gm);
}

const struct room_app_ops app_game_ops = {
	.name = "game",
	.protocols = game_protocols,
	.create = game_create,
	.join = game_join,
	.frame = game_frame,
	.leave = game_leave,
	.committed = game_committed,
	.rollback = game_rollback,
	.restore = game_restore,
	.tick = game_tick,
	.step = game_step,
	.dispose = game_dispose,
};
