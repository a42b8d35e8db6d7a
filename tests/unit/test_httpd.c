/* httpd, end to end over loopback: a real server runs on its own loop in a
 * second thread, and each test talks raw bytes to it through a blocking
 * socket, as a client on the wire would. */
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "http_json.h"
#include "httpd.h"

#define LATE_MS 100

/* ---- server side (runs on the loop thread) ------------------------------ */

struct fix {
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t stop;
	uv_timer_t late_timer;
	struct httpd *srv;
	int port;
	struct httpd_req *late;         /* a request answered later */
	atomic_int late_rc;
	atomic_int done;                /* httpd_stop's done ran */
	/* upgrade */
	struct httpd_conn *up_conn;
	uv_stream_t *up_stream;
	char up_rest[256];
	atomic_int up_rest_len;
	atomic_int up_count;            /* httpd_conn_count while upgraded */
	atomic_int up_closed;           /* on_closed ran */
	atomic_int up_peer_kept;        /* req->peer still reads right after on_upgrade */
	const char *up_peer;
};

static void answer_with_path(struct httpd_req *req)
{
	httpd_respond(req, 200, "text/plain", "X-Test: yes\r\n", req->path, req->path_len);
}

static void on_late(uv_timer_t *t)
{
	struct fix *f = t->data;
	struct httpd_req *req = f->late;

	f->late = NULL;
	atomic_store(&f->late_rc, httpd_respond(req, 200, "text/plain", NULL, req->path, req->path_len));
}

static void on_request(struct httpd_req *req, void *ud)
{
	struct fix *f = ud;
	size_t len;
	const char *v;

	if (req->path_len >= 5 && memcmp(req->path, "/late", 5) == 0) {
		f->late = req;
		uv_timer_start(&f->late_timer, on_late, LATE_MS, 0);
		return;
	}
	if (req->path_len == 5 && memcmp(req->path, "/echo", 5) == 0) {
		httpd_respond(req, 200, "application/octet-stream", NULL, req->body, req->body_len);
		return;
	}
	if (req->path_len == 5 && memcmp(req->path, "/json", 5) == 0) {
		json_t *body;

		if (http_json_body(req, &body) == 0)
			http_json_respond(req, 200, body, NULL);
		return;
	}
	if (req->path_len == 7 && memcmp(req->path, "/header", 7) == 0) {
		v = httpd_header(req, "x-TEST-header", &len);
		if (v)
			httpd_respond(req, 200, "text/plain", NULL, v, len);
		else
			httpd_respond(req, 404, "text/plain", NULL, "none", 4);
		return;
	}
	answer_with_path(req);
}

struct owner_write {
	uv_write_t req;
	char data[];
};

static void on_owner_write(uv_write_t *w, int status)
{
	free(w);
}

static void owner_send(struct fix *f, const char *data, size_t len)
{
	struct owner_write *w = malloc(sizeof(*w) + len);
	uv_buf_t b;

	memcpy(w->data, data, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, f->up_stream, &b, 1, on_owner_write) < 0)
		free(w);
}

static void owner_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char mem[4096];

	*buf = uv_buf_init(mem, sizeof(mem));
}

static void owner_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fix *f = s->data;

	if (n < 0) {
		httpd_conn_close(f->up_conn);
		return;
	}
	if (n > 0)
		owner_send(f, buf->base, (size_t)n);
}

static void owner_closed(void *owner)
{
	struct fix *f = owner;

	atomic_store(&f->up_closed, 1);
}

static void on_upgrade(struct httpd_req *req, void *ud)
{
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
	struct fix *f = ud;
	const char *rest;
	size_t rest_len;

	f->up_peer = req->peer;
	f->up_stream = httpd_upgrade(req, f, owner_closed, &rest, &rest_len);
	if (!f->up_stream)
		return;
	f->up_conn = req->conn;
	if (rest_len > sizeof(f->up_rest))
		rest_len = sizeof(f->up_rest);
	memcpy(f->up_rest, rest, rest_len);
	atomic_store(&f->up_rest_len, (int)rest_len);
	atomic_store(&f->up_count, (int)httpd_conn_count(f->srv));
	owner_send(f, ok, sizeof(ok) - 1);
	owner_send(f, rest, rest_len);
	uv_read_start(f->up_stream, owner_alloc, owner_read);
}

