#include "handshake.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Calls fn on each comma-separated token of every header named name, with
 * surrounding whitespace trimmed; stops and returns true when fn does. */
static bool any_token(const struct httpd_header *h, size_t n, const char *name,
		      bool (*fn)(const char *tok, size_t len, const void *arg), const void *arg)
{
	size_t name_len = strlen(name);

	for (size_t i = 0; i < n; i++) {
		if (h[i].name_len != name_len || strncasecmp(h[i].name, name, name_len) != 0)
			continue;
		const char *p = h[i].value, *end = p + h[i].value_len;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *tok_end = comma ? comma : end;
			const char *s = p, *e = tok_end;
			while (s < e && is_space(*s))
				s++;
			while (e > s && is_space(e[-1]))
				e--;
			if (e > s && fn(s, (size_t)(e - s), arg))
				return true;
			p = tok_end + (comma ? 1 : 0);
		}
	}
	return false;
}

static bool token_caseeq(const char *tok, size_t len, const void *arg)
{
	const char *want = arg;
	return strlen(want) == len && strncasecmp(tok, want, len) == 0;
}

struct pick {
	const char *const *served;
	const char *chosen;
};

static bool token_served(const char *tok, size_t len, const void *arg)
{
	struct pick *p = (struct pick *)arg;

	for (const char *const *s = p->served; s && *s; s++) {
		if (strlen(*s) == len && memcmp(tok, *s, len) == 0) {
			p->chosen = *s;
			return true;
		}
	}
	return false;
}

/* The only value of a header that must appear once; NULL if absent or repeated. */
static const char *single(const struct httpd_header *h, size_t n, const char *name, size_t *len)
{
	const char *found = NULL;
	size_t name_len = strlen(name);

	for (size_t i = 0; i < n; i++) {
		if (h[i].name_len != name_len || strncasecmp(h[i].name, name, name_len) != 0)
			continue;
		if (found)
			return NULL;
		found = h[i].value;
		*len = h[i].value_len;
	}
	if (found) {
		while (*len > 0 && is_space(found[0])) {
			found++;
			(*len)--;
		}
		while (*len > 0 && is_space(found[*len - 1]))
			(*len)--;
	}
	return found;
}

static bool key_valid(const char *key, size_t len)
{
	unsigned char raw[18];

	/* 16 bytes encode to 22 characters and "==". */
	if (len != 24 || key[22] != '=' || key[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

static bool origin_allowed(const char *origin, size_t len, const char *allowed)
{
	if (!allowed)
		return false;
	for (const char *p = allowed; *p;) {
		const char *comma = strchr(p, ',');
		const char *e = comma ? comma : p + strlen(p);
		const char *s = p;
		while (s < e && is_space(*s))
			s++;
		while (e > s && is_space(e[-1]))
			e--;
		if ((e - s == 1 && *s == '*') ||
		    ((size_t)(e - s) == len && strncasecmp(s, origin, len) == 0))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

void hs_accept(const char *key, size_t key_len, char *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	char buf[128];
	unsigned int digest_len = 0;

	/* A valid key is 24 bytes; a longer one would not pass hs_check. */
	if (key_len > sizeof(buf) - (sizeof(WS_GUID) - 1))
		key_len = sizeof(buf) - (sizeof(WS_GUID) - 1);
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, WS_GUID, sizeof(WS_GUID) - 1);
	EVP_Digest(buf, key_len + sizeof(WS_GUID) - 1, digest, &digest_len, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len);
}

int hs_check(const struct httpd_req *req, const char *allowed_origins,
	     const char *const *protocols, struct hs_result *out)
{
	struct pick pick = { protocols, NULL };
	const struct httpd_header *headers = req->headers;
	size_t n_headers = req->n_headers;
	const char *key, *version, *origin;
	size_t key_len = 0, version_len = 0, origin_len = 0;

	if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
		return HS_OLD_HTTP;
	if (req->method != HTTP_GET)
		return 400;
	if (!any_token(headers, n_headers, "Upgrade", token_caseeq, "websocket") ||
	    !any_token(headers, n_headers, "Connection", token_caseeq, "upgrade"))
		return 400;
	version = single(headers, n_headers, "Sec-WebSocket-Version", &version_len);
	if (!version)
		return 400;
	if (version_len != 2 || memcmp(version, "13", 2) != 0)
		return 426;
	key = single(headers, n_headers, "Sec-WebSocket-Key", &key_len);
	if (!key || !key_valid(key, key_len))
		return 400;
	origin = single(headers, n_headers, "Origin", &origin_len);
	if (origin && !origin_allowed(origin, origin_len, allowed_origins))
		return 403;
	if (!origin) {
		/* Several Origin headers are as suspect as a foreign one. */
		for (size_t i = 0; i < n_headers; i++)
			if (headers[i].name_len == 6 && strncasecmp(headers[i].name, "Origin", 6) == 0)
				return 403;
	}

	hs_accept(key, key_len, out->accept);
	/* In the client's order of preference. */
	any_token(headers, n_headers, "Sec-WebSocket-Protocol", token_served, &pick);
	out->protocol = pick.chosen;
	return 0;
}

size_t hs_response(const struct hs_result *r, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n"
			 "%s%s%s"
			 "\r\n",
			 r->accept, r->protocol ? "Sec-WebSocket-Protocol: " : "",
			 r->protocol ? r->protocol : "", r->protocol ? "\r\n" : "");
	if (n < 0 || (size_t)n >= len)
		return 0;
	return (size_t)n;
}
