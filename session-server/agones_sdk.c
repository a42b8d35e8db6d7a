/* agones_sdk: the SDK sidecar's REST calls on the loop (see agones_sdk.h). */
#include "agones_sdk.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "http_client.h"
#include "log.h"

#define SDK_HEALTH_MS 5000
#define SDK_READY_FIRST_MS 100
#define SDK_READY_MAX_MS 2000
#define SDK_CAN_READY_POLL_MS 200
#define SDK_OP_TRIES 5
#define SDK_OP_BACKOFF_MS 200
#define SDK_CALL_TIMEOUT_MS 3000
#define SDK_SHUTDOWN_WAIT_MS 5000   /* at most, from agones_sdk_shutdown to letting go */
#define SDK_MAX_OPS 10000           /* queued calls; more are dropped (logged) */
#define SDK_HANDLES 4               /* timers */

enum sdk_kind { SDK_ADD, SDK_REMOVE, SDK_DIFF, SDK_CAPACITY, SDK_SHUTDOWN };

struct sdk_op {
	struct sdk_op *next;
	enum sdk_kind kind;
	int tries;
	char arg[40];                 /* a room id, or a number */
};

struct agones_sdk {
	uv_loop_t *loop;
	struct agones_sdk_config cfg;
	struct hc *http;
	char base[48];                /* http://localhost:PORT */
	uv_timer_t ready_timer, health_timer, queue_timer, stop_timer;
	uint64_t ready_wait;
	unsigned ready_fails, health_fails;
	bool ready, health_busy, op_busy, draining, shutting_down, closing;
	struct sdk_op *head, *tail;
	size_t n_ops;
	unsigned open;                /* timers not yet closed, plus the client */
};

static void sdk_kick(struct agones_sdk *s);
static void sdk_close(struct agones_sdk *s);

/* One call; POST and PATCH always carry a JSON body. */
static int sdk_call(struct agones_sdk *s, const char *method, const char *path, const char *body,
		    hc_done_fn done)
{
	static const char *const headers[] = { "Content-Type: application/json", NULL };
	char url[128];
	struct hc_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = strlen(body),
		.timeout_ms = SDK_CALL_TIMEOUT_MS,
	};

	snprintf(url, sizeof url, "%s%s", s->base, path);
	return hc_request(s->http, &req, done, s);
}

static bool sdk_ok(const struct hc_response *res)
{
	return res->err == 0 && res->status >= 200 && res->status < 300;
}

static const char *sdk_why(const struct hc_response *res)
{
	return res->err != 0 ? res->error : res->body;
}

/* ---- Ready ---------------------------------------------------------------- */

static void sdk_on_ready_timer(uv_timer_t *t);

static void sdk_ready_later(struct agones_sdk *s, uint64_t ms)
{
	uv_timer_start(&s->ready_timer, sdk_on_ready_timer, ms, 0);
}

static void sdk_on_ready(const struct hc_response *res, void *arg)
{
	struct agones_sdk *s = arg;

	if (s->closing || s->shutting_down)
		return;
	if (sdk_ok(res)) {
		s->ready = true;
		log_write(LOG_INFO, "agones: ready", "{s:i}", "attempts", (int)s->ready_fails + 1);
		return;
	}
	if (s->ready_fails++ == 0)
		log_write(LOG_INFO, "agones: the SDK sidecar does not answer Ready yet, retrying",
			  "{s:s,s:i,s:s}", "sidecar", s->base, "status", (int)res->status, "error", sdk_why(res));
	else
		log_write(LOG_DEBUG, "agones: Ready failed", "{s:i,s:s}", "status", (int)res->status,
			  "error", sdk_why(res));
	sdk_ready_later(s, s->ready_wait);
	s->ready_wait = s->ready_wait * 2 > SDK_READY_MAX_MS ? SDK_READY_MAX_MS : s->ready_wait * 2;
}

static void sdk_on_ready_timer(uv_timer_t *t)
{
	struct agones_sdk *s = container_of(t, struct agones_sdk, ready_timer);

	if (s->ready || s->shutting_down)
		return;
	if (s->cfg.can_ready && !s->cfg.can_ready(s->cfg.ud)) {
		sdk_ready_later(s, SDK_CAN_READY_POLL_MS);
		return;
	}
	if (sdk_call(s, "POST", "/ready", "{}", sdk_on_ready) < 0)
		sdk_ready_later(s, SDK_READY_MAX_MS);
}

/* ---- Health --------------------------------------------------------------- */

