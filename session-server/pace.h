/* pace: a token bucket per connection, and one timer for all of them.
 *
 * Each bucket holds up to burst messages and gains rate a second. A
 * connection takes a token per message (pace_take); once its bucket cannot
 * pay for the next one, its owner stops reading it, and the pacer calls
 * resume() when it has a token again, so a fast sender is slowed down (TCP
 * pushes back on it) and every message is still processed, in order. Every
 * throttled bucket waits the same time, one token's refill, so the waiting
 * ones are in deadline order and one timer serves them all.
 *
 * struct pace and struct pace_bucket are embedded in their owners' structs;
 * their fields are this module's. */
#ifndef STATEROOM_PACE_H
#define STATEROOM_PACE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dlist.h"

struct pace_bucket {
	/* Tokens in thousandths of a message, refilled from the loop's cached
	 * clock (no syscall per message). */
	uint64_t tokens, at;
	struct dlist_node node;       /* in the pacer's list while throttled */
};

struct pace {
	uv_loop_t *loop;
	uv_timer_t timer;             /* the next throttled bucket's refill */
	struct dlist paced;           /* throttled buckets, by when they were */
	unsigned rate, burst;
	uint64_t refill_ms;           /* a token's refill time */
	uint64_t limited;             /* times a bucket ran dry */
	void (*resume)(struct pace_bucket *b);
	void (*closed)(void *arg);
	void *closed_arg;
};

/* rate: messages a second, 0 for no limit; burst: the bucket's size (0:
 * rate). resume(b) runs when a throttled bucket has a token again. */
void pace_init(struct pace *p, uv_loop_t *loop, unsigned rate, unsigned burst,
	       void (*resume)(struct pace_bucket *b));
/* Closes the timer; closed(arg) runs from its close callback. No bucket
 * may be throttled any more. */
void pace_close(struct pace *p, void (*closed)(void *arg), void *arg);

/* A full bucket. */
void pace_bucket_init(struct pace *p, struct pace_bucket *b);

/* Takes a token for a message. Returns true when the next one cannot be
 * paid for: b is throttled until resume(b) (its owner stops reading). */
bool pace_take(struct pace *p, struct pace_bucket *b);

/* Forgets b, throttled (pace_take returned true, resume has not come),
 * before its owner frees it. */
void pace_forget(struct pace *p, struct pace_bucket *b);

uint64_t pace_limited_total(const struct pace *p);

#endif
