/* marks: a chat room's read marks on their way to PostgreSQL.
 *
 * Read marks (read_marks: the highest seq each user has read) change with
 * every read frame; they are gathered here and written by marks_flush() in
 * one statement, at most one in flight per room, so a busy room costs one
 * write per flush (the chat application flushes on its tick, about once a
 * second), not one per frame. A write that fails is merged back and tried
 * again at the next flush.
 *
 * A struct marks may be freed while its write is in flight: it is then
 * orphaned and freed by the write's callback. */
#ifndef STATEROOM_MARKS_H
#define STATEROOM_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct marks;

/* Returns a new set for room (id copied), or NULL on ENOMEM. */
struct marks *marks_new(const char *room);
/* NULL-safe; see above for a write in flight. */
void marks_free(struct marks *m);

/* user has read up to seq; a lower seq than one already noted is ignored.
 * Returns 0 or -ENOMEM. */
int marks_set(struct marks *m, const char *user, int64_t seq);

/* Writes the marks noted since the last successful write (an upsert keeping
 * the highest seq). Does nothing while a write is in flight or nothing
 * changed. Returns 0 or a negative errno (tried again at the next flush). */
int marks_flush(struct marks *m, struct db *db);

#endif
