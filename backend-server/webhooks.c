/* The webhook dispatcher: see webhooks.h. Ordering and replicas: every
 * claim takes, per (room, url), only the outbox row with the smallest id,
 * and only while it is unclaimed (claimed_until NULL or past). A replica's
 * claim is one statement that locks the candidate rows FOR UPDATE SKIP
 * LOCKED and re-checks claimed_until on the row it locked, so two replicas
 * never hold the same row, and the next row of that room and URL becomes a
 * candidate only once the head is deleted (delivered, or moved to the dead
 * letters). A claim lasts the request timeout plus CLAIM_MARGIN_MS: a
 * replica that dies mid-delivery leaves the row to another once it expires
 * (the one case where a receiver may get an event twice, besides a 2xx that
 * the database did not hear about). */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "log.h"
#include "webhooks.h"

#define WH_CHANNEL "stateroom_webhooks"
#define WH_CLAIM_MARGIN_MS 30000
#define WH_URL_MAX 2048
#define WH_KIND_MAX 32
#define WH_ERROR_MAX 200

struct wh {
	uv_loop_t *loop;
	struct db *db;
	struct hc *hc;
	char *urls;                  /* comma-separated, as string_to_array takes them */
	char *events;
	char *secret;
	struct wh_config cfg;
	uv_timer_t timer;
	uint64_t due;                /* when the timer fires (uv_now); 0: not armed */
	uint64_t rng;                /* xorshift64 state for the jitter, seeded per process */
	unsigned queries;            /* db queries of ours not yet answered */
	unsigned inflight;           /* claimed rows not yet settled */
	bool started, closing, timer_open, hc_open, polling, poll_again;
};

struct wh_delivery {
	struct wh *w;
	char id[24];
	int attempts;
	char *url, *body, *type, *event_id;
	char error[WH_ERROR_MAX];
};

static void wh_poll(struct wh *w);

static void wh_maybe_free(struct wh *w)
{
	if (!w->closing || w->queries || w->timer_open || w->hc_open)
		return;
	free(w->urls);
	free(w->events);
	free(w->secret);
	free(w);
}

/* ---- configuration ------------------------------------------------------ */

