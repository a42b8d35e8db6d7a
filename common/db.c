#include "db.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "strpack.h"

#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 1000
/* libpq does not enforce connect_timeout in PQconnectPoll mode, and a
 * black-holed address would otherwise hang the attempt for minutes. */
#define DB_CONNECT_TIMEOUT_MS 10000
#define DB_MAX_PARAMS 65535 /* the protocol's limit */
#define DB_CHANNEL_MAX 63   /* NAMEDATALEN - 1 */

enum db_state { DB_WAITING, DB_CONNECTING, DB_READY, DB_CLOSED };

/* One allocation: the struct, then the parameter pointers, then the SQL and
 * parameter texts they point to. */
struct db_req {
	struct db_req *next;
	db_result_fn cb; /* NULL for the internal ROLLBACK */
	void *arg;
	uint64_t deadline; /* loop time after which waiting for a connection fails */
	int n;             /* parameters; -1 for a script */
	const char *sql;
	const char **params;
};

/* Separate from struct db because libpq may move to a new socket while
 * connecting: the old handle is then closed and freed in its own time. */
struct db_poll {
	uv_poll_t handle;
	struct db *db;
};

/* A LISTEN in force on every connection; its LISTEN request is part of it. */
struct db_listener {
	struct db_listener *next;
	db_notify_fn cb;
	void *arg;
	bool listened;     /* LISTEN succeeded on an earlier connection */
	bool queued;       /* its LISTEN request is in the queue or in flight */
	char channel[DB_CHANNEL_MAX + 1];
	struct db_req req;
	char sql[DB_CHANNEL_MAX + 16];
};

enum { DB_H_RETRY = 1, DB_H_EXPIRE = 2, DB_H_KICK = 4 };

struct db {
	uv_loop_t *loop;
	char *conninfo;
	uint64_t queue_timeout_ms;
	unsigned max_queue;

	enum db_state state;
	PGconn *conn;
	struct db_poll *poll; /* watches PQsocket(conn) */
	int poll_fd, poll_events;
	bool flushing;     /* PQflush() said 1: wait for writable */
	bool need_rollback; /* a failed script left its transaction open */
	uint64_t backoff_ms;

	uv_timer_t retry;  /* next connection attempt; connect timeout meanwhile */
	uv_timer_t expire; /* queue_timeout_ms of queries waiting for a connection */
	uv_idle_t kick;    /* sends a new query from the loop, not from db_query() */
	unsigned handles;  /* DB_H_* initialised */

	struct db_req *inflight;
	PGresult *res; /* gathered for inflight: the last result, or the first error */
	bool res_failed;
	struct db_req *head, *tail;
	unsigned queued;
	struct db_req rollback;
	struct db_listener *listeners;

	char last_err[256]; /* why the last connection attempt failed or broke */

	bool closing;
	unsigned closes; /* uv_close() calls not yet called back */
	void (*done)(void *arg);
	void *done_arg;
};

static void db_on_poll(uv_poll_t *h, int status, int events);
static void db_send_next(struct db *db);

/* ---- helpers -------------------------------------------------------- */

/* Keeps the first line of a libpq message, which ends in a newline. */
static void db_set_err(struct db *db, const char *why)
{
	size_t n = strcspn(why, "\n");

	if (n >= sizeof db->last_err)
		n = sizeof db->last_err - 1;
	memcpy(db->last_err, why, n);
	while (n > 0 && (db->last_err[n - 1] == ' ' || db->last_err[n - 1] == '\r'))
		n--;
	db->last_err[n] = '\0';
}

/* The internal requests (ROLLBACK, LISTEN) live in db. */
static void db_req_free(struct db *db, struct db_req *req)
{
	if (req == &db->rollback)
		return;
	for (struct db_listener *l = db->listeners; l; l = l->next)
		if (req == &l->req) {
			l->queued = false;
			return;
		}
	free(req);
}

static struct db_req *db_detach_all(struct db *db)
{
	struct db_req *list = db->head;

	if (db->inflight) {
		db->inflight->next = list;
		list = db->inflight;
	}
	db->inflight = NULL;
	db->head = db->tail = NULL;
	db->queued = 0;
	return list;
}

/* Runs each callback of a detached list once; callbacks may queue more. */
static void db_fail_list(struct db *db, struct db_req *list, const char *err)
{
	while (list) {
		struct db_req *req = list;

		list = req->next;
		if (req->cb)
			req->cb(NULL, err, NULL, req->arg);
		db_req_free(db, req);
	}
}

