/* people_req: what the friends and blocks handlers (api_friends.c,
 * api_blocks.c) read from a request and answer alike: a registered caller,
 * a user id from the path or the body, a page (limit and cursor), and the
 * refusals these share (docs/protocol.md, "People"). */
#ifndef STATEROOM_PEOPLE_REQ_H
#define STATEROOM_PEOPLE_REQ_H

#include <libpq-fe.h>

#include "auth.h"
#include "backend.h"

#define PREQ_LIMIT_DEFAULT 20
#define PREQ_LIMIT_MAX 50
#define PREQ_KEYS_MAX 3          /* lists walked side by side by one cursor */
#define PREQ_CURSOR_MAX 192      /* fits PREQ_KEYS_MAX keys and their separators */

/* The caller, who must hold an account: answers 401 (no valid token), 403
 * account_required (a guest) or 503 (database not ready) and returns -1;
 * else 0 and *out. */
int preq_caller(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *out);

/* The user id at params->v[i] (not decoded, so an escaped character is no
 * id), or the body's "userId". Returns 0 with out filled, or -1 after
 * answering 400 (invalid_user_id, or the body's error). */
int preq_path_user(struct backend *be, struct httpd_req *req, enum mx_route route,
		   const struct route_params *params, size_t i, char out[WIRE_USER_ID_MAX + 1]);
int preq_body_user(struct backend *be, struct httpd_req *req, enum mx_route route,
		   char out[WIRE_USER_ID_MAX + 1]);

/* Where a list stands in a page walk: from its start, after a row (the row's
 * time in microseconds since the epoch when the list is in time order, and
 * its user id), or walked to its end. */
struct preq_key {
	enum { PREQ_START, PREQ_AFTER, PREQ_DONE } at;
	long long us;
	char id[WIRE_USER_ID_MAX + 1];
};

/* Reads ?limit (1..PREQ_LIMIT_MAX, default PREQ_LIMIT_DEFAULT; others are
 * clamped) and ?cursor, a cursor preq_cursor() wrote for n lists, the ones
 * with timed[k] set keyed by time and id. Without a cursor every key is
 * PREQ_START. Returns 0, or -1 after answering 400 invalid_request. */
int preq_page(struct backend *be, struct httpd_req *req, enum mx_route route, size_t n,
	      const bool timed[], struct preq_key keys[], int *limit);

/* Writes the cursor for keys into out (PREQ_CURSOR_MAX + 1 bytes), or
 * returns false when every list is done: the page is the last. */
bool preq_cursor(size_t n, const bool timed[], const struct preq_key keys[], char out[PREQ_CURSOR_MAX + 1]);

/* The key's text parameters for SQL: *id NULL when the list is done (so the
 * query skips it), "" from its start; *us NULL unless after a timed row
 * (then written into buf). */
void preq_key_params(const struct preq_key *k, char buf[24], const char **us, const char **id);

/* people_user_json() from PEOPLE_NCOLUMNS columns of res from col on. */
json_t *preq_user_row(const PGresult *res, int row, int col);

/* 204 No Content. */
void preq_no_content(struct backend *be, struct httpd_req *req, enum mx_route route);

/* A database failure: logged (what is the query's), answered 503. */
void preq_db_error(struct backend *be, struct httpd_req *req, enum mx_route route, const char *what,
		   const char *err);

#endif
