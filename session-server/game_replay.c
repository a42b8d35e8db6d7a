/* game_replay: the arena game's model for stateroom-replay (replay.h). A
 * hash record is applied by stepping to its tick, so the comparison that
 * follows is with the state at that tick, before anything else of it: where
 * the server computed it. */
#include <stdlib.h>

#include "game_model.h"
#include "replay.h"

static void *game_create(void)
{
	struct gm_state *g = malloc(sizeof(*g));

	/* Until the seed record: a game no log starts from, whose hash
	 * then matches nothing. */
	if (g)
		gm_init(g, 0, GM_SEATS_DEFAULT);
	return g;
}

static int game_apply(void *m, const struct app_record *rec, bool *has_hash, uint64_t *hash_out)
{
	return gm_apply_record(m, rec->kind, rec->payload, rec->payload_len, has_hash, hash_out);
}

static uint64_t game_state_hash(void *m)
{
	return gm_hash(m);
}

const struct replay_model game_replay_model = {
	.app = "game",
	.create = game_create,
	.apply = game_apply,
	.state_hash = game_state_hash,
	.destroy = free,
};
