/* The push sender: see push.h. Like the webhook dispatcher (webhooks.c):
 * a claim is one statement that locks due rows FOR UPDATE SKIP LOCKED and
 * re-checks the lease on the row it locked, so two replicas never hold the
 * same row. The same statement settles what is no longer worth sending
 * ('skipped', with the reason in push_error), so a stale row costs no
 * request. Each claimed row is one job: one request per subscription of its
 * user, started from a queue while fewer than max_inflight are out, so a
 * push service that hangs holds at most its own requests, each until the
 * timeout. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base64.h"
#include "http_client.h"
#include "log.h"
#include "push.h"
#include "webpush.h"

#define PUSH_CHANNEL "stateroom_notify"
#define PUSH_POLL_MS 30000
#define PUSH_CLAIM_MARGIN_MS 30000
#define PUSH_URL_MAX 2048
#define PUSH_ERROR_MAX 200
#define PUSH_PREVIEW_MAX 140
#define PUSH_AUTH_MAX 4096

struct push {
	uv_loop_t *loop;
	struct db *db;
	struct hc *hc;
	struct wp_vapid *vapid;      /* NULL: push is off */
	struct push_config cfg;
	uv_timer_t timer;
	uint64_t due;                /* when the timer fires (uv_now); 0: not armed */
	uint64_t rng;                /* xorshift64 state for the jitter */
	struct push_job *queue, *queue_tail;   /* jobs with requests not started */
	unsigned queued;             /* requests not started, over the queue */
	unsigned queries;            /* db queries of ours not yet answered */
	unsigned inflight;           /* requests out */
	unsigned jobs;               /* claimed rows not yet settled */
	bool started, closing, timer_open, hc_open, polling, poll_again;
};

enum push_outcome { PUSH_WAITING, PUSH_OK, PUSH_GONE, PUSH_RETRY, PUSH_REFUSED };

struct push_sub {
	char id[24];
	char *endpoint;
	uint8_t p256dh[WP_POINT_LEN];
	uint8_t auth[WP_AUTH_LEN];
	enum push_outcome outcome;
};

struct push_job {
	struct push *p;
	struct push_job *next_job;   /* in p->queue */
	char id[24];
	char topic[40];
	bool high;
	int attempts;
	char *payload;
	size_t payload_len;
	struct push_sub *subs;
	int n_subs, started, answered;
	int64_t retry_after_ms;
	char error[PUSH_ERROR_MAX];
};

struct push_send {
	struct push_job *j;
	struct push_sub *s;
};

static void push_poll(struct push *p);
static void push_pump(struct push *p);

static void push_maybe_free(struct push *p)
{
	if (!p->closing || p->queries || p->timer_open || p->hc_open || p->jobs)
		return;
	wp_vapid_free(p->vapid);
	free(p);
}

/* ---- configuration ------------------------------------------------------ */

int push_new(const struct push_config *cfg, struct push **out, char *err, size_t err_len)
{
	bool pub = cfg->public_key && cfg->public_key[0], priv = cfg->private_key && cfg->private_key[0];
	struct push *p;
	int rc;

	if (pub != priv) {
		snprintf(err, err_len, "--vapid-public-key and --vapid-private-key: both or neither");
		return -EINVAL;
	}
	if (cfg->retry_base_ms > cfg->retry_max_ms) {
		snprintf(err, err_len, "--push-retry-base-ms must not exceed --push-retry-max-ms");
		return -EINVAL;
	}
	if (!(p = calloc(1, sizeof *p))) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	p->cfg = *cfg;
	if (pub && (rc = wp_vapid_new(cfg->public_key, cfg->private_key, cfg->subject, &p->vapid, err,
				      err_len)) < 0) {
		free(p);
		return rc;
	}
	p->cfg.public_key = p->cfg.private_key = p->cfg.subject = NULL;   /* not kept */
	*out = p;
	return 0;
}

const char *push_public_key(const struct push *p)
{
	return p && p->vapid ? wp_vapid_public(p->vapid) : NULL;
}

static bool push_is_address(const char *h, size_t n)
{
	if (n && h[0] == '[')
		return true;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
			return false;
	return true;
}