static void on_stopped(void *arg)
{
	struct fix *f = arg;

	/* Only now: a late answer may still be due while httpd stops. */
	uv_close((uv_handle_t *)&f->late_timer, NULL);
	atomic_store(&f->done, 1);
}

static void on_stop(uv_async_t *a)
{
	struct fix *f = a->data;

	/* The request is gone after on_upgrade; the peer it pointed to is not. */
	if (f->up_peer)
		atomic_store(&f->up_peer_kept, strncmp(f->up_peer, "127.0.0.1:", 10) == 0);
	httpd_stop(f->srv, on_stopped, f);
	uv_close((uv_handle_t *)&f->stop, NULL);
}

static void run_loop(void *arg)
{
	struct fix *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static struct httpd_config base_config(void)
{
	struct httpd_config cfg = {
		.host = "127.0.0.1",
		.port = 0,
		.on_request = on_request,
	};
	return cfg;
}

static int fix_start(struct fix *f, struct httpd_config cfg)
{
	memset(f, 0, sizeof(*f));
	cfg.ud = f;
	if (uv_loop_init(&f->loop) < 0)
		return -1;
	if (httpd_start(&f->loop, &cfg, &f->srv) < 0)
		return -1;
	f->port = httpd_port(f->srv);
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	uv_timer_init(&f->loop, &f->late_timer);
	f->late_timer.data = f;
	return uv_thread_create(&f->thread, run_loop, f);
}

static void fix_stop_async(struct fix *f)
{
	uv_async_send(&f->stop);
}

static void fix_join(struct fix *f)
{
	uv_thread_join(&f->thread);
	CHECK(atomic_load(&f->done));
	CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
}

static void fix_stop(struct fix *f)
{
	fix_stop_async(f);
	fix_join(f);
}

/* ---- client side (blocking sockets on the test thread) ----------------- */

struct client {
	int fd;
	char buf[65536];
	size_t len;
};

struct resp {
	int status;
	char head[4096];
	char body[8192];
	size_t body_len;
};

static int cl_connect(struct client *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 3 };

	c->len = 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return connect(c->fd, (struct sockaddr *)&a, sizeof(a));
}

static void cl_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static int cl_send(struct client *c, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cl_sends(struct client *c, const char *s)
{
	return cl_send(c, s, strlen(s));
}

static int cl_fill(struct client *c)
{
	ssize_t n;

	if (c->len == sizeof(c->buf))
		return -1;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

/* Reads one response (head and Content-Length body); extra bytes stay
 * buffered for the next call. */
static int cl_response(struct client *c, struct resp *r)
{
	char *end, *cl;
	size_t head_len, body_len = 0, total;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (cl_fill(c) < 0)
			return -1;
	head_len = (size_t)(end - c->buf) + 4;
	if (head_len >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, head_len);
	cl = strcasestr(r->head, "\r\nContent-Length:");
	if (cl)
		body_len = strtoul(cl + 17, NULL, 10);
	if (body_len >= sizeof(r->body))
		return -1;
	total = head_len + body_len;
	while (c->len < total)
		if (cl_fill(c) < 0)
			return -1;
	memcpy(r->body, c->buf + head_len, body_len);
	r->body_len = body_len;
	r->status = atoi(r->head + 9);
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True if the server closes the connection within ms (EOF or reset), any
 * bytes it sends before that being ignored. */
static bool cl_closed_within(struct client *c, int ms)
{
	int64_t deadline = now_ms() + ms;
	char tmp[4096];

	for (;;) {
		int left = (int)(deadline - now_ms());
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- tests ------------------------------------------------------------- */

static void test_get_is_answered_200_with_body(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strcasestr(r.head, "\r\nContent-Type: text/plain\r\n") != NULL);
	CHECK(strcasestr(r.head, "\r\nConnection: keep-alive\r\n") != NULL);
	CHECK(strcasestr(r.head, "\r\nX-Test: yes\r\n") != NULL);
	CHECK_EQ_STR(r.body, "/hello");
	cl_close(&c);
	fix_stop(&f);
}

static void test_keep_alive_serves_two_requests(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /one HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/one");
	cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "hello");
	cl_close(&c);
	fix_stop(&f);
}

static void test_request_in_one_byte_pieces_is_answered(void)
{
	static const char req[] = "POST /echo?q=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "3\r\nabc\r\n0\r\n\r\n";
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		cl_send(&c, req + i, 1);
		sleep_ms(1);
	}
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "abc");
	cl_close(&c);
	fix_stop(&f);
}

static void test_pipelined_requests_are_answered_in_order(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	/* The first is answered late, so the second must wait its turn. */
	cl_sends(&c, "GET /late/first HTTP/1.1\r\nHost: t\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
		     "GET /third HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/late/first");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "second");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/third");
	cl_close(&c);
	fix_stop(&f);
}

