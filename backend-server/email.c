/* email: see email.h. A digest lists at most EM_LIST_MAX messages (the rest
 * as a count); every row it covers becomes 'sent'. Rows that arrive while a
 * digest is on its way stay pending for the next period. A mail the relay
 * accepted but whose rows the database did not hear about is sent again
 * once the claim expires: the one way a user gets a digest twice. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "email.h"
#include "http_client.h"
#include "log.h"
#include "mail_compose.h"

#define EM_CHANNEL "stateroom_notify"
#define EM_CLAIM_MARGIN_MS 30000
#define EM_LIST_MAX 20
#define EM_ROWS_MAX 500              /* rows one digest covers at most */
#define EM_PREVIEW_MAX 200           /* bytes of a message's text in a digest */
#define EM_ERROR_MAX 200
#define EM_URL_MAX 512

struct em {
	struct em_config cfg;
	char *url, *from, *user, *password, *public_url;
	uv_loop_t *loop;
	struct db *db;
	struct hc *hc;
	uv_timer_t timer;
	uint64_t due;
	uint64_t rng;
	unsigned queries, inflight;
	bool started, closing, timer_open, hc_open, polling, poll_again;
};

struct em_digest {
	struct em *e;
	char *user_id, *address, *unsub, *ids;
	int attempts;
	char error[EM_ERROR_MAX];
};

static void em_poll(struct em *e);

static void em_maybe_free(struct em *e)
{
	if (!e->closing || e->queries || e->timer_open || e->hc_open)
		return;
	free(e->url);
	free(e->from);
	free(e->user);
	free(e->password);
	free(e->public_url);
	free(e);
}

/* ---- configuration ------------------------------------------------------ */

static bool em_url_ok(const char *s, const char *a, const char *b)
{
	size_t n = strlen(s);

	if (n > EM_URL_MAX || !((n > strlen(a) && strncmp(s, a, strlen(a)) == 0) ||
				(n > strlen(b) && strncmp(s, b, strlen(b)) == 0)))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '<' || *s == '>')
			return false;
	return true;
}

static char *em_dup(const char *s, bool *oom)
{
	char *d = strdup(s ? s : "");

	if (!d)
		*oom = true;
	return d;
}

int em_new(const struct em_config *cfg, struct em **out, char *err, size_t err_len)
{
	struct em *e = calloc(1, sizeof *e);
	bool oom = false;
	size_t n;

	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->url = em_dup(cfg->smtp_url, &oom);
	e->from = em_dup(cfg->from, &oom);
	e->user = em_dup(cfg->user, &oom);
	e->password = em_dup(cfg->password, &oom);
	e->public_url = em_dup(cfg->public_url, &oom);
	if (oom) {
		snprintf(err, err_len, "out of memory");
		e->closing = true;
		em_maybe_free(e);
		return -ENOMEM;
	}
	n = strlen(e->public_url);
	while (n && e->public_url[n - 1] == '/')
		e->public_url[--n] = '\0';
	if (e->url[0] && !em_url_ok(e->url, "smtp://", "smtps://"))
		snprintf(err, err_len, "--smtp-url: expected smtp://HOST[:PORT] or smtps://HOST[:PORT]");
	else if (e->url[0] && !mail_address_ok(e->from))
		snprintf(err, err_len, "--smtp-from: required with --smtp-url, a plain address "
			 "(name@example.com)");
	else if (e->url[0] && !em_url_ok(e->public_url, "http://", "https://"))
		snprintf(err, err_len, "--public-url: required with --smtp-url, the http(s) address "
			 "users open the web client at (links in mail start with it)");
	else if (strpbrk(e->user, "\r\n") || strpbrk(e->password, "\r\n"))
		snprintf(err, err_len, "--smtp-user and --smtp-password take no line breaks");
	else if (cfg->retry_base_ms > cfg->retry_max_ms)
		snprintf(err, err_len, "--email-retry-base-ms must not exceed --email-retry-max-ms");
	else {
		*out = e;
		return 0;
	}
	e->closing = true;
	em_maybe_free(e);
	return -EINVAL;
}

