/* router: matching is tested on bare requests; the 405 answer goes through a
 * real httpd on loopback, since it is written to the wire. */
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "http_json.h"
#include "router.h"

struct hit {
	const char *route;
	struct route_params params;
};

static void h_list(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "list";
	h->params = *p;
}

static void h_create(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "create";
	h->params = *p;
}

static void h_room(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "room";
	h->params = *p;
}

static void h_messages(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "messages";
	h->params = *p;
}

static void h_static(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "static";
	h->params = *p;
}

static void h_root(struct httpd_req *req, const struct route_params *p, void *ud)
{
	struct hit *h = ud;

	h->route = "root";
	h->params = *p;
}

static const struct route table[] = {
	{ HTTP_GET, "/", h_root },
	{ HTTP_GET, "/api/rooms", h_list },
	{ HTTP_POST, "/api/rooms", h_create },
	{ HTTP_GET, "/api/rooms/:id", h_room },
	{ HTTP_GET, "/api/rooms/:id/messages/:seq", h_messages },
	{ -1, "/static/*", h_static },
};

#define N_ROUTES (sizeof(table) / sizeof(table[0]))

static int dispatch(int method, const char *path, struct hit *h)
{
	struct httpd_req req = { .method = method, .path = path, .path_len = strlen(path) };

	memset(h, 0, sizeof(*h));
	return route_dispatch(table, N_ROUTES, &req, h);
}

static bool param_is(const struct hit *h, size_t i, const char *want)
{
	return i < h->params.n && h->params.v[i].len == strlen(want) &&
	       memcmp(h->params.v[i].s, want, h->params.v[i].len) == 0;
}

static void test_literal_paths_match_exactly(void)
{
	struct hit h;

	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms", &h), 0);
	CHECK_EQ_STR(h.route, "list");
	CHECK_EQ_INT(h.params.n, 0);
	CHECK_EQ_INT(dispatch(HTTP_POST, "/api/rooms", &h), 0);
	CHECK_EQ_STR(h.route, "create");
	CHECK_EQ_INT(dispatch(HTTP_GET, "/", &h), 0);
	CHECK_EQ_STR(h.route, "root");
	/* HEAD is served by the GET route. */
	CHECK_EQ_INT(dispatch(HTTP_HEAD, "/api/rooms", &h), 0);
	CHECK_EQ_STR(h.route, "list");
}

static void test_params_capture_one_segment(void)
{
	struct hit h;

	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms/abc123", &h), 0);
	CHECK_EQ_STR(h.route, "room");
	CHECK_EQ_INT(h.params.n, 1);
	CHECK(param_is(&h, 0, "abc123"));
	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms/r1/messages/42", &h), 0);
	CHECK_EQ_STR(h.route, "messages");
	CHECK_EQ_INT(h.params.n, 2);
	CHECK(param_is(&h, 0, "r1"));
	CHECK(param_is(&h, 1, "42"));
}

static void test_wildcard_matches_the_rest(void)
{
	struct hit h;

	CHECK_EQ_INT(dispatch(HTTP_GET, "/static/js/app.js", &h), 0);
	CHECK_EQ_STR(h.route, "static");
	CHECK(param_is(&h, 0, "js/app.js"));
	CHECK_EQ_INT(dispatch(HTTP_POST, "/static/", &h), 0);
	CHECK_EQ_STR(h.route, "static");
	CHECK(param_is(&h, 0, ""));
	CHECK_EQ_INT(dispatch(HTTP_GET, "/static", &h), 0);
	CHECK_EQ_STR(h.route, "static");
	CHECK(param_is(&h, 0, ""));
}

static void test_unmatched_paths_are_left_to_the_caller(void)
{
	struct hit h;

	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/nope", &h), -1);
	CHECK(h.route == NULL);
	/* A parameter needs a non-empty segment; no trailing slash tolerance. */
	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms/", &h), -1);
	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms//messages/1", &h), -1);
	CHECK_EQ_INT(dispatch(HTTP_GET, "/api/rooms/a/b", &h), -1);
	CHECK_EQ_INT(dispatch(HTTP_GET, "/api", &h), -1);
	CHECK_EQ_INT(dispatch(HTTP_GET, "/staticfoo", &h), -1);
	CHECK_EQ_INT(dispatch(HTTP_GET, "", &h), -1);
}

/* ---- 405 over a real connection ---------------------------------------- */

struct srv405 {
	uv_loop_t loop;
	uv_async_t stop;
	struct httpd *srv;
};

static void on_request(struct httpd_req *req, void *ud)
{
	struct hit h = { 0 };

	if (route_dispatch(table, N_ROUTES, req, &h) < 0) {
		http_json_error(req, 404, "not_found", "no such route", NULL);
		return;
	}
	if (!h.route)       /* answered 405 by the router */
		return;
	httpd_respond(req, 200, "text/plain", NULL, h.route, strlen(h.route));
}

static void on_stop(uv_async_t *a)
{
	struct srv405 *s = a->data;

	httpd_stop(s->srv, NULL, NULL);
	uv_close((uv_handle_t *)&s->stop, NULL);
}

static void run_loop(void *arg)
{
	struct srv405 *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
}

static void read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	/* The connection stays open: read until the JSON body is complete. */
	while (len + 1 < cap && (n = recv(fd, buf + len, cap - 1 - len, 0)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") && buf[len - 1] == '}')
			break;
	}
	buf[len] = '\0';
}

static void test_wrong_method_gets_405_with_allow(void)
{
	struct httpd_config cfg = { .host = "127.0.0.1", .on_request = on_request };
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 3 };
	struct srv405 s;
	uv_thread_t t;
	char buf[4096];
	int fd;

	CHECK_EQ_INT(uv_loop_init(&s.loop), 0);
	CHECK_EQ_INT(httpd_start(&s.loop, &cfg, &s.srv), 0);
	uv_async_init(&s.loop, &s.stop, on_stop);
	s.stop.data = &s;
	uv_thread_create(&t, run_loop, &s);

	a.sin_port = htons((uint16_t)httpd_port(s.srv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK_EQ_INT(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);

	static const char del[] = "DELETE /api/rooms HTTP/1.1\r\nHost: t\r\n\r\n";
	CHECK_EQ_INT(send(fd, del, sizeof(del) - 1, MSG_NOSIGNAL), sizeof(del) - 1);
	read_all(fd, buf, sizeof(buf));
	CHECK(strncmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	CHECK(strstr(buf, "\r\nAllow: GET, HEAD, POST\r\n") != NULL);
	CHECK(strstr(buf, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strstr(buf, "{\"error\":{\"code\":\"method_not_allowed\",") != NULL);

	static const char miss[] = "GET /api/missing HTTP/1.1\r\nHost: t\r\n\r\n";
	CHECK_EQ_INT(send(fd, miss, sizeof(miss) - 1, MSG_NOSIGNAL), sizeof(miss) - 1);
	read_all(fd, buf, sizeof(buf));
	CHECK(strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	CHECK(strstr(buf, "\"code\":\"not_found\"") != NULL);

	close(fd);
	uv_async_send(&s.stop);
	uv_thread_join(&t);
	CHECK_EQ_INT(uv_loop_close(&s.loop), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_literal_paths_match_exactly();
	test_params_capture_one_segment();
	test_wildcard_matches_the_rest();
	test_unmatched_paths_are_left_to_the_caller();
	test_wrong_method_gets_405_with_allow();
	return check_done();
}
