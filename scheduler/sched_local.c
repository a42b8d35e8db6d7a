/* The `local` scheduler: a fixed set of session servers (from configuration,
 * or every server that registered itself), rooms placed on the live one with
 * the most free room slots.
 *
 * All the deciding happens in PostgreSQL (stateroom_place and
 * stateroom_locate, schema/migrations/002_placement.sql): one round trip per
 * operation, atomic across any number of backend replicas. This file only
 * passes parameters and reads the answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_backends.h"
#include "scheduler.h"

struct local {
	const struct sched_env *env;
	char *servers;          /* "h:p,h:p" without blanks, or NULL for any server */
	char dead_ms[24];
};

struct local_call {             /* one query in flight; freed in its callback */
	sched_cb cb;
	void *arg;
	const char *op;         /* for the log line when the database fails */
};

/* Copies the comma-separated list without blanks and empty items, so that
 * string_to_array() in SQL gives exactly the addresses. Each item must look
 * like host:port. Returns 0 and *out (NULL when the list is empty), or
 * -EINVAL / -ENOMEM. */
static int local_parse_servers(const char *list, char **out)
{
	char *buf, *w;
	const char *p;

	if (!list) {
		*out = NULL;
		return 0;
	}
	buf = malloc(strlen(list) + 1);
	if (!buf)
		return -ENOMEM;
	w = buf;
	p = list;
	while (*p) {
		const char *start, *end, *colon;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*p == ',')
			p++;
		if (end == start)
			continue;
		colon = memchr(start, ':', (size_t)(end - start));
		if (!colon || colon == start || colon + 1 == end)
			goto err_invalid;
		for (const char *c = start; c < end; c++)
			if (*c == ' ' || *c == '\t' || *c == '"' || *c == '\\')
				goto err_invalid;
		if (w != buf)
			*w++ = ',';
		memcpy(w, start, (size_t)(end - start));
		w += end - start;
	}
	*w = '\0';
	if (w == buf) {
		free(buf);
		buf = NULL;
	}
	*out = buf;
	return 0;

err_invalid:
	free(buf);
	return -EINVAL;
}

static int local_create(const struct sched_env *env, void **state)
{
	struct local *l;
	int rc;

	if (!env || !env->db || env->dead_after_ms <= 0)
		return -EINVAL;
	l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	rc = local_parse_servers(env->servers, &l->servers);
	if (rc < 0)
		goto err_free;
	l->env = env;
	snprintf(l->dead_ms, sizeof l->dead_ms, "%lld", (long long)env->dead_after_ms);
	*state = l;
	return 0;

err_free:
	free(l);
	return rc;
}

static void local_destroy(void *state)
{
	struct local *l = state;

	if (!l)
		return;
	free(l->servers);
	free(l);
}

/* Both functions answer one row (status, server_id, address, epoch). */
static void local_on_result(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct local_call *call = arg;
	struct sched_placement p;
	const char *status;
	int rc = SCHED_EUNAVAIL;

	if (!res) {
		log_write(LOG_WARN, "scheduler query failed", "{s:s,s:s,s:s?}", "op", call->op,
			  "error", err ? err : "", "sqlstate", sqlstate);
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 4) {
		log_write(LOG_ERROR, "scheduler query: unexpected result shape", "{s:s}", "op", call->op);
		goto out;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") == 0) {
		const char *id = PQgetvalue(res, 0, 1), *addr = PQgetvalue(res, 0, 2);
		char *end;

		if (strlen(id) >= sizeof p.server_id || strlen(addr) >= sizeof p.address) {
			log_write(LOG_ERROR, "scheduler: server id or address too long", "{s:s}", "server", id);
			goto out;
		}
		memset(&p, 0, sizeof p);
		strcpy(p.server_id, id);
		strcpy(p.address, addr);
		errno = 0;
		p.epoch = strtoll(PQgetvalue(res, 0, 3), &end, 10);
		if (errno || *end || p.epoch < 1)
			goto out;
		rc = SCHED_OK;
	} else if (strcmp(status, "full") == 0) {
		rc = SCHED_EFULL;
	} else if (strcmp(status, "exists") == 0) {
		rc = SCHED_EEXISTS;
	} else if (strcmp(status, "noroom") == 0) {
		rc = SCHED_ENOROOM;
	}
out:
	call->cb(rc, rc == SCHED_OK ? &p : NULL, call->arg);
	free(call);
}

static int local_query(struct local *l, const char *op, const char *sql, int n,
		       const char *const *params, sched_cb cb, void *arg)
{
	struct local_call *call = malloc(sizeof *call);

	if (!call)
		return SCHED_EUNAVAIL;
	call->cb = cb;
	call->arg = arg;
	call->op = op;
	if (db_query(l->env->db, sql, n, params, local_on_result, call) < 0) {
		free(call);
		return SCHED_EUNAVAIL;
	}
	return 0;
}

static int local_place(void *state, const struct sched_room *room, sched_cb cb, void *arg)
{
	struct local *l = state;
	char capacity[16];
	const char *params[7];

	if (!room || !room->id || !room->owner || !room->visibility || room->capacity < 1)
		return SCHED_EUNAVAIL;
	snprintf(capacity, sizeof capacity, "%d", room->capacity);
	params[0] = room->id;
	params[1] = room->owner;
	params[2] = room->name;
	params[3] = capacity;
	params[4] = room->visibility;
	params[5] = l->servers;
	params[6] = l->dead_ms;
	return local_query(l, "place",
			   "SELECT status, server_id, address, epoch FROM stateroom_place("
			   "$1, $2, $3, $4::integer, $5, string_to_array($6, ','), $7::bigint)",
			   7, params, cb, arg);
}

static int local_locate(void *state, const char *room_id, sched_cb cb, void *arg)
{
	struct local *l = state;
	const char *params[3];

	if (!room_id)
		return SCHED_EUNAVAIL;
	params[0] = room_id;
	params[1] = l->servers;
	params[2] = l->dead_ms;
	return local_query(l, "locate",
			   "SELECT status, server_id, address, epoch FROM stateroom_locate("
			   "$1, string_to_array($2, ','), $3::bigint)",
			   3, params, cb, arg);
}

const struct sched_ops sched_local_ops = {
	.name = "local",
	.create = local_create,
	.place = local_place,
	.locate = local_locate,
	.destroy = local_destroy,
};
