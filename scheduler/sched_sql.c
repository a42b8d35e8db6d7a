/* The placement functions in PostgreSQL (stateroom_place and
 * stateroom_locate, schema/migrations/002_placement.sql, 003_locate.sql,
 * 007_ephemeral_rooms.sql, 008_boot.sql, 009_owners_and_room_quota.sql and
 * 015_inbox_capacity.sql, where an inbox is placed against its own bound, and
 * 022_apps.sql, where a room goes only to a server that hosts its application,
 * and 029_suspect.sql, where a client's suspicion moves a room sooner),
 * called the same way by the `local` and `process` backends. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_backends.h"

int sched_sql_place(struct db *db, const struct sched_room *room, const char *servers,
		    const char *dead_ms, db_result_fn cb, void *arg)
{
	char capacity[16];
	const char *params[10] = { room->id, room->owner, room->name, capacity, room->visibility,
				   servers, dead_ms, room->ephemeral ? "f" : "t", room->owner_name,
				   room->app ? room->app : "chat" };

	snprintf(capacity, sizeof capacity, "%d", room->capacity);
	return db_query(db,
			"SELECT status, server_id, address, epoch, $3::text, NULL::text FROM stateroom_place("
			"$1, $2, $3, $4::integer, $5, string_to_array($6, ','), $7::bigint, $8::boolean,"
			" $9, $10)",
			10, params, cb, arg);
}

int sched_sql_locate(struct db *db, const char *room_id, const char *servers, const char *dead_ms,
		     const struct sched_suspect *suspect, db_result_fn cb, void *arg)
{
	const char *params[8] = { room_id, servers, dead_ms };
	char epoch[24], after[24], quorum[16], window[24];

	if (suspect) {
		snprintf(epoch, sizeof epoch, "%" PRId64, suspect->epoch);
		snprintf(after, sizeof after, "%" PRId64, suspect->after_ms);
		snprintf(quorum, sizeof quorum, "%d", suspect->quorum);
		snprintf(window, sizeof window, "%" PRId64, suspect->window_ms);
		params[3] = epoch;
		params[4] = suspect->user;
		params[5] = after;
		params[6] = quorum;
		params[7] = window;
		return db_query(db,
				"SELECT status, server_id, address, epoch,"
				" (SELECT name FROM rooms WHERE id = $1), boot FROM stateroom_locate_suspect("
				"$1, string_to_array($2, ','), $3::bigint, $4::bigint, $5, $6::bigint, $7::integer,"
				" $8::bigint)",
				8, params, cb, arg);
	}
	return db_query(db,
			"SELECT status, server_id, address, epoch,"
			" (SELECT name FROM rooms WHERE id = $1), boot FROM stateroom_locate("
			"$1, string_to_array($2, ','), $3::bigint)",
			3, params, cb, arg);
}

enum sched_result sched_sql_result(const PGresult *res, const char *op, struct sched_placement *out)
{
	struct sched_placement p;
	const char *status, *id, *addr, *boot;
	char *end;

	if (PQntuples(res) != 1 || PQnfields(res) != 6) {
		log_write(LOG_ERROR, "scheduler query: unexpected result shape", "{s:s}", "op", op);
		return SCHED_UNAVAIL;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "full") == 0)
		return SCHED_FULL;
	if (strcmp(status, "exists") == 0)
		return SCHED_EXISTS;
	if (strcmp(status, "noroom") == 0)
		return SCHED_NOROOM;
	if (strcmp(status, "noapp") == 0)
		return SCHED_NOAPP;
	if (strcmp(status, "ok") != 0) {
		log_write(LOG_ERROR, "scheduler query: unknown status", "{s:s,s:s}", "op", op,
			  "status", status);
		return SCHED_UNAVAIL;
	}
	id = PQgetvalue(res, 0, 1);
	addr = PQgetvalue(res, 0, 2);
	boot = PQgetvalue(res, 0, 5);   /* "" when NULL */
	if (strlen(id) >= sizeof p.server_id || strlen(addr) >= sizeof p.address ||
	    strlen(boot) >= sizeof p.boot) {
		log_write(LOG_ERROR, "scheduler: server id, address or boot too long", "{s:s}",
			  "server", id);
		return SCHED_UNAVAIL;
	}
	memset(&p, 0, sizeof p);
	strcpy(p.server_id, id);
	strcpy(p.address, addr);
	strcpy(p.boot, boot);
	errno = 0;
	p.epoch = strtoll(PQgetvalue(res, 0, 3), &end, 10);
	if (errno || *end || p.epoch < 1) {
		log_write(LOG_ERROR, "scheduler query: bad epoch", "{s:s,s:s}", "op", op, "server", id);
		return SCHED_UNAVAIL;
	}
	p.name = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);
	*out = p;
	return SCHED_OK;
}
