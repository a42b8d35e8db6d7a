/* httpd: HTTP/1.1 on libuv and http-parser. See httpd.h for the contract.
 *
 * A connection is in one of these phases (enum conn_phase):
 *   head, body  the socket is read and fed to http-parser; the timer is the
 *               head timeout (from accept or the request's first byte) or the
 *               idle timeout between requests;
 *   complete    the parser has a whole request, about to go to the handler;
 *   handler     a request is with the handler: nothing is read (pipelined
 *               bytes wait in c->pending), no timer;
 *   writing     the answer is leaving; with keep-alive, the next request is
 *               taken once the socket has taken it;
 *   linger      a final response is queued; the write side is shut down and
 *               input is discarded until EOF or a short timeout, so that the
 *               peer reads the answer instead of a reset;
 *   upgraded    the owner has the stream; httpd does nothing with it.
 * Closing (enum conn_close) is a lifecycle of its own, as it can overlap
 * "handler" when httpd_stop() runs while a handler still holds the request
 * (the memory then lives until httpd_respond()) and "upgraded" (the owner
 * hears of the close). */
#include "httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "container.h"
#include "dlist.h"

#define HTTPD_MAX_HEADERS 64
#define HTTPD_READ_BUF (64 * 1024)
/* Head buffers are kept for reuse up to this many per server, so a busy
 * server does not malloc per request, and an idle one holds little. */
#define HTTPD_HEAD_CACHE 32
/* Released conn_http kept for the next handshakes: freed, each would leave a
 * hole among the long-lived blocks of the upgraded connections, which those
 * allocated later split into pieces too small to reuse (about 35 bytes per
 * idle connection at 5 000). 256 cover a burst of handshakes in flight. */
#define HTTPD_HTTP_CACHE 256
/* How long a closing connection keeps draining input after its last
 * response, so the peer sees the answer rather than a reset. */
#define HTTPD_LINGER_MS 2000
/* Hash buckets of the per-address counts, at most (a power of two). */
#define HTTPD_IP_BUCKETS 65536

enum conn_timer { TIMER_NONE, TIMER_HEAD, TIMER_IDLE, TIMER_LINGER, TIMER_RESUME, TIMER_RELEASE };

/* Per-request storage, allocated when a request starts and released when it
 * is answered: the header array and the copied URL and header bytes. */
struct head_buf {
	struct head_buf *next_free;
	size_t len;
	struct httpd_header headers[HTTPD_MAX_HEADERS];
	char data[];
};

/* Open sockets from one address (max_conns_per_ip); there while any is. */
struct ip_count {
	struct ip_count *next;      /* hash chain */
	unsigned n;
	unsigned char key[16];      /* IPv6, IPv4 mapped; IPv6 cut to its /64 */
};

struct httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct httpd_config cfg;
	int port;
	bool stopping, listener_closed;
	void (*done)(void *arg);
	void *done_arg;
	struct dlist conns;         /* every open connection, upgraded included */
	size_t n_conns;
	/* Open, not upgraded, not closing: oldest first, for max_pending. */
	struct httpd_conn *pend_head, *pend_tail;
	size_t n_pending;
	uint64_t evicted;
	struct ip_count **ip_buckets; /* NULL: no max_conns_per_ip */
	size_t ip_mask;
	uint64_t ip_seed, ip_refused;
	struct head_buf *head_cache;
	size_t n_head_cache;
	struct conn_http *http_cache; /* linked by next_free */
	size_t n_http_cache;
	size_t n_http_closing;      /* released, the timer's close callback due */
	bool rbuf_busy;
	char rbuf[HTTPD_READ_BUF];
};

/* What a connection needs only while it speaks HTTP, the request included,
 * allocated apart so
 * that an upgraded connection, which may live for hours, costs no more than
 * its socket: upgrade_release() closes the timer and frees this. */
struct conn_http {
	struct httpd_conn *conn;
	struct httpd *srv;          /* set when released; NULL if detached */
	struct conn_http *next_free;
	struct httpd_req req;
	struct httpd_conn *pend_prev, *pend_next;
	bool in_pending;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	http_parser parser;
	struct head_buf *head;
	size_t head_seen;           /* raw bytes of the current head so far */
	size_t url_off, url_len;
	bool in_value;              /* last header callback was a value */
	char *body;
	size_t body_cap;
	struct httpd_body_sink sink; /* while sinking: the body streams there */
	bool sinking;
	char *pending;              /* bytes read past the request being handled */
	size_t pending_len;
	const char *rest;           /* leftover bytes while on_upgrade runs */
	size_t rest_len;
	int fail_status;            /* set by a parser callback that refused */
	const char *fail_code, *fail_msg;
	enum conn_timer timer_mode;
	unsigned n_writes;
};

enum conn_phase {
	CONN_HEAD,      /* calloc's zero: a new connection awaits a head */
	CONN_BODY,
	CONN_COMPLETE,
	CONN_HANDLER,
	CONN_WRITING,
	CONN_LINGER,
	CONN_UPGRADED,
};

enum conn_close {
	CONN_OPEN,      /* calloc's zero */
	CONN_CLOSING,   /* handles being closed */
	CONN_CLOSED,    /* their close callbacks have run */
};

struct httpd_conn {
	struct httpd *srv;          /* NULL once detached by httpd_stop (upgraded) */
	struct dlist_node node;     /* in srv->conns while srv is set */
	uv_tcp_t tcp;
	struct conn_http *http;     /* NULL once released after an upgrade */
	struct ip_count *ipc;       /* its address's count, if bounded */
	unsigned pending_closes;
	unsigned depth;             /* > 0 while httpd code up the stack uses c */
	enum conn_phase phase;
	enum conn_close close;
	bool reading;               /* the stream is being read */
	bool keep_alive, is_upgrade; /* of the request at hand */
	bool in_on_upgrade;         /* cfg.on_upgrade is up the stack */
	void *owner;
	void (*on_closed)(void *owner);
	char peer[INET6_ADDRSTRLEN + 8];
};

