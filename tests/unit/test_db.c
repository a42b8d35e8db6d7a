/* db and migrate against a real PostgreSQL at $DATABASE_URL (skipped, exit
 * 77, when it is unset). Everything runs in a schema of its own, dropped at
 * the end, so the database may be shared. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "migrate.h"

static uv_loop_t *loop;
static const char *url;
static char schema[64];
static bool in_db_query; /* callbacks must never run inside db_query() */

static void on_tick(uv_timer_t *t)
{
}

/* Runs the loop until *flag or ms pass; returns *flag. */
static bool run_until(const bool *flag, uint64_t ms)
{
	uv_timer_t tick;
	uint64_t end = uv_now(loop) + ms;

	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, on_tick, 20, 20);
	while (!*flag && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

/* One answer, kept for the test to look at. */
struct answer {
	bool done;
	int calls;
	bool ok;
	char value[256];
	int value_len;
	bool is_null;
	int rows;
	char err[512];
	char sqlstate[8];
	bool inside_query;
};

static void on_answer(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->done = true;
	a->inside_query = in_db_query;
	a->ok = res != NULL;
	if (res) {
		a->rows = PQntuples(res);
		if (a->rows > 0 && PQnfields(res) > 0) {
			a->is_null = PQgetisnull(res, 0, 0);
			a->value_len = PQgetlength(res, 0, 0);
			snprintf(a->value, sizeof a->value, "%s", PQgetvalue(res, 0, 0));
		}
		CHECK(err == NULL);
	} else {
		CHECK(err != NULL);
		snprintf(a->err, sizeof a->err, "%s", err ? err : "");
		snprintf(a->sqlstate, sizeof a->sqlstate, "%s", sqlstate ? sqlstate : "");
	}
}

static int query(struct db *db, const char *sql, int n, const char *const *params, struct answer *a)
{
	int r;

	memset(a, 0, sizeof *a);
	in_db_query = true;
	r = db_query(db, sql, n, params, on_answer, a);
	in_db_query = false;
	return r;
}

static int script(struct db *db, const char *sql, struct answer *a)
{
	int r;

	memset(a, 0, sizeof *a);
	in_db_query = true;
	r = db_script(db, sql, on_answer, a);
	in_db_query = false;
	return r;
}

/* Runs one statement to completion; true when it succeeded. */
static bool exec_sql(struct db *db, const char *sql, struct answer *a)
{
	if (script(db, sql, a) < 0)
		return false;
	run_until(&a->done, 10000);
	if (!a->ok)
		fprintf(stderr, "  %s: %s\n", sql, a->err);
	return a->ok;
}

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static void close_db(struct db *db)
{
	bool closed = false;

	db_close(db, on_closed, &closed);
	CHECK(run_until(&closed, 5000));
}

/* A connection whose search_path is this run's schema. */
static struct db *open_db(void)
{
	struct db_config cfg = { .conninfo = url, .queue_timeout_ms = 10000 };
	struct db *db = NULL;
	struct answer a;
	char sql[256];

	CHECK_EQ_INT(db_open(loop, &cfg, &db), 0);
	if (!db)
		return NULL;
	snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s; SET search_path TO %s", schema,
		 schema);
	CHECK(exec_sql(db, sql, &a));
	CHECK(db_connected(db));
	return db;
}

static void test_params_round_trip(struct db *db)
{
	static const char hostile[] = "'); DROP TABLE x; --\\ \"quoted\" $1 \xc3\xa9t\xc3\xa9 \t\n";
	const char *params[] = { hostile, NULL, "41" };
	struct answer a, b, c;

	CHECK_EQ_INT(query(db, "SELECT $1::text", 1, params, &a), 0);
	CHECK(!a.done); /* never answered from inside db_query() */
	CHECK_EQ_INT(query(db, "SELECT $1::text IS NULL, $1::text", 1, params + 1, &b), 0);
	CHECK_EQ_INT(query(db, "SELECT $1::int + 1 FROM generate_series(1, 3)", 1, params + 2, &c), 0);
	CHECK(run_until(&c.done, 5000));
	CHECK(a.ok && b.ok && c.ok);
	CHECK(!a.inside_query && !b.inside_query && !c.inside_query);
	CHECK_EQ_STR(a.value, hostile);
	CHECK_EQ_INT(a.value_len, (int)strlen(hostile));
	CHECK_EQ_STR(b.value, "t");
	CHECK_EQ_INT(c.rows, 3);
	CHECK_EQ_STR(c.value, "42");
	CHECK_EQ_INT(a.calls + b.calls + c.calls, 3);
}

