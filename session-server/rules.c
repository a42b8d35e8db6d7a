/* rules: a loaded room's moderation, read from the database (rules.h). */
#include "rules.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"

/* The rules (ord 0) and then the actions (ord: their id) in one statement,
 * one snapshot: the actions start after $2, or after the log's last
 * (RULES_AFTER_LOGGED) or the room's last (RULES_AFTER_LAST). Columns: ord,
 * kind, value (an action's actor), n (an action's time), actor_name, action,
 * target, target_name, detail. */
#define RULES_SQL \
	"WITH r AS (SELECT * FROM stateroom_room_rules($1))" \
	" SELECT 0::bigint, kind, value, n, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text FROM r" \
	" UNION ALL SELECT * FROM (SELECT a.id, 'act'::text, a.actor," \
	" (extract(epoch FROM a.at) * 1000)::bigint, a.actor_name, a.action, a.target, a.target_name," \
	" a.detail::text FROM room_actions a WHERE a.room_id = $1 AND a.id > CASE WHEN $2::bigint >= 0" \
	" THEN $2::bigint ELSE coalesce((SELECT n FROM r WHERE kind = CASE WHEN $2::bigint = -1" \
	" THEN 'logged' ELSE 'actions' END), 0) END ORDER BY a.id LIMIT $3::integer) q ORDER BY 1"

struct fetch {
	rules_fn cb;
	void *arg;
};

int64_t rules_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *col(PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

/* Copies s into the block at *at (NULL stays NULL). */
static const char *put(char **at, const char *s)
{
	size_t n;
	char *p = *at;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at += n;
	return p;
}

/* The rules rows of res (ord 0) in one block. */
static struct rules *rules_of(PGresult *res, int rows)
{
	size_t n_mods = 0, n_bans = 0, n_mutes = 0, strs = 0;
	struct rules *r;
	char *at;

	for (int i = 0; i < rows; i++) {
		const char *kind = PQgetvalue(res, i, 1), *v = col(res, i, 2);
		n_mods += strcmp(kind, "moderator") == 0;
		n_bans += strcmp(kind, "ban") == 0;
		n_mutes += strcmp(kind, "mute") == 0;
		strs += v ? strlen(v) + 1 : 0;
	}
	r = calloc(1, sizeof(*r) + n_mods * sizeof(*r->mods) +
		      (n_bans + n_mutes) * sizeof(struct rules_entry) + strs);
	if (!r)
		return NULL;
	r->bans = (struct rules_entry *)(r + 1);
	r->mutes = r->bans + n_bans;
	r->mods = (const char **)(r->mutes + n_mutes);
	at = (char *)(r->mods + n_mods);
	for (int i = 0; i < rows; i++) {
		const char *kind = PQgetvalue(res, i, 1), *v = col(res, i, 2), *n = col(res, i, 3);
		int64_t num = n ? strtoll(n, NULL, 10) : 0;
		if (strcmp(kind, "owner") == 0) {
			r->owner = put(&at, v);
		} else if (strcmp(kind, "moderator") == 0 && v) {
			r->mods[r->n_mods++] = put(&at, v);
		} else if (strcmp(kind, "ban") == 0 && v) {
			r->bans[r->n_bans].user = put(&at, v);
			r->bans[r->n_bans++].until = n ? num : 0;
		} else if (strcmp(kind, "mute") == 0 && v) {
			r->mutes[r->n_mutes].user = put(&at, v);
			r->mutes[r->n_mutes++].until = num;
		} else if (strcmp(kind, "logged") == 0) {
			r->logged = num;
		} else if (strcmp(kind, "actions") == 0) {
			r->actions = num;
		} else if (strcmp(kind, "settings") == 0) {
			r->name = put(&at, v);
			r->capacity = num > 0 ? (long)num : 0;
		}
	}
	return r;
}

static void fetched(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct fetch *f = arg;
	int rows = res ? PQntuples(res) : 0, n_rules = 0;
	struct app_action *acts = NULL;
	struct rules *r = NULL;
	size_t n = 0;
	int status = 0;

	(void)err;
	(void)sqlstate;
	if (!res || PQnfields(res) != 9) {
		status = -EIO;
		goto out;
	}
	while (n_rules < rows && strcmp(PQgetvalue(res, n_rules, 0), "0") == 0)
		n_rules++;
	if (n_rules == 0) {
		status = -ENOENT;
		goto out;
	}
	if (!(r = rules_of(res, n_rules)) ||
	    (rows > n_rules && !(acts = calloc((size_t)(rows - n_rules), sizeof(*acts))))) {
		status = -EIO;
		goto out;
	}
	for (int i = n_rules; i < rows && n < RULES_ACTIONS_MAX; i++) {
		struct app_action *a = &acts[n++];
		a->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		a->actor = PQgetvalue(res, i, 2);
		a->ts = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		a->actor_name = PQgetvalue(res, i, 4);
		a->action = PQgetvalue(res, i, 5);
		a->target = col(res, i, 6);
		a->target_name = col(res, i, 7);
		a->detail = PQgetvalue(res, i, 8);
	}
out:
	if (status != 0) {
		rules_free(r);
		r = NULL;
	}
	f->cb(f->arg, status, r, acts, n, status == 0 && rows - n_rules > RULES_ACTIONS_MAX);
	free(acts);
	free(f);
}

int rules_fetch(struct db *db, const char *room_id, int64_t after, rules_fn cb, void *arg)
{
	char after_s[24], limit_s[16];
	const char *p[] = { room_id, after_s, limit_s };
	struct fetch *f = malloc(sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	f->cb = cb;
	f->arg = arg;
	snprintf(after_s, sizeof(after_s), "%" PRId64, after);
	snprintf(limit_s, sizeof(limit_s), "%d", RULES_ACTIONS_MAX + 1);
	rc = db_query(db, RULES_SQL, 3, p, fetched, f);
	if (rc != 0)
		free(f);
	return rc;
}

void rules_free(struct rules *r)
{
	free(r);
}

enum app_role rules_role(const struct rules *r, const char *user)
{
	if (!r)
		return APP_ROLE_MEMBER;
	if (r->owner && strcmp(r->owner, user) == 0)
		return APP_ROLE_OWNER;
	for (size_t i = 0; i < r->n_mods; i++)
		if (strcmp(r->mods[i], user) == 0)
			return APP_ROLE_MODERATOR;
	return APP_ROLE_MEMBER;
}

static int64_t in_force(const struct rules_entry *e, size_t n, const char *user, int64_t now_ms,
			int64_t forever)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].user, user) != 0)
			continue;
		if (e[i].until == 0)
			return forever;
		return e[i].until > now_ms ? e[i].until : 0;
	}
	return 0;
}

int64_t rules_banned(const struct rules *r, const char *user, int64_t now_ms)
{
	return r ? in_force(r->bans, r->n_bans, user, now_ms, INT64_MAX) : 0;
}

int64_t rules_muted(const struct rules *r, const char *user, int64_t now_ms)
{
	/* A mute always has an end (migration 020). */
	return r && r->n_mutes ? in_force(r->mutes, r->n_mutes, user, now_ms, 0) : 0;
}