static void test_head_over_limit_gets_431_and_close(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client c;
	struct resp r;
	char req[3000];

	cfg.max_header_bytes = 1024;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: %02000d\r\n\r\n", 0);
	cl_sends(&c, req);
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 431);
	CHECK(strstr(r.body, "\"code\":\"header_too_large\"") != NULL);
	CHECK(strcasestr(r.head, "\r\nConnection: close\r\n") != NULL);
	CHECK(cl_closed_within(&c, 3000));
	cl_close(&c);
	fix_stop(&f);
}

static void test_head_exactly_at_limit_is_accepted(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client c;
	struct resp r;
	char req[1100];
	int pad;

	cfg.max_header_bytes = 1024;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	/* "GET / HTTP/1.1\r\nX: " is 19 bytes and "\r\n\r\n" 4. */
	pad = 1024 - 19 - 4;
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", pad, 0);
	CHECK_EQ_INT(strlen(req), 1024);
	cl_sends(&c, req);
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	cl_close(&c);
	fix_stop(&f);
}

static void test_too_many_headers_get_431(void)
{
	struct fix f;
	struct client c;
	struct resp r;
	char req[4096];
	size_t n;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "H%d: v\r\n", i);
	snprintf(req + n, sizeof(req) - n, "\r\n");
	cl_sends(&c, req);
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 431);
	cl_close(&c);
	fix_stop(&f);
}

static void test_body_over_limit_by_content_length_gets_413(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client c;
	struct resp r;

	cfg.max_body_bytes = 1024;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	/* Refused on the announced length, before any body byte is sent. */
	cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	CHECK(strstr(r.body, "\"code\":\"body_too_large\"") != NULL);
	CHECK(cl_closed_within(&c, 3000));
	cl_close(&c);
	fix_stop(&f);
}

static void test_body_over_limit_chunked_gets_413(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client c;
	struct resp r;
	char chunk[600];

	cfg.max_body_bytes = 1024;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 2; i++) {
		cl_sends(&c, "258\r\n");
		cl_send(&c, chunk, sizeof(chunk));
		cl_sends(&c, "\r\n");
	}
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	CHECK(strstr(r.body, "\"code\":\"body_too_large\"") != NULL);
	cl_close(&c);
	fix_stop(&f);
}

static void test_chunked_body_within_limit_is_delivered(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "hello world");
	cl_close(&c);
	fix_stop(&f);
}

static void test_garbage_gets_400_and_close(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_send(&c, "\x01\x02 NOT HTTP\r\n\r\n", 16);
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body, "\"code\":\"bad_request\"") != NULL);
	CHECK(cl_closed_within(&c, 3000));
	cl_close(&c);
	fix_stop(&f);
}

static void test_slow_head_is_cut_off(void)
{
	struct httpd_config cfg = base_config();
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct fix f;
	struct client c;
	int64_t t0;
	bool closed = false;

	cfg.header_timeout_ms = 200;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	/* A byte every 20 ms keeps the socket busy, but the head as a whole
	 * must arrive within the timeout. */
	t0 = now_ms();
	for (size_t i = 0; i < sizeof(req) - 1 && !closed; i++) {
		if (cl_send(&c, req + i, 1) < 0)
			break;
		closed = cl_closed_within(&c, 20);
	}
	if (!closed)
		closed = cl_closed_within(&c, 2000);
	CHECK(closed);
	CHECK(now_ms() - t0 >= 150);
	CHECK(now_ms() - t0 < 1500);
	cl_close(&c);
	fix_stop(&f);
}

