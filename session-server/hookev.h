/* hookev: the webhook events a session server knows first (joined, left,
 * unloaded; docs/protocol.md, "Webhooks"), written to the outbox.
 *
 * An event is noted only while some subscription wants its type (read from
 * webhook_subscriptions at start, again on NOTIFY stateroom_webhook_subs and
 * after a reconnection), so a deployment without webhooks writes nothing.
 * What is noted goes out in one statement at the next flush (the hub's
 * tick), in order; a failed write is tried again at the next flush. */
#ifndef STATEROOM_HOOKEV_H
#define STATEROOM_HOOKEV_H

#include "db.h"

struct hev;

/* Returns NULL when out of memory (then no events are written). */
struct hev *hev_new(struct db *db);

/* A user's first connection to room came in (joined), their last went
 * (left); the room was unloaded. NULL-safe in h. */
void hev_joined(struct hev *h, const char *room, const char *user, const char *name);
void hev_left(struct hev *h, const char *room, const char *user, const char *name);
void hev_unloaded(struct hev *h, const char *room);

/* Writes what was noted since the last flush, unless a write is in flight. */
void hev_flush(struct hev *h);

/* Drops what was not written yet; a write in flight finishes on its own.
 * NULL-safe. */
void hev_free(struct hev *h);

#endif