static void test_sql_error_fails_only_that_query(struct db *db)
{
	struct answer before, bad, syntax, after;

	CHECK_EQ_INT(query(db, "SELECT 1", 0, NULL, &before), 0);
	CHECK_EQ_INT(query(db, "SELECT 1 / 0", 0, NULL, &bad), 0);
	CHECK_EQ_INT(query(db, "SELEC oops", 0, NULL, &syntax), 0);
	CHECK_EQ_INT(query(db, "SELECT 'still here'", 0, NULL, &after), 0);
	CHECK(run_until(&after.done, 5000));
	CHECK(before.ok);
	CHECK(!bad.ok);
	CHECK_EQ_STR(bad.sqlstate, "22012");
	CHECK(strstr(bad.err, "division by zero") != NULL);
	CHECK(!syntax.ok);
	CHECK_EQ_STR(syntax.sqlstate, "42601");
	CHECK(after.ok);
	CHECK_EQ_STR(after.value, "still here");
}

/* A script that fails inside its own BEGIN must not leave the shared
 * connection in an aborted transaction. */
static void test_failed_script_rolled_back(struct db *db)
{
	struct answer s, next, check;

	CHECK(exec_sql(db, "CREATE TABLE rb (x int PRIMARY KEY)", &s));
	CHECK_EQ_INT(script(db, "BEGIN; INSERT INTO rb VALUES (1); INSERT INTO rb VALUES (1); COMMIT;",
			    &s), 0);
	CHECK_EQ_INT(query(db, "SELECT 'next'", 0, NULL, &next), 0);
	CHECK_EQ_INT(query(db, "SELECT count(*) FROM rb", 0, NULL, &check), 0);
	CHECK(run_until(&check.done, 5000));
	CHECK(!s.ok);
	CHECK_EQ_STR(s.sqlstate, "23505");
	CHECK(next.ok);
	CHECK_EQ_STR(next.value, "next");
	CHECK_EQ_STR(check.value, "0");
}

#define MANY 2000

struct order {
	int next, bad;
	bool done;
};

static void on_ordered(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct order *o = arg;

	if (!res || atoi(PQgetvalue(res, 0, 0)) != o->next)
		o->bad++;
	o->next++;
	o->done = o->next == MANY;
}

static void test_many_in_order(struct db *db)
{
	struct order o = { 0 };

	for (int i = 0; i < MANY; i++) {
		char num[16];
		const char *params[] = { num };

		snprintf(num, sizeof num, "%d", i);
		CHECK_EQ_INT(db_query(db, "SELECT $1::int", 1, params, on_ordered, &o), 0);
	}
	CHECK(run_until(&o.done, 30000));
	CHECK_EQ_INT(o.next, MANY);
	CHECK_EQ_INT(o.bad, 0);
}

static void test_queue_limit(void)
{
	struct db_config cfg = { .conninfo = url, .max_queue = 2 };
	struct db *db = NULL;
	struct answer a, b, c;

	CHECK_EQ_INT(db_open(loop, &cfg, &db), 0);
	CHECK_EQ_INT(query(db, "SELECT 1", 0, NULL, &a), 0);
	CHECK_EQ_INT(query(db, "SELECT 2", 0, NULL, &b), 0);
	CHECK_EQ_INT(query(db, "SELECT 3", 0, NULL, &c), -ENOBUFS);
	CHECK(run_until(&b.done, 5000));
	CHECK(a.ok && b.ok);
	CHECK_EQ_INT(c.calls, 0);
	close_db(db);
}

struct closing {
	int calls, shutting_down, requeue_refused;
	struct db *db;
};

static void on_closing(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct closing *c = arg;

	c->calls++;
	if (!res && strcmp(err, "shutting down") == 0)
		c->shutting_down++;
	/* db is still valid here, but takes nothing new. */
	if (db_query(c->db, "SELECT 1", 0, NULL, on_closing, c) == -ESHUTDOWN)
		c->requeue_refused++;
}