static void test_idle_keep_alive_connection_is_closed(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client c;
	struct resp r;
	int64_t t0;

	cfg.idle_timeout_ms = 200;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	t0 = now_ms();
	CHECK(cl_closed_within(&c, 2000));
	CHECK(now_ms() - t0 >= 150);
	cl_close(&c);
	fix_stop(&f);
}

static void test_http10_is_closed_after_response(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /old HTTP/1.0\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strcasestr(r.head, "\r\nConnection: close\r\n") != NULL);
	CHECK(cl_closed_within(&c, 3000));
	cl_close(&c);
	fix_stop(&f);
}

static void test_response_after_peer_closed_is_discarded(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /late/gone HTTP/1.1\r\nHost: t\r\n\r\n");
	sleep_ms(20);
	cl_close(&c);
	sleep_ms(LATE_MS + 100);
	/* The late answer went nowhere; the server still serves others. */
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/after");
	cl_close(&c);
	fix_stop(&f);
}

static void test_stop_waits_for_a_request_with_its_handler(void)
{
	struct fix f;
	struct client c;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /late/stop HTTP/1.1\r\nHost: t\r\n\r\n");
	sleep_ms(20);
	fix_stop_async(&f);
	sleep_ms(LATE_MS / 2);
	CHECK(!atomic_load(&f.done));
	/* The connection closed at stop: the late answer is refused. */
	CHECK(cl_closed_within(&c, 1000));
	fix_join(&f);
	CHECK(atomic_load(&f.late_rc) < 0);
	cl_close(&c);
}

static void test_upgrade_hands_over_stream_with_leftover_bytes(void)
{
	struct httpd_config cfg = base_config();
	static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
	struct fix f;
	struct client c;
	char want[128];

	cfg.on_upgrade = on_upgrade;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nLEFTOVER");
	snprintf(want, sizeof(want), "%sLEFTOVER", up);
	while (c.len < strlen(want) && cl_fill(&c) == 0)
		;
	CHECK_EQ_INT(c.len, strlen(want));
	CHECK(memcmp(c.buf, want, strlen(want)) == 0);
	CHECK_EQ_INT(atomic_load(&f.up_rest_len), 8);
	CHECK(memcmp(f.up_rest, "LEFTOVER", 8) == 0);
	CHECK_EQ_INT(atomic_load(&f.up_count), 1);

	/* httpd_stop leaves the upgraded stream to its owner. */
	fix_stop_async(&f);
	for (int i = 0; i < 100 && !atomic_load(&f.done); i++)
		sleep_ms(10);
	CHECK(atomic_load(&f.done));
	CHECK(atomic_load(&f.up_peer_kept));
	c.len = 0;
	cl_sends(&c, "after stop");
	while (c.len < 10 && cl_fill(&c) == 0)
		;
	CHECK_EQ_INT(c.len, 10);
	CHECK(memcmp(c.buf, "after stop", 10) == 0);
	CHECK(!atomic_load(&f.up_closed));
	cl_close(&c);
	fix_join(&f);
	CHECK(atomic_load(&f.up_closed));
}

static void test_upgrade_without_handler_gets_400(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(cl_closed_within(&c, 3000));
	cl_close(&c);
	fix_stop(&f);
}

static void test_header_lookup_is_case_insensitive(void)
{
	struct fix f;
	struct client c;
	struct resp r;

	CHECK_EQ_INT(fix_start(&f, base_config()), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /header HTTP/1.1\r\nHost: t\r\nX-Test-Header:   Mixed Case  \r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "Mixed Case");
	cl_close(&c);
	fix_stop(&f);
}