bool push_endpoint_ok(const struct push *p, const char *url, size_t len)
{
	bool https = len > 8 && strncmp(url, "https://", 8) == 0;
	bool http = !https && len > 7 && strncmp(url, "http://", 7) == 0;
	size_t s = https ? 8 : 7, e, h;

	if (len > PUSH_URL_MAX || !(https || (http && p->cfg.allow_http)))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
			return false;
	/* host[:port], then a path */
	for (e = s; e < len && url[e] != '/' && url[e] != '?' && url[e] != '#'; e++)
		if (url[e] == '@')
			return false;   /* no user info */
	if (url[s] == '[') {
		const char *rb = memchr(url + s, ']', e - s);

		if (!rb)
			return false;
		h = (size_t)(rb - url) + 1;
	} else {
		for (h = s; h < e && url[h] != ':'; h++)
			;
	}
	if (h == s)
		return false;
	/* A push service has a public name: an address, or a name of this
	 * machine, would let anyone make the backend POST to its neighbours. */
	if (!p->cfg.allow_http &&
	    (push_is_address(url + s, h - s) || memchr(url + s, '.', h - s) == NULL ||
	     (h - s >= 10 && strncasecmp(url + h - 10, ".localhost", 10) == 0)))
		return false;
	return true;
}

/* ---- timer -------------------------------------------------------------- */

static void push_on_timer(uv_timer_t *t)
{
	struct push *p = t->data;

	p->due = 0;
	push_poll(p);
}

static void push_wake_in(struct push *p, uint64_t ms)
{
	uint64_t at = uv_now(p->loop) + ms;

	if (p->closing || !p->timer_open || (p->due && p->due <= at))
		return;
	p->due = at;
	uv_timer_start(&p->timer, push_on_timer, ms, 0);
}

static void push_on_timer_closed(uv_handle_t *h)
{
	struct push *p = h->data;

	p->timer_open = false;
	push_maybe_free(p);
}

static void push_on_hc_closed(void *arg)
{
	struct push *p = arg;

	p->hc_open = false;
	push_maybe_free(p);
}

/* ---- settling a job ----------------------------------------------------- */

static void push_job_free(struct push_job *j)
{
	for (int i = 0; i < j->n_subs; i++)
		free(j->subs[i].endpoint);
	free(j->subs);
	free(j->payload);
	free(j);
}

static void push_job_done(struct push_job *j)
{
	struct push *p = j->p;

	p->jobs--;
	push_job_free(j);
	if (p->closing)
		push_maybe_free(p);
	else
		push_poll(p);   /* room for more */
}

static void push_on_settled(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct push_job *j = arg;

	(void)sqlstate;
	j->p->queries--;
	if (!res && !j->p->closing)
		log_write(LOG_WARN, "push: recording a delivery failed (retried after its lease)",
			  "{s:s,s:s}", "id", j->id, "error", err ? err : "");
	push_job_done(j);
}

/* "{1,2,3}": the ids of the subscriptions with that outcome. */
static char *push_ids(const struct push_job *j, enum push_outcome a, enum push_outcome b)
{
	char *s = malloc((size_t)j->n_subs * 25 + 3);
	size_t n = 0;

	if (!s)
		return NULL;
	s[n++] = '{';
	for (int i = 0; i < j->n_subs; i++)
		if (j->subs[i].outcome == a || j->subs[i].outcome == b)
			n += (size_t)sprintf(s + n, "%s%s", n > 1 ? "," : "", j->subs[i].id);
	s[n++] = '}';
	s[n] = '\0';
	return s;
}

