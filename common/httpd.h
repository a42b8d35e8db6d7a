/* httpd: an HTTP/1.1 server on libuv and http-parser.
 *
 * One struct httpd listens; each accepted socket is a struct httpd_conn that
 * httpd owns. A connection parses one request at a time (keep-alive, no
 * pipelined processing: reading pauses until the response is written), with
 * limits on the request head and body, a timeout for the head to arrive and
 * an idle timeout between requests. Limit violations are answered by httpd
 * itself with a JSON error and the connection is closed:
 *   head over max_header_bytes → 431, body over max_body_bytes → 413,
 *   unparsable request → 400, head not complete in header_timeout_ms → closed.
 *
 * Contract with the handler: every request passed to on_request gets exactly
 * one httpd_respond() (now or later, e.g. after a database query). The
 * request and its connection stay valid until then, even if the peer has
 * gone: httpd then discards the response and frees the connection.
 *
 * Upgrade: a request with "Connection: upgrade" goes to on_upgrade (if set,
 * else it gets 400). That handler either rejects it with httpd_respond() or
 * takes the socket over with httpd_upgrade().
 *
 * The program must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): a write to a
 * peer that has gone is then an error return instead of the end of the
 * process. httpd does not change signal dispositions itself. */
#ifndef STATEROOM_HTTPD_H
#define STATEROOM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct httpd;
struct httpd_conn;

struct httpd_header {
	const char *name, *value;   /* not NUL-terminated */
	size_t name_len, value_len;
};

struct httpd_req {
	struct httpd_conn *conn;
	int method;                 /* enum http_method from http_parser.h */
	unsigned short http_major, http_minor;  /* the request line's HTTP version */
	const char *path;           /* decoded no further; without the query */
	size_t path_len;
	const char *query;          /* after '?', or NULL */
	size_t query_len;
	const struct httpd_header *headers;
	size_t n_headers;
	const char *body;           /* NULL when empty */
	size_t body_len;
	const char *peer;           /* "ip:port" of the client, NUL-terminated */
	/* A streamed body (see on_head): the sink's arg, now the handler's,
	 * and how many bytes went to it; body is then NULL and body_len 0. */
	void *stream;
	uint64_t stream_len;
};

typedef void (*httpd_request_fn)(struct httpd_req *req, void *ud);

/* Where a streamed request body goes (on_head). */
struct httpd_body_sink {
	/* Bytes at most: a Content-Length over it is refused with 413 before
	 * any of the body is read, a chunked body as it crosses it. */
	uint64_t max_bytes;
	const char *too_large_code, *too_large_msg;  /* the 413's error; static */
	/* Each piece of the body as it arrives. 0 goes on; a negative errno
	 * refuses the request (UV_ENOSPC: 507 insufficient_storage, else 500). */
	int (*on_data)(void *arg, const char *data, size_t len);
	/* The request ended before on_request had it (refused, timed out, peer
	 * gone, server stopping): arg is freed here, once. Never called after
	 * on_request has had it; arg is then the handler's (req->stream). */
	void (*on_abort)(void *arg);
	void *arg;
};

/* Returned by on_head. */
enum httpd_head_result {
	HTTPD_HEAD_BUFFER,  /* the body is read into req->body (max_body_bytes) */
	HTTPD_HEAD_STREAM,  /* the body goes to the sink filled in */
	HTTPD_HEAD_REFUSE,  /* answered with the sink's fail_* below, body unread */
};

/* on_head's answer when it refuses; static strings. */
struct httpd_head_refusal {
	int status;
	const char *code, *msg;
};

typedef enum httpd_head_result (*httpd_head_fn)(const struct httpd_req *req, void *ud,
						struct httpd_body_sink *sink,
						struct httpd_head_refusal *refusal);

