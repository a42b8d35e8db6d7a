#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"
#include "log.h"

/* Columns 0..8 of every record query, in this order. user_name is NULL when
 * the name is the user id (migration 009); target and reply_to as 0 when
 * NULL (migration 018). */
#define RECORD_COLUMNS "seq, client_id, user_id, payload, (extract(epoch FROM created_at) * 1000)::bigint," \
	" coalesce(user_name, user_id), kind, coalesce(target, 0) AS target, coalesce(reply_to, 0) AS reply_to"
/* The column after them (store_tail's pin). */
#define RECORD_NCOLS 9

struct load {
	store_load_fn cb;
	void *arg;
};

struct append {
	store_append_fn cb;
	void *arg;
	size_t n;
};

struct tail {
	store_tail_fn cb;
	void *arg;
};

/* Rows [0, PQntuples) whose column 0 is not NULL, as records pointing into
 * res. Returns 0 with *out (NULL when there are none; free() it) or -ENOMEM. */
static int records_of(PGresult *res, struct app_record **out, size_t *n_out)
{
	int rows = PQntuples(res);
	struct app_record *recs = NULL;
	size_t n = 0;

	if (rows > 0 && !(recs = calloc((size_t)rows, sizeof(*recs))))
		return -ENOMEM;
	for (int i = 0; i < rows; i++) {
		struct app_record *r;
		if (PQgetisnull(res, i, 0))
			continue;
		r = &recs[n++];
		r->seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r->client_id = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
		r->user = PQgetvalue(res, i, 2);
		r->payload = PQgetvalue(res, i, 3);
		r->payload_len = (size_t)PQgetlength(res, i, 3);
		r->ts = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		r->name = PQgetvalue(res, i, 5);
		r->kind = PQgetvalue(res, i, 6);
		r->target = strtoll(PQgetvalue(res, i, 7), NULL, 10);
		r->reply_to = strtoll(PQgetvalue(res, i, 8), NULL, 10);
	}
	*out = recs;
	*n_out = n;
	return 0;
}

static void load_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct load *l = arg;
	struct app_record *recs = NULL;
	size_t n = 0;

	(void)sqlstate;
	if (!res)
		log_write(LOG_WARN, "loading records failed", "{s:s}", "error", err ? err : "");
	if (!res || records_of(res, &recs, &n) != 0)
		l->cb(l->arg, -EIO, NULL, 0);
	else
		l->cb(l->arg, 0, recs, n);
	free(recs);
	free(l);
}

int store_range(struct db *db, const char *room, int64_t after, int64_t before, size_t limit,
		store_load_fn cb, void *arg)
{
	struct load *l = malloc(sizeof(*l));
	char a[24], b[24], lim[24];
	const char *p[] = { room, a, b, lim };
	int rc;

	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	snprintf(a, sizeof(a), "%" PRId64, after);
	snprintf(b, sizeof(b), "%" PRId64, before);
	snprintf(lim, sizeof(lim), "%zu", limit);
	/* Backwards along the primary key (room_id, seq), then turned around. */
	rc = db_query(db, "SELECT * FROM (SELECT " RECORD_COLUMNS " FROM records"
			  "   WHERE room_id = $1 AND seq > $2 AND seq < $3"
			  "   ORDER BY seq DESC LIMIT $4) m ORDER BY seq",
		      4, p, load_done, l);
	if (rc != 0)
		free(l);
	return rc;
}

int store_load(struct db *db, const char *room, size_t limit, store_load_fn cb, void *arg)
{
	return store_range(db, room, 0, INT64_MAX, limit, cb, arg);
}

static void append_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct append *a = arg;
	int status = 0;

	if (!res) {
		log_write(LOG_WARN, "writing records failed", "{s:s,s:s}", "error", err ? err : "",
			  "sqlstate", sqlstate ? sqlstate : "");
		status = -EIO;
	} else if (strtoull(PQcmdTuples(res), NULL, 10) != a->n) {
		status = -ESTALE;
	}
	a->cb(a->arg, status);
	free(a);
}

/* A batch is one statement, so one transaction, that inserts only while the
 * room is pinned here at the epoch ($1 room, $2 server, $3 epoch, $4 the
 * batch); its count is the rows inserted (none when the pin is gone). */
#define INSERT_HEAD "WITH pin AS (SELECT 1 FROM rooms" \
	"   WHERE id = $1 AND server_id = $2 AND epoch = $3 FOR SHARE)"
#define INSERT_COLUMNS " INSERT INTO records (room_id, seq, client_id, user_id, payload, created_at," \
	"                      user_name, kind, target, reply_to)"
#define INSERT_REST "        to_timestamp((m->>4)::double precision / 1000)," \
	"        nullif(m->>5, m->>2), m->>6," \
	"        nullif((m->>7)::bigint, 0), nullif((m->>8)::bigint, 0)"
static const char plain_insert[] = INSERT_HEAD INSERT_COLUMNS
	" SELECT $1, (m->>0)::bigint, m->>1, m->>2, m->>3," INSERT_REST
	" FROM pin, json_array_elements($4::json) m";
/* With scrubs (app_record.scrub): the update empties the payloads already
 * stored, the CASE those written now (an update cannot see the rows its own
 * statement inserts). */