static bool wh_url_ok(const char *s, size_t len)
{
	if (len > WH_URL_MAX || !((len > 7 && strncmp(s, "http://", 7) == 0) ||
				  (len > 8 && strncmp(s, "https://", 8) == 0)))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static bool wh_event_ok(const char *s, size_t len)
{
	static const char *const names[] = { "created", "joined", "left", "unloaded", "record" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0)
			return true;
	if (len <= 7 || len - 7 > WH_KIND_MAX || memcmp(s, "record:", 7) != 0)
		return false;
	for (size_t i = 7; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '{' || s[i] == '}' ||
		    s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* Copies the comma list in, without blanks around items; every item must
 * pass ok. Returns the copy ("" for none) or NULL with *bad the first bad
 * item's start (or NULL: out of memory). */
static char *wh_list(const char *in, bool (*ok)(const char *, size_t), const char **bad)
{
	size_t n = in ? strlen(in) : 0, o = 0;
	char *out = malloc(n + 1);

	*bad = NULL;
	if (!out)
		return NULL;
	for (const char *p = in; p && *p;) {
		const char *e = strchr(p, ',');
		const char *end = e ? e : p + strlen(p);

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > p) {
			if (!ok(p, (size_t)(end - p))) {
				*bad = p;
				free(out);
				return NULL;
			}
			if (o)
				out[o++] = ',';
			memcpy(out + o, p, (size_t)(end - p));
			o += (size_t)(end - p);
		}
		p = e ? e + 1 : end;
	}
	out[o] = '\0';
	return out;
}

int wh_new(const struct wh_config *cfg, struct wh **out, char *err, size_t err_len)
{
	struct wh *w = calloc(1, sizeof *w);
	const char *bad = NULL;

	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	w->urls = wh_list(cfg->urls, wh_url_ok, &bad);
	if (!w->urls && !bad)
		goto oom;
	if (!w->urls) {
		snprintf(err, err_len, "--webhook-url: expected http:// or https:// URLs "
			 "(comma-separated, at most %d bytes each)", WH_URL_MAX);
		goto fail;
	}
	w->events = wh_list(cfg->events, wh_event_ok, &bad);
	if (!w->events && !bad)
		goto oom;
	if (!w->events) {
		snprintf(err, err_len, "--webhook-events: expected created, joined, left, unloaded, "
			 "record or record:KIND (comma-separated)");
		goto fail;
	}
	if (w->urls[0] && !w->events[0]) {
		snprintf(err, err_len, "--webhook-events: empty, but --webhook-url is set");
		goto fail;
	}
	if (w->urls[0] && (!cfg->secret || strlen(cfg->secret) < 16)) {
		snprintf(err, err_len, "--webhook-secret: required with --webhook-url, 16 bytes or more");
		goto fail;
	}
	if (cfg->retry_base_ms > cfg->retry_max_ms) {
		snprintf(err, err_len, "--webhook-retry-base-ms must not exceed --webhook-retry-max-ms");
		goto fail;
	}
	w->secret = strdup(cfg->secret ? cfg->secret : "");
	if (!w->secret)
		goto oom;
	w->cfg.urls = w->urls;
	w->cfg.events = w->events;
	w->cfg.secret = w->secret;
	*out = w;
	return 0;
oom:
	snprintf(err, err_len, "out of memory");
	free(w->urls);
	free(w->events);
	free(w);
	return -ENOMEM;
fail:
	free(w->urls);
	free(w->events);
	free(w);
	return -EINVAL;
}

/* ---- timer -------------------------------------------------------------- */

static void wh_on_timer(uv_timer_t *t)
{
	struct wh *w = t->data;

	w->due = 0;
	wh_poll(w);
}

/* Polls within ms (keeps an earlier wake-up). */
static void wh_wake_in(struct wh *w, uint64_t ms)
{
	uint64_t at = uv_now(w->loop) + ms;

	if (w->closing || !w->timer_open || (w->due && w->due <= at))
		return;
	w->due = at;
	uv_timer_start(&w->timer, wh_on_timer, ms, 0);
}

static void wh_on_timer_closed(uv_handle_t *h)
{
	struct wh *w = h->data;

	w->timer_open = false;
	wh_maybe_free(w);
}

static void wh_on_hc_closed(void *arg)
{
	struct wh *w = arg;

	w->hc_open = false;
	wh_maybe_free(w);
}

/* ---- settling a delivery ------------------------------------------------ */

static void wh_delivery_free(struct wh_delivery *d)
{
	free(d->url);
	free(d->body);
	free(d->type);
	free(d->event_id);
	free(d);
}

static void wh_on_settled(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct wh_delivery *d = arg;
	struct wh *w = d->w;

	(void)sqlstate;
	w->queries--;
	w->inflight--;
	if (!res && !w->closing)
		log_write(LOG_WARN, "webhook: recording a delivery failed (retried after its claim)",
			  "{s:s,s:s}", "id", d->id, "error", err ? err : "");
	wh_delivery_free(d);
	if (w->closing) {
		wh_maybe_free(w);
		return;
	}
	/* The room's next event may be claimable now. */
	wh_poll(w);
}

static void wh_settle(struct wh_delivery *d, bool delivered)
{
	struct wh *w = d->w;
	char delay[24];
	const char *p[3] = { d->id, delay, d->error };
	const char *sql;
	int rc;

	if (delivered) {
		sql = "DELETE FROM webhook_outbox WHERE id = $1::bigint";
		rc = db_query(w->db, sql, 1, p, wh_on_settled, d);
	} else if (d->attempts >= w->cfg.max_attempts) {
		log_write(LOG_WARN, "webhook: dead letter", "{s:s,s:s,s:s,s:i,s:s}", "event", d->event_id,
			  "type", d->type, "url", d->url, "attempts", d->attempts, "error", d->error);
		const char *q[2] = { d->id, d->error };

		sql = "WITH d AS (DELETE FROM webhook_outbox WHERE id = $1::bigint RETURNING *)"
		      " INSERT INTO webhook_dead (id, event_id, room_id, url, type, body, attempts, last_error)"
		      " SELECT id, event_id, room_id, url, type, body, attempts, $2 FROM d";
		rc = db_query(w->db, sql, 2, q, wh_on_settled, d);
	} else {
		/* base × 2^(attempts-1), capped, then between half and all of it,
		 * so that receivers coming back are not hit by every room at once. */
		double ms = (double)w->cfg.retry_base_ms;

		for (int i = 1; i < d->attempts && ms < (double)w->cfg.retry_max_ms; i++)
			ms *= 2;
		if (ms > (double)w->cfg.retry_max_ms)
			ms = (double)w->cfg.retry_max_ms;
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 7;
		w->rng ^= w->rng << 17;
		ms = ms / 2 + ms / 2 * ((double)(w->rng >> 11) / (double)(1ull << 53));
		snprintf(delay, sizeof delay, "%.0f", ms);
		sql = "UPDATE webhook_outbox SET claimed_until = NULL, last_error = $3,"
		      " next_at = now() + $2::bigint * interval '1 millisecond' WHERE id = $1::bigint";
		rc = db_query(w->db, sql, 3, p, wh_on_settled, d);
	}
	if (rc < 0) {
		/* The claim expires and the row is tried again then. */
		w->inflight--;
		wh_delivery_free(d);
		return;
	}
	w->queries++;
}

/* ---- delivering --------------------------------------------------------- */

static void wh_on_response(const struct hc_response *res, void *arg)
{
	struct wh_delivery *d = arg;
	struct wh *w = d->w;

	if (w->closing) {
		w->inflight--;
		wh_delivery_free(d);
		return;
	}
	if (res->err == 0 && res->status >= 200 && res->status < 300) {
		wh_settle(d, true);
		return;
	}
	if (res->err == 0)
		snprintf(d->error, sizeof d->error, "HTTP %ld", res->status);
	else
		snprintf(d->error, sizeof d->error, "%s", res->error[0] ? res->error : "request failed");
	log_write(LOG_INFO, "webhook: delivery failed", "{s:s,s:s,s:i,s:s}", "event", d->event_id,
		  "url", d->url, "attempt", d->attempts, "error", d->error);
	wh_settle(d, false);
}

/* X-Stateroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t "." body)> */
static int wh_sign(const struct wh *w, const char *body, size_t len, char *out, size_t out_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char t[24];
	int tl = snprintf(t, sizeof t, "%lld.", (long long)time(NULL));
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t got = 0;
	int n, rc = -EIO;

	if (c && EVP_MAC_init(c, (const unsigned char *)w->secret, strlen(w->secret), params) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)t, (size_t)tl) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)body, len) == 1 &&
	    EVP_MAC_final(c, mac, &got, sizeof mac) == 1) {
		mac_len = (unsigned int)got;
		t[tl - 1] = '\0';
		n = snprintf(out, out_len, "X-Stateroom-Signature: t=%s,v1=", t);
		for (unsigned int i = 0; n > 0 && (size_t)n + 2 < out_len && i < mac_len; i++)
			n += snprintf(out + n, out_len - (size_t)n, "%02x", mac[i]);
		rc = 0;
	}
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	return rc;
}