struct write_req {
	uv_write_t req;
	struct httpd_conn *conn;
	char data[];
};

static void conn_close(struct httpd_conn *c);
static void upgrade_release(struct httpd_conn *c);
static void conn_process(struct httpd_conn *c, const char *data, size_t len);
static void conn_resume(struct httpd_conn *c);
static void conn_fail(struct httpd_conn *c, int status, const char *code, const char *msg);

/* ---- server bookkeeping ------------------------------------------------ */

static void srv_maybe_done(struct httpd *srv)
{
	struct head_buf *h;
	struct conn_http *http;

	if (!srv->stopping || !srv->listener_closed || !dlist_empty(&srv->conns) || srv->n_http_closing)
		return;
	while ((h = srv->head_cache)) {
		srv->head_cache = h->next_free;
		free(h);
	}
	while ((http = srv->http_cache)) {
		srv->http_cache = http->next_free;
		free(http);
	}
	free(srv->ip_buckets);
	void (*done)(void *) = srv->done;
	void *arg = srv->done_arg;
	free(srv);
	if (done)
		done(arg);
}

/* ---- sockets per address ---------------------------------------------- */

static struct ip_count **ip_bucket(const struct httpd *srv, const unsigned char key[16])
{
	uint64_t a, b, h;

	/* Seeded, so that which addresses share a chain cannot be known. */
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = (srv->ip_seed ^ a) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h = (h ^ b) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return &srv->ip_buckets[h & srv->ip_mask];
}

/* Counts c against its address. Returns false when the address has
 * max_conns_per_ip open already (or no memory): c must go. */
static bool ip_admit(struct httpd *srv, struct httpd_conn *c, const struct sockaddr_storage *ss)
{
	static const unsigned char v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned char key[16];
	struct ip_count **b, *e;

	if (!srv->ip_buckets)
		return true;
	if (ss->ss_family == AF_INET) {
		memcpy(key, v4, sizeof v4);
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		/* One host usually has a whole /64 to pick addresses from. */
		if (memcmp(key, v4, sizeof v4) != 0)
			memset(key + 8, 0, 8);
	} else {
		return true;
	}
	if (srv->cfg.ip_exempt && srv->cfg.ip_exempt((const struct sockaddr *)ss, srv->cfg.ud))
		return true;
	b = ip_bucket(srv, key);
	for (e = *b; e && memcmp(e->key, key, 16) != 0; e = e->next)
		;
	if (e && e->n >= srv->cfg.max_conns_per_ip)
		return false;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		memcpy(e->key, key, 16);
		e->next = *b;
		*b = e;
	}
	e->n++;
	c->ipc = e;
	return true;
}

