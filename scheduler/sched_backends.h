/* The backends the registry in scheduler.c knows; internal to scheduler/. */
#ifndef STATEROOM_SCHED_BACKENDS_H
#define STATEROOM_SCHED_BACKENDS_H

#include "scheduler.h"

extern const struct sched_ops sched_local_ops;
extern const struct sched_ops sched_agones_ops;
extern const struct sched_ops sched_process_ops;

/* The placement functions in PostgreSQL that `local` and `process` share
 * (sched_sql.c). servers: "h:p,h:p" without blanks, or NULL for every
 * registered server; dead_ms: the heartbeat age of a dead server, as text;
 * suspect: NULL, or a client's suspicion (scheduler.h).
 * Both return db_query()'s result; cb gets one row that sched_sql_result()
 * reads (place answers no boot). */
int sched_sql_place(struct db *db, const struct sched_room *room, const char *servers,
		    const char *dead_ms, db_result_fn cb, void *arg);
int sched_sql_locate(struct db *db, const char *room_id, const char *servers, const char *dead_ms,
		     const struct sched_suspect *suspect, db_result_fn cb, void *arg);

/* Reads the row of sched_sql_place() or sched_sql_locate(): SCHED_OK with
 * *out (whose name points into res), or another result (*out untouched).
 * A malformed row is logged (op names the call) and is SCHED_UNAVAIL. */
enum sched_result sched_sql_result(const PGresult *res, const char *op, struct sched_placement *out);

#endif
