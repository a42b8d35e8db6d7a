/* http_json: JSON bodies and answers over httpd. See http_json.h. */
#include "http_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char json_mime[] = "application/json";

int http_json_respond(struct httpd_req *req, int status, json_t *body, const char *extra_headers)
{
	static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot serialise the answer\"}}";
	char stack[2048];
	char *buf = stack;
	size_t len;
	int rc;

	if (!body)
		body = json_object();
	/* Most answers fit on the stack; a bigger one is dumped a second time
	 * into a buffer of the size the first pass reported. */
	len = body ? json_dumpb(body, stack, sizeof(stack), JSON_COMPACT) : 0;
	if (len > sizeof(stack)) {
		buf = malloc(len);
		if (buf && json_dumpb(body, buf, len, JSON_COMPACT) != len) {
			free(buf);
			buf = NULL;
		}
	}
	json_decref(body);
	if (!buf || len == 0)
		return httpd_respond(req, 500, json_mime, NULL, oom, sizeof(oom) - 1);
	rc = httpd_respond(req, status, json_mime, extra_headers, buf, len);
	if (buf != stack)
		free(buf);
	return rc;
}

int http_json_error(struct httpd_req *req, int status, const char *code, const char *message,
		    const char *extra_headers)
{
	json_t *msg = json_string(message ? message : "");

	/* A message that is not valid UTF-8 must not cost the answer. */
	if (!msg)
		msg = json_string(code);
	return http_json_respond(req, status, json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", msg),
				 extra_headers);
}

/* "application/json", any case, optionally followed by parameters. */
static bool is_json_mime(const char *v, size_t len)
{
	size_t n = sizeof(json_mime) - 1;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	if (len < n || strncasecmp(v, json_mime, n) != 0)
		return false;
	v += n;
	len -= n;
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	return len == 0 || *v == ';';
}

bool http_json_content_ok(const struct httpd_req *req)
{
	const char *ct;
	size_t ct_len;

	if (!req->body_len)
		return true;
	ct = httpd_header(req, "Content-Type", &ct_len);
	return ct && is_json_mime(ct, ct_len);
}

int http_json_unsupported(struct httpd_req *req)
{
	return http_json_error(req, 415, "unsupported_media_type",
			       "a request body must be sent as Content-Type: application/json", NULL);
}

int http_json_body(struct httpd_req *req, json_t **out)
{
	char msg[JSON_ERROR_TEXT_LENGTH + 64];
	json_error_t err;
	json_t *v;

	if (!http_json_content_ok(req)) {
		http_json_unsupported(req);
		return -1;
	}
	if (!req->body_len) {
		v = json_object();
		if (!v) {
			http_json_error(req, 500, "internal", "out of memory", NULL);
			return -1;
		}
		*out = v;
		return 0;
	}
	/* A repeated key is refused: two parsers (a proxy's and ours) could
	 * otherwise each believe a different one. */
	v = json_loadb(req->body, req->body_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	if (!v) {
		/* jansson quotes the offending input, which may be any bytes:
		 * keep the message printable ASCII. */
		snprintf(msg, sizeof(msg), "invalid JSON: %s at line %d, column %d", err.text, err.line,
			 err.column);
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		http_json_error(req, 400, "bad_json", msg, NULL);
		return -1;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_json_error(req, 400, "not_object", "the body must be a JSON object", NULL);
		return -1;
	}
	*out = v;
	return 0;
}

int http_bearer(const struct httpd_req *req, const char **tok, size_t *len)
{
	static const char scheme[] = "Bearer";
	size_t n = sizeof(scheme) - 1, vlen, i;
	const char *v = httpd_header(req, "Authorization", &vlen);

	if (!v || vlen <= n || strncasecmp(v, scheme, n) != 0 || (v[n] != ' ' && v[n] != '\t'))
		return -1;
	v += n;
	vlen -= n;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	if (!vlen)
		return -1;
	/* token68 (RFC 7235): letters, digits, "-._~+/", then '=' padding. */
	for (i = 0; i < vlen; i++) {
		char ch = v[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      (ch && strchr("-._~+/", ch))))
			break;
	}
	while (i < vlen && v[i] == '=')
		i++;
	if (i != vlen || v[0] == '=')
		return -1;
	*tok = v;
	*len = vlen;
	return 0;
}