static void push_settle(struct push_job *j)
{
	struct push *p = j->p;
	int sent = 0, retry = 0, refused = 0;
	const char *state;
	char delay[24] = "0";
	char *ok = NULL, *gone = NULL, *bad = NULL;

	for (int i = 0; i < j->n_subs; i++) {
		sent += j->subs[i].outcome == PUSH_OK;
		retry += j->subs[i].outcome == PUSH_RETRY;
		refused += j->subs[i].outcome == PUSH_REFUSED;
	}
	if (sent) {
		state = "sent";
	} else if (retry && j->attempts < p->cfg.max_attempts) {
		/* base × 2^(attempts-1), capped, then between half and all of
		 * it; a Retry-After longer than that wins. */
		double ms = (double)p->cfg.retry_base_ms;

		for (int i = 1; i < j->attempts && ms < (double)p->cfg.retry_max_ms; i++)
			ms *= 2;
		if (ms > (double)p->cfg.retry_max_ms)
			ms = (double)p->cfg.retry_max_ms;
		p->rng ^= p->rng << 13;
		p->rng ^= p->rng >> 7;
		p->rng ^= p->rng << 17;
		ms = ms / 2 + ms / 2 * ((double)(p->rng >> 11) / (double)(1ull << 53));
		if ((double)j->retry_after_ms > ms)
			ms = (double)j->retry_after_ms;
		snprintf(delay, sizeof delay, "%.0f", ms);
		state = "pending";
	} else if (retry || refused) {
		state = "failed";
		log_write(LOG_INFO, "push: failed", "{s:s,s:i,s:s}", "id", j->id, "attempts", j->attempts,
			  "error", j->error);
	} else {
		state = "skipped";
		snprintf(j->error, sizeof j->error, "no subscription left");
	}
	ok = push_ids(j, PUSH_OK, PUSH_OK);
	gone = push_ids(j, PUSH_GONE, PUSH_GONE);
	bad = push_ids(j, PUSH_RETRY, PUSH_REFUSED);
	{
		const char *q[7] = { j->id, state, sent ? "" : j->error, delay, gone, ok, bad };

		if (ok && gone && bad &&
		    db_query(p->db,
			     "WITH n AS (UPDATE notifications SET push_state = $2, push_error = nullif($3, ''),"
			     " push_claimed_until = NULL,"
			     " push_next_at = now() + $4::bigint * interval '1 millisecond'"
			     " WHERE id = $1::bigint),"
			     " g AS (DELETE FROM push_subscriptions WHERE id = ANY ($5::bigint[])),"
			     " o AS (UPDATE push_subscriptions SET last_ok_at = now(), last_error = NULL"
			     " WHERE id = ANY ($6::bigint[])),"
			     " b AS (UPDATE push_subscriptions SET last_error = $3 WHERE id = ANY ($7::bigint[]))"
			     " SELECT 1",
			     7, q, push_on_settled, j) == 0)
			p->queries++;
		else
			push_job_done(j);   /* the lease expires and it is tried again */
	}
	free(ok);
	free(gone);
	free(bad);
}

/* ---- sending ------------------------------------------------------------ */

static void push_on_response(const struct hc_response *res, void *arg)
{
	struct push_send *sd = arg;
	struct push_job *j = sd->j;
	struct push_sub *s = sd->s;
	struct push *p = j->p;

	free(sd);
	p->inflight--;
	if (res->err == 0 && res->status >= 200 && res->status < 300) {
		s->outcome = PUSH_OK;
	} else {
		if ((res->err == 0 && (res->status == 404 || res->status == 410)) ||
		    res->err == -EACCES)   /* resolves into our own network: never a push service */
			s->outcome = PUSH_GONE;
		else if (res->err != 0 || res->status == 429 || res->status >= 500)
			s->outcome = PUSH_RETRY;
		else
			s->outcome = PUSH_REFUSED;   /* 400, 403 (another key), 413: as bad again */
		if (res->err == 0)
			snprintf(j->error, sizeof j->error, "HTTP %ld", res->status);
		else
			snprintf(j->error, sizeof j->error, "%s", res->error[0] ? res->error : "request failed");
		if (res->err == 0 && res->retry_after_s * 1000 > j->retry_after_ms)
			j->retry_after_ms = res->retry_after_s > 86400 ? 86400000 : res->retry_after_s * 1000;
	}
	if (++j->answered == j->n_subs) {
		if (p->closing)
			push_job_done(j);
		else
			push_settle(j);
	}
	if (!p->closing)
		push_pump(p);
}

/* One request: a new key and salt each, as RFC 8291 asks. Returns 0 or
 * fails s (answered, with the reason). */
