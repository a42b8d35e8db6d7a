/* registry: this server's row in session_servers, and the rooms pinned to it.
 *
 * registry_start() upserts the row (state 'up', this process's boot id, its
 * room and inbox bounds, the applications it hosts) and heartbeats every heartbeat_ms with the current
 * room, inbox and connection counts (asked of the stats callback). Every
 * other heartbeat it also unpins rooms pinned here for longer than
 * pin_grace_ms that this server does not hold, so that a room whose clients
 * never came does not keep a slot here. Inboxes are too many to list: an
 * inbox pinned here that long with no member (rooms.members, which the hub
 * writes within a second of a join) is unpinned instead; one held here with
 * nobody in it may be, which is safe (its next look-up re-pins it at a new
 * epoch). A failed query is retried at the next heartbeat; a missing row is
 * registered again. */
#ifndef STATEROOM_REGISTRY_H
#define STATEROOM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "db.h"

struct registry;

struct registry_config {
	const char *id;          /* copied */
	const char *boot;        /* copied: this process's boot id (ticket.h) */
	const char *address;     /* copied */
	const char *apps;        /* copied: the applications hosted, a text[] literal */
	long capacity;           /* rooms that are no inbox */
	long inbox_capacity;     /* inbox rooms */
	uint64_t heartbeat_ms;
	uint64_t pin_grace_ms;  /* a room pinned here, never joined, keeps its slot this long */
	/* Called once when a heartbeat finds the row set to 'draining' by
	 * someone else (the operator's drain); NULL: not told. */
	void (*on_drain)(void *arg);
	void *drain_arg;
};

struct registry_stats {
	long rooms;              /* held in memory, inboxes not counted */
	long inboxes;            /* inbox rooms held in memory */
	long conns;
};

/* Fills the counts and a PostgreSQL text[] literal of the ids of the rooms
 * that are no inbox held in memory (ids are [a-z0-9], so "{a,b}" needs no
 * quoting). */
typedef void (*registry_stats_fn)(void *ud, struct registry_stats *st, char *ids, size_t ids_len);

struct registry_room {
	long capacity;
	char app[64];
	bool pinned_here;        /* server_id is this server */
	int64_t epoch;
	bool persistent;         /* false: the room's messages are kept in memory only */
	int seats;               /* rooms.seats (migration 024); 0: none given */
};

/* status: 0 (row valid), -ENOENT (no such room), -EIO (database error). */
typedef void (*registry_room_fn)(void *arg, int status, const struct registry_room *row);

/* Returns 0 and *out, or a negative errno. */
int registry_start(uv_loop_t *loop, struct db *db, const struct registry_config *cfg,
		   registry_stats_fn stats, void *ud, struct registry **out);

/* Registered, the last heartbeat succeeded recently, and not draining. */
bool registry_ready(const struct registry *r);

/* Seconds since the Unix epoch by PostgreSQL's clock, the one heartbeats
 * and placement are judged by: this host's clock corrected by the offset
 * between the two measured at the last heartbeat (to within its round
 * trip), so that a host whose clock is off or stepped still judges join
 * tickets as the backend that signed them (whose clock is assumed right).
 * This host's clock until a heartbeat has succeeded; r may be NULL. */
int64_t registry_now(const struct registry *r);

/* Milliseconds since a heartbeat last succeeded (the answer came back);
 * UINT64_MAX before the first. The backends take this server for dead, and
 * re-pin its rooms at their next look-up, once the heartbeat_at of its row
 * (the commit's time, no later than that answer) is older than their
 * --dead-after-ms. */
uint64_t registry_beat_age(const struct registry *r);

/* Reads a room's row; cb runs exactly once, later. Returns 0 or a negative
 * errno (cb never runs). */
int registry_fetch_room(struct registry *r, const char *room_id, registry_room_fn cb, void *arg);

/* Unpins room_id if it is still pinned here at epoch (fire and forget). */
void registry_unpin(struct registry *r, const char *room_id, int64_t epoch);

/* Sets state 'draining' (heartbeats keep it); done(arg) runs once the
 * update finished or failed. */
void registry_drain(struct registry *r, void (*done)(void *arg), void *arg);

/* Stops heartbeating for good and deletes the row (the rooms still pinned
 * here become unpinned, so they re-pin on their next look-up); done(arg),
 * if not NULL, runs once the delete finished or failed. */
void registry_deregister(struct registry *r, void (*done)(void *arg), void *arg);

/* Stops heartbeating. r is freed once its timer has closed and its queries
 * have answered (db_close fails them). NULL-safe. */
void registry_stop(struct registry *r);

#endif