static void ip_release(struct httpd *srv, struct httpd_conn *c)
{
	struct ip_count *e = c->ipc, **pp;

	if (!e)
		return;
	c->ipc = NULL;
	if (--e->n)
		return;
	for (pp = ip_bucket(srv, e->key); *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free(e);
}

static void srv_unlink(struct httpd_conn *c)
{
	struct httpd *srv = c->srv;

	if (!srv)
		return;
	ip_release(srv, c);
	dlist_remove(&srv->conns, &c->node);
	srv->n_conns--;
	c->srv = NULL;
}

static struct head_buf *head_get(struct httpd *srv)
{
	struct head_buf *h = srv->head_cache;

	if (h) {
		srv->head_cache = h->next_free;
		srv->n_head_cache--;
	} else {
		h = malloc(sizeof(*h) + srv->cfg.max_header_bytes);
		if (!h)
			return NULL;
	}
	h->len = 0;
	return h;
}

static void head_put(struct httpd *srv, struct head_buf *h)
{
	if (!h)
		return;
	if (srv && !srv->stopping && srv->n_head_cache < HTTPD_HEAD_CACHE) {
		h->next_free = srv->head_cache;
		srv->head_cache = h;
		srv->n_head_cache++;
		return;
	}
	free(h);
}

static struct conn_http *http_get(struct httpd *srv)
{
	struct conn_http *http = srv->http_cache;

	if (!http)
		return calloc(1, sizeof(*http));
	srv->http_cache = http->next_free;
	srv->n_http_cache--;
	memset(http, 0, sizeof(*http));
	return http;
}

static void pending_add(struct httpd *srv, struct httpd_conn *c)
{
	c->http->pend_next = NULL;
	c->http->pend_prev = srv->pend_tail;
	if (srv->pend_tail)
		srv->pend_tail->http->pend_next = c;
	else
		srv->pend_head = c;
	srv->pend_tail = c;
	srv->n_pending++;
	c->http->in_pending = true;
}

static void pending_remove(struct httpd_conn *c)
{
	struct httpd *srv = c->srv;

	if (!c->http || !c->http->in_pending || !srv)
		return;
	if (c->http->pend_prev)
		c->http->pend_prev->http->pend_next = c->http->pend_next;
	else
		srv->pend_head = c->http->pend_next;
	if (c->http->pend_next)
		c->http->pend_next->http->pend_prev = c->http->pend_prev;
	else
		srv->pend_tail = c->http->pend_prev;
	c->http->pend_prev = c->http->pend_next = NULL;
	srv->n_pending--;
	c->http->in_pending = false;
}

/* ---- connection lifetime ----------------------------------------------- */

/* A streamed body that will not reach on_request: its sink lets go. */
static void sink_abort(struct httpd_conn *c)
{
	if (!c->http || !c->http->sinking)
		return;
	c->http->sinking = false;
	if (c->http->sink.on_abort)
		c->http->sink.on_abort(c->http->sink.arg);
}

static void conn_free(struct httpd_conn *c)
{
	struct httpd *srv = c->srv;

	assert(c->close == CONN_CLOSED);
	sink_abort(c);
	if (c->phase == CONN_UPGRADED && c->on_closed)
		c->on_closed(c->owner);
	if (c->http) {
		head_put(srv, c->http->head);
		free(c->http->body);
		free(c->http->pending);
		free(c->http);
	}
	srv_unlink(c);
	free(c);
	if (srv)
		srv_maybe_done(srv);
}

/* Frees c if nothing still needs it: both handles closed, no request with a
 * handler, no httpd frame up the stack. */
static void conn_maybe_free(struct httpd_conn *c)
{
	if (c->close == CONN_CLOSED && c->phase != CONN_HANDLER && c->depth == 0)
		conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct httpd_conn *c = h->type == UV_TCP
		? container_of((uv_tcp_t *)h, struct httpd_conn, tcp)
		: container_of((uv_timer_t *)h, struct conn_http, timer)->conn;

	if (--c->pending_closes == 0) {
		assert(c->close == CONN_CLOSING);
		c->close = CONN_CLOSED;
		conn_maybe_free(c);
	}
}

static void conn_close(struct httpd_conn *c)
{
	if (c->close != CONN_OPEN)
		return;
	pending_remove(c);
	c->close = CONN_CLOSING;
	c->reading = false;
	c->pending_closes = c->http ? 2 : 1;
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	if (c->http)
		uv_close((uv_handle_t *)&c->http->timer, on_handle_closed);
}

/* ---- timers and reading ------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
	struct httpd_conn *c = container_of(t, struct conn_http, timer)->conn;
	enum conn_timer mode = c->http->timer_mode;
	char *buf;
	size_t len;

	c->http->timer_mode = TIMER_NONE;
	if (mode == TIMER_RELEASE) {
		upgrade_release(c);
		return;
	}
	if (mode != TIMER_RESUME) {
		conn_close(c);
		return;
	}
	buf = c->http->pending;
	len = c->http->pending_len;
	c->http->pending = NULL;
	c->http->pending_len = 0;
	c->depth++;
	conn_process(c, buf, len);
	c->depth--;
	free(buf);
	conn_maybe_free(c);
}

static void conn_timer(struct httpd_conn *c, enum conn_timer mode, uint64_t ms)
{
	c->http->timer_mode = mode;
	if (mode == TIMER_NONE)
		uv_timer_stop(&c->http->timer);
	else
		uv_timer_start(&c->http->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct httpd_conn *c = container_of((uv_tcp_t *)h, struct httpd_conn, tcp);
	struct httpd *srv = c->srv;

	/* Every read is consumed (parsed, copied or discarded) before the read
	 * callback returns, so one buffer per server serves all connections. */
	if (!srv || srv->rbuf_busy) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	srv->rbuf_busy = true;
	*buf = uv_buf_init(srv->rbuf, sizeof(srv->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct httpd_conn *c = container_of((uv_tcp_t *)s, struct httpd_conn, tcp);
	struct httpd *srv = c->srv;

	if (n < 0) {
		if (buf->base && srv)
			srv->rbuf_busy = false;
		conn_close(c);
		return;
	}
	if (c->phase == CONN_LINGER || n == 0) {
		if (buf->base && srv)
			srv->rbuf_busy = false;
		return;
	}
	c->depth++;
	conn_process(c, buf->base, (size_t)n);
	c->depth--;
	if (srv)
		srv->rbuf_busy = false;
	conn_maybe_free(c);
}

static void conn_read_start(struct httpd_conn *c)
{
	if (c->reading || c->close != CONN_OPEN)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	c->reading = true;
}

static void conn_read_stop(struct httpd_conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

/* ---- writing ----------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct httpd_conn *c = container_of(req, struct conn_http, shutdown)->conn;

	if (status < 0)
		conn_close(c);
}

static void conn_linger(struct httpd_conn *c)
{
	if (c->close != CONN_OPEN)
		return;
	assert(c->phase != CONN_LINGER && c->phase != CONN_UPGRADED && c->phase != CONN_HANDLER);
	c->phase = CONN_LINGER;
	if (uv_shutdown(&c->http->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		conn_close(c);
		return;
	}
	conn_read_start(c);
	conn_timer(c, TIMER_LINGER, HTTPD_LINGER_MS);
}

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = container_of(req, struct write_req, req);
	struct httpd_conn *c = w->conn;

	free(w);
	/* A 100 Continue that was still leaving when the connection was
	 * upgraded: the stream, and its errors, are the owner's now. */
	if (c->phase == CONN_UPGRADED)
		return;
	c->http->n_writes--;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->http->n_writes == 0 && c->phase == CONN_WRITING)
		conn_resume(c);
}

/* Writes bufs: directly when the socket takes them, else the remainder is
 * copied into a write request that owns it. */
static int conn_write(struct httpd_conn *c, uv_buf_t *bufs, unsigned nbufs)
{
	uv_stream_t *s = (uv_stream_t *)&c->tcp;
	size_t total = 0, done = 0, off = 0;
	struct write_req *w;
	uv_buf_t wb;
	int rc;

	for (unsigned i = 0; i < nbufs; i++)
		total += bufs[i].len;
	if (c->http->n_writes == 0) {
		rc = uv_try_write(s, bufs, nbufs);
		if (rc < 0 && rc != UV_EAGAIN)
			return rc;
		if (rc > 0)
			done = (size_t)rc;
		if (done == total)
			return 0;
	}
	w = malloc(sizeof(*w) + total - done);
	if (!w)
		return UV_ENOMEM;
	for (unsigned i = 0; i < nbufs; i++) {
		size_t skip = done > bufs[i].len ? bufs[i].len : done;

		done -= skip;
		memcpy(w->data + off, bufs[i].base + skip, bufs[i].len - skip);
		off += bufs[i].len - skip;
	}
	w->conn = c;
	wb = uv_buf_init(w->data, (unsigned)off);
	rc = uv_write(&w->req, s, &wb, 1, on_write);
	if (rc < 0) {
		free(w);
		return rc;
	}
	c->http->n_writes++;
	return 0;
}

static int conn_send(struct httpd_conn *c, int status, const char *content_type,
		     const char *extra, const char *body, size_t body_len, bool keep)
{
	char stack[1536]; /* the backend's security headers fit */
	char *head = stack;
	size_t cap = sizeof(stack);
	const char *always = c->srv->cfg.headers ? c->srv->cfg.headers : "";
	size_t need = 160 + (content_type ? strlen(content_type) : 0) + (extra ? strlen(extra) : 0) +
		      strlen(always);
	uv_buf_t bufs[2];
	int n, rc;

	if (!body)
		body_len = 0;
	if (need > cap) {
		head = malloc(need);
		if (!head)
			return UV_ENOMEM;
		cap = need;
	}
	n = snprintf(head, cap, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\nConnection: %s\r\n%s%s\r\n",
		     status, http_status_str((enum http_status)status),
		     content_type ? "Content-Type: " : "", content_type ? content_type : "",
		     content_type ? "\r\n" : "", body_len, keep ? "keep-alive" : "close",
		     always, extra ? extra : "");
	if (n < 0 || (size_t)n >= cap) {
		rc = UV_EINVAL;
		goto out_free_head;
	}
	bufs[0] = uv_buf_init(head, (unsigned)n);
	/* A HEAD answer announces the length but carries no body. */
	if (c->http->req.method == HTTP_HEAD)
		body_len = 0;
	bufs[1] = uv_buf_init((char *)body, (unsigned)body_len);
	rc = conn_write(c, bufs, body_len ? 2 : 1);
out_free_head:
	if (head != stack)
		free(head);
	return rc;
}

/* ---- requests ---------------------------------------------------------- */

static void req_release(struct httpd_conn *c)
{
	head_put(c->srv, c->http->head);
	c->http->head = NULL;
	free(c->http->body);
	c->http->body = NULL;
	c->http->body_cap = 0;
	memset(&c->http->req, 0, sizeof(c->http->req));
	c->http->req.conn = c;
	c->http->req.peer = c->peer;
	c->http->head_seen = 0;
	c->http->url_len = 0;
	c->is_upgrade = false;
}

static void http_closed(uv_handle_t *h)
{
	struct conn_http *http = container_of((uv_timer_t *)h, struct conn_http, timer);
	struct httpd *srv = http->srv;

	if (!srv) {
		free(http);
		return;
	}
	srv->n_http_closing--;
	if (!srv->stopping && srv->n_http_cache < HTTPD_HTTP_CACHE) {
		http->next_free = srv->http_cache;
		srv->http_cache = http;
		srv->n_http_cache++;
	} else {
		free(http);
	}
	srv_maybe_done(srv);
}

/* An upgraded connection may live for hours and should cost no more than
 * its socket: everything of HTTP goes, the request included (its peer is
 * c->peer, which stays), the timer's memory once libuv is done with it. */
static void upgrade_release(struct httpd_conn *c)
{
	struct conn_http *http = c->http;

	/* Closing: conn_close() closes the timer and conn_free() frees. */
	if (!http || c->close != CONN_OPEN)
		return;
	head_put(c->srv, http->head);
	free(http->body);
	free(http->pending);
	c->http = NULL;
	http->srv = c->srv;
	if (http->srv)
		http->srv->n_http_closing++;
	uv_close((uv_handle_t *)&http->timer, http_closed);
}

/* After a response with keep-alive: go on with buffered bytes (on the next
 * loop turn, so that a handler answering at once does not recurse) or read. */
static void conn_resume(struct httpd_conn *c)
{
	assert(c->phase == CONN_WRITING);
	if (c->close != CONN_OPEN)
		return;
	/* A client that sends requests but does not read the answers would
	 * have them pile up here: take the next request once the socket has
	 * taken this one (on_write comes back). */
	if (c->http->n_writes)
		return;
	c->phase = CONN_HEAD;
	http_parser_pause(&c->http->parser, 0);
	if (c->http->pending_len) {
		conn_timer(c, TIMER_RESUME, 0);
		return;
	}
	conn_timer(c, TIMER_IDLE, c->srv->cfg.idle_timeout_ms);
	conn_read_start(c);
}

static void conn_fail(struct httpd_conn *c, int status, const char *code, const char *msg)
{
	char body[192];
	int n;

	conn_read_stop(c);
	conn_timer(c, TIMER_NONE, 0);
	sink_abort(c);
	free(c->http->pending);
	c->http->pending = NULL;
	c->http->pending_len = 0;
	n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
	c->http->req.method = HTTP_GET;
	if (conn_send(c, status, "application/json", NULL, body, (size_t)n, false) < 0) {
		conn_close(c);
		return;
	}
	conn_linger(c);
}

static void split_url(struct httpd_conn *c)
{
	struct httpd_req *r = &c->http->req;
	const char *url = c->http->head->data + c->http->url_off;
	struct http_parser_url u;
	size_t i;

	if (c->http->url_len && url[0] == '/') {
		for (i = 0; i < c->http->url_len && url[i] != '?' && url[i] != '#'; i++)
			;
		r->path = url;
		r->path_len = i;
		if (i < c->http->url_len && url[i] == '?') {
			size_t q = ++i;

			while (i < c->http->url_len && url[i] != '#')
				i++;
			r->query = url + q;
			r->query_len = i - q;
		}
		return;
	}
	/* Absolute form ("http://host/p?q"), authority form (CONNECT) or "*". */
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, c->http->url_len, r->method == HTTP_CONNECT, &u) == 0) {
		if (u.field_set & (1 << UF_PATH)) {
			r->path = url + u.field_data[UF_PATH].off;
			r->path_len = u.field_data[UF_PATH].len;
		}
		if (u.field_set & (1 << UF_QUERY)) {
			r->query = url + u.field_data[UF_QUERY].off;
			r->query_len = u.field_data[UF_QUERY].len;
		}
	}
	if (!r->path) {
		r->path = url;
		r->path_len = c->http->url_len;
	}
}

