#include "roomlog.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "strpack.h"

/* Most records written in one statement (group commit). */
#define RLOG_BATCH_MAX 500

static void records_free(struct app_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)recs[i].user);  /* one allocation per record */
	free(recs);
}

static void drop_batch(struct rlog *l)
{
	records_free(l->batch, l->n_batch);
	l->batch = NULL;
	l->n_batch = 0;
}

static void drop_pending(struct rlog *l)
{
	records_free(l->pend, l->n_pend);
	l->pend = NULL;
	l->n_pend = l->cap_pend = 0;
}

void rlog_init(struct rlog *l, const struct rlog_ops *ops, void *owner, struct db *db,
	       const char *room_id, const char *server_id, int64_t epoch, int64_t last_seq)
{
	*l = (struct rlog){
		.ops = ops,
		.owner = owner,
		.db = db,
		.room_id = room_id,
		.server_id = server_id,
		.epoch = epoch,
		.last_seq = last_seq,
		.durable = last_seq,
		.phase = RLOG_OPEN,
		.query = RLOG_IDLE,
	};
}

void rlog_fini(struct rlog *l)
{
	assert(l->query == RLOG_IDLE);
	drop_pending(l);
	drop_batch(l);
}

void rlog_stop(struct rlog *l)
{
	l->phase = RLOG_STOPPED;
	drop_pending(l);
}

/* Stops the log and tells the owner why. */
static void lose(struct rlog *l, int err)
{
	rlog_stop(l);
	l->ops->lost(l->owner, err);
}

static void flush(struct rlog *l);
static void fail(struct rlog *l);

static void on_appended(void *arg, int status)
{
	struct rlog *l = arg;
	int64_t from = l->n_batch > 0 ? l->batch[0].seq : 0;
	int64_t upto = l->n_batch > 0 ? l->batch[l->n_batch - 1].seq : 0;

	assert(l->query == RLOG_WRITE);
	l->query = RLOG_IDLE;
	drop_batch(l);
	if (l->ops->answered(l->owner))
		return;
	if (status == -ESTALE) {
		log_write(LOG_WARN, "room fenced on write", "{s:s}", "room", l->room_id);
		lose(l, -ESTALE);
		return;
	}
	if (status != 0) {
		fail(l);
		return;
	}
	l->durable = upto;
	l->ops->committed(l->owner, from, upto);
	/* committed() may have appended, and so started the next batch. */
	if (l->n_pend > 0 && l->phase == RLOG_OPEN && l->query == RLOG_IDLE)
		flush(l);
}

static void flush(struct rlog *l)
{
	size_t n = l->n_pend < RLOG_BATCH_MAX ? l->n_pend : RLOG_BATCH_MAX;
	struct app_record *batch;

	assert(l->phase == RLOG_OPEN && l->query == RLOG_IDLE && l->n_batch == 0);
	batch = malloc(n * sizeof(*batch));
	if (!batch) {
		lose(l, -ENOMEM);
		return;
	}
	memcpy(batch, l->pend, n * sizeof(*batch));
	memmove(l->pend, l->pend + n, (l->n_pend - n) * sizeof(*l->pend));
	l->n_pend -= n;
	l->batch = batch;
	l->n_batch = n;
	if (store_append(l->db, l->room_id, l->server_id, l->epoch, batch, n, on_appended, l) != 0) {
		/* Maybe inside the application's own call: rolled back at the tick. */
		l->phase = RLOG_FAILED;
		return;
	}
	l->query = RLOG_WRITE;
}