/* ---- handles and teardown --------------------------------------------- */

static void db_finalize(struct db *db)
{
	void (*done)(void *) = db->done;
	void *arg = db->done_arg;

	db_fail_list(db, db_detach_all(db), "shutting down");
	while (db->listeners) {
		struct db_listener *l = db->listeners;

		db->listeners = l->next;
		free(l);
	}
	free(db->conninfo);
	free(db);
	if (done)
		done(arg);
}

static void db_closed_one(struct db *db)
{
	if (--db->closes == 0 && db->closing)
		db_finalize(db);
}

static void db_on_closed(uv_handle_t *h)
{
	db_closed_one(h->data);
}

static void db_on_poll_closed(uv_handle_t *h)
{
	struct db_poll *p = container_of(h, struct db_poll, handle);
	struct db *db = p->db;

	free(p);
	db_closed_one(db);
}

static void db_poll_close(struct db *db)
{
	if (!db->poll)
		return;
	uv_close((uv_handle_t *)&db->poll->handle, db_on_poll_closed);
	db->closes++;
	db->poll = NULL;
	db->poll_fd = -1;
	db->poll_events = 0;
}

/* Watches the connection's current socket for events, replacing the poll
 * handle if libpq moved to another socket. */
static int db_watch(struct db *db, int events)
{
	int fd = PQsocket(db->conn), r;

	if (fd < 0)
		return UV_EBADF;
	if (db->poll && db->poll_fd != fd)
		db_poll_close(db);
	if (!db->poll) {
		struct db_poll *p = malloc(sizeof *p);

		if (!p)
			return UV_ENOMEM;
		r = uv_poll_init_socket(db->loop, &p->handle, fd);
		if (r < 0) {
			free(p);
			return r;
		}
		p->db = db;
		db->poll = p;
		db->poll_fd = fd;
		db->poll_events = 0;
	}
	if (events != db->poll_events) {
		r = uv_poll_start(&db->poll->handle, events, db_on_poll);
		if (r < 0)
			return r;
		db->poll_events = events;
	}
	return 0;
}

/* The poll handle goes before PQfinish() closes the socket under it. */
static void db_drop_conn(struct db *db)
{
	db_poll_close(db);
	PQclear(db->res);
	db->res = NULL;
	db->res_failed = false;
	PQfinish(db->conn);
	db->conn = NULL;
	db->flushing = false;
	db->need_rollback = false;
}

/* ---- connecting ------------------------------------------------------- */

static void db_on_retry(uv_timer_t *t);

static void db_on_listened(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct db_listener *l = arg;

	/* A failure is the connection's, and the next one listens again. */
	if (!res)
		return;
	if (l->listened)
		l->cb(l->arg, NULL);
	l->listened = true;
}

/* Counted in db->queued while it waits, like any request, but never refused
 * for a full queue. */
static void db_push_front(struct db *db, struct db_listener *l)
{
	l->req.next = db->head;
	db->head = &l->req;
	if (!db->tail)
		db->tail = &l->req;
	db->queued++;
	l->queued = true;
}

static void db_on_notice(void *arg, const PGresult *res)
{
}

static void db_retry_later(struct db *db)
{
	uv_timer_start(&db->retry, db_on_retry, db->backoff_ms, 0);
	db->backoff_ms *= 2;
	if (db->backoff_ms > DB_BACKOFF_MAX_MS)
		db->backoff_ms = DB_BACKOFF_MAX_MS;
}

/* Queries keep waiting for a later attempt until their deadline. */
static void db_connect_failed(struct db *db, const char *why)
{
	db_set_err(db, why);
	db_drop_conn(db);
	db->state = DB_WAITING;
	db_retry_later(db);
}

/* The established connection broke: everything it carried fails. */
static void db_lost(struct db *db, const char *why)
{
	char err[sizeof db->last_err + 32];

	db_set_err(db, why);
	snprintf(err, sizeof err, "connection lost: %s", db->last_err);
	db_drop_conn(db);
	db->state = DB_WAITING;
	uv_idle_stop(&db->kick);
	db_retry_later(db);
	db_fail_list(db, db_detach_all(db), err);
}

