/* ws: WebSocket connections (RFC 6455) on sockets taken over from httpd.
 *
 * Client frames are decoded (ws_codec) straight from one read buffer per
 * server, and whatever RFC 6455 forbids is refused with the close code the
 * decoder gives: 1002, 1007 (text or close reason that is not UTF-8) or
 * 1009 (a message over max_message, judged from the frame header). Pings
 * are answered, a close is echoed with its code.
 *
 * Outgoing data frames are struct ws_frame: framed once, reference-counted,
 * and the same bytes are queued to every connection they go to. What a
 * connection has queued in one loop turn leaves in one send (only what the
 * kernel does not take waits for one uv_write), and with io_uring
 * (cfg.io_uring, uring.h) the sends of a turn go in one submission; a server too busy to keep
 * that up holds frames back for a few milliseconds (at most
 * max_write_delay_ms) so that more leave in each send. A connection
 * with more than max_queued bytes waiting behind the frame being written is
 * closed with 1008 "too slow" (best effort: its queue is dropped first) and
 * logged.
 *
 * Input can be paused (ws_pause_input): the socket is then not read, so
 * the kernel holds what the peer sends and TCP slows it down, and frames
 * already read but not yet delivered wait, in order, for ws_resume_input. A
 * paused connection is not pinged (its pongs could not be read): it is
 * judged again from when it resumes.
 *
 * Ownership: ws owns each struct ws_conn and frees it after its socket has
 * closed; users learn that a connection is over from on_gone, which runs
 * exactly once and never inside a ws_* call, and must not use the
 * connection afterwards. */
#ifndef STATEROOM_WS_H
#define STATEROOM_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "httpd.h"
#include "uring.h"

struct ws_frame;
struct ws_conn;
struct ws_server;

struct ws_handler {
	/* A complete message (text is valid UTF-8). Not called once a close
	 * has been queued. */
	void (*on_message)(struct ws_conn *c, void *ud, bool binary, const uint8_t *data, size_t len);
	/* The connection can no longer carry messages (close sent or received,
	 * peer gone, or dropped). */
	void (*on_gone)(struct ws_conn *c, void *ud);
};

struct ws_config {
	size_t max_message;   /* largest incoming message; larger closes 1009 */
	uint64_t ping_ms;     /* ping after this much silence, drop after twice */
	size_t max_queued;    /* unsent bytes behind the frame being written before 1008 */
	uint64_t max_write_delay_ms; /* longest a busy server holds frames back to send them together; 0: never */
	unsigned hold_load_pct;      /* busy: sending each frame at once would take more than this % of the time */
	enum uring_mode io_uring;    /* a loop turn's sends in one io_uring submission (uring.h) */
};

/* A text frame carrying payload[0..len) (copied), with one reference.
 * NULL when out of memory. */
struct ws_frame *ws_frame_text(const void *payload, size_t len);
void ws_frame_unref(struct ws_frame *f);

/* Returns 0 and *out, or a negative libuv error. */
int ws_server_new(uv_loop_t *loop, const struct ws_config *cfg, struct ws_server **out);

/* Closes every open connection with code and, once all are freed, frees the
 * server and calls done(arg). */
void ws_server_close(struct ws_server *s, uint16_t code, void (*done)(void *arg), void *arg);

size_t ws_server_conn_count(const struct ws_server *s);

/* Frames queued to connections and send calls made so far, and whether
 * the server is holding frames back to send them together (busy). */
void ws_server_output(struct ws_server *s, uint64_t *frames, uint64_t *sends, bool *holding);

/* Close frames sent so far, by code: fills up to max pairs, returns how many. */
size_t ws_server_closes(const struct ws_server *s, uint16_t *codes, uint64_t *counts, size_t max);

/* Takes over the upgraded request's socket (httpd_upgrade), queues
 * response[0..len) (the 101 answer, copied) and starts reading once back in
 * the loop (unless the caller pauses its input first). h may be NULL
 * for a connection that will only be closed. Returns 0 and *out, or a
 * negative errno; then the request is untouched and the caller answers it. */
int ws_accept(struct ws_server *s, struct httpd_req *req, const char *response, size_t len,
	      const struct ws_handler *h, void *ud, struct ws_conn **out);

/* Stops delivering c's messages and reading its socket, from the next
 * message on (it may be called from on_message). No effect once closing. */
void ws_pause_input(struct ws_conn *c);

/* Delivers c's messages again: the ones read while paused first, then the
 * socket's; not inside this call (on_message never runs re-entrantly). */
void ws_resume_input(struct ws_conn *c);

/* Queues f (a new reference is taken). Returns 0, or -EPIPE once the
 * connection is closing (the frame is dropped). */
int ws_send(struct ws_conn *c, struct ws_frame *f);

/* Queues a text frame with payload[0..len). Same return as ws_send, or -ENOMEM. */
int ws_send_text(struct ws_conn *c, const void *payload, size_t len);

/* Starts the closing handshake with code and a reason of at most 123 bytes
 * (longer is cut). No effect once closing. */
void ws_close(struct ws_conn *c, uint16_t code, const char *reason);

#endif