bool em_enabled(const struct em *e)
{
	return e && e->url[0];
}

const char *em_public_url(const struct em *e)
{
	return e ? e->public_url : "";
}

/* ---- timer -------------------------------------------------------------- */

static void em_on_timer(uv_timer_t *t)
{
	struct em *e = t->data;

	e->due = 0;
	em_poll(e);
}

static void em_wake_in(struct em *e, uint64_t ms)
{
	uint64_t at = uv_now(e->loop) + ms;

	if (e->closing || !e->timer_open || (e->due && e->due <= at))
		return;
	e->due = at;
	uv_timer_start(&e->timer, em_on_timer, ms, 0);
}

static void em_on_timer_closed(uv_handle_t *h)
{
	struct em *e = h->data;

	e->timer_open = false;
	em_maybe_free(e);
}

static void em_on_hc_closed(void *arg)
{
	struct em *e = arg;

	e->hc_open = false;
	em_maybe_free(e);
}

/* ---- sending ------------------------------------------------------------ */

/* A message id no other mail has: a random hex string. */
static void em_message_id(char out[33])
{
	unsigned char raw[16];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(out, 33, raw, sizeof raw);
}

static int em_mail(struct em *e, const char *to, const char *subject, const char *text,
		   const char *unsub_url, hc_done_fn done, void *arg)
{
	char id[33];
	char *msg = NULL;
	size_t len = 0;
	int rc;

	em_message_id(id);
	rc = mail_compose(&(struct mail_parts){
				  .from = e->from, .from_name = "Stateroom", .to = to, .subject = subject,
				  .text = text, .unsubscribe_url = unsub_url, .message_id = id,
				  .date = (long long)time(NULL),
			  }, &msg, &len);
	if (rc < 0)
		return rc;
	rc = hc_mail(e->hc, &(struct hc_mail){
			     .url = e->url, .from = e->from, .to = to, .user = e->user,
			     .password = e->password, .message = msg, .message_len = len,
			     .timeout_ms = (uint64_t)e->cfg.timeout_ms,
		     }, done, arg);
	free(msg);
	return rc;
}

static void em_on_verification_sent(const struct hc_response *res, void *arg)
{
	char *to = arg;

	if (res->err == 0)
		log_write(LOG_INFO, "email: verification sent", "{s:s}", "to", to);
	else if (res->err != -ECANCELED)
		log_write(LOG_WARN, "email: verification not sent", "{s:s,s:i,s:s}", "to", to,
			  "reply", (int)res->status, "error", res->error);
	free(to);
}

int em_send_verification(struct em *e, const char *address, const char *token)
{
	char *text = NULL, *to;
	int rc;

	if (!e || !e->started || e->closing || !e->hc_open)
		return -ESHUTDOWN;
	to = strdup(address);
	if (!to || asprintf(&text,
			    "Hello,\n\n"
			    "someone, hopefully you, asked Stateroom to send notifications to this address.\n"
			    "To confirm it, open this link within 24 hours:\n\n"
			    "%s/api/email/verify?token=%s\n\n"
			    "If it was not you, ignore this mail: nothing will be sent here.\n",
			    e->public_url, token) < 0) {
		free(to);
		return -ENOMEM;
	}
	rc = em_mail(e, address, "Confirm your email address for Stateroom", text, NULL,
		     em_on_verification_sent, to);
	free(text);
	if (rc < 0)
		free(to);
	return rc;
}

/* ---- a digest ----------------------------------------------------------- */

static void em_digest_free(struct em_digest *d)
{
	free(d->user_id);
	free(d->address);
	free(d->unsub);
	free(d->ids);
	free(d);
}

