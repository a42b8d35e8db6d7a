/* wb_replay: the whiteboard's model for stateroom-replay (tools/replay.h).
 *
 * A snapshot record holds the board after record upto and its hash. The
 * replay rebuilds the board from every record since the room's first, so a
 * snapshot does not replace it: its recorded hash is handed to the tool to
 * compare with the board rebuilt so far, and its own ops must hash to it
 * (a snapshot that does not say what it claims is refused). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "wb_model.h"

static void *wbr_create(void)
{
	struct wbm *m = malloc(sizeof(*m));

	if (m)
		wbm_init(m);
	return m;
}

static int wbr_apply(void *state, const struct app_record *rec, bool *has_hash, uint64_t *hash_out)
{
	struct wbm *m = state, check;
	int64_t upto;
	int rc;

	*has_hash = false;
	if (strcmp(rec->kind, WBM_KIND_SNAPSHOT) != 0)
		return wbm_apply(m, rec);
	if (wbm_snapshot_head(rec->payload, rec->payload_len, &upto, hash_out) != 0 ||
	    upto != rec->seq - 1)
		return -EINVAL;
	wbm_init(&check);
	rc = wbm_apply(&check, rec);
	wbm_fini(&check);
	if (rc != 0)
		return rc;
	*has_hash = true;
	return 0;
}

static uint64_t wbr_state_hash(void *state)
{
	return wbm_hash(state);
}

static void wbr_destroy(void *state)
{
	if (state)
		wbm_fini(state);
	free(state);
}

const struct replay_model wb_replay = {
	.app = "whiteboard",
	.create = wbr_create,
	.apply = wbr_apply,
	.state_hash = wbr_state_hash,
	.destroy = wbr_destroy,
};
