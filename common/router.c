/* router: first match wins; see router.h. */
#include "router.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_json.h"

/* Matches path against pattern segment by segment, filling *out only on a
 * match. Both start with '/'. */
static bool route_match(const char *pat, const char *path, size_t path_len, struct route_params *out)
{
	struct route_params p = { 0 };
	const char *end = path + path_len;
	const char *s = path;

	if (*pat != '/' || path_len == 0 || *path != '/')
		return false;
	for (;;) {
		const char *pe = strchr(pat + 1, '/');
		size_t plen = pe ? (size_t)(pe - pat - 1) : strlen(pat + 1);
		const char *seg = s + 1, *se;

		if (plen == 1 && pat[1] == '*' && !pe) {
			if (p.n == ROUTE_MAX_PARAMS)
				return false;
			/* The rest, without its leading '/': for a pattern
			 * "/static/" then "*", both "/static" and "/static/"
			 * give an empty rest. */
			p.v[p.n].s = s < end ? seg : end;
			p.v[p.n].len = s < end ? (size_t)(end - seg) : 0;
			p.n++;
			break;
		}
		if (s >= end)
			return false;
		se = memchr(seg, '/', (size_t)(end - seg));
		if (!se)
			se = end;
		if (plen && pat[1] == ':') {
			if (se == seg || p.n == ROUTE_MAX_PARAMS)
				return false;
			p.v[p.n].s = seg;
			p.v[p.n].len = (size_t)(se - seg);
			p.n++;
		} else if ((size_t)(se - seg) != plen || memcmp(seg, pat + 1, plen) != 0) {
			return false;
		}
		s = se;
		if (!pe) {
			if (s != end)
				return false;
			break;
		}
		pat = pe;
	}
	*out = p;
	return true;
}

static bool method_matches(int route_method, int method)
{
	return route_method < 0 || route_method == method ||
	       (route_method == HTTP_GET && method == HTTP_HEAD);
}

int route_dispatch(const struct route *table, size_t n, struct httpd_req *req, void *ud)
{
	char allow[512] = "Allow: ";
	size_t alen = strlen(allow);
	uint64_t allowed = 0;
	bool path_matched = false;
	struct route_params params;

	for (size_t i = 0; i < n; i++) {
		if (!route_match(table[i].pattern, req->path, req->path_len, &params))
			continue;
		if (method_matches(table[i].method, req->method)) {
			table[i].fn(req, &params, ud);
			return 0;
		}
		path_matched = true;
		if (table[i].method >= 0 && table[i].method < 64)
			allowed |= UINT64_C(1) << table[i].method;
	}
	if (!path_matched)
		return -1;
	if (allowed & (UINT64_C(1) << HTTP_GET))
		allowed |= UINT64_C(1) << HTTP_HEAD;
	for (int m = 0; m < 64; m++) {
		if (!(allowed & (UINT64_C(1) << m)))
			continue;
		int w = snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen > 7 ? ", " : "",
				 http_method_str((enum http_method)m));

		if (w > 0 && (size_t)w < sizeof(allow) - alen)
			alen += (size_t)w;
	}
	snprintf(allow + alen, sizeof(allow) - alen, "\r\n");
	http_json_error(req, 405, "method_not_allowed", "method not allowed on this path", allow);
	return 0;
}