static void em_on_settled(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct em_digest *d = arg;
	struct em *e = d->e;

	(void)sqlstate;
	e->queries--;
	e->inflight--;
	if (!res && !e->closing)
		log_write(LOG_WARN, "email: recording a digest failed (tried again after its claim)",
			  "{s:s,s:s}", "user", d->user_id, "error", err ? err : "");
	em_digest_free(d);
	if (e->closing) {
		em_maybe_free(e);
		return;
	}
	em_poll(e);
}

/* sent: the rows in d->ids are 'sent'; else (d->error set) a failure, tried
 * again after a backoff; neither: nothing was left to send. */
static void em_settle(struct em_digest *d, bool sent)
{
	struct em *e = d->e;
	char delay[24];
	const char *p[3] = { d->user_id, d->ids, delay };
	int rc;

	if (sent) {
		rc = db_query(e->db,
			      "WITH s AS (UPDATE notifications SET email_state = 'sent'"
			      " WHERE user_id = $1 AND email_state = 'pending'"
			      " AND id = ANY ($2::bigint[]))"
			      " UPDATE email_addresses SET last_digest_at = now(), claimed_until = NULL,"
			      " send_attempts = 0, last_error = NULL WHERE user_id = $1",
			      2, p, em_on_settled, d);
	} else if (d->error[0]) {
		/* base × 2^(attempts-1), capped, then half to all of it. */
		double ms = (double)e->cfg.retry_base_ms;

		for (int i = 1; i < d->attempts && ms < (double)e->cfg.retry_max_ms; i++)
			ms *= 2;
		if (ms > (double)e->cfg.retry_max_ms)
			ms = (double)e->cfg.retry_max_ms;
		e->rng ^= e->rng << 13;
		e->rng ^= e->rng >> 7;
		e->rng ^= e->rng << 17;
		ms = ms / 2 + ms / 2 * ((double)(e->rng >> 11) / (double)(1ull << 53));
		snprintf(delay, sizeof delay, "%.0f", ms);
		p[1] = d->error;
		rc = db_query(e->db,
			      "UPDATE email_addresses SET last_error = $2,"
			      " claimed_until = now() + $3::bigint * interval '1 millisecond'"
			      " WHERE user_id = $1",
			      3, p, em_on_settled, d);
	} else {
		rc = db_query(e->db,
			      "UPDATE email_addresses SET claimed_until = NULL, send_attempts = 0"
			      " WHERE user_id = $1",
			      1, p, em_on_settled, d);
	}
	if (rc < 0) {
		e->inflight--;
		em_digest_free(d);
		return;
	}
	e->queries++;
}

static void em_on_digest_sent(const struct hc_response *res, void *arg)
{
	struct em_digest *d = arg;
	struct em *e = d->e;

	if (e->closing) {
		e->inflight--;
		em_digest_free(d);
		return;
	}
	if (res->err == 0) {
		log_write(LOG_INFO, "email: digest sent", "{s:s}", "user", d->user_id);
		em_settle(d, true);
		return;
	}
	if (res->status)
		snprintf(d->error, sizeof d->error, "reply %ld: %s", res->status, res->error);
	else
		snprintf(d->error, sizeof d->error, "%s", res->error[0] ? res->error : "send failed");
	log_write(LOG_WARN, "email: digest not sent", "{s:s,s:i,s:s}", "user", d->user_id,
		  "attempt", d->attempts, "error", d->error);
	em_settle(d, false);
}

/* Appends text's first EM_PREVIEW_MAX bytes (cut between characters), line
 * breaks as spaces; an end-to-end encrypted message is never shown. */