static struct httpd_conn *parser_conn(http_parser *p)
{
	return container_of(p, struct conn_http, parser)->conn;
}

static int refuse(struct httpd_conn *c, int status, const char *code, const char *msg)
{
	c->http->fail_status = status;
	c->http->fail_code = code;
	c->http->fail_msg = msg;
	return -1;
}

static int head_append(struct httpd_conn *c, const char *at, size_t len)
{
	struct head_buf *h = c->http->head;

	if (len > c->srv->cfg.max_header_bytes - h->len)
		return refuse(c, 431, "header_too_large", "request head too large");
	memcpy(h->data + h->len, at, len);
	h->len += len;
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct httpd_conn *c = parser_conn(p);

	if (!c->http->head) {
		c->http->head = head_get(c->srv);
		if (!c->http->head)
			return refuse(c, 503, "out_of_memory", "server out of memory");
	}
	c->http->head->len = 0;
	c->http->in_value = false;
	/* The head timeout runs from the first byte of a request, except for the
	 * first one, whose clock started at accept. */
	if (c->http->timer_mode != TIMER_HEAD)
		conn_timer(c, TIMER_HEAD, c->srv->cfg.header_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = parser_conn(p);

	if (c->http->url_len == 0)
		c->http->url_off = c->http->head->len;
	c->http->url_len += len;
	return head_append(c, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = parser_conn(p);
	struct httpd_header *hd;

	/* Trailers after a chunked body are not kept (the parser bounds them). */
	if (c->phase != CONN_HEAD)
		return 0;
	if (c->http->req.n_headers == 0 || c->http->in_value) {
		if (c->http->req.n_headers == HTTPD_MAX_HEADERS)
			return refuse(c, 431, "header_too_large", "too many header fields");
		hd = &c->http->head->headers[c->http->req.n_headers++];
		hd->name = c->http->head->data + c->http->head->len;
		hd->name_len = 0;
		hd->value = hd->name;
		hd->value_len = 0;
		c->http->in_value = false;
	}
	hd = &c->http->head->headers[c->http->req.n_headers - 1];
	hd->name_len += len;
	return head_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = parser_conn(p);
	struct httpd_header *hd;

	if (c->phase != CONN_HEAD)
		return 0;
	hd = &c->http->head->headers[c->http->req.n_headers - 1];
	if (!c->http->in_value) {
		hd->value = c->http->head->data + c->http->head->len;
		c->http->in_value = true;
	}
	hd->value_len += len;
	return head_append(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct httpd_conn *c = parser_conn(p);
	struct httpd *srv = c->srv;
	struct httpd_req *r = &c->http->req;
	size_t len;
	const char *v;

	assert(c->phase == CONN_HEAD);
	c->phase = CONN_BODY;
	r->method = p->method;
	r->http_major = p->http_major;
	r->http_minor = p->http_minor;
	r->headers = c->http->head->headers;
	for (size_t i = 0; i < r->n_headers; i++) {
		struct httpd_header *hd = &c->http->head->headers[i];

		while (hd->value_len && (hd->value[hd->value_len - 1] == ' ' ||
					 hd->value[hd->value_len - 1] == '\t'))
			hd->value_len--;
	}
	split_url(c);
	if (srv->cfg.on_head && !p->upgrade) {
		struct httpd_head_refusal no = { 0 };

		switch (srv->cfg.on_head(r, srv->cfg.ud, &c->http->sink, &no)) {
		case HTTPD_HEAD_REFUSE:
			return refuse(c, no.status, no.code, no.msg);
		case HTTPD_HEAD_STREAM:
			c->http->sinking = true;
			if (!(p->flags & F_CHUNKED) && (p->flags & F_CONTENTLENGTH) &&
			    p->content_length > c->http->sink.max_bytes)
				return refuse(c, 413, c->http->sink.too_large_code, c->http->sink.too_large_msg);
			break;
		case HTTPD_HEAD_BUFFER:
			break;
		}
	}
	if (!c->http->sinking && !(p->flags & F_CHUNKED) && (p->flags & F_CONTENTLENGTH) &&
	    p->content_length) {
		if (p->content_length > srv->cfg.max_body_bytes)
			return refuse(c, 413, "body_too_large", "request body too large");
		c->http->body = malloc(p->content_length);
		if (!c->http->body)
			return refuse(c, 503, "out_of_memory", "server out of memory");
		c->http->body_cap = p->content_length;
	}
	v = httpd_header(r, "Expect", &len);
	if (v && len == 12 && strncasecmp(v, "100-continue", 12) == 0 &&
	    ((p->flags & F_CHUNKED) || p->content_length)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);

		if (conn_write(c, &b, 1) < 0)
			return refuse(c, 400, "bad_request", "cannot continue");
	}
	return 0;
}

static int on_chunk_header(http_parser *p)
{
	struct httpd_conn *c = parser_conn(p);

	if (c->http->sinking) {
		if (p->content_length > c->http->sink.max_bytes - c->http->req.stream_len)
			return refuse(c, 413, c->http->sink.too_large_code, c->http->sink.too_large_msg);
		return 0;
	}
	if (p->content_length > c->srv->cfg.max_body_bytes - c->http->req.body_len)
		return refuse(c, 413, "body_too_large", "request body too large");
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = parser_conn(p);
	struct httpd_req *r = &c->http->req;
	int rc;

	if (c->http->sinking) {
		if (len > c->http->sink.max_bytes - r->stream_len)
			return refuse(c, 413, c->http->sink.too_large_code, c->http->sink.too_large_msg);
		rc = c->http->sink.on_data(c->http->sink.arg, at, len);
		if (rc == UV_ENOSPC)
			return refuse(c, 507, "insufficient_storage", "no room to store the body");
		if (rc < 0)
			return refuse(c, 500, "internal", "the body could not be stored");
		r->stream_len += len;
		conn_timer(c, TIMER_HEAD, c->srv->cfg.header_timeout_ms);
		return 0;
	}
	if (len > c->srv->cfg.max_body_bytes - r->body_len)
		return refuse(c, 413, "body_too_large", "request body too large");
	if (len > c->http->body_cap - r->body_len) {
		size_t cap = c->http->body_cap ? c->http->body_cap * 2 : 1024;
		char *nb;

		while (cap - r->body_len < len)
			cap *= 2;
		if (cap > c->srv->cfg.max_body_bytes)
			cap = c->srv->cfg.max_body_bytes;
		nb = realloc(c->http->body, cap);
		if (!nb)
			return refuse(c, 503, "out_of_memory", "server out of memory");
		c->http->body = nb;
		c->http->body_cap = cap;
	}
	memcpy(c->http->body + r->body_len, at, len);
	r->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct httpd_conn *c = parser_conn(p);

	assert(c->phase == CONN_BODY);
	c->phase = CONN_COMPLETE;
	c->keep_alive = http_should_keep_alive(p);
	c->is_upgrade = p->upgrade;
	c->http->req.body = c->http->req.body_len ? c->http->body : NULL;
	if (c->http->sinking) {
		c->http->sinking = false;
		c->http->req.stream = c->http->sink.arg;
	}
	/* One request at a time: stop here, the rest waits for the answer. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
	.on_chunk_header = on_chunk_header,
};

static int save_pending(struct httpd_conn *c, const char *data, size_t len)
{
	if (!len)
		return 0;
	c->http->pending = malloc(len);
	if (!c->http->pending)
		return UV_ENOMEM;
	memcpy(c->http->pending, data, len);
	c->http->pending_len = len;
	return 0;
}

static void dispatch_upgrade(struct httpd_conn *c, const char *rest, size_t rest_len)
{
	struct httpd *srv = c->srv;

	c->keep_alive = false;
	if (!srv->cfg.on_upgrade) {
		c->phase = CONN_WRITING;
		conn_fail(c, 400, "bad_request", "upgrade not supported here");
		return;
	}
	c->http->rest = rest;
	c->http->rest_len = rest_len;
	c->in_on_upgrade = true;
	srv->cfg.on_upgrade(&c->http->req, srv->cfg.ud);
	c->in_on_upgrade = false;
	c->http->rest = NULL;
	c->http->rest_len = 0;
	if (c->phase == CONN_UPGRADED && c->close == CONN_OPEN) {
		upgrade_release(c);
		return;
	}
	/* Answered later: keep the leftover bytes for a late httpd_upgrade(). */
	if (c->phase == CONN_HANDLER && c->close == CONN_OPEN && save_pending(c, rest, rest_len) < 0)
		conn_close(c);
}

static void conn_process(struct httpd_conn *c, const char *data, size_t len)
{
	struct httpd *srv = c->srv;
	size_t off = 0;

	while (off < len && c->close == CONN_OPEN && c->phase != CONN_LINGER) {
		size_t n = len - off, used;
		enum http_errno err;

		if (c->phase == CONN_HEAD) {
			size_t room = srv->cfg.max_header_bytes - c->http->head_seen;

			if (room == 0) {
				conn_fail(c, 431, "header_too_large", "request head too large");
				return;
			}
			if (n > room)
				n = room;
		}
		used = http_parser_execute(&c->http->parser, &parser_settings, data + off, n);
		err = HTTP_PARSER_ERRNO(&c->http->parser);
		if (c->phase == CONN_HEAD)
			c->http->head_seen += used;
		off += used;
		if (err == HPE_OK && c->phase != CONN_COMPLETE && used < n)
			err = HPE_UNKNOWN;
		if (err != HPE_OK && err != HPE_PAUSED) {
			if (c->http->fail_status)
				conn_fail(c, c->http->fail_status, c->http->fail_code, c->http->fail_msg);
			else if (err == HPE_HEADER_OVERFLOW) /* the parser's own 80 KiB cap */
				conn_fail(c, 431, "header_too_large", "request head too large");
			else
				conn_fail(c, 400, "bad_request", http_errno_description(err));
			return;
		}
		if (c->phase != CONN_COMPLETE)
			continue;

		conn_read_stop(c);
		conn_timer(c, TIMER_NONE, 0);
		c->phase = CONN_HANDLER;
		if (c->is_upgrade) {
			dispatch_upgrade(c, data + off, len - off);
			return;
		}
		if (save_pending(c, data + off, len - off) < 0) {
			c->keep_alive = false;
			conn_close(c);
		}
		srv->cfg.on_request(&c->http->req, srv->cfg.ud);
		return;
	}
	if (c->close != CONN_OPEN || c->phase == CONN_LINGER)
		return;
	/* Only stray bytes between requests so far: the idle clock applies. */
	if (c->http->timer_mode == TIMER_NONE)
		conn_timer(c, TIMER_IDLE, srv->cfg.idle_timeout_ms);
	conn_read_start(c);
}

/* ---- accepting --------------------------------------------------------- */

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

/* Sets c->peer; *ss receives the address (family AF_UNSPEC if unknown). */
static void format_peer(struct httpd_conn *c, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)ss, &len) == 0) {
		if (ss->ss_family == AF_INET6) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

			uv_ip6_name(a6, ip, sizeof(ip));
			port = ntohs(a6->sin6_port);
			snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, port);
			return;
		}
		uv_ip4_name((struct sockaddr_in *)ss, ip, sizeof(ip));
		port = ntohs(((struct sockaddr_in *)ss)->sin_port);
	} else {
		ss->ss_family = AF_UNSPEC;
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct httpd *srv = container_of((uv_tcp_t *)ls, struct httpd, listener);
	struct httpd_conn *c, *victim = NULL;
	struct sockaddr_storage ss;

	if (status < 0 || srv->stopping)
		return;
	if (srv->n_conns >= srv->cfg.max_conns ||
	    (srv->cfg.max_pending && srv->n_pending >= srv->cfg.max_pending)) {
		/* Sockets that never finish a request must not lock everyone
		 * else out: the oldest makes way (once the new one is known to
		 * be within its address's bound). One whose request is with a
		 * handler is about to be answered and stays. */
		if (srv->cfg.max_pending)
			for (victim = srv->pend_head; victim && victim->phase == CONN_HANDLER;
			     victim = victim->http->pend_next)
				;
		if (!victim)
			goto reject;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto reject;
	c->http = http_get(srv);
	if (!c->http) {
		free(c);
		goto reject;
	}
	c->http->conn = c;
	c->srv = srv;
	if (uv_tcp_init(srv->loop, &c->tcp) < 0) {
		free(c->http);
		free(c);
		goto reject;
	}
	uv_timer_init(srv->loop, &c->http->timer);
	dlist_push_front(&srv->conns, &c->node);
	srv->n_conns++;
	pending_add(srv, c);
	http_parser_init(&c->http->parser, HTTP_REQUEST);
	req_release(c);
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	format_peer(c, &ss);
	if (!ip_admit(srv, c, &ss)) {
		srv->ip_refused++;
		conn_close(c);
		return;
	}
	if (victim) {
		srv->evicted++;
		conn_close(victim);
	}
	conn_timer(c, TIMER_HEAD, srv->cfg.header_timeout_ms);
	conn_read_start(c);
	return;

reject: ;
	uv_tcp_t *t = malloc(sizeof(*t));

	/* Accepted only to be closed: left in the backlog it would be
	 * reported again at once. */
	if (!t)
		return;
	if (uv_tcp_init(srv->loop, t) < 0) {
		free(t);
		return;
	}
	uv_accept(ls, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_reject_closed);
}

/* ---- public API -------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
	struct httpd *srv = container_of((uv_tcp_t *)h, struct httpd, listener);

	srv->listener_closed = true;
	srv_maybe_done(srv);
}

int httpd_start(uv_loop_t *loop, const struct httpd_config *cfg, struct httpd **out)
{
	const char *host = cfg->host ? cfg->host : "0.0.0.0";
	struct sockaddr_storage ss;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	struct httpd *srv;
	int rc;

	if (!cfg->on_request)
		return UV_EINVAL;
	if (uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&ss) < 0 &&
	    uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&ss) < 0)
		return UV_EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return UV_ENOMEM;
	srv->loop = loop;
	srv->cfg = *cfg;
	srv->cfg.host = NULL;
	if (!srv->cfg.max_header_bytes)
		srv->cfg.max_header_bytes = 8192;
	if (!srv->cfg.max_body_bytes)
		srv->cfg.max_body_bytes = 65536;
	if (!srv->cfg.header_timeout_ms)
		srv->cfg.header_timeout_ms = 10000;
	if (!srv->cfg.idle_timeout_ms)
		srv->cfg.idle_timeout_ms = 60000;
	if (!srv->cfg.max_conns)
		srv->cfg.max_conns = 10000;
	if (srv->cfg.max_conns_per_ip) {
		size_t n = 1;

		while (n < srv->cfg.max_conns && n < HTTPD_IP_BUCKETS)
			n <<= 1;
		srv->ip_buckets = calloc(n, sizeof(*srv->ip_buckets));
		if (!srv->ip_buckets) {
			free(srv);
			return UV_ENOMEM;
		}
		srv->ip_mask = n - 1;
		if (uv_random(NULL, NULL, &srv->ip_seed, sizeof(srv->ip_seed), 0, NULL) < 0)
			srv->ip_seed = uv_hrtime();
	}
	rc = uv_tcp_init(loop, &srv->listener);
	if (rc < 0)
		goto out_free;
	rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
	if (rc < 0)
		goto out_close;
	rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
	if (rc < 0)
		goto out_close;
	rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
	if (rc < 0)
		goto out_close;
	srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
				: ((struct sockaddr_in *)&bound)->sin_port);
	*out = srv;
	return 0;

out_close:
	/* libuv refers to the handle until its close callback: srv is freed
	 * there, with no done callback to call. */
	srv->stopping = true;
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
	return rc;
out_free:
	free(srv->ip_buckets);
	free(srv);
	return rc;
}

