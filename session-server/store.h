/* store: a room's log of records in PostgreSQL (the records table).
 *
 * store_append() writes a batch only while the room is still pinned to this
 * server at the given epoch: it reads the rooms row FOR SHARE in the same
 * statement, so a re-pin either waits for the batch to commit (and the new
 * server then loads it) or has already happened (and the batch is refused:
 * this server has been fenced). A batch is one statement, so it commits
 * whole or not at all. */
#ifndef STATEROOM_STORE_H
#define STATEROOM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "db.h"

/* status 0: recs[0..n) are records, oldest first (valid during the call);
 * -EIO: database error. */
typedef void (*store_load_fn)(void *arg, int status, const struct app_record *recs, size_t n);

/* Loads the latest limit records of room. Returns 0 (cb runs once, later)
 * or a negative errno. */
int store_load(struct db *db, const char *room, size_t limit, store_load_fn cb, void *arg);

/* Loads the latest limit records with after < seq < before. Same contract. */
int store_range(struct db *db, const char *room, int64_t after, int64_t before, size_t limit,
		store_load_fn cb, void *arg);

/* status 0: committed; -ESTALE: the room is no longer pinned here at epoch
 * (nothing written); -EIO: database error (the batch may or may not have
 * committed if the connection broke while it was in flight). */
typedef void (*store_append_fn)(void *arg, int status);

/* Writes recs[0..n) (copied into the query). Returns 0 (cb runs once,
 * later) or a negative errno. */
int store_append(struct db *db, const char *room, const char *server_id, int64_t epoch,
		 const struct app_record *recs, size_t n, store_append_fn cb, void *arg);

/* status 0: pinned says whether the room is still pinned here at epoch, and
 * recs[0..n) are its records after seq `after` (at most limit, oldest
 * first); -EIO: database error. */
typedef void (*store_tail_fn)(void *arg, int status, bool pinned, const struct app_record *recs,
			      size_t n);

/* Reads the end of the log back after a failed append. Returns 0 (cb runs
 * once, later) or a negative errno. */
int store_tail(struct db *db, const char *room, const char *server_id, int64_t epoch,
	       int64_t after, size_t limit, store_tail_fn cb, void *arg);

#endif
