/* GET /api/me/inbox → {"host","token"}: a ticket for the caller's own inbox
 * room (docs/protocol.md, "The inbox"), made on first use: a row of kind
 * 'inbox', application 'inbox', not persistent, unlisted, whose id derives
 * from the user id (inbox_id.h), left unpinned so that the look-up every
 * call makes anyway (stateroom_locate) places it. Registered accounts only. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "backend.h"
#include "http_json.h"
#include "inbox_id.h"
#include "log.h"
#include "token.h"

struct inbox_call {
	struct backend *be;
	struct httpd_req *req;
	struct auth_user user;
	char room[INBOX_ID_LEN + 1];
};

static void inbox_done(struct inbox_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

static void inbox_on_located(enum sched_result err, const struct sched_placement *p, void *arg)
{
	struct inbox_call *c = arg;
	struct backend *be = c->be;
	struct wire_ticket t = { .epoch = 0 };
	char *tok, host[512];

	be->mx.locate[mx_sched_index(err)]++;
	if (err == SCHED_FULL) {
		be_error(be, c->req, MX_INBOX, 503, "no_capacity",
			 "every session server is full; try again shortly", "Retry-After: 5\r\n");
		goto out;
	}
	if (err != SCHED_OK || !p->boot[0]) {
		be_unavailable(be, c->req, MX_INBOX, "the inbox is unavailable; try again shortly");
		goto out;
	}
	if (rooms_public_host(be, p->address, host, sizeof host) < 0) {
		be_error(be, c->req, MX_INBOX, 500, "internal", "the session server's public host is too long",
			 NULL);
		goto out;
	}
	t.epoch = p->epoch;
	memcpy(t.sub, c->user.sub, sizeof t.sub);
	memcpy(t.name, c->user.name, sizeof t.name);
	memcpy(t.room, c->room, sizeof c->room);
	tok = wire_ticket_mint(&t, p->server_id, p->boot, (int64_t)time(NULL), be->cfg.ticket_ttl,
			       (const unsigned char *)be->cfg.secret, strlen(be->cfg.secret));
	if (!tok) {
		be_error(be, c->req, MX_INBOX, 500, "internal", "could not sign the ticket", NULL);
		goto out;
	}
	be_json(be, c->req, MX_INBOX, 200, json_pack("{s:s,s:s}", "host", host, "token", tok), NULL);
	free(tok);
out:
	inbox_done(c);
}

static void inbox_on_row(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct inbox_call *c = arg;
	struct backend *be = c->be;

	if (!res || PQntuples(res) != 1) {
		log_write(LOG_WARN, "inbox row failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, c->req, MX_INBOX, "the inbox is unavailable; try again shortly");
		inbox_done(c);
		return;
	}
	/* Only a room made here has this id's length; anything else under it is
	 * a fault to report, never a room to hand out. */
	if (strcmp(PQgetvalue(res, 0, 0), "inbox") != 0 || strcmp(PQgetvalue(res, 0, 1), c->user.sub) != 0) {
		log_write(LOG_ERROR, "inbox id taken by another room", "{s:s,s:s}", "room", c->room,
			  "user", c->user.sub);
		be_error(be, c->req, MX_INBOX, 500, "internal", "the inbox id is taken", NULL);
		inbox_done(c);
		return;
	}
	if (be->sched->locate(be->sched_state, c->room, NULL, inbox_on_located, c) < 0) {
		be->mx.locate[mx_sched_index(SCHED_UNAVAIL)]++;
		be_unavailable(be, c->req, MX_INBOX, "the inbox is unavailable; try again shortly");
		inbox_done(c);
	}
}

void api_inbox(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct inbox_call *c;
	struct auth_user user;
	const char *q[2];

	if (auth_user(be, req, MX_INBOX, &user) < 0 || !be_require_ready(be, req, MX_INBOX))
		return;
	if (!user.registered) {
		be_error(be, req, MX_INBOX, 403, "account_required",
			 "the inbox is for registered accounts; log in with a password", NULL);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c || inbox_id(user.sub, c->room) < 0) {
		free(c);
		be_error(be, req, MX_INBOX, 500, "internal", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	c->user = user;
	q[0] = c->room;
	q[1] = user.sub;
	be_hold(be);
	/* One statement: the new row, or the one already there (the insert's
	 * row is not visible to the same statement's read of rooms). */
	if (db_query(be->db,
		     "WITH ins AS ("
		     " INSERT INTO rooms (id, owner, capacity, visibility, app, kind, persistent)"
		     " VALUES ($1, $2, 1, 'unlisted', 'inbox', 'inbox', false)"
		     " ON CONFLICT (id) DO NOTHING RETURNING kind, owner)"
		     " SELECT kind, owner FROM ins"
		     " UNION ALL SELECT kind, owner FROM rooms WHERE id = $1 LIMIT 1",
		     2, q, inbox_on_row, c) < 0) {
		be_unavailable(be, req, MX_INBOX, "the inbox is unavailable; try again shortly");
		inbox_done(c);
	}
}
