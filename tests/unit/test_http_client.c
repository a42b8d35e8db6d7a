/* http_client against a real HTTP server (common/httpd) on the same loop:
 * what goes on the wire (method, headers, body), what comes back (status,
 * body), and the failures a caller must tell apart (refused, timed out,
 * too large, cancelled), each with its callback called exactly once. */
#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "http_client.h"
#include "http_json.h"
#include "httpd.h"

static uv_loop_t *loop;
static struct httpd *srv;
static int port;
static struct httpd_req *held;        /* /slow: answered only at the end */

/* ---- server ------------------------------------------------------------- */

static json_t *header_or_null(const struct httpd_req *req, const char *name)
{
	size_t len;
	const char *v = httpd_header(req, name, &len);

	return v ? json_stringn(v, len) : json_null();
}

static void on_request(struct httpd_req *req, void *ud)
{
	(void)ud;
	if (req->path_len == 5 && memcmp(req->path, "/slow", 5) == 0) {
		held = req;
		return;
	}
	if (req->path_len == 4 && memcmp(req->path, "/503", 4) == 0) {
		httpd_respond(req, 503, "text/plain", NULL, "busy", 4);
		return;
	}
	if (req->path_len == 4 && memcmp(req->path, "/big", 4) == 0) {
		size_t n = HC_MAX_BODY + 1;
		char *big = malloc(n);

		memset(big, 'x', n);
		httpd_respond(req, 200, "text/plain", NULL, big, n);
		free(big);
		return;
	}
	http_json_respond(req, 200,
			  json_pack("{s:s,s:s%,s:s%,s:o,s:o,s:o,s:o}",
				    "method", http_method_str(req->method),
				    "path", req->path, req->path_len,
				    "body", req->body ? req->body : "", req->body_len,
				    "authorization", header_or_null(req, "Authorization"),
				    "content_type", header_or_null(req, "Content-Type"),
				    "expect", header_or_null(req, "Expect"),
				    "x_test", header_or_null(req, "X-Test")),
			  NULL);
}

/* ---- client side -------------------------------------------------------- */

struct result {
	int calls;
	int err;
	long status;
	char body[512];
	size_t body_len;
	char error[256];
};

static void on_done(const struct hc_response *res, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->err = res->err;
	r->status = res->status;
	r->body_len = res->body_len;
	snprintf(r->body, sizeof r->body, "%s", res->body);
	snprintf(r->error, sizeof r->error, "%s", res->error);
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

/* A callback run from a timer (a transfer that fails before it has a socket)
 * leaves UV_RUN_ONCE waiting for I/O that never comes: a ticking timer wakes
 * the loop to look at the flag again. */
static void run_until(const int *flag)
{
	uv_timer_t tick;

	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, on_tick, 5, 5);
	while (!*flag)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

/* A few more loop turns: a second callback would show up here. */
static void run_a_little(void)
{
	for (int i = 0; i < 5; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static char *url(const char *path)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", port, path);
	return buf;
}

static json_t *body_json(const struct result *r)
{
	return json_loads(r->body, 0, NULL);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(null)";
}

/* ---- tests -------------------------------------------------------------- */

static void test_get(struct hc *c)
{
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/echo") };
	json_t *j;

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	CHECK_EQ_INT(r.calls, 0);   /* never from inside hc_request */
	run_until(&r.calls);
	run_a_little();
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.err, 0);
	CHECK_EQ_INT(r.status, 200);
	j = body_json(&r);
	CHECK(j != NULL);
	CHECK_EQ_STR(jstr(j, "method"), "GET");
	CHECK_EQ_STR(jstr(j, "path"), "/echo");
	CHECK(json_is_null(json_object_get(j, "authorization")));
	json_decref(j);
}

static void test_post_headers_body_bearer(struct hc *c)
{
	static const char *const headers[] = { "Content-Type: application/json", "X-Test: yes", NULL };
	const char *body = "{\"a\":\"1\"}";
	struct result r = { 0 };
	struct hc_request req = {
		.method = "POST", .url = url("/echo"), .headers = headers,
		.body = body, .body_len = strlen(body), .bearer = "tok.en-1",
	};
	json_t *j;

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	run_until(&r.calls);
	CHECK_EQ_INT(r.err, 0);
	CHECK_EQ_INT(r.status, 200);
	j = body_json(&r);
	CHECK_EQ_STR(jstr(j, "method"), "POST");
	CHECK_EQ_STR(jstr(j, "body"), body);
	CHECK_EQ_STR(jstr(j, "authorization"), "Bearer tok.en-1");
	CHECK_EQ_STR(jstr(j, "content_type"), "application/json");
	CHECK_EQ_STR(jstr(j, "x_test"), "yes");
	CHECK(json_is_null(json_object_get(j, "expect")));
	json_decref(j);
}

static void test_patch_and_empty_post(struct hc *c)
{
	struct result r = { 0 }, r2 = { 0 };
	struct hc_request req = { .method = "PATCH", .url = url("/echo"), .body = "{}", .body_len = 2 };
	struct hc_request req2 = { .method = "POST", .url = url("/echo") };
	json_t *j;

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	CHECK_EQ_INT(hc_request(c, &req2, on_done, &r2), 0);  /* two at once */
	run_until(&r.calls);
	run_until(&r2.calls);
	j = body_json(&r);
	CHECK_EQ_STR(jstr(j, "method"), "PATCH");
	CHECK_EQ_STR(jstr(j, "body"), "{}");
	json_decref(j);
	j = body_json(&r2);
	CHECK_EQ_STR(jstr(j, "method"), "POST");
	CHECK_EQ_STR(jstr(j, "body"), "");
	json_decref(j);
}

static void test_error_status_is_an_answer(struct hc *c)
{
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/503") };

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	run_until(&r.calls);
	CHECK_EQ_INT(r.err, 0);
	CHECK_EQ_INT(r.status, 503);
	CHECK_EQ_STR(r.body, "busy");
	CHECK_EQ_STR(r.error, "");
}

static void test_timeout(struct hc *c)
{
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/slow"), .timeout_ms = 200 };
	uint64_t start = uv_now(loop);

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	run_until(&r.calls);
	uv_update_time(loop);
	CHECK_EQ_INT(r.err, -ETIMEDOUT);
	CHECK(uv_now(loop) - start >= 150);
	CHECK(uv_now(loop) - start < 5000);
	CHECK(r.error[0] != '\0');
	run_a_little();
	CHECK_EQ_INT(r.calls, 1);
	if (held) {
		httpd_respond(held, 200, "text/plain", NULL, "late", 4);
		held = NULL;
	}
}

static void test_refused(struct hc *c)
{
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = "http://127.0.0.1:1/" };

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	run_until(&r.calls);
	CHECK_EQ_INT(r.err, -ECONNREFUSED);
	CHECK_EQ_INT(r.status, 0);
}

