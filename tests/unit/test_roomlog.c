/* A room's log without a database (an ephemeral room): it numbers records
 * on from where it started, reports nothing, and refuses them once
 * stopped. The database paths are covered end to end (durability-*). */
#include <errno.h>

#include "check.h"
#include "roomlog.h"

static int reports;

static void on_committed(void *owner, int64_t seq)
{
	(void)owner, (void)seq;
	reports++;
}

static void on_rolled_back(void *owner, int64_t seq)
{
	(void)owner, (void)seq;
	reports++;
}

static void on_restored(void *owner, const struct app_record *recs, size_t n)
{
	(void)owner, (void)recs, (void)n;
	reports++;
}

static void on_lost(void *owner, int err)
{
	(void)owner, (void)err;
	reports++;
}

static bool on_answered(void *owner)
{
	(void)owner;
	reports++;
	return false;
}

static const struct rlog_ops ops = {
	.committed = on_committed,
	.rolled_back = on_rolled_back,
	.restored = on_restored,
	.lost = on_lost,
	.answered = on_answered,
};

static void test_ephemeral_numbers_on_and_stops(void)
{
	struct rlog l;

	reports = 0;
	rlog_init(&l, &ops, NULL, NULL, "room", "server", 1, 41);
	CHECK_EQ_INT(rlog_append(&l, "alice", "Alice", NULL, "hi", 2, 0), 42);
	CHECK_EQ_INT(rlog_append(&l, "bob", "Bob", "c1", "", 0, 0), 43);
	CHECK_EQ_INT(rlog_last_seq(&l), 43);
	CHECK(!rlog_busy(&l));
	CHECK(!rlog_writing(&l));
	CHECK(!rlog_recovering(&l));
	rlog_tick(&l);
	rlog_stop(&l);
	rlog_stop(&l);
	CHECK_EQ_INT(rlog_append(&l, "alice", "Alice", NULL, "late", 4, 0), -EPIPE);
	CHECK_EQ_INT(rlog_last_seq(&l), 43);
	CHECK_EQ_INT(reports, 0);
	rlog_fini(&l);
}

int main(void)
{
	test_ephemeral_numbers_on_and_stops();
	return check_done();
}
