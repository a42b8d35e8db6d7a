/* replay: the model of one room application for stateroom-replay
 * (tools/replay.c): it rebuilds a room's state from its log, record by
 * record, and checks every state hash the server recorded. One line per
 * application in tools/replay_apps.c. */
#ifndef STATEROOM_REPLAY_H
#define STATEROOM_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

struct replay_model {
	const char *app;
	void *(*create)(void);
	/* apply one record; returns 0, or -EINVAL for a record the model refuses;
	 * *hash_out set and *has_hash true when the record carries a recorded hash
	 * (then the tool compares it with state_hash() after applying what precedes it) */
	int (*apply)(void *m, const struct app_record *rec, bool *has_hash, uint64_t *hash_out);
	uint64_t (*state_hash)(void *m);
	void (*destroy)(void *m);
};

#endif