static void wh_deliver(struct wh *w, PGresult *res, int row)
{
	struct wh_delivery *d = calloc(1, sizeof *d);
	char sig[128], type[64], id[64];
	const char *headers[5];
	int rc;

	if (!d)
		return;   /* the claim expires and it is tried again */
	d->w = w;
	snprintf(d->id, sizeof d->id, "%s", PQgetvalue(res, row, 0));
	d->event_id = strdup(PQgetvalue(res, row, 1));
	d->url = strdup(PQgetvalue(res, row, 2));
	d->type = strdup(PQgetvalue(res, row, 3));
	d->body = strdup(PQgetvalue(res, row, 4));
	d->attempts = atoi(PQgetvalue(res, row, 5));
	if (!d->event_id || !d->url || !d->type || !d->body ||
	    wh_sign(w, d->body, strlen(d->body), sig, sizeof sig) < 0) {
		wh_delivery_free(d);
		return;
	}
	snprintf(type, sizeof type, "X-Stateroom-Event: %s", d->type);
	snprintf(id, sizeof id, "X-Stateroom-Event-Id: %s", d->event_id);
	headers[0] = "Content-Type: application/json";
	headers[1] = type;
	headers[2] = id;
	headers[3] = sig;
	headers[4] = NULL;
	w->inflight++;
	rc = hc_request(w->hc, &(struct hc_request){
				.method = "POST", .url = d->url, .headers = headers, .body = d->body,
				.body_len = strlen(d->body), .timeout_ms = (uint64_t)w->cfg.timeout_ms,
			}, wh_on_response, d);
	if (rc < 0) {
		snprintf(d->error, sizeof d->error, "cannot send: %s", strerror(-rc));
		wh_settle(d, false);
	}
}

/* ---- claiming ----------------------------------------------------------- */

static void wh_on_claimed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct wh *w = arg;
	int n;

	(void)sqlstate;
	w->queries--;
	w->polling = false;
	if (w->closing) {
		wh_maybe_free(w);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "webhook: claiming events failed", "{s:s}", "error", err ? err : "");
		wh_wake_in(w, 1000);
		return;
	}
	n = PQntuples(res) - 1;
	for (int i = 0; i < n; i++)
		wh_deliver(w, res, i);
	if (n >= 0 && !PQgetisnull(res, n, 6))
		wh_wake_in(w, (uint64_t)strtoull(PQgetvalue(res, n, 6), NULL, 10) + 1);
	if (w->poll_again) {
		w->poll_again = false;
		wh_poll(w);
	}
}