/* A URL a user gave (public_only) never reaches this host's own network,
 * whether it names an address or a name that resolves to one; the same
 * server answers a request without the flag, so the refusal is the flag's. */
static void test_public_only(struct hc *c)
{
	static const char *const where[] = { "127.0.0.1", "localhost", "[::1]" };

	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		struct result r = { 0 };
		char u[64];
		struct hc_request req = { .method = "POST", .url = u, .body = "x", .body_len = 1,
					  .public_only = true };

		snprintf(u, sizeof u, "http://%s:%d/echo", where[i], port);
		CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
		run_until(&r.calls);
		CHECK_EQ_INT(r.err, -EACCES);
		CHECK_EQ_INT(r.status, 0);
	}
	/* A connection kept alive by a request allowed there is not reused for
	 * one that is not. */
	struct result ok = { 0 }, no = { 0 };
	struct hc_request allowed = { .method = "GET", .url = url("/echo") };
	struct hc_request refused = { .method = "GET", .url = url("/echo"), .public_only = true };

	CHECK_EQ_INT(hc_request(c, &allowed, on_done, &ok), 0);
	run_until(&ok.calls);
	CHECK_EQ_INT(ok.status, 200);
	CHECK_EQ_INT(hc_request(c, &refused, on_done, &no), 0);
	run_until(&no.calls);
	CHECK_EQ_INT(no.err, -EACCES);
}

static void test_body_cap(struct hc *c)
{
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/big") };

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	run_until(&r.calls);
	CHECK_EQ_INT(r.err, -EMSGSIZE);
	run_a_little();
	CHECK_EQ_INT(r.calls, 1);
}

static void test_bad_requests_never_call_back(struct hc *c)
{
	static const char *const bad_header[] = { "X-Evil: a\r\nX-Injected: b", NULL };
	struct result r = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/echo") };

	req.headers = bad_header;
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	req.headers = NULL;
	req.bearer = "tok\nX-Injected: b";
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	req.bearer = NULL;
	req.url = "ftp://127.0.0.1/";
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	req.url = "file:///etc/passwd";
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	req.url = url("/echo");
	req.method = "get";
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	req.method = NULL;
	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), -EINVAL);
	run_a_little();
	CHECK_EQ_INT(r.calls, 0);
}

