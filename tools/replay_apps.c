/* The applications stateroom-replay has a model for, by rooms.app. */
#include <stddef.h>

#include "replay.h"

extern const struct replay_model wb_replay;

const struct replay_model *const replay_apps[] = {
	&wb_replay,
	NULL,
};