static const char scrub_insert[] = INSERT_HEAD ","
	" b AS (SELECT m FROM json_array_elements($4::json) m),"
	" s AS (SELECT (m->>9)::bigint AS seq FROM b WHERE (m->>9)::bigint > 0),"
	" scrubbed AS (UPDATE records r SET payload = '' FROM pin"
	"   WHERE r.room_id = $1 AND r.payload <> ''"
	"   AND (r.seq IN (SELECT seq FROM s) OR r.target IN (SELECT seq FROM s)))"
	INSERT_COLUMNS
	" SELECT $1, (m->>0)::bigint, m->>1, m->>2,"
	"        CASE WHEN (m->>0)::bigint IN (SELECT seq FROM s)"
	"          OR (m->>7)::bigint IN (SELECT seq FROM s) THEN '' ELSE m->>3 END," INSERT_REST
	" FROM pin, b";

int store_append(struct db *db, const char *room, const char *server_id, int64_t epoch,
		 const struct app_record *recs, size_t n, store_append_fn cb, void *arg)
{
	struct jbuf batch = { 0 };
	struct append *a;
	char ep[24];
	bool scrubs = false;
	int rc = -ENOMEM;

	/* [[seq, client id, user, payload, ts, name, kind, target, reply_to, scrub], ...]:
	 * written by hand, one buffer for the whole batch (db_query copies it); 0
	 * for none. */
	jbuf_put(&batch, "[", 1);
	for (size_t i = 0; i < n; i++) {
		jbuf_put(&batch, i ? ",[" : "[", i ? 2 : 1);
		jbuf_int(&batch, recs[i].seq);
		jbuf_put(&batch, ",", 1);
		jbuf_strz(&batch, recs[i].client_id);
		jbuf_put(&batch, ",", 1);
		jbuf_strz(&batch, recs[i].user);
		jbuf_put(&batch, ",", 1);
		jbuf_str(&batch, recs[i].payload, recs[i].payload_len);
		jbuf_put(&batch, ",", 1);
		jbuf_int(&batch, recs[i].ts);
		jbuf_put(&batch, ",", 1);
		jbuf_strz(&batch, recs[i].name);
		jbuf_put(&batch, ",", 1);
		jbuf_strz(&batch, recs[i].kind);
		if (!recs[i].target && !recs[i].reply_to && !recs[i].scrub) {
			/* A plain message, by far the most common: no number to format. */
			jbuf_put(&batch, ",0,0,0]", 7);
			continue;
		}
		jbuf_put(&batch, ",", 1);
		jbuf_int(&batch, recs[i].target);
		jbuf_put(&batch, ",", 1);
		jbuf_int(&batch, recs[i].reply_to);
		jbuf_put(&batch, ",", 1);
		jbuf_int(&batch, recs[i].scrub);
		jbuf_put(&batch, "]", 1);
		scrubs |= recs[i].scrub != 0;
	}
	jbuf_put(&batch, "]", 1);
	if (!jbuf_ok(&batch))
		goto out_batch;
	a = malloc(sizeof(*a));
	if (!a)
		goto out_batch;
	a->cb = cb;
	a->arg = arg;
	a->n = n;
	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	{
		const char *p[] = { room, server_id, ep, batch.p };
		/* A batch without scrubs takes the plain statement: what every
		 * message pays stays as it was. */
		rc = db_query(db, scrubs ? scrub_insert : plain_insert, 4, p, append_done, a);
	}
	if (rc != 0)
		free(a);
out_batch:
	jbuf_fini(&batch);
	return rc;
}

static void tail_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct tail *t = arg;
	struct app_record *recs = NULL;
	size_t n = 0;

	(void)sqlstate;
	if (!res)
		log_write(LOG_WARN, "reading the log back failed", "{s:s}", "error", err ? err : "");
	if (!res || PQntuples(res) < 1 || records_of(res, &recs, &n) != 0)
		t->cb(t->arg, -EIO, false, NULL, 0);
	else
		t->cb(t->arg, 0, strcmp(PQgetvalue(res, 0, RECORD_NCOLS), "t") == 0, recs, n);
	free(recs);
	free(t);
}

int store_tail(struct db *db, const char *room, const char *server_id, int64_t epoch,
	       int64_t after, size_t limit, store_tail_fn cb, void *arg)
{
	struct tail *t = malloc(sizeof(*t));
	char ep[24], a[24], lim[24];
	const char *p[] = { room, server_id, ep, a, lim };
	int rc;

	if (!t)
		return -ENOMEM;
	t->cb = cb;
	t->arg = arg;
	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	snprintf(a, sizeof(a), "%" PRId64, after);
	snprintf(lim, sizeof(lim), "%zu", limit);
	/* One row at least (the pin), with the records, if any, beside it. */
	rc = db_query(db, "SELECT m.*, p.pinned FROM"
			  " (SELECT EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND server_id = $2"
			  "                 AND epoch = $3) AS pinned) p"
			  " LEFT JOIN LATERAL (SELECT " RECORD_COLUMNS " FROM records"
			  "   WHERE room_id = $1 AND seq > $4 ORDER BY seq LIMIT $5) m ON true"
			  " ORDER BY m.seq",
		      5, p, tail_done, t);
	if (rc != 0)
		free(t);
	return rc;
}