static void db_ready(struct db *db)
{
	int r;

	if (PQsetnonblocking(db->conn, 1) != 0) {
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	uv_timer_stop(&db->retry);
	uv_timer_stop(&db->expire);
	db->state = DB_READY;
	db->backoff_ms = DB_BACKOFF_MIN_MS;
	db->last_err[0] = '\0';
	r = db_watch(db, UV_READABLE);
	if (r < 0) {
		db_lost(db, uv_strerror(r));
		return;
	}
	/* Ahead of the queue, so that nothing the queued queries cause goes
	 * unheard. */
	for (struct db_listener *l = db->listeners; l; l = l->next)
		if (!l->queued)
			db_push_front(db, l);
	db_send_next(db);
}

static void db_connect_step(struct db *db, PostgresPollingStatusType st)
{
	int r;

	switch (st) {
	case PGRES_POLLING_OK:
		db_ready(db);
		return;
	case PGRES_POLLING_READING:
		r = db_watch(db, UV_READABLE);
		break;
	case PGRES_POLLING_WRITING:
		r = db_watch(db, UV_WRITABLE);
		break;
	default:
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	if (r < 0)
		db_connect_failed(db, uv_strerror(r));
}

static void db_connect_start(struct db *db)
{
	db->conn = PQconnectStart(db->conninfo);
	if (!db->conn) {
		db_connect_failed(db, "out of memory");
		return;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	/* libpq would print NOTICEs to stderr; a library does not log. */
	PQsetNoticeReceiver(db->conn, db_on_notice, NULL);
	db->state = DB_CONNECTING;
	uv_timer_start(&db->retry, db_on_retry, DB_CONNECT_TIMEOUT_MS, 0);
	/* libpq's documented first step: as if PQconnectPoll said WRITING. */
	db_connect_step(db, PGRES_POLLING_WRITING);
}

static void db_on_retry(uv_timer_t *t)
{
	struct db *db = t->data;

	if (db->state == DB_WAITING)
		db_connect_start(db);
	else if (db->state == DB_CONNECTING)
		db_connect_failed(db, "timed out connecting");
}

/* ---- queries ---------------------------------------------------------- */

static void db_flush(struct db *db)
{
	int r = PQflush(db->conn);

	if (r < 0) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}
	db->flushing = r == 1;
	r = db_watch(db, db->flushing ? UV_READABLE | UV_WRITABLE : UV_READABLE);
	if (r < 0)
		db_lost(db, uv_strerror(r));
}

static void db_send_next(struct db *db)
{
	struct db_req *req;
	int ok;

	if (db->state != DB_READY || db->inflight)
		return;
	if (db->need_rollback) {
		db->need_rollback = false;
		req = &db->rollback;
	} else {
		req = db->head;
		if (!req)
			return;
		db->head = req->next;
		if (!db->head)
			db->tail = NULL;
		db->queued--;
	}
	req->next = NULL;
	db->inflight = req;
	if (req->n < 0)
		ok = PQsendQuery(db->conn, req->sql);
	else
		ok = PQsendQueryParams(db->conn, req->sql, req->n, NULL, req->params, NULL, NULL, 0);
	if (!ok) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}
	db_flush(db);
}

static void db_gather(struct db *db, PGresult *r)
{
	switch (PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		if (db->res_failed) {
			PQclear(r);
			return;
		}
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* Nothing here can feed or drain a COPY; only a new session
		 * gets out of one. */
		PQclear(r);
		db_lost(db, "COPY is not supported");
		return;
	default:
		if (db->res_failed) {
			PQclear(r);
			return;
		}
		db->res_failed = true;
		break;
	}
	PQclear(db->res);
	db->res = r;
}

static void db_complete(struct db *db)
{
	struct db_req *req = db->inflight;
	PGresult *res = db->res;
	bool failed = db->res_failed;

	db->inflight = NULL;
	db->res = NULL;
	db->res_failed = false;
	if (failed && req->n < 0 && PQtransactionStatus(db->conn) == PQTRANS_INERROR)
		db->need_rollback = true;
	if (req->cb) {
		if (!res) {
			req->cb(NULL, "no result", NULL, req->arg);
		} else if (failed) {
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			if (!msg)
				msg = PQresultStatus(res) == PGRES_EMPTY_QUERY ? "empty query"
									       : PQresStatus(PQresultStatus(res));
			req->cb(NULL, msg, PQresultErrorField(res, PG_DIAG_SQLSTATE), req->arg);
		} else {
			req->cb(res, NULL, NULL, req->arg);
		}
	}
	PQclear(res);
	db_req_free(db, req);
}

/* Every callback may close db or queue queries, so the state is checked
 * again after each. */
static void db_deliver(struct db *db)
{
	PGnotify *note;

	while (db->state == DB_READY && (note = PQnotifies(db->conn))) {
		struct db_listener *l;

		for (l = db->listeners; l; l = l->next)
			if (strcmp(l->channel, note->relname) == 0)
				break;
		if (l)
			l->cb(l->arg, note->extra);
		PQfreemem(note);
	}
}

static void db_read_results(struct db *db)
{
	db_deliver(db);
	while (db->state == DB_READY && db->inflight && !PQisBusy(db->conn)) {
		PGresult *r = PQgetResult(db->conn);

		if (r) {
			db_gather(db, r);
			continue;
		}
		db_complete(db);
		db_send_next(db);
	}
	/* Reading results may have parsed notifications too. */
	db_deliver(db);
}

static void db_on_poll(uv_poll_t *h, int status, int events)
{
	struct db *db = container_of(h, struct db_poll, handle)->db;

	/* libuv reports a socket error (POLLERR) as status UV_EBADF; libpq
	 * reads the actual error from the socket and says it better. */
	if (db->state == DB_CONNECTING) {
		/* Stopped so that a socket libpq reopens under the same number
		 * is registered afresh. */
		uv_poll_stop(h);
		db->poll_events = 0;
		db_connect_step(db, PQconnectPoll(db->conn));
		return;
	}
	if (db->state != DB_READY)
		return;
	if (status < 0) {
		PQconsumeInput(db->conn);
		db_lost(db, *PQerrorMessage(db->conn) ? PQerrorMessage(db->conn) : uv_strerror(status));
		return;
	}
	if ((events & UV_READABLE) &&
	    (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD)) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}
	if (db->flushing) {
		db_flush(db);
		if (db->state != DB_READY)
			return;
	}
	db_read_results(db);
}