static void sdk_on_health(const struct hc_response *res, void *arg)
{
	struct agones_sdk *s = arg;

	if (s->closing)
		return;
	s->health_busy = false;
	if (sdk_ok(res)) {
		s->health_fails = 0;
		return;
	}
	/* The sidecar marks us Unhealthy after a few misses: worth a warning. */
	if (++s->health_fails == 3)
		log_write(LOG_WARN, "agones: Health keeps failing", "{s:i,s:s}", "status", (int)res->status,
			  "error", sdk_why(res));
}

static void sdk_on_health_timer(uv_timer_t *t)
{
	struct agones_sdk *s = container_of(t, struct agones_sdk, health_timer);

	if (s->health_busy)
		return;
	if (sdk_call(s, "POST", "/health", "{}", sdk_on_health) == 0)
		s->health_busy = true;
}

/* ---- the ordered calls ---------------------------------------------------- */

static void sdk_pop(struct agones_sdk *s)
{
	struct sdk_op *op = s->head;

	s->head = op->next;
	if (!s->head)
		s->tail = NULL;
	s->n_ops--;
	free(op);
}

static void sdk_push(struct agones_sdk *s, enum sdk_kind kind, const char *arg)
{
	struct sdk_op *op;

	if (s->n_ops >= SDK_MAX_OPS || !(op = calloc(1, sizeof *op))) {
		log_write(LOG_WARN, "agones: SDK call dropped", "{s:i,s:s}", "kind", (int)kind, "arg", arg);
		return;
	}
	op->kind = kind;
	snprintf(op->arg, sizeof op->arg, "%s", arg);
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	s->n_ops++;
	sdk_kick(s);
}

static void sdk_on_queue_timer(uv_timer_t *t)
{
	sdk_kick(container_of(t, struct agones_sdk, queue_timer));
}

static void sdk_on_op(const struct hc_response *res, void *arg)
{
	struct agones_sdk *s = arg;
	struct sdk_op *op = s->head;
	bool done_shutdown;

	if (s->closing)
		return;
	s->op_busy = false;
	if (!sdk_ok(res) && (res->err != 0 || res->status >= 500) && ++op->tries < SDK_OP_TRIES) {
		log_write(LOG_DEBUG, "agones: SDK call failed, retrying", "{s:i,s:s,s:i}", "kind",
			  (int)op->kind, "arg", op->arg, "try", op->tries);
		uv_timer_start(&s->queue_timer, sdk_on_queue_timer,
			       (uint64_t)SDK_OP_BACKOFF_MS << (op->tries - 1), 0);
		return;
	}
	/* Adding a value already listed (the allocation added it) or removing
	 * one already gone is the state we wanted. */
	if (!sdk_ok(res) && !(res->err == 0 && op->kind == SDK_ADD && res->status == 409) &&
	    !(res->err == 0 && op->kind == SDK_REMOVE && res->status == 404))
		log_write(LOG_WARN, "agones: SDK call failed", "{s:i,s:s,s:i,s:s}", "kind", (int)op->kind,
			  "arg", op->arg, "status", (int)res->status, "error", sdk_why(res));
	done_shutdown = op->kind == SDK_SHUTDOWN;
	sdk_pop(s);
	if (done_shutdown) {
		log_write(LOG_INFO, "agones: shutdown sent", NULL);
		sdk_close(s);
		return;
	}
	sdk_kick(s);
}

static void sdk_kick(struct agones_sdk *s)
{
	struct sdk_op *op = s->head;
	const char *method = "POST", *path;
	json_t *j;
	char *body;
	int rc;

	if (s->closing || s->op_busy || !op || uv_is_active((uv_handle_t *)&s->queue_timer))
		return;
	switch (op->kind) {
	case SDK_ADD:
		path = "/v1beta1/lists/rooms:addValue";
		j = json_pack("{s:s}", "value", op->arg);
		break;
	case SDK_REMOVE:
		path = "/v1beta1/lists/rooms:removeValue";
		j = json_pack("{s:s}", "value", op->arg);
		break;
	case SDK_DIFF:
		method = "PATCH";
		path = "/v1beta1/counters/rooms";
		j = json_pack("{s:s}", "countDiff", op->arg);
		break;
	case SDK_CAPACITY:
		method = "PATCH";
		path = "/v1beta1/counters/rooms";
		j = json_pack("{s:s}", "capacity", op->arg);
		break;
	default:
		path = "/shutdown";
		j = json_object();
		break;
	}
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	rc = body ? sdk_call(s, method, path, body, sdk_on_op) : -ENOMEM;
	free(body);
	if (rc == 0) {
		s->op_busy = true;
		return;
	}
	log_write(LOG_WARN, "agones: cannot make an SDK call", "{s:s,s:s}", "path", path, "error",
		  strerror(-rc));
	if (op->kind == SDK_SHUTDOWN) {
		sdk_close(s);
		return;
	}
	sdk_pop(s);
	sdk_kick(s);
}

