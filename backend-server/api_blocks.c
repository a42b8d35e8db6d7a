/* Blocks (docs/protocol.md, "People"): POST /api/blocks {"userId"}, DELETE
 * /api/blocks/:userId, GET /api/blocks. Blocking ends a friendship and any
 * friend request either way in the same transaction, under the locks asking
 * and accepting take (schema/migrations/012_friends_and_blocks.sql), so no
 * friendship accepted at the same moment outlives the block. Both changes
 * are idempotent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "people.h"
#include "people_req.h"

#define BLOCKS_MAX "1000"

static const bool blocks_timed[1] = { false };

struct blocks_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	int limit;
	struct preq_key key;
};

static struct blocks_call *blocks_call_new(struct backend *be, struct httpd_req *req,
					   enum mx_route route)
{
	struct blocks_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	return c;
}

static void blocks_done(struct blocks_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

/* Queues sql; on failure answers 503 and frees c. */
static void blocks_query(struct blocks_call *c, const char *sql, int n, const char *const *params,
			 db_result_fn cb)
{
	struct backend *be = c->be;

	be_hold(be);
	if (db_query(be->db, sql, n, params, cb, c) < 0) {
		preq_db_error(be, c->req, c->route, "blocks query not queued", "queue full");
		free(c);
		be_release(be);
	}
}

/* The caller and the user named by the path or the body, not the caller.
 * Returns 0 or -1 after answering. */
static int blocks_pair(struct backend *be, struct httpd_req *req, enum mx_route route,
		       const struct route_params *params, struct auth_user *me, char them[WIRE_USER_ID_MAX + 1])
{
	if (preq_caller(be, req, route, me) < 0)
		return -1;
	if ((params ? preq_path_user(be, req, route, params, 0, them)
		    : preq_body_user(be, req, route, them)) < 0)
		return -1;
	if (strcmp(me->sub, them) == 0) {
		be_error(be, req, route, 400, "invalid_request", "userId is yourself: you cannot block yourself",
			 NULL);
		return -1;
	}
	return 0;
}

static void blocks_on_added(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct blocks_call *c = arg;
	const char *o = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";

	if (strcmp(o, "blocked") == 0)
		preq_no_content(c->be, c->req, c->route);
	else if (strcmp(o, "no_user") == 0)
		be_error(c->be, c->req, c->route, 404, "not_found", "no such account", NULL);
	else if (strcmp(o, "limit") == 0)
		be_error(c->be, c->req, c->route, 409, "conflict",
			 "an account may block at most " BLOCKS_MAX " users: unblock some first", NULL);
	else
		preq_db_error(c->be, c->req, c->route, "block failed", res ? o : err);
	blocks_done(c);
}

void api_blocks_add(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	struct blocks_call *c;
	const char *q[3];

	if (blocks_pair(be, req, MX_BLOCKS_ADD, NULL, &me, them) < 0 ||
	    !(c = blocks_call_new(be, req, MX_BLOCKS_ADD)))
		return;
	q[0] = me.sub;
	q[1] = them;
	q[2] = BLOCKS_MAX;
	blocks_query(c, "SELECT stateroom_block($1, $2, $3)", 3, q, blocks_on_added);
}

static void blocks_on_removed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct blocks_call *c = arg;

	if (!res)
		preq_db_error(c->be, c->req, c->route, "unblock failed", err);
	else
		preq_no_content(c->be, c->req, c->route);
	blocks_done(c);
}

void api_blocks_remove(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	struct blocks_call *c;
	const char *q[2];

	if (blocks_pair(be, req, MX_BLOCKS_REMOVE, params, &me, them) < 0 ||
	    !(c = blocks_call_new(be, req, MX_BLOCKS_REMOVE)))
		return;
	q[0] = me.sub;
	q[1] = them;
	blocks_query(c, "DELETE FROM blocks WHERE blocker = $1 AND blocked = $2", 2, q, blocks_on_removed);
}

/* One page ($3 rows, one more than shown) by user id, along the blocks
 * primary key; none when the walk is done ($2 NULL). */
static const char blocks_list_sql[] =
	"SELECT " PEOPLE_COLUMNS("u") " FROM blocks b JOIN users u ON u.id = b.blocked"
	" WHERE b.blocker = $1 AND $2::text IS NOT NULL AND b.blocked > $2 ORDER BY b.blocked LIMIT $3";

static void blocks_on_list(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct blocks_call *c = arg;
	char next[PREQ_CURSOR_MAX + 1];
	json_t *list, *out = NULL;
	int rows;

	if (!res) {
		preq_db_error(c->be, c->req, c->route, "blocks list failed", err);
		goto out;
	}
	rows = PQntuples(res);
	list = json_array();
	for (int i = 0; list && i < rows && i < c->limit; i++)
		if (json_array_append_new(list, preq_user_row(res, i, 0)) < 0) {
			json_decref(list);
			list = NULL;
		}
	if (rows > c->limit) {
		c->key.at = PREQ_AFTER;
		snprintf(c->key.id, sizeof c->key.id, "%s", PQgetvalue(res, c->limit - 1, 0));
	} else
		c->key.at = PREQ_DONE;
	if (list)
		out = json_pack("{s:o,s:s?}", "blocks", list, "next",
				preq_cursor(1, blocks_timed, &c->key, next) ? next : NULL);
	if (!out) {
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(c->be, c->req, c->route, 200, out, NULL);
out:
	blocks_done(c);
}

void api_blocks_list(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	struct blocks_call *c;
	char limit[16], us[24];
	const char *q[3], *untimed;

	if (preq_caller(be, req, MX_BLOCKS_LIST, &me) < 0 || !(c = blocks_call_new(be, req, MX_BLOCKS_LIST)))
		return;
	if (preq_page(be, req, MX_BLOCKS_LIST, 1, blocks_timed, &c->key, &c->limit) < 0) {
		free(c);
		return;
	}
	snprintf(limit, sizeof limit, "%d", c->limit + 1);
	q[0] = me.sub;
	preq_key_params(&c->key, us, &untimed, &q[1]);
	q[2] = limit;
	blocks_query(c, blocks_list_sql, 3, q, blocks_on_list);
}
