/* email: mail to users over SMTP (docs/protocol.md, "Notifications"): the
 * verification mail of a new address, and the digest sender.
 *
 * The digest sender claims users whose oldest pending email notification is
 * older than their quiet period (notify_prefs.email_delay_s) and who had no
 * digest within it, one claim per user (email_addresses.claimed_until, FOR
 * UPDATE SKIP LOCKED, so one replica sends each). For a claimed user it
 * drops what is stale (read meanwhile, muted, email turned off: 'skipped'),
 * sends one mail listing the rest, then marks those rows 'sent' and sets
 * last_digest_at. A send that fails leaves the rows pending and the claim
 * extended by a backoff (doubling with the attempts, with jitter). Woken by
 * NOTIFY stateroom_notify, at the next time a digest falls due, and by a
 * slow poll. Mail goes through http_client's hc_mail on the loop: a relay
 * that is slow or down holds up nothing else. */
#ifndef STATEROOM_EMAIL_H
#define STATEROOM_EMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "db.h"

struct em;

struct em_config {
	const char *smtp_url;        /* smtp:// or smtps://; NULL or "": email is off */
	const char *from;            /* envelope and From: address; required with a URL */
	const char *user, *password; /* AUTH at the relay; NULL or "": none */
	const char *public_url;      /* http(s) base of links in mail; required with a URL */
	long timeout_ms;             /* one SMTP dialogue */
	long poll_ms;                /* the safety poll */
	long retry_base_ms, retry_max_ms;
	long max_inflight;           /* digests being sent at once */
	long test_delay_ms;          /* > 0: every user's quiet period, for tests */
};

/* Checks and copies cfg. Returns 0 and *out, -EINVAL with a reason in err,
 * or -ENOMEM. Starts nothing. */
int em_new(const struct em_config *cfg, struct em **out, char *err, size_t err_len);

/* Whether email is configured (--smtp-url). NULL-safe. */
bool em_enabled(const struct em *e);

/* The public base URL, without a trailing '/' ("" when email is off). */
const char *em_public_url(const struct em *e);

/* With the database migrated: starts the digest sender (when enabled). */
void em_start(struct em *e, uv_loop_t *loop, struct db *db);

/* Mails address the link that verifies it with token, in the background: a
 * failure is logged (the user may ask again). 0 or a negative errno
 * (-ESHUTDOWN before em_start or after em_close). */
int em_send_verification(struct em *e, const char *address, const char *token);

/* Stops (a digest cut short is sent again once its claim expires) and frees
 * e once its queries have come back: call before db_close. NULL-safe. */
void em_close(struct em *e);

#endif
