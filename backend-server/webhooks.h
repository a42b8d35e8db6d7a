/* webhooks: the dispatcher that POSTs room events from the outbox
 * (schema/migrations/023_webhooks.sql) to the URLs the operator configured
 * (docs/protocol.md, "Webhooks").
 *
 * At start it writes the subscriptions (what the options ask for; nothing
 * when no URL is set, so that nothing is enqueued), then claims outbox rows
 * (the oldest of each room and URL, nobody else's claim) and delivers them
 * with http_client on the loop, signed with HMAC-SHA256. A 2xx deletes the
 * row; anything else puts it back for later (exponential backoff with
 * jitter) until the last attempt moves it to the dead letters. Woken by
 * NOTIFY stateroom_webhooks, after each delivery, at each retry time, and by
 * a slow poll in case a notification was lost. */
#ifndef STATEROOM_WEBHOOKS_H
#define STATEROOM_WEBHOOKS_H

#include <stddef.h>
#include <uv.h>

#include "db.h"

struct wh;

struct wh_config {
	const char *urls;            /* comma-separated http(s) URLs; NULL or "": none */
	const char *secret;          /* HMAC key; required with a URL */
	const char *events;          /* comma-separated: created, joined, left, unloaded,
	                              * record, record:KIND */
	long max_attempts;           /* then the dead letters */
	long timeout_ms;             /* one attempt */
	long retry_base_ms, retry_max_ms;
	long poll_ms;                /* the safety poll */
	long max_inflight;           /* deliveries at once, over every room */
};

/* Checks and copies cfg. Returns 0 and *out, -EINVAL with a reason in err,
 * or -ENOMEM. Starts nothing. */
int wh_new(const struct wh_config *cfg, struct wh **out, char *err, size_t err_len);

/* With the database migrated: writes the subscriptions and, with a URL,
 * starts delivering. Once only. */
void wh_start(struct wh *w, uv_loop_t *loop, struct db *db);

/* Stops delivering (a delivery cut short is retried after its claim expires,
 * by this backend or another) and frees w once its queries have come back:
 * call before db_close. NULL-safe. */
void wh_close(struct wh *w);

#endif
