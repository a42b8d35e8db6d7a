/* db: one PostgreSQL connection driven by a libuv loop, never blocking it.
 *
 * libpq runs in non-blocking mode; a uv_poll_t on PQsocket() and one timer
 * drive connecting, sending and reading. Queries are queued and run one at a
 * time in order, each with PQsendQueryParams (text parameters, text
 * results), so every query is parameterised.
 *
 * When the connection breaks, queued and in-flight queries fail (callback
 * with res == NULL and an error text) and db reconnects with backoff
 * (100 ms doubling to 5 s); queries issued meanwhile wait for the
 * connection up to queue_timeout_ms, then fail the same way. So a caller
 * always hears back exactly once, and the database coming back needs no
 * restart of anything. */
#ifndef STATEROOM_DB_H
#define STATEROOM_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct db;

/* res: the query's result (PGRES_COMMAND_OK or PGRES_TUPLES_OK only), owned
 * by db and cleared after the callback returns; NULL on failure, with err a
 * one-line reason (SQL error text, "connection lost", "timed out"). sqlstate
 * is the five-character SQLSTATE of an SQL error, else NULL. */
typedef void (*db_result_fn)(PGresult *res, const char *err, const char *sqlstate, void *arg);

struct db_config {
	const char *conninfo;        /* libpq connection string or URI */
	uint64_t queue_timeout_ms;   /* 0: 5000 */
	unsigned max_queue;          /* queries waiting at once; 0: 10000 */
};

/* Starts connecting (cfg copied, conninfo duplicated). Returns 0 and *out,
 * or a negative errno. */
int db_open(uv_loop_t *loop, const struct db_config *cfg, struct db **out);

/* Queues sql with n text parameters (NULL entries are SQL NULL; sql and
 * params are copied). Returns 0, after which cb runs exactly once, later,
 * from the loop (never from inside db_query); or -ENOBUFS when the queue is
 * full / -ESHUTDOWN after db_close, and then cb never runs. */
int db_query(struct db *db, const char *sql, int n, const char *const *params,
	     db_result_fn cb, void *arg);

/* Queues a script of several statements without parameters (PQsendQuery,
 * the simple protocol: the statements run in one implicit transaction unless
 * the script says otherwise). For migrations; never for user input. cb gets
 * the last result, or the first error. A script that fails inside its own
 * BEGIN is rolled back before the next query, so one bad script cannot leave
 * the shared connection in an aborted transaction. Same return contract as
 * db_query(). */
int db_script(struct db *db, const char *sql, db_result_fn cb, void *arg);

/* LISTEN: notifications (NOTIFY, pg_notify) of a channel.
 *
 * payload is a notification's payload (valid during the call), or NULL after
 * the connection was lost and LISTEN is in force again on a new one: what was
 * sent meanwhile is lost, so the user should resync from the tables. */
typedef void (*db_notify_fn)(void *arg, const char *payload);

/* Listens on channel (1 to 63 bytes of [a-z0-9_]; copied) from now on, on
 * this and every later connection: LISTEN runs ahead of any queued query
 * whenever db connects. Each notification is delivered to cb once its input
 * is read, in order, from the loop. Listeners stay until db_close. Returns 0
 * or a negative errno (-EINVAL: bad channel). */
int db_listen(struct db *db, const char *channel, db_notify_fn cb, void *arg);

/* True while a connection is established. */
bool db_connected(const struct db *db);

/* Fails every pending query (callbacks run with err "shutting down"),
 * closes the connection and handles; done(arg) runs once db is freed.
 * NULL-safe. */
void db_close(struct db *db, void (*done)(void *arg), void *arg);

#endif
