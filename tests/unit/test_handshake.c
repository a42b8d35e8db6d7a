/* The RFC 6455 opening handshake, server side. */
#include <http_parser.h>
#include <string.h>

#include "check.h"
#include "handshake.h"

#define H(n, v) { n, v, sizeof(n) - 1, sizeof(v) - 1 }

static const char *rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

/* What the room applications serve (app_protocols()). */
static const char *const served[] = { "stateroom.v1", "game.v2", NULL };

static int check_request(int method, unsigned short major, unsigned short minor,
			 const struct httpd_header *h, size_t n, const char *origins, struct hs_result *out)
{
	struct httpd_req req = {
		.method = method, .http_major = major, .http_minor = minor, .headers = h, .n_headers = n,
	};

	return hs_check(&req, origins, served, out);
}

static int check_headers(const struct httpd_header *h, size_t n, const char *origins,
			 struct hs_result *out)
{
	return check_request(HTTP_GET, 1, 1, h, n, origins, out);
}

static void test_rfc_example_key(void)
{
	char accept[HS_ACCEPT_LEN + 1];

	hs_accept(rfc_key, strlen(rfc_key), accept);
	CHECK_EQ_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_valid_request_gets_101(void)
{
	const struct httpd_header h[] = {
		H("Host", "example.com"),
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;
	char buf[256];
	size_t n;

	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 0);
	CHECK_EQ_STR(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK(r.protocol == NULL);
	n = hs_response(&r, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_STR(buf, "HTTP/1.1 101 Switching Protocols\r\n"
			  "Upgrade: websocket\r\n"
			  "Connection: Upgrade\r\n"
			  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
			  "\r\n");
	CHECK_EQ_INT(hs_response(&r, buf, 10), 0);
}

static void test_header_names_and_tokens_case_insensitive(void)
{
	const struct httpd_header h[] = {
		H("upgrade", "WebSocket"),
		H("CONNECTION", "keep-alive, UPGRADE"),
		H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("SEC-WEBSOCKET-VERSION", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 4, NULL, &r), 0);
	CHECK_EQ_STR(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_connection_token_in_a_second_header(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "keep-alive"),
		H("Connection", " Upgrade "),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 0);
}

static void test_connection_without_upgrade_token_is_400(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "keep-alive, upgraded"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 4, NULL, &r), 400);
}

static void test_upgrade_other_than_websocket_is_400(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "h2c"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 4, NULL, &r), 400);
	CHECK_EQ_INT(check_headers(h + 1, 3, NULL, &r), 400);
}

static void test_post_is_400(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_request(HTTP_POST, 1, 1, h, 4, NULL, &r), 400);
}

static void test_http_before_1_1_is_refused(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_request(HTTP_GET, 1, 0, h, 4, NULL, &r), HS_OLD_HTTP);
	CHECK_EQ_INT(check_request(HTTP_GET, 0, 9, h, 4, NULL, &r), HS_OLD_HTTP);
	CHECK_EQ_INT(check_request(HTTP_GET, 1, 1, h, 4, NULL, &r), 0);
	CHECK_EQ_INT(check_request(HTTP_GET, 2, 0, h, 4, NULL, &r), 0);
}

static void test_missing_or_invalid_key_is_400(void)
{
	static const char *const bad[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ",      /* no padding */
		"dGhlIHNhbXBsZSBub25jZQ=",     /* 23 characters */
		"dGhlIHNhbXBsZSBub25j",        /* 15 bytes */
		"dGhlIHNhbXBsZSBub25jZQ*=",    /* not base64 */
		"dGhlIHNhbXBsZSBub25jZSBhbmQgbW9yZQ==", /* 26 bytes */
	};
	struct hs_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct httpd_header h[] = {
			H("Upgrade", "websocket"),
			H("Connection", "Upgrade"),
			H("Sec-WebSocket-Version", "13"),
			{ "Sec-WebSocket-Key", bad[i], 17, strlen(bad[i]) },
		};
		CHECK_EQ_INT(check_headers(h, 4, NULL, &r), 400);
		CHECK_EQ_INT(check_headers(h, 3, NULL, &r), 400);
	}
}

static void test_two_keys_are_400(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 400);
}

static void test_wrong_version_is_426_missing_is_400(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "8"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 4, NULL, &r), 426);
	CHECK_EQ_INT(check_headers(h, 3, NULL, &r), 400);
}

static void test_subprotocol_selected_when_offered(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
		H("Sec-WebSocket-Protocol", "chat, stateroom.v1"),
	};
	struct hs_result r;
	char buf[256];

	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 0);
	CHECK(r.protocol == served[0]);
	CHECK(hs_response(&r, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "\r\nSec-WebSocket-Protocol: stateroom.v1\r\n") != NULL);
}

/* RFC 6455 4.2.2: the client lists them in its order of preference. */
static void test_subprotocol_in_the_clients_order(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
		H("Sec-WebSocket-Protocol", "chat, game.v2"),
		H("Sec-WebSocket-Protocol", "stateroom.v1"),
	};
	struct hs_result r;
	char buf[256];

	CHECK_EQ_INT(check_headers(h, 6, NULL, &r), 0);
	CHECK(r.protocol == served[1]);
	CHECK(hs_response(&r, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "\r\nSec-WebSocket-Protocol: game.v2\r\n") != NULL);
}

static void test_other_subprotocols_are_not_selected(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
		H("Sec-WebSocket-Protocol", "chat, Stateroom.V1, stateroom.v2"),
	};
	struct hs_result r;
	char buf[256];

	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 0);
	CHECK(r.protocol == NULL);
	CHECK(hs_response(&r, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "Sec-WebSocket-Protocol") == NULL);
}

static void test_origin_allow_list(void)
{
	const struct httpd_header h[] = {
		H("Upgrade", "websocket"),
		H("Connection", "Upgrade"),
		H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		H("Sec-WebSocket-Version", "13"),
		H("Origin", "http://app.example:8080"),
	};
	struct hs_result r;

	CHECK_EQ_INT(check_headers(h, 4, "", &r), 0);          /* no Origin: not a browser */
	CHECK_EQ_INT(check_headers(h, 5, NULL, &r), 403);
	CHECK_EQ_INT(check_headers(h, 5, "", &r), 403);
	CHECK_EQ_INT(check_headers(h, 5, "http://app.example", &r), 403);
	CHECK_EQ_INT(check_headers(h, 5, "http://a.example, http://app.example:8080", &r), 0);
	CHECK_EQ_INT(check_headers(h, 5, "*", &r), 0);
}

int main(void)
{
	test_rfc_example_key();
	test_valid_request_gets_101();
	test_header_names_and_tokens_case_insensitive();
	test_connection_token_in_a_second_header();
	test_connection_without_upgrade_token_is_400();
	test_upgrade_other_than_websocket_is_400();
	test_post_is_400();
	test_http_before_1_1_is_refused();
	test_missing_or_invalid_key_is_400();
	test_two_keys_are_400();
	test_wrong_version_is_426_missing_is_400();
	test_subprotocol_selected_when_offered();
	test_subprotocol_in_the_clients_order();
	test_other_subprotocols_are_not_selected();
	test_origin_allow_list();
	return check_done();
}