static void test_extra_connections_over_max_are_closed(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client a, b;
	struct resp r;

	cfg.max_conns = 1;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&a, f.port), 0);
	cl_sends(&a, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&a, &r), 0);
	CHECK_EQ_INT(cl_connect(&b, f.port), 0);
	CHECK(cl_closed_within(&b, 2000));
	cl_close(&b);
	cl_sends(&a, "GET /still HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&a, &r), 0);
	CHECK_EQ_STR(r.body, "/still");
	cl_close(&a);
	fix_stop(&f);
}

static bool exempt_all(const struct sockaddr *addr, void *ud)
{
	(void)addr;
	(void)ud;
	return true;
}

static void test_connections_over_the_per_address_bound_are_closed(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client a, b, c;
	struct resp r;

	cfg.max_conns_per_ip = 2;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&a, f.port), 0);
	CHECK_EQ_INT(cl_connect(&b, f.port), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	CHECK(cl_closed_within(&c, 2000));
	cl_close(&c);
	cl_sends(&a, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&a, &r), 0);
	cl_sends(&b, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&b, &r), 0);
	CHECK_EQ_STR(r.body, "/b");
	cl_close(&a);
	cl_close(&b);
	fix_stop(&f);

	/* An exempt address (a trusted proxy's) is not bounded. */
	cfg.ip_exempt = exempt_all;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&a, f.port), 0);
	CHECK_EQ_INT(cl_connect(&b, f.port), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/c");
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
	fix_stop(&f);
}

static void test_at_max_conns_the_oldest_idle_connection_makes_way(void)
{
	struct httpd_config cfg = base_config();
	struct fix f;
	struct client a, b, c;
	struct resp r;

	cfg.max_conns = 2;
	cfg.max_pending = 2;
	CHECK_EQ_INT(fix_start(&f, cfg), 0);
	CHECK_EQ_INT(cl_connect(&a, f.port), 0);
	cl_sends(&a, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&a, &r), 0);
	CHECK_EQ_INT(cl_connect(&b, f.port), 0);
	cl_sends(&b, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&b, &r), 0);
	CHECK_EQ_INT(cl_connect(&c, f.port), 0);
	cl_sends(&c, "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&c, &r), 0);
	CHECK_EQ_STR(r.body, "/c");
	CHECK(cl_closed_within(&a, 2000));
	cl_sends(&b, "GET /b2 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_EQ_INT(cl_response(&b, &r), 0);
	CHECK_EQ_STR(r.body, "/b2");
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
	fix_stop(&f);
}

/* One request on a fresh connection to a fresh server. */
static int exchange(const char *request, struct resp *r)
{
	struct fix f;
	struct client c;
	int rc = -1;

	if (fix_start(&f, base_config()) < 0)
		return -1;
	if (cl_connect(&c, f.port) == 0 && cl_sends(&c, request) == 0)
		rc = cl_response(&c, r);
	cl_close(&c);
	fix_stop(&f);
	return rc;
}

static void test_json_body_is_parsed_with_charset_parameter(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\n"
			      "Content-Type: Application/JSON; charset=utf-8\r\nContent-Length: 18\r\n\r\n"
			      "{ \"a\" : [1, \"x\"] }", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strcasestr(r.head, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK_EQ_STR(r.body, "{\"a\":[1,\"x\"]}");
}

static void test_empty_json_body_is_an_empty_object(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "{}");
}

static void test_invalid_json_gets_400_with_position(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\":\n  ]", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body, "\"code\":\"bad_json\"") != NULL);
	CHECK(strstr(r.body, "line 2") != NULL);
}

static void test_json_nul_escape_gets_400(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"a\":\"\\u0000\"}", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body, "\"code\":\"bad_json\"") != NULL);
}

static void test_json_non_object_gets_400(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n[1,2]", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body, "\"code\":\"not_object\"") != NULL);
	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n42", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body, "\"code\":\"not_object\"") != NULL);
}