static void test_close_with_pending(void)
{
	struct db *db = open_db();
	struct closing c = { .db = db };
	bool closed = false;

	CHECK_EQ_INT(db_query(db, "SELECT pg_sleep(10)", 0, NULL, on_closing, &c), 0);
	run_until(&closed, 100); /* let it get in flight */
	for (int i = 0; i < 50; i++)
		CHECK_EQ_INT(db_query(db, "SELECT 1", 0, NULL, on_closing, &c), 0);
	db_close(db, on_closed, &closed);
	CHECK_EQ_INT(c.calls, 0); /* answered from the loop, not inside db_close() */
	CHECK(run_until(&closed, 5000));
	CHECK_EQ_INT(c.calls, 51);
	CHECK_EQ_INT(c.shutting_down, 51);
	CHECK_EQ_INT(c.requeue_refused, 51);
	db_close(NULL, NULL, NULL);
}

static void test_unreachable(void)
{
	/* Port in engineer B's range with nothing listening. */
	struct db_config cfg = { .conninfo = "postgresql://postgres@127.0.0.1:18199/x",
				 .queue_timeout_ms = 300 };
	struct db *db = NULL;
	struct answer a;

	CHECK_EQ_INT(db_open(loop, &cfg, &db), 0);
	CHECK_EQ_INT(query(db, "SELECT 1", 0, NULL, &a), 0);
	CHECK(run_until(&a.done, 5000));
	CHECK(!a.ok);
	CHECK(strstr(a.err, "timed out") != NULL);
	CHECK(strstr(a.err, "refused") != NULL);
	CHECK(!db_connected(db));
	close_db(db);

	CHECK_EQ_INT(db_open(loop, &(struct db_config){ .conninfo = "postgresql://[bad" }, &db),
		     -EINVAL);
}

static void test_reconnects_after_loss(void)
{
	struct db *victim = open_db(), *killer = open_db();
	struct answer pid, sleep, kill, after;
	const char *params[1];

	CHECK_EQ_INT(query(victim, "SELECT pg_backend_pid()", 0, NULL, &pid), 0);
	CHECK(run_until(&pid.done, 5000));
	CHECK_EQ_INT(query(victim, "SELECT pg_sleep(30)", 0, NULL, &sleep), 0);
	params[0] = pid.value;
	CHECK_EQ_INT(query(killer, "SELECT pg_terminate_backend($1::int)", 1, params, &kill), 0);
	CHECK(run_until(&sleep.done, 10000));
	/* The victim may hear of its lost connection before the killer's answer
	 * has arrived. */
	CHECK(run_until(&kill.done, 5000));
	CHECK(kill.ok);
	CHECK(!sleep.ok);
	CHECK(strstr(sleep.err, "connection lost") != NULL);
	/* Issued while reconnecting: waits for the new connection. */
	CHECK_EQ_INT(query(victim, "SELECT 'back'", 0, NULL, &after), 0);
	CHECK(run_until(&after.done, 10000));
	CHECK(after.ok);
	CHECK_EQ_STR(after.value, "back");
	close_db(victim);
	close_db(killer);
}

/* ---- listen ----------------------------------------------------------- */

struct heard {
	int notes, resyncs;
	char last[64];
};

static void on_heard(void *arg, const char *payload)
{
	struct heard *h = arg;

	if (!payload) {
		h->resyncs++;
		return;
	}
	h->notes++;
	snprintf(h->last, sizeof h->last, "%s", payload);
}

static bool heard_count(const struct heard *h, int notes, uint64_t ms)
{
	uint64_t end = uv_now(loop) + ms;
	bool never = false;

	while (h->notes < notes && uv_now(loop) < end)
		run_until(&never, 20);
	return h->notes >= notes;
}