/* ---- life ----------------------------------------------------------------- */

static void sdk_maybe_free(struct agones_sdk *s)
{
	if (s->open > 0)
		return;
	while (s->head)
		sdk_pop(s);
	free(s);
}

static void sdk_on_timer_closed(uv_handle_t *h)
{
	struct agones_sdk *s = h->data;

	s->open--;
	sdk_maybe_free(s);
}

static void sdk_on_http_closed(void *arg)
{
	struct agones_sdk *s = arg;

	s->open--;
	sdk_maybe_free(s);
}

static void sdk_close(struct agones_sdk *s)
{
	if (s->closing)
		return;
	s->closing = true;
	uv_close((uv_handle_t *)&s->ready_timer, sdk_on_timer_closed);
	uv_close((uv_handle_t *)&s->health_timer, sdk_on_timer_closed);
	uv_close((uv_handle_t *)&s->queue_timer, sdk_on_timer_closed);
	uv_close((uv_handle_t *)&s->stop_timer, sdk_on_timer_closed);
	hc_close(s->http, sdk_on_http_closed, s);
}

static void sdk_on_stop_timer(uv_timer_t *t)
{
	struct agones_sdk *s = container_of(t, struct agones_sdk, stop_timer);

	log_write(LOG_WARN, "agones: the sidecar did not take Shutdown in time", "{s:i}", "queued",
		  (int)s->n_ops);
	sdk_close(s);
}

int agones_sdk_start(uv_loop_t *loop, const struct agones_sdk_config *cfg, struct agones_sdk **out)
{
	struct agones_sdk *s;
	uint64_t health;
	int rc;

	if (!cfg || cfg->port < 1 || cfg->port > 65535)
		return -EINVAL;
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	rc = hc_new(loop, &s->http);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->loop = loop;
	s->cfg = *cfg;
	s->ready_wait = SDK_READY_FIRST_MS;
	snprintf(s->base, sizeof s->base, "http://localhost:%d", cfg->port);
	uv_timer_init(loop, &s->ready_timer);
	uv_timer_init(loop, &s->health_timer);
	uv_timer_init(loop, &s->queue_timer);
	uv_timer_init(loop, &s->stop_timer);
	s->ready_timer.data = s->health_timer.data = s->queue_timer.data = s->stop_timer.data = s;
	s->open = SDK_HANDLES + 1;
	health = cfg->health_ms ? cfg->health_ms : SDK_HEALTH_MS;
	uv_timer_start(&s->ready_timer, sdk_on_ready_timer, 0, 0);
	uv_timer_start(&s->health_timer, sdk_on_health_timer, health, health);
	log_write(LOG_INFO, "agones: SDK sidecar", "{s:s,s:I}", "sidecar", s->base, "health_ms",
		  (json_int_t)health);
	*out = s;
	return 0;
}

void agones_sdk_room(struct agones_sdk *s, const char *room_id, bool loaded)
{
	if (!s || s->draining || s->shutting_down || !room_id)
		return;
	if (loaded) {
		sdk_push(s, SDK_ADD, room_id);
	} else {
		sdk_push(s, SDK_REMOVE, room_id);
		sdk_push(s, SDK_DIFF, "-1");
	}
}

void agones_sdk_drain(struct agones_sdk *s, size_t rooms)
{
	char n[24];

	if (!s || s->draining)
		return;
	s->draining = true;
	snprintf(n, sizeof n, "%zu", rooms);
	sdk_push(s, SDK_CAPACITY, n);
}

void agones_sdk_shutdown(struct agones_sdk *s)
{
	if (!s || s->shutting_down)
		return;
	s->shutting_down = true;
	uv_timer_stop(&s->ready_timer);
	uv_timer_stop(&s->health_timer);
	uv_timer_start(&s->stop_timer, sdk_on_stop_timer, SDK_SHUTDOWN_WAIT_MS, 0);
	sdk_push(s, SDK_SHUTDOWN, "");
}
