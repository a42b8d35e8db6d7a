/* stateroom-replay ROOM: rebuilds a room's state from its log in PostgreSQL
 * and checks it against every state hash the server recorded
 * (docs/protocol.md, "Replay"). A command-line tool: blocking libpq.
 *
 * Exit 0: `ok ROOM app=NAME records=N hashes=M final=HASH`; 1: the first
 * mismatch or refused record (or no such room, a database error); 2: the
 * room's application has no model, or bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "replay.h"

/* Records read per query: bounded memory whatever the log's length. */
#define REPLAY_PAGE "5000"

static const char usage[] =
	"Usage: stateroom-replay [--database-url URL] ROOM\n"
	"Rebuilds ROOM's state from its records and checks every recorded state hash.\n"
	"  --database-url URL   PostgreSQL (default: $DATABASE_URL)\n"
	"Exit: 0 every hash matches; 1 a mismatch, a refused record, no such room or a\n"
	"database error; 2 an application without a replay model, or bad usage.\n";

static const struct replay_model *model_for(const char *app)
{
	for (size_t i = 0; replay_models[i]; i++)
		if (strcmp(replay_models[i]->app, app) == 0)
			return replay_models[i];
	return NULL;
}

static int64_t num(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

struct run {
	const struct replay_model *m;
	void *state;
	long records, hashes;
};

/* Applies one page of records; returns the exit status, or -1 to go on. */
static int apply_page(struct run *r, const char *room, PGresult *res, int64_t *last)
{
	for (int i = 0; i < PQntuples(res); i++) {
		struct app_record rec = {
			.seq = num(res, i, 0),
			.ts = num(res, i, 1),
			.kind = PQgetvalue(res, i, 2),
			.user = PQgetvalue(res, i, 3),
			.name = PQgetvalue(res, i, 4),
			.client_id = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
			.payload = PQgetvalue(res, i, 6),
			.payload_len = (size_t)PQgetlength(res, i, 6),
			.target = num(res, i, 7),
			.reply_to = num(res, i, 8),
		};
		bool has_hash = false;
		uint64_t want = 0, got;

		if (r->m->apply(r->state, &rec, &has_hash, &want) != 0) {
			printf("refused at seq %" PRId64 ": a %s record the model cannot apply (room %s)\n",
			       rec.seq, rec.kind, room);
			return 1;
		}
		r->records++;
		*last = rec.seq;
		if (!has_hash)
			continue;
		r->hashes++;
		got = r->m->state_hash(r->state);
		if (got != want) {
			printf("mismatch at seq %" PRId64 ": expected %016" PRIx64 ", got %016" PRIx64
			       " (room %s, %s record)\n", rec.seq, want, got, room, rec.kind);
			return 1;
		}
	}
	return -1;
}

static int replay(PGconn *db, const char *room)
{
	const char *p[2] = { room, NULL };
	char after[24];
	struct run r = { 0 };
	int64_t last = 0;
	PGresult *res;
	int status = -1;

	res = PQexecParams(db, "SELECT app FROM rooms WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "stateroom-replay: %s", PQerrorMessage(db));
		PQclear(res);
		return 1;
	}
	if (PQntuples(res) != 1) {
		fprintf(stderr, "stateroom-replay: no such room: %s\n", room);
		PQclear(res);
		return 1;
	}
	r.m = model_for(PQgetvalue(res, 0, 0));
	if (!r.m) {
		fprintf(stderr, "stateroom-replay: no replay model for application \"%s\" (room %s)\n",
			PQgetvalue(res, 0, 0), room);
		PQclear(res);
		return 2;
	}
	PQclear(res);
	r.state = r.m->create();
	if (!r.state) {
		fprintf(stderr, "stateroom-replay: out of memory\n");
		return 1;
	}
	while (status < 0) {
		snprintf(after, sizeof after, "%" PRId64, last);
		p[1] = after;
		res = PQexecParams(db,
				   "SELECT seq, (extract(epoch FROM created_at) * 1000)::bigint, kind, user_id,"
				   " coalesce(user_name, user_id), client_id, payload, target, reply_to"
				   " FROM records WHERE room_id = $1 AND seq > $2::bigint ORDER BY seq"
				   " LIMIT " REPLAY_PAGE, 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "stateroom-replay: %s", PQerrorMessage(db));
			status = 1;
		} else if (PQntuples(res) == 0) {
			printf("ok %s app=%s records=%ld hashes=%ld final=%016" PRIx64 "\n", room, r.m->app,
			       r.records, r.hashes, r.m->state_hash(r.state));
			status = 0;
		} else {
			status = apply_page(&r, room, res, &last);
		}
		PQclear(res);
	}
	r.m->destroy(r.state);
	return status;
}

int main(int argc, char **argv)
{
	const char *url = getenv("DATABASE_URL"), *room = NULL;
	PGconn *db;
	int status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else if (strncmp(argv[i], "--database-url=", 15) == 0) {
			url = argv[i] + 15;
		} else if (argv[i][0] != '-' && !room) {
			room = argv[i];
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!room || !url || !*url) {
		fputs(room ? "stateroom-replay: DATABASE_URL or --database-url is required\n" : usage, stderr);
		return 2;
	}
	db = PQconnectdb(url);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "stateroom-replay: database: %s", PQerrorMessage(db));
		PQfinish(db);
		return 1;
	}
	status = replay(db, room);
	PQfinish(db);
	return status;
}
