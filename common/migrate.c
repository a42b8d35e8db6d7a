#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any constant will do as long as every process uses the same one. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7255398411212365168);\n"

static const char migrate_setup[] =
	"BEGIN;\n" MIGRATE_LOCK
	"CREATE TABLE IF NOT EXISTS schema_migrations (\n"
	"\tversion    integer PRIMARY KEY,\n"
	"\tname       text NOT NULL,\n"
	"\tapplied_at timestamptz NOT NULL DEFAULT now()\n"
	");\n"
	"COMMIT;";

struct migrate {
	struct db *db;
	const struct migration *m;
	size_t n, i;
	bool *applied;
	void (*done)(const char *err, void *arg);
	void *arg;
	char err[512]; /* the failure a re-check may still excuse */
};

static void migrate_next(struct migrate *mg);

static void migrate_finish(struct migrate *mg, const char *err)
{
	mg->done(err, mg->arg);
	free(mg->applied);
	free(mg);
}

static void migrate_fail(struct migrate *mg, const char *what, const char *err)
{
	char buf[sizeof mg->err];

	snprintf(buf, sizeof buf, "%s: %s", what, err);
	migrate_finish(mg, buf);
}

static void migrate_queue_failed(struct migrate *mg, int r)
{
	migrate_fail(mg, "migrations", strerror(-r));
}

/* Another process applied m[i] between our read of schema_migrations and
 * our insert, if the re-check finds it; else the unique violation was the
 * migration's own. */
static void migrate_on_recheck(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct migrate *mg = arg;

	if (!res) {
		migrate_fail(mg, "migrations: re-reading schema_migrations", err);
		return;
	}
	if (PQntuples(res) == 0) {
		migrate_finish(mg, mg->err);
		return;
	}
	mg->i++;
	migrate_next(mg);
}

static void migrate_on_applied(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct migrate *mg = arg;
	const struct migration *m = &mg->m[mg->i];

	if (res) {
		mg->i++;
		migrate_next(mg);
		return;
	}
	snprintf(mg->err, sizeof mg->err, "migration %d (%s): %s", m->version, m->name, err);
	if (sqlstate && strcmp(sqlstate, "23505") == 0) {
		char version[16];
		const char *params[] = { version };
		int r;

		snprintf(version, sizeof version, "%d", m->version);
		r = db_query(mg->db, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
			     migrate_on_recheck, mg);
		if (r < 0)
			migrate_finish(mg, mg->err);
		return;
	}
	migrate_finish(mg, mg->err);
}

/* Appends s with every ' doubled, as an SQL string literal needs. */
static char *migrate_quote(char *p, const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			*p++ = '\'';
		*p++ = *s;
	}
	return p;
}

/* The insert comes first: under the lock, a process that lost the race
 * fails on the primary key before running any of the migration. */
static char *migrate_script(const struct migration *m)
{
	static const char head[] = "BEGIN;\n" MIGRATE_LOCK
				   "INSERT INTO schema_migrations (version, name) VALUES (";
	static const char tail[] = "\n;\nCOMMIT;";
	size_t name_len = strlen(m->name), sql_len = strlen(m->sql);
	char *s = malloc(sizeof head + 16 + 2 * name_len + 8 + sql_len + sizeof tail);
	char *p;

	if (!s)
		return NULL;
	p = s + sprintf(s, "%s%d, '", head, m->version);
	p = migrate_quote(p, m->name);
	p += sprintf(p, "');\n");
	memcpy(p, m->sql, sql_len);
	p += sql_len;
	memcpy(p, tail, sizeof tail);
	return s;
}

static void migrate_next(struct migrate *mg)
{
	char *script;
	int r;

	while (mg->i < mg->n && mg->applied[mg->i])
		mg->i++;
	if (mg->i == mg->n) {
		migrate_finish(mg, NULL);
		return;
	}
	script = migrate_script(&mg->m[mg->i]);
	if (!script) {
		migrate_queue_failed(mg, -ENOMEM);
		return;
	}
	r = db_script(mg->db, script, migrate_on_applied, mg);
	free(script);
	if (r < 0)
		migrate_queue_failed(mg, r);
}

static void migrate_on_versions(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct migrate *mg = arg;

	if (!res) {
		migrate_fail(mg, "migrations: reading schema_migrations", err);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		long v = strtol(PQgetvalue(res, row, 0), NULL, 10);

		for (size_t k = 0; k < mg->n; k++)
			if (mg->m[k].version == v)
				mg->applied[k] = true;
	}
	migrate_next(mg);
}

static void migrate_on_setup(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct migrate *mg = arg;
	int r;

	if (!res) {
		migrate_fail(mg, "migrations: creating schema_migrations", err);
		return;
	}
	r = db_query(mg->db, "SELECT version FROM schema_migrations", 0, NULL, migrate_on_versions, mg);
	if (r < 0)
		migrate_queue_failed(mg, r);
}

int migrate_run(struct db *db, const struct migration *m, size_t n,
		void (*done)(const char *err, void *arg), void *arg)
{
	struct migrate *mg;
	int r;

	if (!db || (n && !m) || !done)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!m[i].name || !m[i].sql || m[i].version <= 0 ||
		    (i > 0 && m[i].version <= m[i - 1].version))
			return -EINVAL;
	mg = calloc(1, sizeof *mg);
	if (!mg)
		return -ENOMEM;
	mg->applied = calloc(n ? n : 1, sizeof *mg->applied);
	if (!mg->applied) {
		free(mg);
		return -ENOMEM;
	}
	mg->db = db;
	mg->m = m;
	mg->n = n;
	mg->done = done;
	mg->arg = arg;
	r = db_script(db, migrate_setup, migrate_on_setup, mg);
	if (r < 0) {
		free(mg->applied);
		free(mg);
		return r;
	}
	return 0;
}