static void db_on_kick(uv_idle_t *h)
{
	struct db *db = h->data;

	uv_idle_stop(h);
	db_send_next(db);
}

static void db_on_expire(uv_timer_t *t);

static void db_arm_expire(struct db *db)
{
	uint64_t now = uv_now(db->loop);

	if (db->state == DB_READY || !db->head || uv_is_active((uv_handle_t *)&db->expire))
		return;
	uv_timer_start(&db->expire, db_on_expire,
		       db->head->deadline > now ? db->head->deadline - now : 0, 0);
}

static void db_on_expire(uv_timer_t *t)
{
	struct db *db = t->data;
	struct db_req *list = NULL, **tail = &list;
	uint64_t now = uv_now(db->loop);
	char err[sizeof db->last_err + 48];

	if (db->state == DB_READY)
		return;
	/* Deadlines grow along the queue. */
	while (db->head && db->head->deadline <= now) {
		*tail = db->head;
		tail = &db->head->next;
		db->head = db->head->next;
		db->queued--;
	}
	*tail = NULL;
	if (!db->head)
		db->tail = NULL;
	snprintf(err, sizeof err, "timed out waiting for the database: %s",
		 db->last_err[0] ? db->last_err : "still connecting");
	db_arm_expire(db);
	db_fail_list(db, list, err);
}

static int db_enqueue(struct db *db, const char *sql, int n, const char *const *params,
		      db_result_fn cb, void *arg)
{
	size_t size;
	struct db_req *req;
	char *p;

	if (!db || !sql || !cb || n > DB_MAX_PARAMS || (n > 0 && !params))
		return -EINVAL;
	if (db->closing)
		return -ESHUTDOWN;
	if (db->queued >= db->max_queue)
		return -ENOBUFS;
	size = sizeof *req + (n > 0 ? (size_t)n * sizeof(char *) : 0) + strpack_size(&sql, 1) +
	       (n > 0 ? strpack_size(params, (size_t)n) : 0);
	req = malloc(size);
	if (!req)
		return -ENOMEM;
	req->next = NULL;
	req->cb = cb;
	req->arg = arg;
	req->deadline = uv_now(db->loop) + db->queue_timeout_ms;
	req->n = n;
	req->params = (const char **)(req + 1);
	p = strpack((char *)(req->params + (n > 0 ? n : 0)), &sql, 1, &req->sql);
	if (n > 0)
		strpack(p, params, (size_t)n, req->params);
	if (db->tail)
		db->tail->next = req;
	else
		db->head = req;
	db->tail = req;
	db->queued++;
	if (db->state == DB_READY) {
		if (!db->inflight)
			uv_idle_start(&db->kick, db_on_kick);
	} else {
		db_arm_expire(db);
	}
	return 0;
}