static void test_listen(void)
{
	struct db *listener = open_db(), *sender = open_db();
	struct heard h = { 0 };
	struct answer pid, kill, send;
	const char *params[1];
	bool never = false;

	CHECK_EQ_INT(db_listen(listener, "Bad-Name", on_heard, &h), -EINVAL);
	CHECK_EQ_INT(db_listen(listener, "", on_heard, &h), -EINVAL);
	CHECK_EQ_INT(db_listen(listener, "test_chan", on_heard, &h), 0);
	/* LISTEN runs before this query: the notification it sends is heard. */
	CHECK_EQ_INT(query(listener, "SELECT pg_notify('test_chan', 'one')", 0, NULL, &send), 0);
	CHECK(run_until(&send.done, 5000));
	CHECK(heard_count(&h, 1, 5000));
	CHECK_EQ_STR(h.last, "one");
	/* From another session, with no query of the listener's in flight. */
	CHECK_EQ_INT(query(sender, "SELECT pg_notify('test_chan', 'two'), pg_notify('other', 'x')",
			   0, NULL, &send), 0);
	CHECK(heard_count(&h, 2, 5000));
	CHECK_EQ_STR(h.last, "two");
	CHECK_EQ_INT(h.resyncs, 0);

	/* Cut: LISTEN again on the new connection, and the user is told. */
	CHECK_EQ_INT(query(listener, "SELECT pg_backend_pid()", 0, NULL, &pid), 0);
	CHECK(run_until(&pid.done, 5000));
	params[0] = pid.value;
	CHECK_EQ_INT(query(sender, "SELECT pg_terminate_backend($1::int)", 1, params, &kill), 0);
	CHECK(run_until(&kill.done, 5000));
	CHECK(kill.ok);
	for (uint64_t end = uv_now(loop) + 10000; h.resyncs == 0 && uv_now(loop) < end;)
		run_until(&never, 20);
	CHECK_EQ_INT(h.resyncs, 1);
	CHECK_EQ_INT(query(sender, "SELECT pg_notify('test_chan', 'three')", 0, NULL, &send), 0);
	CHECK(heard_count(&h, 3, 5000));
	CHECK_EQ_STR(h.last, "three");
	close_db(listener);
	close_db(sender);
}

/* ---- migrate ---------------------------------------------------------- */

struct migrated {
	bool done;
	char err[512];
	bool failed;
};

static void on_migrated(const char *err, void *arg)
{
	struct migrated *m = arg;

	m->done = true;
	m->failed = err != NULL;
	snprintf(m->err, sizeof m->err, "%s", err ? err : "");
}

static const struct migration two_steps[] = {
	{ 1, "first", "CREATE TABLE mig_a (id int PRIMARY KEY);\n-- a comment on the last line" },
	{ 2, "second's", "CREATE TABLE mig_b (id int);\nINSERT INTO mig_b VALUES (1), (2);" },
};

static void test_migrate_once(struct db *db)
{
	struct migrated m1 = { 0 }, m2 = { 0 };
	struct answer a;

	CHECK_EQ_INT(migrate_run(db, two_steps, 2, on_migrated, &m1), 0);
	CHECK(run_until(&m1.done, 10000));
	CHECK_EQ_STR(m1.err, "");
	CHECK(exec_sql(db, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
			   "FROM schema_migrations", &a));
	CHECK_EQ_STR(a.value, "1:first,2:second's");
	CHECK(exec_sql(db, "SELECT count(*) FROM mig_b", &a));
	CHECK_EQ_STR(a.value, "2");

	CHECK_EQ_INT(migrate_run(db, two_steps, 2, on_migrated, &m2), 0);
	CHECK(run_until(&m2.done, 10000));
	CHECK_EQ_STR(m2.err, "");
	CHECK(exec_sql(db, "SELECT count(*) FROM mig_b", &a));
	CHECK_EQ_STR(a.value, "2");
	CHECK(exec_sql(db, "SELECT count(*) FROM schema_migrations", &a));
	CHECK_EQ_STR(a.value, "2");
}