static void test_json_body_of_other_type_gets_415(void)
{
	struct resp r;

	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
			      "Content-Length: 2\r\n\r\n{}", &r), 0);
	CHECK_EQ_INT(r.status, 415);
	CHECK(strstr(r.body, "\"code\":\"unsupported_media_type\"") != NULL);
	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonx\r\n"
			      "Content-Length: 2\r\n\r\n{}", &r), 0);
	CHECK_EQ_INT(r.status, 415);
	/* No Content-Type is what a page on another site can post without a
	 * CORS preflight (a Blob, say): a body must say it is JSON. */
	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", &r), 0);
	CHECK_EQ_INT(r.status, 415);
	CHECK(strstr(r.body, "\"code\":\"unsupported_media_type\"") != NULL);
	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data\r\n"
			      "Content-Length: 2\r\n\r\n{}", &r), 0);
	CHECK_EQ_INT(r.status, 415);
	/* Without a body there is nothing to mistake. */
	CHECK_EQ_INT(exchange("POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
			      "Content-Length: 0\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "{}");
}

/* Two parsers (a proxy's, ours) could each believe a different copy. */
static void test_json_duplicate_keys_get_400(void)
{
	static const char *const bodies[] = {
		"{\"userId\":\"alice\",\"userId\":\"bob\"}",
		"{\"a\":{\"b\":1,\"b\":1}}",
		"{\"a\":[{\"x\":1,\"x\":2}]}",
	};
	char req[512];
	struct resp r;

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		snprintf(req, sizeof req, "POST /json HTTP/1.1\r\nHost: t\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(bodies[i]), bodies[i]);
		CHECK_EQ_INT(exchange(req, &r), 0);
		CHECK_EQ_INT(r.status, 400);
		CHECK(strstr(r.body, "\"code\":\"bad_json\"") != NULL);
	}
	/* The control: the same key in two objects is no repeat. */
	snprintf(req, sizeof req, "POST /json HTTP/1.1\r\nHost: t\r\n"
		 "Content-Type: application/json\r\nContent-Length: 25\r\n\r\n"
		 "{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
	CHECK_EQ_INT(exchange(req, &r), 0);
	CHECK_EQ_INT(r.status, 200);
}

static int bearer_of(const char *value, char *out, size_t cap)
{
	struct httpd_header h = { "authorization", value, 13, strlen(value) };
	struct httpd_req req = { .headers = &h, .n_headers = 1 };
	const char *tok;
	size_t len;

	if (http_bearer(&req, &tok, &len) < 0)
		return -1;
	snprintf(out, cap, "%.*s", (int)len, tok);
	return 0;
}

static void test_bearer_token_is_extracted(void)
{
	char tok[64];

	CHECK_EQ_INT(bearer_of("Bearer abc.DEF-_1=", tok, sizeof(tok)), 0);
	CHECK_EQ_STR(tok, "abc.DEF-_1=");
	CHECK_EQ_INT(bearer_of("bEaReR   x.y.z", tok, sizeof(tok)), 0);
	CHECK_EQ_STR(tok, "x.y.z");
	CHECK_EQ_INT(bearer_of("Basic dXNlcg==", tok, sizeof(tok)), -1);
	CHECK_EQ_INT(bearer_of("Bearer", tok, sizeof(tok)), -1);
	CHECK_EQ_INT(bearer_of("Bearer ", tok, sizeof(tok)), -1);
	CHECK_EQ_INT(bearer_of("Bearerabc", tok, sizeof(tok)), -1);
	CHECK_EQ_INT(bearer_of("Bearer a b", tok, sizeof(tok)), -1);
	CHECK_EQ_INT(bearer_of("Bearer =abc", tok, sizeof(tok)), -1);
}

static void test_query_decoding(void)
{
	static const char q[] = "a=%41b%2f&plus=x+y&nul=a%00b&long=0123456789&flag&bad=%zz%4&%74oken=t";
	struct httpd_req req = { .query = q, .query_len = sizeof(q) - 1 };
	char out[8];

	CHECK_EQ_INT(httpd_query(&req, "a", out, sizeof(out)), 3);
	CHECK_EQ_STR(out, "Ab/");
	CHECK_EQ_INT(httpd_query(&req, "plus", out, sizeof(out)), 3);
	CHECK_EQ_STR(out, "x y");
	CHECK_EQ_INT(httpd_query(&req, "missing", out, sizeof(out)), -1);
	CHECK_EQ_INT(httpd_query(&req, "nul", out, sizeof(out)), -2);
	memcpy(out, "keep", 5);
	CHECK_EQ_INT(httpd_query(&req, "long", out, sizeof(out)), -2);
	CHECK_EQ_STR(out, "keep");
	CHECK_EQ_INT(httpd_query(&req, "flag", out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(httpd_query(&req, "bad", out, sizeof(out)), 5);
	CHECK_EQ_STR(out, "%zz%4");
	CHECK_EQ_INT(httpd_query(&req, "token", out, sizeof(out)), 1);
	CHECK_EQ_INT(httpd_query(&req, "lon", out, sizeof(out)), -1);
	req.query = NULL;
	req.query_len = 0;
	CHECK_EQ_INT(httpd_query(&req, "a", out, sizeof(out)), -1);
}

static void test_query_iterator_yields_decoded_pairs_in_order(void)
{
	static const char q[] = "a=%41b%2f&flag&%74oken=x+y&&last=";
	struct httpd_req req = { .query = q, .query_len = sizeof(q) - 1 };
	char k[8], v[8];
	size_t pos = 0;

	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "a");
	CHECK_EQ_STR(v, "Ab/");
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "flag");
	CHECK_EQ_STR(v, "");
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "token");
	CHECK_EQ_STR(v, "x y");
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "");
	CHECK_EQ_STR(v, "");
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "last");
	CHECK_EQ_STR(v, "");
	CHECK_EQ_INT(pos, sizeof(q) - 1);
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 0);
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 0);
}

