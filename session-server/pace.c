#include "pace.h"

#include "container.h"

void pace_init(struct pace *p, uv_loop_t *loop, unsigned rate, unsigned burst,
	       void (*resume)(struct pace_bucket *b))
{
	*p = (struct pace){
		.loop = loop,
		.paced = DLIST_INIT,
		.rate = rate,
		.burst = burst ? burst : rate,
		.resume = resume,
	};
	if (rate)
		p->refill_ms = (1000 + rate - 1) / rate;
	uv_timer_init(loop, &p->timer);
}

static void timer_closed(uv_handle_t *handle)
{
	struct pace *p = container_of((uv_timer_t *)handle, struct pace, timer);

	p->closed(p->closed_arg);
}

void pace_close(struct pace *p, void (*closed)(void *arg), void *arg)
{
	p->closed = closed;
	p->closed_arg = arg;
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}

void pace_bucket_init(struct pace *p, struct pace_bucket *b)
{
	b->tokens = (uint64_t)p->burst * 1000;
	b->at = uv_now(p->loop);
}

static void refill(struct pace *p, struct pace_bucket *b, uint64_t now)
{
	uint64_t cap = (uint64_t)p->burst * 1000;

	b->tokens += (now - b->at) * p->rate;
	if (b->tokens > cap)
		b->tokens = cap;
	b->at = now;
}

/* Every throttled bucket waits one token's refill time from when it was
 * throttled (at). It may hold more by then: nothing is lost, the rate is
 * kept over time. */
static void on_timer(uv_timer_t *t)
{
	struct pace *p = container_of(t, struct pace, timer);
	uint64_t now = uv_now(p->loop);
	struct pace_bucket *b;

	while ((b = dlist_first(&p->paced, struct pace_bucket, node)) &&
	       b->at + p->refill_ms <= now) {
		dlist_remove(&p->paced, &b->node);
		refill(p, b, now);
		p->resume(b);
	}
	if (b)
		uv_timer_start(&p->timer, on_timer, b->at + p->refill_ms - now, 0);
}

bool pace_take(struct pace *p, struct pace_bucket *b)
{
	if (!p->rate)
		return false;
	refill(p, b, uv_now(p->loop));
	b->tokens = b->tokens >= 1000 ? b->tokens - 1000 : 0;
	if (b->tokens >= 1000)
		return false;
	p->limited++;
	if (dlist_empty(&p->paced))
		uv_timer_start(&p->timer, on_timer, p->refill_ms, 0);
	dlist_push_back(&p->paced, &b->node);
	return true;
}

void pace_forget(struct pace *p, struct pace_bucket *b)
{
	dlist_remove(&p->paced, &b->node);
}

uint64_t pace_limited_total(const struct pace *p)
{
	return p->limited;
}