int httpd_port(const struct httpd *srv)
{
	return srv->port;
}

void httpd_stop(struct httpd *srv, void (*done)(void *arg), void *arg)
{
	struct httpd_conn *c, *next;

	if (!srv || srv->stopping)
		return;
	srv->stopping = true;
	srv->done = done;
	srv->done_arg = arg;
	dlist_for_each_safe(c, next, &srv->conns, node) {
		if (c->phase == CONN_UPGRADED)
			srv_unlink(c);
		else
			conn_close(c);
	}
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}

const char *httpd_header(const struct httpd_req *req, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct httpd_header *h = &req->headers[i];

		if (h->name_len == nl && strncasecmp(h->name, name, nl) == 0) {
			if (len)
				*len = h->value_len;
			return h->value;
		}
	}
	return NULL;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes one character of a form-encoded string at *i, advancing *i. A '%'
 * not followed by two hex digits stands for itself, as in the URL
 * standard's percent-decoding. */
static int decode_char(const char *s, size_t len, size_t *i)
{
	char ch = s[*i];
	int hi, lo;

	(*i)++;
	if (ch == '+')
		return ' ';
	if (ch != '%' || *i + 2 > len)
		return (unsigned char)ch;
	hi = hexval(s[*i]);
	lo = hexval(s[*i + 1]);
	if (hi < 0 || lo < 0)
		return '%';
	*i += 2;
	return hi << 4 | lo;
}

