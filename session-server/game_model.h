/* game_model: the arena game's state machine (docs/protocol.md, "Game").
 *
 * Pure and deterministic: no I/O, no clock, no floating point. Players sit
 * in seats of a rectangular arena, steer with a direction (an integer
 * vector normalised to at most GM_DIR_MAX long: speed is capped by
 * construction), bump into walls and each other, and score by touching the
 * coin, which reappears where the seeded generator says. Time is counted in
 * steps (ticks): the same records applied at the same ticks give the same
 * state and the same gm_hash(), on any machine, which is what the server's
 * restart and stateroom-replay rely on.
 *
 * The room's records (kinds and payloads are this module's, so that the
 * application and the replay tool read them alike):
 *   seed    {"seed":"<u64 decimal>","seats":N,"hz":H}   the first record
 *   seat    {"tick","seat","userId","name"}
 *   unseat  {"tick","seat"}
 *   input   {"tick","seat","dir":[dx,dy]}               dx, dy in -1000..1000
 *   hash    {"tick","hash":"<16 hex>","state":{...}}    every second
 * A record applies at its tick: the model first steps up to it. */
#ifndef STATEROOM_GAME_MODEL_H
#define STATEROOM_GAME_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define GM_SEATS_MIN 2
#define GM_SEATS_MAX 16
#define GM_SEATS_DEFAULT 4
#define GM_USER_MAX 64           /* bytes of a seat's user id (WIRE_SUB_MAX) */
#define GM_NAME_MAX 64           /* bytes of a seat's name (WIRE_NAME_MAX) */

/* The arena, in model units: players are discs of radius GM_RADIUS that
 * move at most GM_SPEED a step (a direction of length GM_DIR_MAX). */
#define GM_WIDTH 64000
#define GM_HEIGHT 40000
#define GM_RADIUS 1500
#define GM_COIN_RADIUS 800
#define GM_SPEED 500
#define GM_DIR_MAX 1000
/* The most steps one record may jump ahead of the model (a hostile or
 * broken log must not make a reader step for ever): a day at 20 Hz. */
#define GM_TICK_JUMP_MAX 1728000

struct gm_player {
	bool taken;
	char user[GM_USER_MAX + 1];
	char name[GM_NAME_MAX + 1];
	int32_t x, y;            /* centre */
	int32_t dx, dy;          /* direction, |d| <= GM_DIR_MAX */
	uint32_t score;
};

struct gm_state {
	uint64_t tick;           /* steps taken */
	uint64_t rng;            /* the generator's state (splitmix64) */
	uint64_t seed;
	int seats;
	int32_t coin_x, coin_y;
	struct gm_player p[GM_SEATS_MAX];
};

/* A fresh game of seats seats (clamped to GM_SEATS_MIN..MAX). */
void gm_init(struct gm_state *g, uint64_t seed, int seats);

/* Normalises a direction in place to length at most GM_DIR_MAX (same
 * heading); returns true when it had to be shortened. */
bool gm_dir_normalise(int32_t *dx, int32_t *dy);

/* Seats user (name) at seat, at its spawn point, standing still. Returns 0,
 * -EINVAL (no such seat, or a bad string), -EBUSY (taken). */
int gm_sit(struct gm_state *g, int seat, const char *user, const char *name);
/* Frees seat (its score goes). 0, or -EINVAL when it is no taken seat. */
int gm_unseat(struct gm_state *g, int seat);
/* Sets the seat's direction (normalised). 0, or -EINVAL. */
int gm_input(struct gm_state *g, int seat, int32_t dx, int32_t dy);

/* One step. Returns a bit per seat whose player changed (moved, scored),
 * and bit GM_SEATS_MAX when the coin moved. */
uint32_t gm_step(struct gm_state *g);

/* The seat of user, or -1; a free seat, or -1. */
int gm_seat_of(const struct gm_state *g, const char *user);
int gm_free_seat(const struct gm_state *g);

/* FNV-1a over everything that makes the state. */
uint64_t gm_hash(const struct gm_state *g);

/* The full state as JSON, and back (the hash record's "state": a restart
 * resumes from it, and checks it against the record's hash). gm_from_json
 * returns 0, or -EINVAL for a state it refuses (malformed, out of range). */
json_t *gm_to_json(const struct gm_state *g);
int gm_from_json(struct gm_state *g, const json_t *j);

/* One record of the log: steps the model up to its tick and applies it.
 * *has_hash and *hash_out say when it carries a recorded hash (a hash
 * record: compared after the steps, before anything else at its tick).
 * A seed record (re)starts the game. Returns 0, or -EINVAL for a record
 * the model refuses (malformed, a tick behind the model's or too far
 * ahead, an impossible seat). Unknown kinds are refused too. */
int gm_apply_record(struct gm_state *g, const char *kind, const char *payload, size_t len,
		    bool *has_hash, uint64_t *hash_out);

/* Payloads of the records, for the application: malloc'd strings or
 * NULL. */
char *gm_rec_seed(const struct gm_state *g, unsigned hz);
char *gm_rec_seat(const struct gm_state *g, int seat);
char *gm_rec_unseat(const struct gm_state *g, int seat);
char *gm_rec_input(const struct gm_state *g, int seat);
char *gm_rec_hash(const struct gm_state *g);

#endif
