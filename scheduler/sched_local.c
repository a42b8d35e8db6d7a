/* The `local` scheduler: a fixed set of session servers (from configuration,
 * or every server that registered itself), rooms placed on the live one with
 * the most free room slots.
 *
 * All the deciding happens in PostgreSQL (sched_sql.c): one round trip per
 * operation, atomic across any number of backend replicas. This file only
 * checks the configured list and passes it on. */
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

static void local_on_result(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct local_call *call = arg;
	struct sched_placement p;
	enum sched_result rc;

	if (res) {
		rc = sched_sql_result(res, call->op, &p);
	} else {
		log_write(LOG_WARN, "scheduler query failed", "{s:s,s:s,s:s?}", "op", call->op,
			  "error", err ? err : "", "sqlstate", sqlstate);
		rc = SCHED_UNAVAIL;
	}
	call->cb(rc, rc == SCHED_OK ? &p : NULL, call->arg);
	free(call);
}

static struct local_call *local_call_new(const char *op, sched_cb cb, void *arg)
{
	struct local_call *call = malloc(sizeof *call);

	if (!call)
		return NULL;
	call->cb = cb;
	call->arg = arg;
	call->op = op;
	return call;
}

static int local_place(void *state, const struct sched_room *room, sched_cb cb, void *arg)
{
	struct local *l = state;
	struct local_call *call;

	int rc;

	if (!room || !room->id || !room->owner || !room->visibility || room->capacity < 1)
		return -EINVAL;
	call = local_call_new("place", cb, arg);
	if (!call)
		return -ENOMEM;
	rc = sched_sql_place(l->env->db, room, l->servers, l->dead_ms, local_on_result, call);
	if (rc < 0)
		free(call);
	return rc;
}

static int local_locate(void *state, const char *room_id, const struct sched_suspect *suspect, sched_cb cb,
			void *arg)
{
	struct local *l = state;
	struct local_call *call;

	int rc;

	if (!room_id)
		return -EINVAL;
	call = local_call_new("locate", cb, arg);
	if (!call)
		return -ENOMEM;
	rc = sched_sql_locate(l->env->db, room_id, l->servers, l->dead_ms, suspect, local_on_result, call);
	if (rc < 0)
		free(call);
	return rc;
}

const struct sched_ops sched_local_ops = {
	.name = "local",
	.create = local_create,
	.place = local_place,
	.locate = local_locate,
	.destroy = local_destroy,
};
