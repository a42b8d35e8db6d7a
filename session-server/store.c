#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct load {
	store_load_fn cb;
	void *arg;
};

struct append {
	store_append_fn cb;
	void *arg;
	size_t n;
};

static void load_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct load *l = arg;
	struct app_record *recs = NULL;
	int n = 0;

	(void)sqlstate;
	if (!res) {
		log_write(LOG_WARN, "loading messages failed", "{s:s}", "error", err ? err : "");
		l->cb(l->arg, -EIO, NULL, 0);
		free(l);
		return;
	}
	n = PQntuples(res);
	if (n > 0 && !(recs = calloc((size_t)n, sizeof(*recs)))) {
		l->cb(l->arg, -EIO, NULL, 0);
		free(l);
		return;
	}
	for (int i = 0; i < n; i++) {
		recs[i].seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		recs[i].client_id = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
		recs[i].user = PQgetvalue(res, i, 2);
		recs[i].body = PQgetvalue(res, i, 3);
		recs[i].body_len = (size_t)PQgetlength(res, i, 3);
		recs[i].ts = strtoll(PQgetvalue(res, i, 4), NULL, 10);
	}
	l->cb(l->arg, 0, recs, (size_t)n);
	free(recs);
	free(l);
}

int store_load(struct db *db, const char *room, size_t limit, store_load_fn cb, void *arg)
{
	struct load *l = malloc(sizeof(*l));
	char lim[24];
	const char *p[] = { room, lim };
	int rc;

	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	snprintf(lim, sizeof(lim), "%zu", limit);
	rc = db_query(db, "SELECT seq, client_id, user_id, body,"
			  " (extract(epoch FROM created_at) * 1000)::bigint"
			  " FROM (SELECT * FROM messages WHERE room_id = $1"
			  "       ORDER BY seq DESC LIMIT $2) m ORDER BY seq",
		      2, p, load_done, l);
	if (rc != 0)
		free(l);
	return rc;
}

static void append_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct append *a = arg;
	int status = 0;

	if (!res) {
		log_write(LOG_WARN, "writing messages failed", "{s:s,s:s}", "error", err ? err : "",
			  "sqlstate", sqlstate ? sqlstate : "");
		status = -EIO;
	} else if (strtoull(PQcmdTuples(res), NULL, 10) != a->n) {
		status = -ESTALE;
	}
	a->cb(a->arg, status);
	free(a);
}

int store_append(struct db *db, const char *room, const char *server_id, int64_t epoch,
		 const struct app_record *recs, size_t n, store_append_fn cb, void *arg)
{
	struct append *a;
	json_t *batch = json_array();
	char *text = NULL, ep[24];
	int rc = -ENOMEM;

	if (!batch)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_pack("{s:I,s:s?,s:s,s:s%,s:I}", "s", (json_int_t)recs[i].seq,
				      "c", recs[i].client_id, "u", recs[i].user,
				      "b", recs[i].body, recs[i].body_len, "t", (json_int_t)recs[i].ts);
		if (json_array_append_new(batch, m) != 0)
			goto out_batch;
	}
	text = json_dumps(batch, JSON_COMPACT);
	a = malloc(sizeof(*a));
	if (!text || !a) {
		free(a);
		goto out_batch;
	}
	a->cb = cb;
	a->arg = arg;
	a->n = n;
	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	{
		const char *p[] = { room, server_id, ep, text };
		rc = db_query(db, "WITH pin AS (SELECT 1 FROM rooms"
				  "   WHERE id = $1 AND server_id = $2 AND epoch = $3 FOR SHARE)"
				  " INSERT INTO messages (room_id, seq, client_id, user_id, body, created_at)"
				  " SELECT $1, (m->>'s')::bigint, m->>'c', m->>'u', m->>'b',"
				  "        to_timestamp((m->>'t')::double precision / 1000)"
				  " FROM pin, json_array_elements($4::json) m",
			      4, p, append_done, a);
	}
	if (rc != 0)
		free(a);
out_batch:
	free(text);
	json_decref(batch);
	return rc;
}
