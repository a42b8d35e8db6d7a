/* http_json: JSON request bodies and responses on top of httpd.
 *
 * Errors follow the API's shape: {"error":{"code":"...","message":"..."}}. */
#ifndef STATEROOM_HTTP_JSON_H
#define STATEROOM_HTTP_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include "httpd.h"

/* Responds with body serialised compactly. body is stolen (decref'd here),
 * NULL means an empty object. extra_headers as for httpd_respond(). */
int http_json_respond(struct httpd_req *req, int status, json_t *body, const char *extra_headers);

/* Responds {"error":{"code":code,"message":message}}. */
int http_json_error(struct httpd_req *req, int status, const char *code, const char *message,
		    const char *extra_headers);

/* Whether the request's body may be read as JSON: it is empty, or its
 * Content-Type is application/json (any case, parameters allowed). A body
 * of any other type, or of none, is what a page on another site can post
 * without a CORS preflight, so it is never taken. */
bool http_json_content_ok(const struct httpd_req *req);

/* Answers 415 unsupported_media_type (the request failed the check above). */
int http_json_unsupported(struct httpd_req *req);

/* Parses the body as a JSON object. An empty body gives an empty object. On
 * success returns 0 and *out (new reference). On failure it has already
 * answered 400 (bad_json: not JSON, or an object repeats a key; not_object)
 * or 415 (see http_json_content_ok()) and returns -1. */
int http_json_body(struct httpd_req *req, json_t **out);

/* Extracts "Authorization: Bearer <token>". Returns 0 with *tok and *len
 * pointing into the request, or -1 if absent or malformed. */
int http_bearer(const struct httpd_req *req, const char **tok, size_t *len);

#endif