static void em_preview(FILE *f, const char *text)
{
	size_t n = strlen(text);

	if (strncmp(text, "{\"e2ee\":1,", 10) == 0) {
		fputs("(encrypted message)", f);
		return;
	}
	if (n == 0) {
		fputs("(deleted)", f);
		return;
	}
	if (n > EM_PREVIEW_MAX) {
		n = EM_PREVIEW_MAX;
		while (n && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		fputc(text[i] == '\n' || text[i] == '\r' || text[i] == '\t' ? ' ' : text[i], f);
	if (n < strlen(text))
		fputs("…", f);
}

/* Columns: id, room_id, seq, kind, author, room kind, room name, payload. */
static void em_compose_and_send(struct em_digest *d, PGresult *res)
{
	struct em *e = d->e;
	int rows = PQntuples(res);
	char *text = NULL, *subject = NULL, *ids = NULL, *unsub = NULL;
	size_t text_len = 0, subject_len = 0, ids_len = 0;
	FILE *f = open_memstream(&text, &text_len);
	FILE *s = open_memstream(&subject, &subject_len);
	FILE *fi = open_memstream(&ids, &ids_len);
	int rc = -ENOMEM;

	if (!f || !s || !fi)
		goto out;
	fputc('{', fi);
	for (int i = 0; i < rows; i++)
		fprintf(fi, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
	fputc('}', fi);
	if (rows == 1) {
		const char *kind = PQgetvalue(res, 0, 3), *by = PQgetvalue(res, 0, 4);

		if (strcmp(kind, "dm") == 0)
			fprintf(s, "%s sent you a message", by);
		else if (strcmp(kind, "mention") == 0)
			fprintf(s, "%s mentioned you in %s", by, PQgetvalue(res, 0, 6));
		else if (strcmp(kind, "reminder") == 0)
			fprintf(s, "Reminder: a message in %s", PQgetvalue(res, 0, 6));
		else
			fprintf(s, "%s wrote in %s", by, PQgetvalue(res, 0, 6));
	} else {
		fprintf(s, "%d unread messages on Stateroom", rows);
	}
	fprintf(f, rows == 1 ? "You have an unread message on Stateroom:\n\n"
			     : "You have %d unread messages on Stateroom:\n\n", rows);
	for (int i = 0; i < rows && i < EM_LIST_MAX; i++) {
		const char *kind = PQgetvalue(res, i, 3), *by = PQgetvalue(res, i, 4);

		if (strcmp(PQgetvalue(res, i, 5), "dm") == 0)
			fprintf(f, "%s (direct message)", by);
		else
			fprintf(f, "%s in %s%s", by, PQgetvalue(res, i, 6),
				strcmp(kind, "mention") == 0 ? " (mentioned you)" : "");
		if (strcmp(kind, "reminder") == 0)
			fputs(" (reminder)", f);
		fputs(":\n  ", f);
		em_preview(f, PQgetvalue(res, i, 7));
		fprintf(f, "\n  %s/?room=%s&seq=%s\n\n", e->public_url, PQgetvalue(res, i, 1),
			PQgetvalue(res, i, 2));
	}
	if (rows > EM_LIST_MAX)
		fprintf(f, "… and %d more.\n\n", rows - EM_LIST_MAX);
	fprintf(f, "-- \nYou get this mail because email notifications are on for your Stateroom "
		   "account. To turn them off, open:\n%s/api/email/unsubscribe?token=%s\n",
		e->public_url, d->unsub);
	if (fclose(f) != 0 || fclose(s) != 0 || fclose(fi) != 0) {
		f = s = fi = NULL;
		goto out;
	}
	f = s = fi = NULL;
	d->ids = ids;
	ids = NULL;
	if (asprintf(&unsub, "%s/api/email/unsubscribe?token=%s", e->public_url, d->unsub) < 0) {
		unsub = NULL;
		goto out;
	}
	rc = em_mail(e, d->address, subject, text, unsub, em_on_digest_sent, d);
out:
	if (f)
		fclose(f);
	if (s)
		fclose(s);
	if (fi)
		fclose(fi);
	free(text);
	free(subject);
	free(ids);
	free(unsub);
	if (rc < 0) {
		snprintf(d->error, sizeof d->error, "cannot send: %s", strerror(-rc));
		em_settle(d, false);
	}
}

static void em_on_rows(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct em_digest *d = arg;
	struct em *e = d->e;

	(void)sqlstate;
	e->queries--;
	if (e->closing) {
		e->inflight--;
		em_digest_free(d);
		em_maybe_free(e);
		return;
	}
	if (!res) {
		/* The claim expires and the user is taken up again. */
		log_write(LOG_WARN, "email: reading a digest failed", "{s:s,s:s}", "user", d->user_id,
			  "error", err ? err : "");
		e->inflight--;
		em_digest_free(d);
		return;
	}
	if (PQntuples(res) == 0)
		em_settle(d, false);
	else
		em_compose_and_send(d, res);
}

/* Drops what is stale ('skipped': read, muted, email off) and reads what is
 * left, in one statement: the user is claimed, so nobody else changes these
 * rows' email_state meanwhile. */
static void em_digest(struct em *e, PGresult *res, int row)
{
	struct em_digest *d = calloc(1, sizeof *d);
	char limit[16];
	const char *p[2];

	if (!d)
		return;
	d->e = e;
	d->user_id = strdup(PQgetvalue(res, row, 0));
	d->address = strdup(PQgetvalue(res, row, 1));
	d->unsub = strdup(PQgetvalue(res, row, 2));
	d->attempts = atoi(PQgetvalue(res, row, 3));
	if (!d->user_id || !d->address || !d->unsub) {
		em_digest_free(d);
		return;
	}
	snprintf(limit, sizeof limit, "%d", EM_ROWS_MAX);
	p[0] = d->user_id;
	p[1] = limit;
	e->inflight++;
	if (db_query(e->db,
		     "WITH skip AS ("
		     " UPDATE notifications n SET email_state = 'skipped'"
		     " WHERE n.user_id = $1 AND n.email_state = 'pending'"
		     " AND (NOT COALESCE((SELECT email FROM notify_prefs WHERE user_id = $1), true)"
		     " OR stateroom_notify_stale(n.user_id, n.room_id, n.seq, n.kind) IS NOT NULL)"
		     " RETURNING n.id)"
		     " SELECT n.id, n.room_id, n.seq, n.kind,"
		     " COALESCE(u.display_name, n.by_user, ''), r.kind, COALESCE(r.name, r.id),"
		     " COALESCE(rec.payload, '')"
		     " FROM notifications n JOIN rooms r ON r.id = n.room_id"
		     " LEFT JOIN users u ON u.id = n.by_user"
		     " LEFT JOIN records rec ON rec.room_id = n.room_id AND rec.seq = n.seq"
		     " WHERE n.user_id = $1 AND n.email_state = 'pending'"
		     " AND n.id NOT IN (SELECT id FROM skip)"
		     " ORDER BY n.id LIMIT $2::integer",
		     2, p, em_on_rows, d) < 0) {
		e->inflight--;
		em_digest_free(d);
		return;
	}
	e->queries++;
}

/* ---- claiming ----------------------------------------------------------- */

static void em_on_claimed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct em *e = arg;
	int n;

	(void)sqlstate;
	e->queries--;
	e->polling = false;
	if (e->closing) {
		em_maybe_free(e);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "email: claiming digests failed", "{s:s}", "error", err ? err : "");
		em_wake_in(e, 1000);
		return;
	}
	n = PQntuples(res) - 1;
	for (int i = 0; i < n; i++)
		em_digest(e, res, i);
	if (n >= 0 && !PQgetisnull(res, n, 4))
		em_wake_in(e, (uint64_t)strtoull(PQgetvalue(res, n, 4), NULL, 10) + 1);
	if (e->poll_again) {
		e->poll_again = false;
		em_poll(e);
	}
}

static void em_poll(struct em *e)
{
	char limit[24], lease[24], test_delay[24];
	const char *p[3] = { limit, lease, test_delay };
	long room = e->cfg.max_inflight - (long)e->inflight;

	if (e->closing || !e->started || !e->url[0])
		return;
	em_wake_in(e, (uint64_t)e->cfg.poll_ms);
	if (e->polling) {
		e->poll_again = true;
		return;
	}
	if (room <= 0)
		return;   /* a settled digest polls again */
	snprintf(limit, sizeof limit, "%ld", room);
	snprintf(lease, sizeof lease, "%ld", e->cfg.timeout_ms + EM_CLAIM_MARGIN_MS);
	snprintf(test_delay, sizeof test_delay, "%ld", e->cfg.test_delay_ms);
	/* d: the user's quiet period. A user is due when a pending row is older
	 * than d and the last digest too; the last row says in how many ms the
	 * next user falls due (by the database's clock). The conditions on ea
	 * are re-checked on the row locked, so two replicas never both claim. */
	if (db_query(e->db,
		     "WITH firsts AS ("
		     " SELECT user_id, min(created_at) AS first FROM notifications"
		     " WHERE email_state = 'pending' GROUP BY user_id),"
		     " due AS ("
		     " SELECT f.user_id, greatest(f.first + x.d, ea.last_digest_at + x.d,"
		     " ea.claimed_until) AS at, x.d"
		     " FROM firsts f JOIN email_addresses ea ON ea.user_id = f.user_id"
		     " LEFT JOIN notify_prefs p ON p.user_id = f.user_id"
		     " CROSS JOIN LATERAL (SELECT CASE WHEN $3::bigint > 0"
		     " THEN $3::bigint * interval '1 millisecond'"
		     " ELSE COALESCE(p.email_delay_s, 900) * interval '1 second' END AS d) x"
		     " WHERE ea.verified_at IS NOT NULL),"
		     " pick AS ("
		     " SELECT ea.user_id FROM email_addresses ea JOIN due ON due.user_id = ea.user_id"
		     " WHERE due.at <= now() AND ea.verified_at IS NOT NULL"
		     " AND (ea.claimed_until IS NULL OR ea.claimed_until <= now())"
		     " AND (ea.last_digest_at IS NULL OR ea.last_digest_at + due.d <= now())"
		     " ORDER BY due.at LIMIT $1::integer FOR UPDATE OF ea SKIP LOCKED),"
		     " upd AS ("
		     " UPDATE email_addresses ea SET send_attempts = ea.send_attempts + 1,"
		     " claimed_until = now() + $2::bigint * interval '1 millisecond'"
		     " FROM pick WHERE ea.user_id = pick.user_id"
		     " RETURNING ea.user_id, ea.address, ea.unsub_token, ea.send_attempts)"
		     " SELECT user_id, address, unsub_token, send_attempts, NULL::bigint FROM upd"
		     " UNION ALL SELECT NULL, NULL, NULL, NULL,"
		     " ceil(extract(epoch FROM min(at) - now()) * 1000)::bigint"
		     " FROM due WHERE at > now()",
		     3, p, em_on_claimed, e) < 0)
		return;
	e->queries++;
	e->polling = true;
}

static void em_on_notify(void *arg, const char *payload)
{
	(void)payload;
	em_poll(arg);
}

/* ---- start and stop ----------------------------------------------------- */

void em_start(struct em *e, uv_loop_t *loop, struct db *db)
{
	if (!e || e->started || e->closing || !e->url[0])
		return;
	e->loop = loop;
	e->db = db;
	e->rng = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32) ^ (uint64_t)(uintptr_t)e;
	if (!e->rng)
		e->rng = 1;
	if (hc_new(loop, &e->hc) < 0) {
		log_write(LOG_ERROR, "email: no SMTP client; no mail is sent", NULL);
		return;
	}
	e->started = true;
	e->hc_open = true;
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	e->timer_open = true;
	if (db_listen(db, EM_CHANNEL, em_on_notify, e) < 0)
		log_write(LOG_WARN, "email: cannot listen; polling only", NULL);
	log_write(LOG_INFO, "email on", "{s:s}", "from", e->from);
	em_poll(e);
}

void em_close(struct em *e)
{
	if (!e || e->closing)
		return;
	e->closing = true;
	if (e->timer_open)
		uv_close((uv_handle_t *)&e->timer, em_on_timer_closed);
	if (e->hc_open)
		hc_close(e->hc, em_on_hc_closed, e);
	em_maybe_free(e);
}