struct httpd_config {
	const char *host;           /* listen address, e.g. "127.0.0.1" */
	int port;                   /* 0 picks a free port: see httpd_port() */
	size_t max_header_bytes;    /* request line + headers; 0: 8192 */
	size_t max_body_bytes;      /* 0: 65536 */
	uint64_t header_timeout_ms; /* 0: 10000 */
	uint64_t idle_timeout_ms;   /* keep-alive idle; 0: 60000 */
	/* Open sockets at most; 0: 10000. A new socket past it closes the
	 * oldest connection max_pending would (if max_pending is set and one
	 * can go), else itself. */
	unsigned max_conns;
	/* Connections not upgraded (a handshake under way, or plain HTTP) at
	 * most; a new socket past it closes the oldest of them that is not with
	 * a handler (else the new socket). 0: no bound but max_conns. */
	unsigned max_pending;
	/* Open sockets from one address at most (an IPv6 address counts by its
	 * /64); a new one past it is closed at once, before it can close
	 * anyone else's. 0: no bound. ip_exempt, if set, names addresses that
	 * are not bounded (a reverse proxy's). */
	unsigned max_conns_per_ip;
	bool (*ip_exempt)(const struct sockaddr *addr, void *ud);
	httpd_request_fn on_request;
	/* Optional: sees every request's head (path, query, headers) before
	 * its body is read, and may have the body streamed to a sink instead
	 * of held in memory (with a limit of its own), or refuse the request
	 * before its body is read. While a body streams, each piece re-arms
	 * the header timeout: a body must keep moving, not arrive within it. */
	httpd_head_fn on_head;
	httpd_request_fn on_upgrade; /* NULL: upgrades are refused with 400 */
	/* Optional: header lines sent with every answer this server gives,
	 * its own refusals too (each line ending "\r\n"); not copied, so it must
	 * outlive the server. The backend's security headers. */
	const char *headers;
	void *ud;
};

/* Binds and listens. Returns 0 and *out, or a negative libuv error (nothing
 * to free). cfg is copied. */
int httpd_start(uv_loop_t *loop, const struct httpd_config *cfg, struct httpd **out);

/* The bound port (useful after port 0). */
int httpd_port(const struct httpd *srv);

/* Stops listening and closes every connection that is not upgraded; done(arg)
 * runs once all of httpd's handles are closed and srv is freed. Upgraded
 * connections belong to their owner and are closed by it. */
void httpd_stop(struct httpd *srv, void (*done)(void *arg), void *arg);

/* Case-insensitive header look-up; the first match, or NULL. *len receives
 * the value's length. */
const char *httpd_header(const struct httpd_req *req, const char *name, size_t *len);

/* Copies the percent-decoded value of query parameter key into out (NUL-
 * terminated). Returns its length, -1 if absent, -2 if it does not fit or
 * decodes to a NUL byte (out is then untouched). */
int httpd_query(const struct httpd_req *req, const char *key, char *out, size_t out_len);

/* Walks the query's '&'-separated parameters in order, percent-decoded as by
 * httpd_query (a parameter without '=' has the empty value). *pos is the
 * cursor: 0 to start, advanced past each parameter returned or refused.
 * Returns 1 with key and val (NUL-terminated), 0 at the end (nothing
 * written), or -2 for a parameter whose key or value does not fit or
 * decodes to a NUL byte: key and val are then untouched, and the caller may
 * go on with the next one. */
int httpd_query_next(const struct httpd_req *req, size_t *pos, char *key, size_t key_len,
		     char *val, size_t val_len);

/* Sends the response: status line, Content-Type (if not NULL),
 * Content-Length, Connection, then extra_headers verbatim (each line ending
 * "\r\n", or NULL), then body (copied). Returns 0 or a negative error; the
 * request is finished either way. */
int httpd_respond(struct httpd_req *req, int status, const char *content_type,
		  const char *extra_headers, const char *body, size_t body_len);

/* Takes the socket over after an upgrade request. httpd stops reading and
 * its timers, and from now on writes nothing and reads nothing on it: the
 * owner calls uv_read_start() with its own callbacks and writes the 101
 * answer itself. Bytes that arrived after the request head are in *rest,
 * valid only until on_upgrade returns. The connection's memory (and the
 * stream, which lives inside it) stays valid until the owner calls
 * httpd_conn_close(); on_closed(owner) then runs from the close callback,
 * after which neither the stream nor the peer may be used. Once
 * on_upgrade has returned (or, upgraded later, from the next loop turn), the
 * request itself is freed, so that an upgraded connection does not carry
 * it: copy conn and the peer pointer (valid until on_closed) and whatever
 * else you need first. The
 * stream's data field is set to owner. Returns NULL if req is not an upgrade
 * request waiting for an answer. */
uv_stream_t *httpd_upgrade(struct httpd_req *req, void *owner, void (*on_closed)(void *owner),
			   const char **rest, size_t *rest_len);

/* Closes an upgraded connection (idempotent). */
void httpd_conn_close(struct httpd_conn *conn);

/* Number of open connections, upgraded ones included. */
size_t httpd_conn_count(const struct httpd *srv);

/* Open connections that are not upgraded, and how many max_pending (or
 * max_conns) has closed so far. */
size_t httpd_pending_count(const struct httpd *srv);
uint64_t httpd_pending_evicted(const struct httpd *srv);

/* New sockets closed at once for max_conns_per_ip so far. */
uint64_t httpd_ip_refused(const struct httpd *srv);

#endif
