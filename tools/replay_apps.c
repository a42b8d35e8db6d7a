/* replay_apps: which applications stateroom-replay can rebuild, one line
 * each (replay.h). An application adds its model here and its adapter's
 * source to tools/meson.build. */
#include <stddef.h>

#include "replay.h"

extern const struct replay_model game_replay_model;
extern const struct replay_model wb_replay;

const struct replay_model *const replay_models[] = {
	&game_replay_model,
	&wb_replay,
	NULL,
};
