/* push: Web Push, the sender (docs/protocol.md, "Notifications").
 *
 * Delivers the outbox's push channel (schema/migrations/026_notifications.sql:
 * notifications with push_state 'pending') to the browsers' push services
 * (RFC 8030), encrypted for each subscription (RFC 8291) and signed with the
 * server's VAPID key (RFC 8292), with http_client on the loop. A row is
 * claimed once it is older than the grace (a tab that has the room open
 * reads it meanwhile) and nobody holds it (FOR UPDATE SKIP LOCKED and a
 * lease, so one replica sends each); it is skipped when read or muted since,
 * in the user's do-not-disturb hours, or with push turned off. A push
 * service's 2xx makes it 'sent'; 404 and 410 delete the subscription; 429,
 * 5xx and no answer retry with backoff (Retry-After honoured) up to the last
 * attempt, then 'failed'. Woken by NOTIFY stateroom_notify, at each due time
 * and by a slow poll. Requests in flight are bounded over every user. */
#ifndef STATEROOM_PUSH_H
#define STATEROOM_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "db.h"

struct push;

struct push_config {
	const char *public_key;      /* VAPID, base64url; both NULL or "": push is off */
	const char *private_key;
	const char *subject;         /* mailto: or https:, required with the keys */
	bool allow_http;             /* http:// and loopback endpoints too (tests) */
	long grace_ms;               /* a notification waits this long before it is sent */
	long timeout_ms;             /* one request to a push service */
	long max_inflight;           /* requests at once */
	long max_attempts;           /* then 'failed' */
	long retry_base_ms, retry_max_ms;
	long ttl_s;                  /* the TTL header: how long a push service keeps it */
};

/* Checks and copies cfg (the key pair, the subject). Returns 0 and *out,
 * -EINVAL with a reason in err, or -ENOMEM. Starts nothing. */
int push_new(const struct push_config *cfg, struct push **out, char *err, size_t err_len);

/* With the database migrated, and push on: starts sending. Once only. */
void push_start(struct push *p, uv_loop_t *loop, struct db *db);

/* Stops sending (what is cut short is sent after its lease, by this backend
 * or another) and frees p once its queries are back: call before db_close.
 * NULL-safe. */
void push_close(struct push *p);

/* The VAPID public key browsers subscribe with, or NULL: push is off. */
const char *push_public_key(const struct push *p);

/* Whether url may be a subscription's endpoint: https:// to a host name (or,
 * with allow_http, http:// and addresses too), printable, at most 2048
 * bytes. */
bool push_endpoint_ok(const struct push *p, const char *url, size_t len);

#endif