static bool decoded_equals(const char *s, size_t len, const char *key)
{
	size_t i = 0;

	while (i < len) {
		if (!*key || decode_char(s, len, &i) != (unsigned char)*key)
			return false;
		key++;
	}
	return *key == '\0';
}

/* The length s[0..len) decodes to, if that fits in out_len bytes with a
 * NUL and holds no NUL byte of its own; else -1. */
static long decoded_len(const char *s, size_t len, size_t out_len)
{
	size_t i = 0, n = 0;

	if (out_len == 0)
		return -1;
	while (i < len)
		if (decode_char(s, len, &i) == 0 || ++n >= out_len)
			return -1;
	return (long)n;
}

/* Decodes s[0..len) into out, NUL-terminated; decoded_len() said it fits. */
static void decode_into(const char *s, size_t len, char *out)
{
	size_t i = 0, n = 0;

	while (i < len)
		out[n++] = (char)decode_char(s, len, &i);
	out[n] = '\0';
}

struct query_param {
	const char *key, *val;  /* still encoded */
	size_t key_len, val_len;
};

/* Splits off the parameter at pos (< query_len); returns the next pos. */
static size_t query_param_at(const struct httpd_req *req, size_t pos, struct query_param *p)
{
	const char *q = req->query + pos, *end = req->query + req->query_len;
	const char *amp = memchr(q, '&', (size_t)(end - q));
	const char *pe = amp ? amp : end;
	const char *eq = memchr(q, '=', (size_t)(pe - q));

	p->key = q;
	p->key_len = (size_t)((eq ? eq : pe) - q);
	p->val = eq ? eq + 1 : pe;
	p->val_len = (size_t)(pe - p->val);
	return (size_t)(pe - req->query) + (amp ? 1 : 0);
}

