/* rules: what a loaded room enforces of its moderation (docs/protocol.md,
 * "Roles and moderation"), as migration 020's stateroom_room_rules() says:
 * its owner and moderators, the bans and mutes in force with their end, its
 * name and capacity; and the room's actions (room_actions) after a given
 * one, read in the same statement so that both are one snapshot.
 *
 * A struct rules is immutable once read: the hub swaps the old one for a
 * fresh one on every re-read. A ban or mute whose end has passed stops
 * applying by the clock, without a re-read. */
#ifndef STATEROOM_RULES_H
#define STATEROOM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

struct db;

struct rules_entry {
	const char *user;
	int64_t until;                /* ms since the Unix epoch; 0: until lifted (a ban) */
};

struct rules {
	const char *owner;            /* NULL: none */
	const char *name;             /* NULL: none */
	long capacity;                /* 0: the server's bound */
	const char **mods;
	size_t n_mods;
	struct rules_entry *bans, *mutes;
	size_t n_bans, n_mutes;
	int64_t logged;               /* the last action the room's log holds (0: none) */
	int64_t actions;              /* the room's last action (0: none) */
	/* the strings and arrays above live in one block with this struct */
};

/* Where the actions read start: after the last one the log holds
 * (RULES_AFTER_LOGGED), after the room's last one, i.e. none
 * (RULES_AFTER_LAST), or after the id given (>= 0). */
#define RULES_AFTER_LOGGED (-1)
#define RULES_AFTER_LAST (-2)

/* Most actions one read returns; *more says there are more after them. */
#define RULES_ACTIONS_MAX 200

/* status 0: fresh is the room's rules (the callee owns it: rules_free), and
 * acts[0..n) the actions after the point asked for, oldest first (valid
 * during the call), more: there are more after those; -ENOENT: no such
 * room (deleted); -EIO: database error or a bad answer. */
typedef void (*rules_fn)(void *arg, int status, struct rules *fresh, const struct app_action *acts,
			 size_t n, bool more);

/* Reads room_id's rules and its actions after `after`. Returns 0, after
 * which cb runs exactly once, later; or a negative errno (cb never runs). */
int rules_fetch(struct db *db, const char *room_id, int64_t after, rules_fn cb, void *arg);

void rules_free(struct rules *r);

/* user's role; NULL rules: a member. */
enum app_role rules_role(const struct rules *r, const char *user);

/* Until when user is banned / muted, at now_ms: 0 not, INT64_MAX a ban
 * until lifted. NULL rules: never. */
int64_t rules_banned(const struct rules *r, const char *user, int64_t now_ms);
int64_t rules_muted(const struct rules *r, const char *user, int64_t now_ms);

/* The realtime clock in ms, the one bans and mutes end by. */
int64_t rules_now(void);

#endif
