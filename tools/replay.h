/* replay: stateroom-replay's interface to a room application's model
 * (docs/protocol.md, "Replay"). The tool reads a room's records from
 * PostgreSQL, picks the model by rooms.app from replay_models[]
 * (replay_apps.c, one line per application), applies every record in seq
 * order and compares each state hash the server recorded with the model's. */
#ifndef STATEROOM_REPLAY_H
#define STATEROOM_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
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

/* The applications that have a model, NULL-terminated (replay_apps.c). */
extern const struct replay_model *const replay_models[];

#endif