static void wh_poll(struct wh *w)
{
	char limit[24], lease[24];
	const char *p[3] = { w->urls, limit, lease };
	long room = w->cfg.max_inflight - (long)w->inflight;

	if (w->closing || !w->urls[0])
		return;
	wh_wake_in(w, (uint64_t)w->cfg.poll_ms);
	if (w->polling) {
		w->poll_again = true;
		return;
	}
	if (room <= 0)
		return;   /* a settled delivery polls again */
	snprintf(limit, sizeof limit, "%ld", room);
	snprintf(lease, sizeof lease, "%ld", w->cfg.timeout_ms + WH_CLAIM_MARGIN_MS);
	/* The conditions on o are re-checked on the row version that was
	 * locked: a row another replica claimed since this statement's snapshot
	 * is skipped, not claimed twice. */
	if (db_query(w->db,
		     "WITH heads AS ("
		     " SELECT DISTINCT ON (url, room_id) id FROM webhook_outbox"
		     " WHERE url = ANY (string_to_array($1, ',')) ORDER BY url, room_id, id),"
		     " pick AS ("
		     " SELECT o.id FROM webhook_outbox o JOIN heads h ON h.id = o.id"
		     " WHERE o.next_at <= now() AND (o.claimed_until IS NULL OR o.claimed_until < now())"
		     " ORDER BY o.id LIMIT $2::integer FOR UPDATE OF o SKIP LOCKED),"
		     " upd AS ("
		     " UPDATE webhook_outbox o SET attempts = o.attempts + 1,"
		     " claimed_until = now() + $3::bigint * interval '1 millisecond'"
		     " FROM pick WHERE o.id = pick.id"
		     " RETURNING o.id, o.event_id, o.url, o.type, o.body, o.attempts)"
		     " SELECT id, event_id, url, type, body, attempts, NULL::bigint FROM upd"
		     /* The last row: in how many ms the next retry is due, by the
		      * database's clock (the loop's may differ by a few ms). */
		     " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL,"
		     " ceil(extract(epoch FROM min(next_at) - now()) * 1000)::bigint"
		     " FROM webhook_outbox WHERE url = ANY (string_to_array($1, ','))"
		     " AND next_at > now()",
		     3, p, wh_on_claimed, w) < 0)
		return;   /* the timer tries again */
	w->queries++;
	w->polling = true;
}

static void wh_on_notify(void *arg, const char *payload)
{
	(void)payload;   /* NULL (a new connection) also means: look again */
	wh_poll(arg);
}

/* ---- start and stop ----------------------------------------------------- */

static void wh_on_subscribed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct wh *w = arg;

	(void)sqlstate;
	w->queries--;
	if (w->closing) {
		wh_maybe_free(w);
		return;
	}
	if (!res)
		log_write(LOG_ERROR, "webhook: writing the subscriptions failed", "{s:s}", "error",
			  err ? err : "");
	else
		log_write(LOG_INFO, "webhooks", "{s:s,s:s}", "urls", w->urls, "events", w->events);
	wh_poll(w);
}

void wh_start(struct wh *w, uv_loop_t *loop, struct db *db)
{
	const char *p[2] = { w->urls, w->events };

	if (w->started || w->closing)
		return;
	w->started = true;
	w->loop = loop;
	w->db = db;
	/* Replicas started together must not retry in step. */
	w->rng = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32) ^ (uint64_t)(uintptr_t)w;
	if (!w->rng)
		w->rng = 1;
	if (w->urls[0]) {
		if (hc_new(loop, &w->hc) < 0) {
			log_write(LOG_ERROR, "webhook: no HTTP client; webhooks are not sent", NULL);
		} else {
			w->hc_open = true;
			uv_timer_init(loop, &w->timer);
			w->timer.data = w;
			w->timer_open = true;
			if (db_listen(db, WH_CHANNEL, wh_on_notify, w) < 0)
				log_write(LOG_WARN, "webhook: cannot listen; polling only", NULL);
		}
	}
	/* Without a URL the table is emptied, so that nothing is enqueued. */
	if (db_query(db,
		     "SELECT stateroom_webhook_subscribe(string_to_array(nullif($1, ''), ','),"
		     " string_to_array(nullif($2, ''), ','))",
		     2, p, wh_on_subscribed, w) == 0)
		w->queries++;
	else
		log_write(LOG_ERROR, "webhook: cannot write the subscriptions", NULL);
}

void wh_close(struct wh *w)
{
	if (!w || w->closing)
		return;
	w->closing = true;
	if (w->timer_open)
		uv_close((uv_handle_t *)&w->timer, wh_on_timer_closed);
	if (w->hc_open)
		hc_close(w->hc, wh_on_hc_closed, w);
	wh_maybe_free(w);
}