struct chain {
	struct hc *c;
	struct result first, second;
	int second_rc;
};

static void on_first(const struct hc_response *res, void *arg)
{
	struct chain *ch = arg;
	struct hc_request req = { .method = "GET", .url = url("/echo?second") };

	on_done(res, &ch->first);
	ch->second_rc = hc_request(ch->c, &req, on_done, &ch->second);
}

static void test_request_from_callback(struct hc *c)
{
	struct chain ch = { .c = c };
	struct hc_request req = { .method = "GET", .url = url("/echo") };

	CHECK_EQ_INT(hc_request(c, &req, on_first, &ch), 0);
	run_until(&ch.second.calls);
	CHECK_EQ_INT(ch.second_rc, 0);
	CHECK_EQ_INT(ch.first.status, 200);
	CHECK_EQ_INT(ch.second.status, 200);
}

static void on_closed(void *arg)
{
	*(int *)arg = 1;
}

static void test_close_cancels_pending(struct hc *c)
{
	struct result r = { 0 }, after = { 0 };
	struct hc_request req = { .method = "GET", .url = url("/slow"), .timeout_ms = 60000 };
	int closed = 0;

	CHECK_EQ_INT(hc_request(c, &req, on_done, &r), 0);
	while (!held)
		uv_run(loop, UV_RUN_ONCE);
	hc_close(c, on_closed, &closed);
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.err, -ECANCELED);
	CHECK_EQ_INT(hc_request(c, &req, on_done, &after), -ESHUTDOWN);
	CHECK_EQ_INT(closed, 0);
	run_until(&closed);
	CHECK_EQ_INT(r.calls, 1);
	httpd_respond(held, 200, "text/plain", NULL, "late", 4);
	held = NULL;
}

static void on_stopped(void *arg)
{
	*(int *)arg = 1;
}

/* Mail: what hc_mail refuses before anything goes out, and a relay that is
 * not there (the e2e tests speak SMTP to a real relay, aiosmtpd). */
static void test_mail(struct hc *c)
{
	struct result r = { 0 };
	struct hc_mail m = { .url = "smtp://127.0.0.1:1", .from = "a@example.com",
			     .to = "b@example.com", .message = "Subject: x\r\n\r\nhi\r\n",
			     .message_len = 19, .timeout_ms = 2000 };
	struct hc_mail bad;

	bad = m;
	bad.url = "http://127.0.0.1:1";
	CHECK_EQ_INT(hc_mail(c, &bad, on_done, &r), -EINVAL);
	bad = m;
	bad.to = "b@example.com>\r\nRCPT TO:<c@example.com";
	CHECK_EQ_INT(hc_mail(c, &bad, on_done, &r), -EINVAL);
	bad = m;
	bad.from = "";
	CHECK_EQ_INT(hc_mail(c, &bad, on_done, &r), -EINVAL);
	bad = m;
	bad.user = "u";
	bad.password = "p\r\nQUIT";
	CHECK_EQ_INT(hc_mail(c, &bad, on_done, &r), -EINVAL);
	bad = m;
	bad.message = NULL;
	CHECK_EQ_INT(hc_mail(c, &bad, on_done, &r), -EINVAL);
	run_a_little();
	CHECK_EQ_INT(r.calls, 0);

	CHECK_EQ_INT(hc_mail(c, &m, on_done, &r), 0);
	CHECK_EQ_INT(r.calls, 0);
	run_until(&r.calls);
	CHECK_EQ_INT(r.err, -ECONNREFUSED);
	run_a_little();
	CHECK_EQ_INT(r.calls, 1);
}

int main(void)
{
	struct httpd_config cfg = { .host = "127.0.0.1", .port = 0, .on_request = on_request };
	struct hc *c;
	int stopped = 0;

	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	CHECK_EQ_INT(httpd_start(loop, &cfg, &srv), 0);
	port = httpd_port(srv);
	CHECK_EQ_INT(hc_new(loop, &c), 0);

	test_get(c);
	test_post_headers_body_bearer(c);
	test_patch_and_empty_post(c);
	test_error_status_is_an_answer(c);
	test_timeout(c);
	test_refused(c);
	test_public_only(c);
	test_body_cap(c);
	test_bad_requests_never_call_back(c);
	test_request_from_callback(c);
	test_mail(c);
	test_close_cancels_pending(c);
	hc_close(NULL, NULL, NULL);

	httpd_stop(srv, on_stopped, &stopped);
	run_until(&stopped);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(uv_loop_close(loop), 0);
	return check_done();
}
