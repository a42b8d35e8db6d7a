/* scheduler: decides which session server hosts a room.
 *
 * A backend is a `const struct sched_ops` in a file of its own (sched_local.c,
 * ...), found by name in the registry (sched_find). The backend server holds
 * one instance. Placement is recorded in PostgreSQL (rooms.server_id,
 * rooms.epoch) so any backend replica gives the same answer, and a placement
 * never puts more rooms on a server than its capacity.
 *
 * Every operation that takes a callback returns 0 and later calls it exactly
 * once with an enum sched_result, or returns a negative errno and never
 * calls it. */
#ifndef STATEROOM_SCHEDULER_H
#define STATEROOM_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "db.h"
#include "wire.h"

/* What a placement came to: an outcome, not an errno. */
enum sched_result {
	SCHED_OK,
	SCHED_NOROOM,   /* the room does not exist */
	SCHED_FULL,     /* every live server is at capacity (HTTP 503) */
	SCHED_UNAVAIL,  /* database or orchestrator unreachable (HTTP 503) */
	SCHED_EXISTS,   /* create: the room id is taken */
	SCHED_NOAPP,    /* servers are up, but none hosts the room's application (HTTP 503) */
};

struct sched_placement {
	char server_id[WIRE_SERVER_ID_MAX + 1]; /* the ticket's aud */
	char address[256];    /* "host:port" clients connect to */
	int64_t epoch;        /* bumped on every re-pin */
	/* locate: the server process's boot id, for the ticket; empty when
	 * its server has not registered (yet). place leaves it empty. */
	char boot[WIRE_BOOT_LEN + 1];
	const char *name;     /* the room's name, or NULL; valid as long as p */
};

/* A look-up from a client that found the room's server silent in epoch
 * (GET /api/rooms/:id?suspect=EPOCH, docs/protocol.md "Liveness"): the room
 * moves at once to another live server if its server has not heartbeaten for
 * after_ms, or if quorum users suspected that epoch within window_ms
 * (schema/migrations/029_suspect.sql). */
struct sched_suspect {
	int64_t epoch;
	const char *user;             /* the suspecting user's subject */
	int64_t after_ms;
	int quorum;
	int64_t window_ms;
};

/* p is valid only during the call and only when res == SCHED_OK. */
typedef void (*sched_cb)(enum sched_result res, const struct sched_placement *p, void *arg);

struct sched_room {               /* what a new room is created with */
	const char *id;
	const char *owner;            /* the creator's subject */
	const char *owner_name;       /* the creator's name as shown; may be NULL (= owner) */
	const char *name;             /* may be NULL */
	int capacity;                 /* users */
	const char *visibility;       /* "public" or "unlisted" */
	bool ephemeral;               /* rooms.persistent = false */
	const char *app;              /* rooms.app, checked by the caller; NULL: "chat" */
};

/* The agones backend's options (docs/protocol.md); NULL: the default. */
struct sched_agones_config {
	const char *api, *ns, *fleet, *token_file, *ca_file;
};

struct sched_env {
	uv_loop_t *loop;
	struct db *db;
	const char *servers;          /* local: comma-separated "host:port" list, or NULL for any */
	int64_t dead_after_ms;        /* heartbeat older than this: server is dead */
	struct sched_agones_config agones;
	/* process: the session servers it starts (see sched_process.c) */
	const char *session_binary;   /* path of stateroom-session */
	const char *session_host;     /* their listen (and advertised) address */
	const char *database_url;     /* passed to them with secret, in their environment */
	const char *secret;
	long ticket_ttl;              /* the backend's --ticket-ttl, their --ticket-ttl */
	int max_servers;              /* live servers at most, whoever started them */
	int min_servers;              /* servers of its own it keeps running (<= max_servers) */
	int64_t server_idle_ms;       /* a started server with no room this long is stopped */
	int64_t spawn_wait_ms;        /* how long a request waits for a new server */
};

struct sched_ops {
	const char *name;
	/* env is borrowed for the instance's lifetime. */
	int (*create)(const struct sched_env *env, void **state);
	/* Optional. Called once the database is ready (the migrations applied),
	 * never after stop: begins what the backend runs by itself (the process
	 * backend's --min-servers). */
	void (*start)(void *state);
	/* Inserts the room and pins it to a server with a free room slot, in one
	 * atomic step: SCHED_FULL leaves no row behind. */
	int (*place)(void *state, const struct sched_room *room, sched_cb cb, void *arg);
	/* Where the room lives now. If its server is dead, draining or gone, or
	 * the room is unpinned, re-pins it to a live server with epoch + 1.
	 * suspect (NULL: none; borrowed for the call) may move it sooner; the
	 * agones backend judges by heartbeats alone and ignores it. */
	int (*locate)(void *state, const char *room_id, const struct sched_suspect *suspect, sched_cb cb,
		      void *arg);
	/* Optional (NULL: nothing to stop). Before destroy: fails the requests
	 * still waiting, lets go of what the backend runs (the process backend
	 * drains its children and waits for them), then calls done(arg) once. */
	void (*stop)(void *state, void (*done)(void *arg), void *arg);
	/* NULL-safe; pending callbacks must have run (and stop's done, if any). */
	void (*destroy)(void *state);
};

/* The backend named name, or NULL. */
const struct sched_ops *sched_find(const char *name);

/* Comma-separated names of every backend, for --help and errors. */
const char *sched_names(void);

#endif