int httpd_query(const struct httpd_req *req, const char *key, char *out, size_t out_len)
{
	struct query_param p;
	size_t pos = 0;
	long n;

	if (!req->query)
		return -1;
	while (pos < req->query_len) {
		pos = query_param_at(req, pos, &p);
		if (decoded_equals(p.key, p.key_len, key)) {
			n = decoded_len(p.val, p.val_len, out_len < (size_t)INT_MAX ? out_len : (size_t)INT_MAX);
			if (n < 0)
				return -2;
			decode_into(p.val, p.val_len, out);
			return (int)n;
		}
	}
	return -1;
}

int httpd_query_next(const struct httpd_req *req, size_t *pos, char *key, size_t key_len,
		     char *val, size_t val_len)
{
	struct query_param p;

	if (!req->query || *pos >= req->query_len)
		return 0;
	*pos = query_param_at(req, *pos, &p);
	if (decoded_len(p.key, p.key_len, key_len) < 0 || decoded_len(p.val, p.val_len, val_len) < 0)
		return -2;
	decode_into(p.key, p.key_len, key);
	decode_into(p.val, p.val_len, val);
	return 1;
}

int httpd_respond(struct httpd_req *req, int status, const char *content_type,
		  const char *extra_headers, const char *body, size_t body_len)
{
	struct httpd_conn *c = req->conn;
	bool keep;
	int rc;

	if (c->phase != CONN_HANDLER)
		return UV_EINVAL;
	c->phase = CONN_WRITING;
	if (c->close != CONN_OPEN) {
		conn_maybe_free(c);
		return UV_ECANCELED;
	}
	keep = c->keep_alive && !c->srv->stopping;
	c->depth++;
	rc = conn_send(c, status, content_type, extra_headers, body, body_len, keep);
	req_release(c);
	if (rc < 0)
		conn_close(c);
	else if (keep)
		conn_resume(c);
	else
		conn_linger(c);
	c->depth--;
	conn_maybe_free(c);
	return rc;
}

