/* A room's log without a database (an ephemeral room): it numbers records
 * on from where it started, reports nothing, and refuses them once
 * stopped. The database paths are covered end to end (durability-*). */
#include <errno.h>

#include "check.h"
#include "roomlog.h"

static int reports;

static void on_committed(void *owner, int64_t from, int64_t seq)
{
	(void)owner, (void)from, (void)seq;
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

/* A record of kind k from user (name, client id and payload beside the point). */
static struct app_record rec(const char *kind, const char *user)
{
	return (struct app_record){ .kind = kind, .user = user, .name = user, .payload = "hi",
				    .payload_len = 2 };
}

static void test_ephemeral_numbers_on_and_stops(void)
{
	struct rlog l;
	struct app_record alice = rec("message", "alice"), bob = rec("message", "bob");

	reports = 0;
	rlog_init(&l, &ops, NULL, NULL, "room", "server", 1, 41);
	bob.client_id = "c1";
	bob.payload_len = 0;
	CHECK_EQ_INT(rlog_append(&l, &alice), 42);
	CHECK_EQ_INT(rlog_append(&l, &bob), 43);
	CHECK_EQ_INT(rlog_last_seq(&l), 43);
	CHECK(!rlog_busy(&l));
	CHECK(!rlog_writing(&l));
	CHECK(!rlog_recovering(&l));
	rlog_tick(&l);
	rlog_stop(&l);
	rlog_stop(&l);
	CHECK_EQ_INT(rlog_append(&l, &alice), -EPIPE);
	CHECK_EQ_INT(rlog_last_seq(&l), 43);
	CHECK_EQ_INT(reports, 0);
	rlog_fini(&l);
}

/* A kind the database would refuse is refused at once, before it takes a seq
 * (in a batch it would fail everyone else's records with it). */
static void test_kind_is_one_to_32_bytes(void)
{
	struct rlog l;
	struct app_record none = rec(NULL, "alice"), empty = rec("", "alice");
	struct app_record longest = rec("abcdefghijklmnopqrstuvwxyz012345", "alice");
	struct app_record too_long = rec("abcdefghijklmnopqrstuvwxyz0123456", "alice");

	rlog_init(&l, &ops, NULL, NULL, "room", "server", 1, 0);
	CHECK_EQ_INT(rlog_append(&l, &none), -EINVAL);
	CHECK_EQ_INT(rlog_append(&l, &empty), -EINVAL);
	CHECK_EQ_INT(rlog_append(&l, &too_long), -EINVAL);
	CHECK_EQ_INT(rlog_last_seq(&l), 0);
	CHECK_EQ_INT(rlog_append(&l, &longest), 1);
	rlog_fini(&l);
}

int main(void)
{
	test_ephemeral_numbers_on_and_stops();
	test_kind_is_one_to_32_bytes();
	return check_done();
}