static void push_send_one(struct push_job *j, struct push_sub *s)
{
	struct push *p = j->p;
	uint8_t body[WP_PAYLOAD_MAX + WP_OVERHEAD];
	char auth[PUSH_AUTH_MAX], ttl[32], topic[64];
	const char *headers[7];
	struct push_send *sd = NULL;
	size_t n = 0;
	int rc;

	snprintf(ttl, sizeof ttl, "TTL: %ld", p->cfg.ttl_s);
	snprintf(topic, sizeof topic, "Topic: %s", j->topic);
	headers[0] = "Content-Encoding: aes128gcm";
	headers[1] = "Content-Type: application/octet-stream";
	headers[2] = ttl;
	headers[3] = j->high ? "Urgency: high" : "Urgency: normal";
	headers[4] = topic;
	headers[5] = auth;
	headers[6] = NULL;
	if ((rc = wp_encrypt(s->p256dh, s->auth, j->payload, j->payload_len, NULL, body, &n)) < 0 ||
	    (rc = wp_vapid_header(p->vapid, s->endpoint, (int64_t)time(NULL), auth, sizeof auth)) < 0 ||
	    !(sd = malloc(sizeof *sd)) ||
	    (rc = hc_request(p->hc, &(struct hc_request){
				     .method = "POST", .url = s->endpoint, .headers = headers,
				     .body = (const char *)body, .body_len = n,
				     .timeout_ms = (uint64_t)p->cfg.timeout_ms,
				     /* A user's URL: a name resolving into our own
				      * network is refused at connect time. */
				     .public_only = !p->cfg.allow_http,
			     }, push_on_response, sd)) < 0) {
		free(sd);
		/* A subscription the API took but that cannot be used (its
		 * keys or URL) is as good as gone. */
		s->outcome = rc == -EINVAL ? PUSH_GONE : PUSH_RETRY;
		snprintf(j->error, sizeof j->error, "cannot send: %s", strerror(rc < 0 ? -rc : ENOMEM));
		if (++j->answered == j->n_subs)
			push_settle(j);
		return;
	}
	sd->j = j;
	sd->s = s;
	p->inflight++;
}

/* Starts queued requests while there is room. */
static void push_pump(struct push *p)
{
	while (p->queue && p->inflight < (unsigned)p->cfg.max_inflight && !p->closing) {
		struct push_job *j = p->queue;
		struct push_sub *s = &j->subs[j->started++];

		p->queued--;
		if (j->started == j->n_subs) {
			p->queue = j->next_job;
			if (!p->queue)
				p->queue_tail = NULL;
		}
		push_send_one(j, s);
	}
}

/* ---- the payload -------------------------------------------------------- */

/* At most max bytes of s, cut at a character's start. */
static size_t push_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* {"type","roomId","seq","by","title","body","url"} (docs/protocol.md). */
static char *push_payload(PGresult *res, int row, size_t *len)
{
	const char *kind = PQgetvalue(res, row, 1), *room = PQgetvalue(res, row, 2);
	const char *seq = PQgetvalue(res, row, 3), *by = PQgetvalue(res, row, 4);
	const char *name = PQgetvalue(res, row, 6), *room_name = PQgetvalue(res, row, 7);
	const char *text = PQgetvalue(res, row, 8);
	size_t text_len = (size_t)PQgetlength(res, row, 8);
	bool named = !PQgetisnull(res, row, 7) && room_name[0];
	char title[320], preview[PUSH_PREVIEW_MAX + 4], url[96];
	json_t *o;
	char *out;

	if (strcmp(kind, "dm") == 0)
		snprintf(title, sizeof title, "%s", name);
	else if (strcmp(kind, "mention") == 0)
		snprintf(title, sizeof title, "%s mentioned you%s%s", name, named ? " in " : "",
			 named ? room_name : "");
	else if (strcmp(kind, "reminder") == 0)
		snprintf(title, sizeof title, "Reminder: %s", named ? room_name : name);
	else
		snprintf(title, sizeof title, "%s in %s", name, named ? room_name : room);
	/* An end-to-end encrypted DM's envelope (client/e2ee.js) says nothing
	 * the server may repeat. */
	if (text_len >= 10 && strncmp(text, "{\"e2ee\":1,", 10) == 0) {
		snprintf(preview, sizeof preview, "Encrypted message");
	} else {
		size_t n = push_cut(text, text_len, PUSH_PREVIEW_MAX);

		memcpy(preview, text, n);
		strcpy(preview + n, n < text_len ? "\xe2\x80\xa6" : "");
	}
	snprintf(url, sizeof url, "/?room=%s&seq=%s", room, seq);
	o = json_pack("{s:s,s:s,s:I,s:s?,s:s,s:s,s:s}", "type", kind, "roomId", room, "seq",
		      (json_int_t)strtoll(seq, NULL, 10), "by", PQgetisnull(res, row, 4) ? NULL : by,
		      "title", title, "body", preview, "url", url);
	out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (out && (*len = strlen(out)) > WP_PAYLOAD_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

/* Columns: id, kind, room_id, seq, by_user, attempts, author's name, room
 * name, text, subscriptions (JSON [[id, endpoint, p256dh, auth], ...]). */
static void push_job_start(struct push *p, PGresult *res, int row)
{
	struct push_job *j = calloc(1, sizeof *j);
	json_t *subs = json_loads(PQgetvalue(res, row, 9), 0, NULL);
	size_t k;
	json_t *s;

	if (!j || !json_is_array(subs))
		goto drop;
	j->p = p;
	snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, row, 0));
	/* the room id: a-z0-9, at most 32, as Topic wants */
	snprintf(j->topic, sizeof j->topic, "%s", PQgetvalue(res, row, 2));
	j->high = strcmp(PQgetvalue(res, row, 1), "message") != 0;
	j->attempts = atoi(PQgetvalue(res, row, 5));
	if (!(j->payload = push_payload(res, row, &j->payload_len)) ||
	    !(j->subs = calloc(json_array_size(subs) + 1, sizeof *j->subs)))
		goto drop;
	json_array_foreach(subs, k, s) {
		struct push_sub *d = &j->subs[j->n_subs];
		const char *id = json_string_value(json_array_get(s, 0));
		const char *ep = json_string_value(json_array_get(s, 1));
		const char *pk = json_string_value(json_array_get(s, 2));
		const char *au = json_string_value(json_array_get(s, 3));
		uint8_t buf[B64_DECODED_MAX(128)];

		if (!id || !ep || !pk || !au || strlen(pk) > 128 || strlen(au) > 128)
			continue;
		snprintf(d->id, sizeof d->id, "%s", id);
		if (b64_url_decode(buf, pk, strlen(pk)) != WP_POINT_LEN)
			continue;
		memcpy(d->p256dh, buf, WP_POINT_LEN);
		if (b64_url_decode(buf, au, strlen(au)) != WP_AUTH_LEN || !(d->endpoint = strdup(ep)))
			continue;
		memcpy(d->auth, buf, WP_AUTH_LEN);
		j->n_subs++;
	}
	json_decref(subs);
	p->jobs++;
	if (j->n_subs == 0) {
		push_settle(j);   /* skipped */
		return;
	}
	if (p->queue_tail)
		p->queue_tail->next_job = j;
	else
		p->queue = j;
	p->queue_tail = j;
	p->queued += (unsigned)j->n_subs;
	return;
drop:
	/* out of memory: the lease expires and it is tried again */
	json_decref(subs);
	if (j)
		push_job_free(j);
}

