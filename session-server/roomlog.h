/* roomlog: the write path of one room's log (app_log_append in app.h).
 *
 * Records appended wait in a pending list and are written in batches, one
 * in flight at a time (group commit through store_append, fenced at the
 * room's epoch). A batch that fails is rolled back, and appends are refused
 * until the end of the log has been read back (store_tail), so that seqs
 * stay gapless and unique; what that read finds committed after all is
 * restored. An ephemeral log (no database) only numbers its records.
 *
 * The log reports to its owner (the hub's room) through struct rlog_ops.
 * The struct is embedded in the owner's; its fields are this module's. */
#ifndef STATEROOM_ROOMLOG_H
#define STATEROOM_ROOMLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "db.h"

struct rlog_ops {
	/* Every record up to seq is durable; from..seq were this batch's. */
	void (*committed)(void *owner, int64_t from, int64_t seq);
	/* The records after seq are dropped (app.h: rollback). */
	void (*rolled_back)(void *owner, int64_t seq);
	/* Records rolled back that turned out durable (app.h: restore). */
	void (*restored)(void *owner, const struct app_record *recs, size_t n);
	/* The log has stopped itself: -ESTALE the room is no longer pinned
	 * here at its epoch (fenced), -ENOMEM. */
	void (*lost)(void *owner, int err);
	/* A query of the log has answered (none is in flight now), before
	 * anything else is reported of it. Returns true when the owner is
	 * shutting down: the log then does nothing more, and the owner may
	 * have freed it. */
	bool (*answered)(void *owner);
};

/* Whether the log takes records: open; failed (a batch could not even be
 * queued: rolled back at the tick); recovering (rolled back: appends wait
 * for the read-back of the log's end); stopped (for good). */
enum rlog_phase { RLOG_OPEN, RLOG_FAILED, RLOG_RECOVERING, RLOG_STOPPED };

/* The one query in flight: none, a batch, or the read-back. */
enum rlog_query { RLOG_IDLE, RLOG_WRITE, RLOG_READBACK };

struct rlog {
	const struct rlog_ops *ops;
	void *owner;
	struct db *db;                /* NULL: ephemeral */
	const char *room_id, *server_id;  /* borrowed */
	int64_t epoch;
	int64_t last_seq;             /* latest seq assigned */
	int64_t durable;              /* latest seq known committed */
	struct app_record *pend;      /* appended, not yet written; strings owned */
	size_t n_pend, cap_pend;
	struct app_record *batch;     /* being written */
	size_t n_batch;
	enum rlog_phase phase;
	enum rlog_query query;
};

/* Starts the log after seq last_seq (the latest durable record). db NULL:
 * an ephemeral log. The strings are borrowed for the log's life. */
void rlog_init(struct rlog *l, const struct rlog_ops *ops, void *owner, struct db *db,
	       const char *room_id, const char *server_id, int64_t epoch, int64_t last_seq);
/* Frees the records it holds; no query may be in flight. */
void rlog_fini(struct rlog *l);

/* app_log_append's contract (app.h); -EPIPE once stopped. */
int64_t rlog_append(struct rlog *l, const struct app_record *rec);

/* Drops the pending records and takes no more (fenced or failed room); a
 * query in flight still answers. Idempotent. */
void rlog_stop(struct rlog *l);


/* About once a second: retries a rollback or a read-back that could not be
 * started. */
void rlog_tick(struct rlog *l);

int64_t rlog_last_seq(const struct rlog *l);
/* A write or read-back is in flight. */
bool rlog_writing(const struct rlog *l);
/* A query is in flight or records wait to be written. */
bool rlog_busy(const struct rlog *l);
/* Appends wait for a read-back of the log's end. */
bool rlog_recovering(const struct rlog *l);

#endif
