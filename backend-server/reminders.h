/* reminders: fires due reminders and sweeps the notification outbox
 * (docs/protocol.md, "Notifications").
 *
 * Firing is one statement (stateroom_reminders_fire, migration 027) that
 * locks due reminders FOR UPDATE SKIP LOCKED and sets fired_at, so that of
 * several backends on one database each reminder fires on exactly one; it
 * makes the push notification row and tells the user's inbox. Woken by
 * NOTIFY stateroom_reminders (a reminder was added), at the next due time
 * the database reported, and by a slow poll in case a notification was
 * lost. The sweeper deletes, in small batches, notifications no channel
 * still has to send 7 days after they were made and reminders 30 days after
 * they fired: at start, then every sweep interval. */
#ifndef STATEROOM_REMINDERS_H
#define STATEROOM_REMINDERS_H

#include <uv.h>

#include "db.h"

struct rem;

struct rem_config {
	long poll_ms;                /* the safety poll */
	long sweep_ms;               /* between sweeps */
};

/* Allocates; starts nothing. Returns 0 and *out, or -ENOMEM. */
int rem_new(const struct rem_config *cfg, struct rem **out);

/* With the database migrated: starts firing and sweeping. Once only. */
void rem_start(struct rem *r, uv_loop_t *loop, struct db *db);

/* Stops (a statement under way still commits or not as a whole) and frees r
 * once its queries have come back: call before db_close. NULL-safe. */
void rem_close(struct rem *r);

#endif