int64_t rlog_append(struct rlog *l, const struct app_record *in)
{
	const char *strs[4] = { in->user, in->kind, in->name, in->client_id }, *at[4];
	struct app_record *rec;
	char *buf, *payload_at;

	if (!in->kind || !in->kind[0] || strnlen(in->kind, APP_KIND_MAX + 1) > APP_KIND_MAX)
		return -EINVAL;
	if (l->phase == RLOG_STOPPED)
		return -EPIPE;
	if (!l->db) {
		l->durable = ++l->last_seq;
		return l->last_seq;
	}
	if (l->phase != RLOG_OPEN)
		return -EAGAIN;
	if (l->n_pend == l->cap_pend) {
		size_t cap = l->cap_pend ? l->cap_pend * 2 : 16;
		struct app_record *p = realloc(l->pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->pend = p;
		l->cap_pend = cap;
	}
	buf = malloc(strpack_size(strs, 4) + in->payload_len + 1);
	if (!buf)
		return -ENOMEM;
	rec = &l->pend[l->n_pend++];
	/* The one allocation, starting with the user: records_free(). */
	payload_at = strpack(buf, strs, 4, at);
	rec->user = at[0];
	rec->kind = at[1];
	rec->name = at[2];
	rec->client_id = at[3];
	memcpy(payload_at, in->payload, in->payload_len);
	payload_at[in->payload_len] = '\0';
	rec->payload = payload_at;
	rec->payload_len = in->payload_len;
	rec->ts = in->ts;
	rec->target = in->target;
	rec->reply_to = in->reply_to;
	rec->scrub = in->scrub;
	rec->seq = ++l->last_seq;
	if (l->query == RLOG_IDLE)
		flush(l);
	return rec->seq;
}

static void on_recovered(void *arg, int status, bool pinned, const struct app_record *recs,
			 size_t n)
{
	struct rlog *l = arg;

	assert(l->query == RLOG_READBACK);
	l->query = RLOG_IDLE;
	if (l->ops->answered(l->owner) || l->phase == RLOG_STOPPED || status != 0)
		return;  /* a database still away is asked again at the tick */
	assert(l->phase == RLOG_RECOVERING);
	if (!pinned) {
		log_write(LOG_WARN, "room fenced on recovery", "{s:s}", "room", l->room_id);
		lose(l, -ESTALE);
		return;
	}
	/* The failed batch's answer was lost, not its commit. */
	if (n > 0) {
		l->durable = l->last_seq = recs[n - 1].seq;
		l->ops->restored(l->owner, recs, n);
	}
	l->phase = RLOG_OPEN;
	log_write(LOG_INFO, "room log recovered", "{s:s,s:I,s:I}", "room", l->room_id, "seq",
		  (json_int_t)l->durable, "restored", (json_int_t)n);
}

/* Reads back what follows the last durable seq: at most the failed batch,
 * as this server is the room's only writer. */
static void recover(struct rlog *l)
{
	if (l->query != RLOG_IDLE || l->phase != RLOG_RECOVERING)
		return;
	if (store_tail(l->db, l->room_id, l->server_id, l->epoch, l->durable, RLOG_BATCH_MAX,
		       on_recovered, l) == 0)
		l->query = RLOG_READBACK;
}

/* A batch failed or could not be queued: nothing after l->durable is known
 * to be written. The owner forgets those records at once (their senders
 * hear so), and appends are refused until the log's end has been read
 * back, so that no seq is skipped or given twice. */
static void fail(struct rlog *l)
{
	assert(l->query == RLOG_IDLE);
	drop_batch(l);
	drop_pending(l);
	if (l->phase != RLOG_STOPPED)
		l->phase = RLOG_RECOVERING;
	l->last_seq = l->durable;
	log_write(LOG_WARN, "room log rolled back", "{s:s,s:I}", "room", l->room_id, "seq",
		  (json_int_t)l->durable);
	l->ops->rolled_back(l->owner, l->durable);
	recover(l);
}

void rlog_tick(struct rlog *l)
{
	if (l->phase == RLOG_FAILED)
		fail(l);
	else
		recover(l);
}

int64_t rlog_last_seq(const struct rlog *l)
{
	return l->last_seq;
}

bool rlog_writing(const struct rlog *l)
{
	return l->query != RLOG_IDLE;
}

bool rlog_busy(const struct rlog *l)
{
	return l->query != RLOG_IDLE || l->n_pend > 0;
}

bool rlog_recovering(const struct rlog *l)
{
	return l->phase == RLOG_FAILED || l->phase == RLOG_RECOVERING;
}
