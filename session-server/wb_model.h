/* wb_model: the whiteboard's board as a pure state machine (no I/O, no
 * libuv): records of the room's log in, the board and a 64-bit state hash
 * out. Shared by app_whiteboard.c and the replay tool (wb_replay.c), so
 * that a replay rebuilds exactly what the server held.
 *
 * The board is the ops since the latest clear, in seq order, each with
 * whether it is undone. Record kinds (docs/protocol.md, "Whiteboard"):
 *   op        payload: an operation as wbm_op_check() writes it; the op's
 *             object id is its seq
 *   undo/redo target: an op's seq; only its author's, only if it is live
 *             (undo) or undone (redo), else the record changes nothing
 *   clear     the board is emptied (not undoable)
 *   snapshot  payload {"upto","hash","ops":[...]}: the board after record
 *             upto, with its state hash (wbm_snapshot())
 * Records that change nothing (an undo that lost a race to another) are
 * taken as no-ops, so that applying the same log always gives the same
 * board; a record that cannot be read is refused (-EINVAL). */
#ifndef STATEROOM_WB_MODEL_H
#define STATEROOM_WB_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

/* The canvas is WBM_CANVAS x WBM_CANVAS logical units; coordinates are
 * rounded to whole units. */
#define WBM_CANVAS 4096
#define WBM_POINTS_MAX 1000   /* points of one stroke */
#define WBM_TEXT_MAX 500      /* bytes of a text op */
#define WBM_WIDTH_MAX 64
#define WBM_SIZE_MIN 8        /* a text's font size */
#define WBM_SIZE_MAX 200
#define WBM_ERASE_MAX 100     /* ops one erase names */
#define WBM_OPS_MAX 5000      /* ops on a board: then clear */
#define WBM_BYTES_MAX (4u << 20) /* bytes of the board's ops */

#define WBM_KIND_OP "op"
#define WBM_KIND_UNDO "undo"
#define WBM_KIND_REDO "redo"
#define WBM_KIND_CLEAR "clear"
#define WBM_KIND_SNAPSHOT "snapshot"

struct wbm_op {
	int64_t seq, ts;
	char *user, *name;       /* in one allocation with op */
	char *op;                /* the canonical op JSON, op_len bytes */
	size_t op_len;
	bool undone;
};

struct wbm {
	struct wbm_op *ops;
	size_t n, cap;
	size_t bytes;            /* sum of op_len */
};

void wbm_init(struct wbm *m);
void wbm_fini(struct wbm *m);
/* Empties the board. */
void wbm_reset(struct wbm *m);

/* Applies one record: 0, -EINVAL (an unknown kind, a payload that cannot
 * be read, a snapshot whose ops do not hash to its hash), -ENOMEM. */
int wbm_apply(struct wbm *m, const struct app_record *r);

/* FNV-1a 64 over a canonical encoding of the board (each op's seq, undone
 * flag, author and op bytes, in order): equal boards, equal hashes. */
uint64_t wbm_hash(const struct wbm *m);

/* The op of seq on the board, or NULL. */
struct wbm_op *wbm_find(const struct wbm *m, int64_t seq);

/* Checks a client's op object and writes its canonical JSON (malloc'd,
 * NUL-terminated, into *out): 0, or -EINVAL with *why a message for the
 * client. */
int wbm_op_check(json_t *op, char **out, size_t *out_len, const char **why);

enum wbm_target { WBM_TARGET_OK, WBM_TARGET_NOT_FOUND, WBM_TARGET_NOT_YOURS, WBM_TARGET_STATE };
/* Whether user may undo (redo false) or redo target now. STATE: it is
 * undone already (undo) or not undone (redo). */
enum wbm_target wbm_can_target(const struct wbm *m, const char *user, int64_t target, bool redo);

/* The snapshot payload of the board after record upto (malloc'd). NULL on
 * ENOMEM. */
char *wbm_snapshot(const struct wbm *m, int64_t upto, size_t *len);
/* Reads a snapshot payload's upto and hash (not its ops): 0 or -EINVAL. */
int wbm_snapshot_head(const char *payload, size_t len, int64_t *upto, uint64_t *hash);

#endif