uv_stream_t *httpd_upgrade(struct httpd_req *req, void *owner, void (*on_closed)(void *owner),
			   const char **rest, size_t *rest_len)
{
	struct httpd_conn *c = req->conn;

	if (c->phase != CONN_HANDLER || !c->is_upgrade || c->close != CONN_OPEN)
		return NULL;
	c->phase = CONN_UPGRADED;
	pending_remove(c);
	c->owner = owner;
	c->on_closed = on_closed;
	conn_read_stop(c);
	conn_timer(c, TIMER_NONE, 0);
	if (c->in_on_upgrade) {
		*rest = c->http->rest;
		*rest_len = c->http->rest_len;
	} else {
		*rest = c->http->pending;
		*rest_len = c->http->pending_len;
		/* The caller is still using the request: release it next turn. */
		conn_timer(c, TIMER_RELEASE, 0);
	}
	c->tcp.data = owner;
	return (uv_stream_t *)&c->tcp;
}

void httpd_conn_close(struct httpd_conn *conn)
{
	if (!conn || conn->phase != CONN_UPGRADED)
		return;
	conn_close(conn);
}

size_t httpd_conn_count(const struct httpd *srv)
{
	return srv->n_conns;
}

size_t httpd_pending_count(const struct httpd *srv)
{
	return srv->n_pending;
}

uint64_t httpd_pending_evicted(const struct httpd *srv)
{
	return srv->evicted;
}

uint64_t httpd_ip_refused(const struct httpd *srv)
{
	return srv->ip_refused;
}
