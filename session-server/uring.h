/* uring: the sends of a loop turn handed to the kernel in one io_uring
 * submission instead of one send() each.
 *
 * uring_send queues a send (MSG_DONTWAIT, so that it either completes while
 * the submission is made or not at all: a full socket answers -EAGAIN or a
 * short count, never waits in the kernel); uring_submit, once per loop turn,
 * submits what was queued and delivers the completions that came with it.
 * Any completion that comes later anyway is reaped through an eventfd
 * registered with the ring, which libuv polls. Each completion calls done
 * with the owner given to uring_send and the bytes sent or a negative errno.
 * The iovecs are copied; the bytes they point to must stay until done. */
#ifndef STATEROOM_URING_H
#define STATEROOM_URING_H

#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

/* Whether a server uses a ring: off; auto, when the kernel gives one; on,
 * or the server does not start. */
enum uring_mode { URING_OFF, URING_AUTO, URING_ON };

struct uring;

typedef void uring_done_fn(void *owner, int res);

/* A ring of entries sends of up to max_iov buffers each. Returns 0 and *out,
 * or a negative errno: io_uring unavailable (-ENOSYS), refused (-EPERM under
 * seccomp, io_uring_disabled), or out of memory. */
int uring_new(uv_loop_t *loop, unsigned entries, unsigned max_iov, uring_done_fn *done,
	      struct uring **out);

/* Queues a send of iov[0..n) (n <= max_iov) on fd for owner. Returns 0, or
 * -EBUSY when the ring is full: the caller sends some other way. */
int uring_send(struct uring *u, int fd, const struct iovec *iov, unsigned n, void *owner);

/* Submits what is queued and reaps what has completed. */
void uring_submit(struct uring *u);

/* Sends queued or submitted and not yet completed. */
unsigned uring_in_flight(const struct uring *u);

/* Frees the ring (none in flight) once its poll handle has closed, then
 * calls closed(arg). */
void uring_close(struct uring *u, void (*closed)(void *arg), void *arg);

#endif