/* ---- claiming ----------------------------------------------------------- */

static void push_on_claimed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct push *p = arg;
	int n;

	(void)sqlstate;
	p->queries--;
	p->polling = false;
	if (p->closing) {
		push_maybe_free(p);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "push: claiming notifications failed", "{s:s}", "error", err ? err : "");
		push_wake_in(p, 1000);
		return;
	}
	n = PQntuples(res) - 1;
	for (int i = 0; i < n; i++)
		push_job_start(p, res, i);
	if (n >= 0 && !PQgetisnull(res, n, 10))
		push_wake_in(p, (uint64_t)strtoull(PQgetvalue(res, n, 10), NULL, 10) + 1);
	push_pump(p);
	if (p->poll_again) {
		p->poll_again = false;
		push_poll(p);
	}
}

static void push_poll(struct push *p)
{
	char grace[24], limit[24], lease[24];
	const char *q[3] = { grace, limit, lease };
	long room = p->cfg.max_inflight - (long)p->inflight - (long)p->queued;

	if (p->closing || !p->started || !p->vapid)
		return;
	push_wake_in(p, PUSH_POLL_MS);
	if (p->polling) {
		p->poll_again = true;
		return;
	}
	if (room <= 0)
		return;   /* a settled job polls again */
	snprintf(grace, sizeof grace, "%ld", p->cfg.grace_ms);
	snprintf(limit, sizeof limit, "%ld", room);
	/* Queued requests wait for others to finish: at most a few timeouts. */
	snprintf(lease, sizeof lease, "%ld", 3 * p->cfg.timeout_ms + PUSH_CLAIM_MARGIN_MS);
	if (db_query(p->db,
		     "WITH pick AS ("
		     " SELECT n.id, CASE"
		     " WHEN NOT coalesce(pr.push, true) THEN 'push off'"
		     " WHEN NOT EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = n.user_id)"
		     " THEN 'no subscription'"
		     " ELSE coalesce(stateroom_notify_stale(n.user_id, n.room_id, n.seq, n.kind),"
		     " CASE WHEN stateroom_notify_dnd(n.user_id, now()) THEN 'dnd' END) END AS skip"
		     " FROM notifications n LEFT JOIN notify_prefs pr ON pr.user_id = n.user_id"
		     " WHERE n.push_state = 'pending' AND n.push_next_at <= now()"
		     " AND n.created_at <= now() - $1::bigint * interval '1 millisecond'"
		     " AND (n.push_claimed_until IS NULL OR n.push_claimed_until < now())"
		     " ORDER BY n.push_next_at LIMIT $2::integer FOR UPDATE OF n SKIP LOCKED),"
		     " upd AS ("
		     " UPDATE notifications n SET"
		     " push_state = CASE WHEN pick.skip IS NULL THEN 'pending' ELSE 'skipped' END,"
		     " push_error = pick.skip,"
		     " push_attempts = n.push_attempts + CASE WHEN pick.skip IS NULL THEN 1 ELSE 0 END,"
		     " push_claimed_until = CASE WHEN pick.skip IS NULL"
		     " THEN now() + $3::bigint * interval '1 millisecond' END"
		     " FROM pick WHERE n.id = pick.id"
		     " RETURNING n.id, n.kind, n.room_id, n.seq, n.by_user, n.push_attempts, n.user_id,"
		     " pick.skip)"
		     " SELECT u.id::text, u.kind, u.room_id, u.seq::text, coalesce(u.by_user, r.user_id),"
		     " u.push_attempts::text,"
		     " coalesce(r.user_name, au.display_name, u.by_user, r.user_id, ''), rm.name,"
		     " coalesce(r.payload, ''),"
		     " (SELECT coalesce(json_agg(json_build_array(s.id::text, s.endpoint, s.p256dh, s.auth)"
		     " ORDER BY s.id), '[]') FROM push_subscriptions s WHERE s.user_id = u.user_id)::text,"
		     " NULL::bigint"
		     " FROM upd u LEFT JOIN records r ON r.room_id = u.room_id AND r.seq = u.seq"
		     " LEFT JOIN users au ON au.id = coalesce(u.by_user, r.user_id)"
		     " LEFT JOIN rooms rm ON rm.id = u.room_id"
		     " WHERE u.skip IS NULL"
		     /* The last row: in how many ms the next one is due, by the
		      * database's clock. */
		     " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
		     " ceil(extract(epoch FROM min(greatest(push_next_at,"
		     " created_at + $1::bigint * interval '1 millisecond')) - now()) * 1000)::bigint"
		     " FROM notifications WHERE push_state = 'pending'"
		     " AND greatest(push_next_at, created_at + $1::bigint * interval '1 millisecond') > now()",
		     3, q, push_on_claimed, p) < 0)
		return;   /* the timer tries again */
	p->queries++;
	p->polling = true;
}