static void test_migrate_failure(struct db *db)
{
	static const struct migration broken[] = {
		{ 1, "first", "CREATE TABLE mig_a (id int PRIMARY KEY);" },
		{ 2, "second's", "unused" },
		{ 3, "third", "CREATE TABLE mig_c (id int);\nSELECT * FROM no_such_table;" },
		{ 4, "fourth", "CREATE TABLE mig_d (id int);" },
	};
	struct migrated m = { 0 };
	struct answer a;

	CHECK_EQ_INT(migrate_run(db, broken, 4, on_migrated, &m), 0);
	CHECK(run_until(&m.done, 10000));
	CHECK(m.failed);
	CHECK(strstr(m.err, "migration 3 (third)") != NULL);
	CHECK(strstr(m.err, "no_such_table") != NULL);
	/* Nothing of it stays, and the connection is usable. */
	CHECK(exec_sql(db, "SELECT count(*) FROM schema_migrations", &a));
	CHECK_EQ_STR(a.value, "2");
	CHECK(exec_sql(db, "SELECT to_regclass('mig_c') IS NULL", &a));
	CHECK_EQ_STR(a.value, "t");

	/* A unique violation inside a migration is its own error, not "someone
	 * else applied it". */
	static const struct migration dup[] = {
		{ 3, "dup", "INSERT INTO mig_a VALUES (1), (1);" },
	};
	struct migrated md = { 0 };
	CHECK_EQ_INT(migrate_run(db, dup, 1, on_migrated, &md), 0);
	CHECK(run_until(&md.done, 10000));
	CHECK(md.failed);
	CHECK(strstr(md.err, "migration 3 (dup)") != NULL);

	static const struct migration unordered[] = { { 2, "b", "" }, { 1, "a", "" } };
	CHECK_EQ_INT(migrate_run(db, unordered, 2, on_migrated, &md), -EINVAL);
}

/* Several processes starting at once: each migration still runs once. */
static void test_migrate_concurrent(void)
{
	enum { N = 4 };
	static const struct migration counted[] = {
		{ 10, "count_table", "CREATE TABLE mig_runs (n int);" },
		{ 11, "count_once", "INSERT INTO mig_runs VALUES (1); SELECT pg_sleep(0.2);" },
		{ 12, "count_twice", "INSERT INTO mig_runs VALUES (2);" },
	};
	struct db *dbs[N];
	struct migrated m[N];
	bool all = false;
	struct answer a;

	for (int i = 0; i < N; i++)
		dbs[i] = open_db();
	memset(m, 0, sizeof m);
	for (int i = 0; i < N; i++)
		CHECK_EQ_INT(migrate_run(dbs[i], counted, 3, on_migrated, &m[i]), 0);
	for (int tries = 0; tries < 500 && !all; tries++) {
		run_until(&all, 20);
		all = true;
		for (int i = 0; i < N; i++)
			all = all && m[i].done;
	}
	CHECK(all);
	for (int i = 0; i < N; i++)
		CHECK_EQ_STR(m[i].err, "");
	CHECK(exec_sql(dbs[0], "SELECT string_agg(n::text, ',' ORDER BY n) FROM mig_runs", &a));
	CHECK_EQ_STR(a.value, "1,2");
	for (int i = 0; i < N; i++)
		close_db(dbs[i]);
}

static void test_migrate_unreachable(void)
{
	struct db_config cfg = { .conninfo = "postgresql://postgres@127.0.0.1:18199/x",
				 .queue_timeout_ms = 300 };
	struct db *db = NULL;
	struct migrated m = { 0 };

	CHECK_EQ_INT(db_open(loop, &cfg, &db), 0);
	CHECK_EQ_INT(migrate_run(db, two_steps, 2, on_migrated, &m), 0);
	CHECK(run_until(&m.done, 5000));
	CHECK(m.failed);
	CHECK(strstr(m.err, "refused") != NULL);
	close_db(db);
}

int main(void)
{
	struct db *db;
	struct answer a;
	char sql[128];

	url = getenv("DATABASE_URL");
	if (!url || !*url) {
		printf("DATABASE_URL unset: skipped\n");
		return 77;
	}
	loop = uv_default_loop();
	snprintf(schema, sizeof schema, "test_db_%ld", (long)getpid());

	db = open_db();
	if (!db)
		return check_done();
	test_params_round_trip(db);
	test_sql_error_fails_only_that_query(db);
	test_failed_script_rolled_back(db);
	test_many_in_order(db);
	test_migrate_once(db);
	test_migrate_failure(db);
	test_migrate_concurrent();
	test_queue_limit();
	test_close_with_pending();
	test_unreachable();
	test_migrate_unreachable();
	test_reconnects_after_loss();
	test_listen();

	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
	CHECK(exec_sql(db, sql, &a));
	close_db(db);
	CHECK_EQ_INT(uv_loop_close(loop), 0);
	return check_done();
}
