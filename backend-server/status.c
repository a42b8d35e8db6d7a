/* GET /healthz, /readyz and /metrics: for orchestrators and monitoring. */
#include <stdlib.h>

#include "backend.h"
#include "http_json.h"

void status_healthz(struct httpd_req *req, const struct route_params *params, void *ud)
{
	be_json(ud, req, MX_HEALTHZ, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

struct readyz_call {
	struct backend *be;
	struct httpd_req *req;
};

static void readyz_on_result(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct readyz_call *c = arg;
	struct backend *be = c->be;

	if (res)
		be_json(be, c->req, MX_READYZ, 200, json_pack("{s:s}", "status", "ok"), NULL);
	else
		be_error(be, c->req, MX_READYZ, 503, "unavailable", "the database is not reachable", NULL);
	free(c);
	be_release(be);
}

/* Ready means the API can work: migrations applied and a query answered now,
 * not merely a connection that libpq believes is up. */
void status_readyz(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct readyz_call *c;

	if (be->stopping) {
		be_error(be, req, MX_READYZ, 503, "unavailable", "the server is shutting down", NULL);
		return;
	}
	if (!be->ready) {
		be_error(be, req, MX_READYZ, 503, "unavailable", "the database schema is not ready", NULL);
		return;
	}
	c = malloc(sizeof *c);
	if (!c) {
		be_error(be, req, MX_READYZ, 503, "unavailable", "out of memory", NULL);
		return;
	}
	c->be = be;
	c->req = req;
	be_hold(be);
	if (db_query(be->db, "SELECT 1", 0, NULL, readyz_on_result, c) < 0) {
		free(c);
		be_error(be, req, MX_READYZ, 503, "unavailable", "the database queue is full", NULL);
		be_release(be);
	}
}

void status_metrics(struct httpd_req *req, const struct route_params *params, void *ud)
{
	static const char type[] = "text/plain; version=0.0.4; charset=utf-8";
	struct backend *be = ud;
	size_t len;
	char *text;

	/* Counted before rendering so a scrape sees itself. */
	mx_request(&be->mx, MX_METRICS, 200);
	text = mx_render(&be->mx, httpd_conn_count(be->httpd), db_connected(be->db), be->ready, &len);
	if (!text) {
		httpd_respond(req, 500, "text/plain", NULL, "out of memory\n", 14);
		return;
	}
	httpd_respond(req, 200, type, NULL, text, len);
	free(text);
}
