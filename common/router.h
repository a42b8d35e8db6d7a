/* router: maps method + path to a handler.
 *
 * Patterns are literal segments and ":name" segments, which match one
 * non-empty segment ("/api/rooms/:id"). A trailing "*" segment matches the
 * rest of the path, including nothing (pattern "/static/" then "*"). Parameters point into
 * the request's path and are not decoded. */
#ifndef STATEROOM_ROUTER_H
#define STATEROOM_ROUTER_H

#include "httpd.h"

#define ROUTE_MAX_PARAMS 4

struct route_params {
	size_t n;
	struct { const char *s; size_t len; } v[ROUTE_MAX_PARAMS];
};

typedef void (*route_fn)(struct httpd_req *req, const struct route_params *params, void *ud);

struct route {
	int method;             /* enum http_method; -1 matches any */
	const char *pattern;
	route_fn fn;
};

/* Calls the first matching route and returns 0. If the path matches but no
 * method does, answers 405 (JSON error, with Allow) and returns 0. If nothing
 * matches, returns -1 and leaves the request to the caller (typically
 * http_json_error(req, 404, ...)). */
int route_dispatch(const struct route *table, size_t n, struct httpd_req *req, void *ud);

#endif
