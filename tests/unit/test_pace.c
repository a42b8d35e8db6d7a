/* Pacing: a bucket pays burst - 1 messages at once, the one that empties it
 * throttles it, the timer gives it back, and a forgotten bucket is never
 * resumed. */
#include <uv.h>

#include "check.h"
#include "pace.h"

static struct pace_bucket *resumed[4];
static int n_resumed;
static int n_closed;

static void on_resume(struct pace_bucket *b)
{
	if (n_resumed < 4)
		resumed[n_resumed] = b;
	n_resumed++;
}

static void on_closed(void *arg)
{
	(void)arg;
	n_closed++;
}

static void close_and_run(struct pace *p, uv_loop_t *loop)
{
	n_closed = 0;
	pace_close(p, on_closed, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(n_closed, 1);
}

static void test_no_limit_never_throttles(uv_loop_t *loop)
{
	struct pace p;
	struct pace_bucket b;

	pace_init(&p, loop, 0, 0, on_resume);
	pace_bucket_init(&p, &b);
	for (int i = 0; i < 10000; i++)
		CHECK(!pace_take(&p, &b));
	CHECK_EQ_INT(pace_limited_total(&p), 0);
	close_and_run(&p, loop);
}

static void test_burst_then_throttled_then_resumed(uv_loop_t *loop)
{
	struct pace p;
	struct pace_bucket b;

	n_resumed = 0;
	pace_init(&p, loop, 1000, 3, on_resume);
	pace_bucket_init(&p, &b);
	CHECK(!pace_take(&p, &b));
	CHECK(!pace_take(&p, &b));
	CHECK(pace_take(&p, &b));
	CHECK_EQ_INT(pace_limited_total(&p), 1);
	CHECK_EQ_INT(n_resumed, 0);
	/* The timer is the only thing left on the loop: it ends once it ran. */
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(n_resumed, 1);
	CHECK(resumed[0] == &b);
	close_and_run(&p, loop);
}

static void test_resumed_in_order_and_forgotten_skipped(uv_loop_t *loop)
{
	struct pace p;
	struct pace_bucket a, b, c;

	n_resumed = 0;
	pace_init(&p, loop, 1000, 1, on_resume);
	pace_bucket_init(&p, &a);
	pace_bucket_init(&p, &b);
	pace_bucket_init(&p, &c);
	CHECK(pace_take(&p, &a));
	CHECK(pace_take(&p, &b));
	CHECK(pace_take(&p, &c));
	pace_forget(&p, &b);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(n_resumed, 2);
	CHECK(resumed[0] == &a);
	CHECK(resumed[1] == &c);
	CHECK_EQ_INT(pace_limited_total(&p), 3);
	close_and_run(&p, loop);
}

int main(void)
{
	uv_loop_t loop;

	uv_loop_init(&loop);
	test_no_limit_never_throttles(&loop);
	test_burst_then_throttled_then_resumed(&loop);
	test_resumed_in_order_and_forgotten_skipped(&loop);
	uv_loop_close(&loop);
	return check_done();
}