/* ---- interface -------------------------------------------------------- */

int db_query(struct db *db, const char *sql, int n, const char *const *params, db_result_fn cb,
	     void *arg)
{
	if (n < 0)
		return -EINVAL;
	return db_enqueue(db, sql, n, params, cb, arg);
}

int db_script(struct db *db, const char *sql, db_result_fn cb, void *arg)
{
	return db_enqueue(db, sql, -1, NULL, cb, arg);
}

int db_listen(struct db *db, const char *channel, db_notify_fn cb, void *arg)
{
	struct db_listener *l;
	size_t n = channel ? strlen(channel) : 0;

	if (!db || !cb || n == 0 || n > DB_CHANNEL_MAX ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return -EINVAL;
	if (db->closing)
		return -ESHUTDOWN;
	l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	memcpy(l->channel, channel, n + 1);
	snprintf(l->sql, sizeof l->sql, "LISTEN \"%s\"", channel);
	l->req.cb = db_on_listened;
	l->req.arg = l;
	l->req.n = 0;
	l->req.sql = l->sql;
	l->req.params = NULL;
	l->next = db->listeners;
	db->listeners = l;
	if (db->state == DB_READY) {
		db_push_front(db, l);
		if (!db->inflight)
			uv_idle_start(&db->kick, db_on_kick);
	}
	return 0;
}

bool db_connected(const struct db *db)
{
	return db && db->state == DB_READY;
}

static void db_close_handles(struct db *db)
{
	if (db->handles & DB_H_RETRY) {
		uv_close((uv_handle_t *)&db->retry, db_on_closed);
		db->closes++;
	}
	if (db->handles & DB_H_EXPIRE) {
		uv_close((uv_handle_t *)&db->expire, db_on_closed);
		db->closes++;
	}
	if (db->handles & DB_H_KICK) {
		uv_close((uv_handle_t *)&db->kick, db_on_closed);
		db->closes++;
	}
	db->handles = 0;
}

void db_close(struct db *db, void (*done)(void *arg), void *arg)
{
	if (!db || db->closing)
		return;
	db->closing = true;
	db->done = done;
	db->done_arg = arg;
	db_drop_conn(db);
	db->state = DB_CLOSED;
	db_close_handles(db);
	if (db->closes == 0)
		db_finalize(db);
}

int db_open(uv_loop_t *loop, const struct db_config *cfg, struct db **out)
{
	PQconninfoOption *opts;
	char *perr = NULL;
	struct db *db;
	int r;

	if (!loop || !cfg || !cfg->conninfo)
		return -EINVAL;
	/* A malformed string would never connect: say so now, not by timeouts. */
	opts = PQconninfoParse(cfg->conninfo, &perr);
	if (!opts) {
		r = perr ? -EINVAL : -ENOMEM;
		PQfreemem(perr);
		return r;
	}
	PQconninfoFree(opts);

	db = calloc(1, sizeof *db);
	if (!db)
		return -ENOMEM;
	db->conninfo = strdup(cfg->conninfo);
	if (!db->conninfo) {
		free(db);
		return -ENOMEM;
	}
	db->loop = loop;
	db->queue_timeout_ms = cfg->queue_timeout_ms ? cfg->queue_timeout_ms : 5000;
	db->max_queue = cfg->max_queue ? cfg->max_queue : 10000;
	db->backoff_ms = DB_BACKOFF_MIN_MS;
	db->poll_fd = -1;
	db->rollback.n = -1;
	db->rollback.sql = "ROLLBACK";

	r = uv_timer_init(loop, &db->retry);
	if (r < 0)
		goto out_close;
	db->retry.data = db;
	db->handles |= DB_H_RETRY;
	r = uv_timer_init(loop, &db->expire);
	if (r < 0)
		goto out_close;
	db->expire.data = db;
	db->handles |= DB_H_EXPIRE;
	r = uv_idle_init(loop, &db->kick);
	if (r < 0)
		goto out_close;
	db->kick.data = db;
	db->handles |= DB_H_KICK;

	db->state = DB_WAITING;
	db_connect_start(db);
	*out = db;
	return 0;
out_close:
	/* Initialised handles are freed with db in their close callbacks. */
	db_close(db, NULL, NULL);
	return r;
}