static void push_on_notify(void *arg, const char *payload)
{
	(void)payload;   /* NULL (a new connection) also means: look again */
	push_poll(arg);
}

/* ---- start and stop ----------------------------------------------------- */

void push_start(struct push *p, uv_loop_t *loop, struct db *db)
{
	if (!p || p->started || p->closing || !p->vapid)
		return;
	p->loop = loop;
	p->db = db;
	p->rng = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32) ^ (uint64_t)(uintptr_t)p;
	if (!p->rng)
		p->rng = 1;
	if (hc_new(loop, &p->hc) < 0) {
		log_write(LOG_ERROR, "push: no HTTP client; push notifications are not sent", NULL);
		return;
	}
	p->started = true;
	p->hc_open = true;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	if (db_listen(db, PUSH_CHANNEL, push_on_notify, p) < 0)
		log_write(LOG_WARN, "push: cannot listen; polling only", NULL);
	log_write(LOG_INFO, "push", "{s:s}", "vapid_public_key", wp_vapid_public(p->vapid));
	push_poll(p);
}

void push_close(struct push *p)
{
	if (!p || p->closing)
		return;
	p->closing = true;
	/* Queued jobs never started a request: nothing will answer them. */
	while (p->queue) {
		struct push_job *j = p->queue;

		p->queue = j->next_job;
		j->answered += j->n_subs - j->started;
		j->started = j->n_subs;
		if (j->answered == j->n_subs) {
			p->jobs--;
			push_job_free(j);
		}
	}
	p->queue_tail = NULL;
	p->queued = 0;
	if (p->timer_open)
		uv_close((uv_handle_t *)&p->timer, push_on_timer_closed);
	if (p->hc_open)
		hc_close(p->hc, push_on_hc_closed, p);
	push_maybe_free(p);
}
