#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "container.h"

/* The msghdr and iovecs of the send in SQE i: the kernel reads them when it
 * consumes the SQE (IORING_FEAT_SUBMIT_STABLE), so they live as long as the
 * SQE slot they belong to, which liburing hands out again only after that. */
struct uring_slot {
	struct msghdr msg;
	struct iovec *iov;
};

struct uring {
	struct io_uring ring;
	uv_poll_t poll;
	int efd;
	unsigned max_iov, in_flight, cq_entries;
	uring_done_fn *done;
	void (*closed)(void *arg);
	void *closed_arg;
	struct uring_slot *slots;
	struct iovec *iovs;
};

static void reap(struct uring *u)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		void *owner = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		u->in_flight--;
		u->done(owner, res);
	}
}

/* The eventfd is told of completions only while some are outstanding after
 * a submission: those that come with the submission (nearly all, the sends
 * never wait) are reaped at once, and waking libuv for them would cost two
 * system calls a turn. Enabling happens before looking again, so a
 * completion in between is not missed. */
static void watch(struct uring *u)
{
	bool on = u->in_flight > 0;

	if (io_uring_cq_eventfd_enabled(&u->ring) == on)
		return;
	io_uring_cq_eventfd_toggle(&u->ring, on);
	if (on)
		reap(u);
}

static void on_eventfd(uv_poll_t *p, int status, int events)
{
	struct uring *u = container_of(p, struct uring, poll);
	eventfd_t v;

	(void)status;
	(void)events;
	(void)eventfd_read(u->efd, &v);
	reap(u);
	watch(u);
}

int uring_new(uv_loop_t *loop, unsigned entries, unsigned max_iov, uring_done_fn *done,
	      struct uring **out)
{
	struct uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->done = done;
	u->max_iov = max_iov;
	u->efd = -1;
	/* Single issuer and cooperative task work spare the kernel some
	 * locking and interrupts; an older kernel refuses them, not the ring. */
	r = io_uring_queue_init(entries, &u->ring,
				IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER);
	if (r == -EINVAL)
		r = io_uring_queue_init(entries, &u->ring, 0);
	if (r < 0) {
		free(u);
		return r;
	}
	u->cq_entries = u->ring.cq.ring_entries;
	u->slots = calloc(u->ring.sq.ring_entries, sizeof(*u->slots));
	u->iovs = calloc((size_t)u->ring.sq.ring_entries * max_iov, sizeof(*u->iovs));
	if (!u->slots || !u->iovs) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < u->ring.sq.ring_entries; i++)
		u->slots[i].iov = u->iovs + (size_t)i * max_iov;
	if ((u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = io_uring_register_eventfd(&u->ring, u->efd)) < 0)
		goto fail;
	io_uring_cq_eventfd_toggle(&u->ring, false);
	if ((r = uv_poll_init(loop, &u->poll, u->efd)) < 0)
		goto fail;
	uv_poll_start(&u->poll, UV_READABLE, on_eventfd);
	/* Connections keep the loop alive, not the ring. */
	uv_unref((uv_handle_t *)&u->poll);
	*out = u;
	return 0;
fail:
	if (u->efd >= 0)
		close(u->efd);
	io_uring_queue_exit(&u->ring);
	free(u->slots);
	free(u->iovs);
	free(u);
	return r;
}

int uring_send(struct uring *u, int fd, const struct iovec *iov, unsigned n, void *owner)
{
	struct io_uring_sqe *sqe;
	struct uring_slot *slot;

	/* Never more outstanding than the completion queue holds. */
	if (u->in_flight >= u->cq_entries)
		return -EBUSY;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		uring_submit(u);
		if (u->in_flight >= u->cq_entries || !(sqe = io_uring_get_sqe(&u->ring)))
			return -EBUSY;
	}
	if (n == 1) {
		io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		slot = &u->slots[sqe - u->ring.sq.sqes];
		memcpy(slot->iov, iov, n * sizeof(*iov));
		slot->msg = (struct msghdr){ .msg_iov = slot->iov, .msg_iovlen = n };
		io_uring_prep_sendmsg(sqe, fd, &slot->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data(sqe, owner);
	u->in_flight++;
	return 0;
}

void uring_submit(struct uring *u)
{
	int r;

	if (io_uring_sq_ready(&u->ring) > 0) {
		/* What is not taken now stays queued for the next call. */
		do
			r = io_uring_submit(&u->ring);
		while (r == -EINTR);
	}
	reap(u);
	watch(u);
}

unsigned uring_in_flight(const struct uring *u)
{
	return u->in_flight;
}

static void poll_closed(uv_handle_t *h)
{
	struct uring *u = container_of((uv_poll_t *)h, struct uring, poll);
	void (*closed)(void *) = u->closed;
	void *arg = u->closed_arg;

	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u->slots);
	free(u->iovs);
	free(u);
	closed(arg);
}

void uring_close(struct uring *u, void (*closed)(void *arg), void *arg)
{
	u->closed = closed;
	u->closed_arg = arg;
	uv_close((uv_handle_t *)&u->poll, poll_closed);
}