static void test_query_iterator_skips_pairs_that_do_not_fit(void)
{
	static const char q[] = "nul=a%00b&long=01234567&longname=1&%00=1&ok=1234567";
	struct httpd_req req = { .query = q, .query_len = sizeof(q) - 1 };
	char k[8] = "k", v[8] = "v";
	size_t pos = 0;

	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), -2);
		CHECK_EQ_STR(k, "k");
		CHECK_EQ_STR(v, "v");
	}
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 1);
	CHECK_EQ_STR(k, "ok");
	CHECK_EQ_STR(v, "1234567");
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 0);
}

static void test_query_iterator_on_no_query_ends_at_once(void)
{
	struct httpd_req req = { .query = NULL, .query_len = 0 };
	char k[8], v[8];
	size_t pos = 0;

	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 0);
	req.query = "";
	CHECK_EQ_INT(httpd_query_next(&req, &pos, k, sizeof(k), v, sizeof(v)), 0);
	CHECK_EQ_INT(pos, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_get_is_answered_200_with_body();
	test_keep_alive_serves_two_requests();
	test_request_in_one_byte_pieces_is_answered();
	test_pipelined_requests_are_answered_in_order();
	test_head_over_limit_gets_431_and_close();
	test_head_exactly_at_limit_is_accepted();
	test_too_many_headers_get_431();
	test_body_over_limit_by_content_length_gets_413();
	test_body_over_limit_chunked_gets_413();
	test_chunked_body_within_limit_is_delivered();
	test_garbage_gets_400_and_close();
	test_slow_head_is_cut_off();
	test_idle_keep_alive_connection_is_closed();
	test_http10_is_closed_after_response();
	test_response_after_peer_closed_is_discarded();
	test_stop_waits_for_a_request_with_its_handler();
	test_upgrade_hands_over_stream_with_leftover_bytes();
	test_upgrade_without_handler_gets_400();
	test_header_lookup_is_case_insensitive();
	test_extra_connections_over_max_are_closed();
	test_connections_over_the_per_address_bound_are_closed();
	test_at_max_conns_the_oldest_idle_connection_makes_way();
	test_json_body_is_parsed_with_charset_parameter();
	test_empty_json_body_is_an_empty_object();
	test_invalid_json_gets_400_with_position();
	test_json_nul_escape_gets_400();
	test_json_non_object_gets_400();
	test_json_body_of_other_type_gets_415();
	test_json_duplicate_keys_get_400();
	test_bearer_token_is_extracted();
	test_query_decoding();
	test_query_iterator_yields_decoded_pairs_in_order();
	test_query_iterator_skips_pairs_that_do_not_fit();
	test_query_iterator_on_no_query_ends_at_once();
	return check_done();
}
