#include "ws.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "container.h"
#include "dlist.h"
#include "log.h"
#include "uring.h"
#include "wire.h"
#include "ws_codec.h"

/* After our close frame is queued, wait this long for it to leave and for
 * the peer to close before dropping the socket. Reading on until then keeps
 * the kernel from answering unread data with a reset that could destroy the
 * close frame in flight. */
#define WS_LINGER_MS 2000

/* Frames a connection holds without a heap queue: one loop turn rarely
 * queues more (in a chat room: a message, an ack, a presence). */
#define WS_Q_INLINE 3
/* Buffers per send. */
#define WS_IOV 64
/* Sends one io_uring submission carries at most (a broadcast to more
 * members takes more than one). */
#define WS_RING_ENTRIES 256
#define WS_MAX_CLOSE_CODES 32
/* What a connection that was paused reads at once: it keeps what it cannot
 * deliver yet, so a throttled sender holds a little memory, not the whole
 * read buffer's worth. */
#define WS_PACED_READ 4096

struct ws_frame {
	unsigned refs;
	size_t len;
	uint8_t data[];
};

enum ws_list { L_NONE, L_LIVE, L_CLOSING, L_PAUSED };

/* A connection's life, only forward (set_state): open, then closing and
 * lingering when a close is queued, or straight to dead when the peer is gone
 * or a call failed. The lists follow it: open connections are in live or
 * paused, closing and lingering ones in closing_conns, the others in none. */
enum ws_state {
	WS_OPEN,
	WS_CLOSING,  /* our close frame (or the echo of the peer's) is queued */
	WS_LINGER,   /* everything up to it is handed to libuv, the write side shut down */
	WS_DEAD,     /* the socket is to be closed: proceed() does it */
	WS_CLOSED,   /* httpd_conn_close called: only stream_closed is left */
};

/* How a connection's input is read (set_input), which each state fixes: the
 * socket is read in IN_READ, IN_PACED and IN_DRAIN (uv_read_start in
 * effect), in no other. Frames are delivered in IN_READ and IN_PACED, and by
 * proceed() when it leaves IN_START or IN_RESUMED. */
enum ws_input {
	IN_START,    /* accepted: proceed() parses what came with the request head, then reads */
	IN_RESUMED,  /* ws_resume_input: proceed() parses what was read while paused, then reads paced */
	IN_READ,     /* read a whole buffer at a time */
	IN_PACED,    /* read WS_PACED_READ at a time, until a read is parsed whole unpaused */
	IN_PAUSED,   /* ws_pause_input: not read, nothing delivered; in may hold what was read */
	IN_DRAIN,    /* closing or lingering: read only to see the peer's end */
	IN_OFF,      /* not read again: the socket ended or failed, or the connection is dead */
};

/* Memory, an idle connection's cost, is what this struct is laid out for:
 * no libuv handle of its own (pings and lingering run off one server timer,
 * in two lists ordered by deadline), no read buffer (one per server; a
 * connection keeps only the bytes of a frame split across reads, in `in`,
 * allocated then and freed when it completes), a handful of queued frames
 * inline. The alternative, wslay's event API, keeps a context and an input
 * buffer per connection, several times what all of this costs, and copies
 * every queued message; client frames are simple enough to decode here
 * (ws_codec), and server frames are built once per broadcast (ws_frame_text). */
struct ws_conn {
	struct ws_server *srv;
	struct httpd_conn *hc;
	uv_stream_t *stream;
	const char *peer;
	const struct ws_handler *h;
	void *ud;

	struct dlist_node node;      /* in srv->live, closing_conns (oldest mark first) or paused */
	struct ws_conn *dirty_next;
	uint64_t mark;               /* live: last input or ping; closing: since when */

	/* Output: q[0..nq) in order; the first n_writing are in the one
	 * uv_write or ring send (ring_busy) in flight; off bytes of q[0] went
	 * out by try_send or an earlier ring send. */
	struct ws_frame **q;
	struct ws_frame *q_inline[WS_Q_INLINE];
	uint32_t nq, cap_q, n_writing, off;
	size_t q_bytes;              /* unsent bytes in q, off deducted */

	/* Input: a frame split across reads, or the frames read while paused;
	 * the decoder holds a fragmented message. */
	uint8_t *in;
	uint32_t in_len, in_cap;
	/* The socket, kept here so that a send does not touch the libuv
	 * handle's memory at all: uv_fileno showed in fan-out profiles. */
	uv_os_fd_t fd;
	/* The small fields in the hole fd leaves before dec. */
	uint8_t state;               /* enum ws_state */
	uint8_t list;                /* enum ws_list */
	uint8_t input;               /* enum ws_input */
	/* Facts of their own, whatever the states: in the dirty list; on_gone
	 * has run (it runs after the state leaves WS_OPEN, from proceed() or
	 * stream_closed, at any of the later states); pinged and not heard from
	 * since. */
	bool dirty : 1, gone_notified : 1, ping_outstanding : 1;
	/* A ring send is in flight: the socket must stay open until it
	 * completes, so the connection does not close or free before then. */
	bool ring_busy : 1;
	struct wsc_decoder dec;
};

struct ws_server {
	uv_loop_t *loop;
	struct ws_config cfg;
	struct wsc_limits limits;    /* what the decoder is told of cfg */
	uv_check_t check;
	uv_idle_t idle;              /* keeps poll from blocking while work is dirty */
	uv_timer_t timer;            /* the next ping or linger deadline */
	uint64_t timer_due;          /* 0: not armed */
	uv_timer_t coalesce;         /* the deferred flush of the dirty connections */
	struct uring *ring;          /* NULL: each connection is sent to by send() */
	uint64_t flush_at;           /* uv_hrtime() before which no flush starts */
	bool hold;                   /* busy: flushes are spaced out (flush_dirty) */
	uint64_t frames, sends;      /* queued to connections, send calls: since start */
	/* The current load window (WS_LOAD_WINDOW_NS): since when, the totals
	 * then, and the time spent flushing since. */
	uint64_t win_start, win_frames, win_sends, win_flush_ns;
	unsigned pending_closes;
	/* Connections with work for proceed(), oldest first: under load the
	 * frames that have waited longest leave first. */
	struct ws_conn *dirty, **dirty_tail;
	struct dlist live;           /* open, by last input */
	struct dlist closing_conns;  /* closing, by when they began */
	struct dlist paused;         /* open, input paused: not pinged */
	size_t n_conns;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	struct ws_frame *ping;       /* the one empty ping every connection is sent */
	uint16_t close_codes[WS_MAX_CLOSE_CODES];
	uint64_t close_counts[WS_MAX_CLOSE_CODES];
	size_t n_close_codes;
	uint8_t rbuf[65536];         /* every read lands here and is consumed at once */
};

static void arm_timer(struct ws_server *s, uint64_t due);
static void server_maybe_close(struct ws_server *s);
static int flush(struct ws_conn *c, bool ring);

/* ---------------------------------------------------------------- frames */

static struct ws_frame *frame_alloc(size_t len)
{
	struct ws_frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	return f;
}

static struct ws_frame *frame_new(enum wsc_opcode op, const void *payload, size_t len)
{
	size_t hlen = wsc_header_len(len);
	struct ws_frame *f = frame_alloc(hlen + len);

	if (!f)
		return NULL;
	wsc_put_header(f->data, op, len);
	if (len)
		memcpy(f->data + hlen, payload, len);
	return f;
}

struct ws_frame *ws_frame_text(const void *payload, size_t len)
{
	return frame_new(WSC_OP_TEXT, payload, len);
}

void ws_frame_unref(struct ws_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

/* ----------------------------------------------------- lists and timing */

static void count_close(struct ws_server *s, uint16_t code)
{
	for (size_t i = 0; i < s->n_close_codes; i++) {
		if (s->close_codes[i] == code) {
			s->close_counts[i]++;
			return;
		}
	}
	if (s->n_close_codes < WS_MAX_CLOSE_CODES) {
		s->close_codes[s->n_close_codes] = code;
		s->close_counts[s->n_close_codes++] = 1;
	}
}

static struct dlist *list_of(struct ws_server *s, enum ws_list list)
{
	return list == L_CLOSING ? &s->closing_conns : list == L_PAUSED ? &s->paused : &s->live;
}

static void list_unlink(struct ws_conn *c)
{
	if (c->list == L_NONE)
		return;
	dlist_remove(list_of(c->srv, c->list), &c->node);
	c->list = L_NONE;
}

/* Appends c (in no list) to list with mark now: marks only grow, so each
 * timed list stays ordered and its head has the next deadline. */
static void list_append(struct ws_conn *c, enum ws_list list)
{
	struct ws_server *s = c->srv;

	c->list = (uint8_t)list;
	c->mark = uv_now(s->loop);
	dlist_push_back(list_of(s, list), &c->node);
	if (list != L_PAUSED)
		arm_timer(s, c->mark + (list == L_CLOSING ? WS_LINGER_MS : s->cfg.ping_ms));
}

#define BIT(x) (1u << (x))

/* The states each state may go to. */
static const uint8_t state_next[] = {
	[WS_OPEN] = BIT(WS_CLOSING) | BIT(WS_DEAD),
	[WS_CLOSING] = BIT(WS_LINGER) | BIT(WS_DEAD),
	[WS_LINGER] = BIT(WS_DEAD),
	[WS_DEAD] = BIT(WS_CLOSED),
	[WS_CLOSED] = 0,
};

static void set_state(struct ws_conn *c, enum ws_state to)
{
	assert(state_next[c->state] & BIT(to));
	c->state = (uint8_t)to;
	if (to == WS_DEAD)
		list_unlink(c);
}

static const uint8_t input_next[] = {
	[IN_START] = BIT(IN_READ) | BIT(IN_PAUSED) | BIT(IN_DRAIN) | BIT(IN_OFF),
	[IN_RESUMED] = BIT(IN_PACED) | BIT(IN_PAUSED) | BIT(IN_DRAIN) | BIT(IN_OFF),
	[IN_READ] = BIT(IN_PAUSED) | BIT(IN_DRAIN) | BIT(IN_OFF),
	[IN_PACED] = BIT(IN_READ) | BIT(IN_PAUSED) | BIT(IN_DRAIN) | BIT(IN_OFF),
	[IN_PAUSED] = BIT(IN_RESUMED) | BIT(IN_DRAIN) | BIT(IN_OFF),
	[IN_DRAIN] = BIT(IN_OFF),
	[IN_OFF] = 0,
};

#define IN_READS (BIT(IN_READ) | BIT(IN_PACED) | BIT(IN_DRAIN))

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Moves c's input to `to`, starting or stopping the reads as `to` says. A
 * read that cannot start kills the connection: only proceed() starts them,
 * and it goes on to close the socket. */
static void set_input(struct ws_conn *c, enum ws_input to)
{
	bool was = IN_READS & BIT(c->input), will = IN_READS & BIT(to);

	assert(input_next[c->input] & BIT(to));
	c->input = (uint8_t)to;
	if (was == will)
		return;
	if (!will) {
		uv_read_stop(c->stream);
	} else if (uv_read_start(c->stream, on_alloc, on_read) != 0) {
		c->input = IN_OFF;
		set_state(c, WS_DEAD);
	}
}

static void idle_noop(uv_idle_t *h)
{
	(void)h;
}

static void mark_dirty(struct ws_conn *c)
{
	struct ws_server *s = c->srv;

	/* Not for a closed connection: write_cb, the one caller that may
	 * come after httpd_conn_close, checks that itself. */
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = NULL;
	if (!s->dirty) {
		uv_idle_start(&s->idle, idle_noop);
		s->dirty_tail = &s->dirty;
	}
	*s->dirty_tail = c;
	s->dirty_tail = &c->dirty_next;
}

/* Ends the connection without a closing handshake, unless it is ending. */
static void drop(struct ws_conn *c)
{
	if (c->state >= WS_DEAD)
		return;
	set_state(c, WS_DEAD);
	mark_dirty(c);
}

/* ---------------------------------------------------------------- output */

static void q_release(struct ws_conn *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		ws_frame_unref(c->q[i]);
	c->nq -= n;
	if (c->nq == 0 && c->q != c->q_inline) {
		/* A burst outgrew the inline slots: give the memory back. */
		free(c->q);
		c->q = c->q_inline;
		c->cap_q = WS_Q_INLINE;
	} else if (c->nq > 0) {
		memmove(c->q, c->q + n, c->nq * sizeof(*c->q));
	}
}

/* Unsent bytes behind the frame being written: what the bound is about (a
 * single large frame, a chat's long welcome say, is let through on its
 * own). */
static size_t q_behind(const struct ws_conn *c)
{
	return c->nq ? c->q_bytes - (c->q[0]->len - c->off) : 0;
}

static void too_slow(struct ws_conn *c);

/* Appends f (taking a reference). Returns 0 or -ENOMEM. */
static int enqueue(struct ws_conn *c, struct ws_frame *f)
{
	if (c->nq == c->cap_q) {
		uint32_t cap = c->cap_q * 2;
		struct ws_frame **q = malloc(cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		memcpy(q, c->q, c->nq * sizeof(*q));
		if (c->q != c->q_inline)
			free(c->q);
		c->q = q;
		c->cap_q = cap;
	}
	f->refs++;
	c->q[c->nq++] = f;
	c->q_bytes += f->len;
	c->srv->frames++;
	mark_dirty(c);
	return 0;
}

struct ws_write {
	uv_write_t req;
	size_t bytes;
};

static void write_cb(uv_write_t *req, int status)
{
	struct ws_write *w = container_of(req, struct ws_write, req);
	struct ws_conn *c = req->data;

	c->q_bytes -= w->bytes;
	free(w);
	c->off = 0;
	q_release(c, c->n_writing);
	c->n_writing = 0;
	if (status < 0)
		drop(c);
	else if (c->state != WS_CLOSED)
		mark_dirty(c);
}

/* Fills bufs with the first frames of q; returns how many. */
static uint32_t fill_bufs(const struct ws_conn *c, uv_buf_t *bufs, size_t *bytes)
{
	uint32_t n = c->nq < WS_IOV ? c->nq : WS_IOV;

	*bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t skip = i == 0 ? c->off : 0;
		bufs[i] = uv_buf_init((char *)c->q[i]->data + skip, (unsigned)(c->q[i]->len - skip));
		*bytes += bufs[i].len;
	}
	return n;
}

/* What uv_try_write does, minus its cost: write() and writev() pass through
 * the VFS layer on their way to the socket, send() and sendmsg() go straight
 * to it, which saves kernel time on every delivery. The caller has no
 * uv_write in flight, so nothing is queued in libuv ahead of these bytes.
 * MSG_NOSIGNAL: a peer gone is an error, not SIGPIPE. Returns the bytes
 * taken (0 when the socket buffer is full) or a negative libuv error. */
static ssize_t try_send(struct ws_conn *c, uv_buf_t *bufs, uint32_t n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)bufs, .msg_iovlen = n };
	ssize_t r;

	c->srv->sends++;
	do {
		if (n == 1)
			r = send(c->fd, bufs[0].base, bufs[0].len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			r = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : uv_translate_sys_error(errno);
}

/* Deducts wrote bytes, sent from bufs[0..n) (q's first frames), and
 * releases the frames that left whole. Returns how many did. */
static uint32_t sent(struct ws_conn *c, const uv_buf_t *bufs, uint32_t n, size_t wrote)
{
	uint32_t done;

	c->q_bytes -= wrote;
	for (done = 0; done < n && wrote >= bufs[done].len; done++)
		wrote -= bufs[done].len;
	if (done > 0)
		c->off = 0;
	c->off += (uint32_t)wrote;
	q_release(c, done);
	return done;
}

/* Hands the frames the kernel has not taken to one uv_write; while that is
 * in flight, new frames wait in q for its callback, which flushes again.
 * Returns 0 or a negative libuv error. */
static int write_rest(struct ws_conn *c)
{
	uv_buf_t bufs[WS_IOV];
	struct ws_write *w = malloc(sizeof(*w));
	uint32_t n;
	int r;

	if (!w)
		return UV_ENOMEM;
	n = fill_bufs(c, bufs, &w->bytes);
	w->req.data = c;
	r = uv_write(&w->req, c->stream, bufs, n, write_cb);
	if (r < 0) {
		free(w);
		return r;
	}
	c->n_writing = n;
	return 0;
}

/* Writes what the kernel takes now: with ring, the first WS_IOV frames go
 * in the server's next io_uring submission (ring_done takes it from
 * there); otherwise, or when the ring is full, one send per WS_IOV frames,
 * and write_rest for what is left. Returns 0 or a negative libuv error. */
static int flush(struct ws_conn *c, bool ring)
{
	uv_buf_t bufs[WS_IOV];
	size_t bytes;
	ssize_t r;
	uint32_t n;

	if (c->n_writing)
		return 0;
	if (ring && c->srv->ring && c->nq > 0) {
		n = fill_bufs(c, bufs, &bytes);
		if (uring_send(c->srv->ring, c->fd, (const struct iovec *)bufs, n, c) == 0) {
			c->srv->sends++;
			c->n_writing = n;
			c->ring_busy = true;
			return 0;
		}
	}
	while (c->nq > 0) {
		n = fill_bufs(c, bufs, &bytes);
		r = try_send(c, bufs, n);
		if (r < 0)
			return (int)r;
		if (sent(c, bufs, n, (size_t)r) < n)
			break;
	}
	return c->nq == 0 ? 0 : write_rest(c);
}

/* A ring send of c's first n_writing frames completed with res: the bytes
 * sent, or a negative errno (-EAGAIN: none, the socket is full). What the
 * kernel did not take goes to write_rest, as from flush; an error ends the
 * connection, as from flush. */
static void ring_done(void *owner, int res)
{
	struct ws_conn *c = owner;
	uv_buf_t bufs[WS_IOV];
	size_t bytes;
	uint32_t n = c->n_writing;

	assert(c->ring_busy && n > 0 && c->state != WS_CLOSED);
	c->ring_busy = false;
	c->n_writing = 0;
	if (res == -EAGAIN)
		res = 0;
	if (res < 0) {
		drop(c);
	} else {
		fill_bufs(c, bufs, &bytes);
		if (sent(c, bufs, n, (size_t)res) < n && c->state < WS_DEAD && write_rest(c) != 0)
			drop(c);
	}
	/* More to send, or a close or shutdown that waited for this send. */
	if (c->nq > c->n_writing || c->state != WS_OPEN)
		mark_dirty(c);
}

/* Past the bound: whatever has not started to leave is dropped, a close
 * 1008 queued behind what has (best effort: the peer is not reading), and
 * the linger deadline ends the socket. */
static void too_slow(struct ws_conn *c)
{
	uint32_t keep = c->n_writing ? c->n_writing : c->off ? 1 : 0;

	log_write(LOG_WARN, "slow consumer closed", "{s:s,s:I,s:I}", "peer", c->peer ? c->peer : "",
		  "unsent_bytes", (json_int_t)c->q_bytes, "limit", (json_int_t)c->srv->cfg.max_queued);
	for (uint32_t i = keep; i < c->nq; i++) {
		c->q_bytes -= c->q[i]->len - (i == 0 ? c->off : 0);
		ws_frame_unref(c->q[i]);
	}
	c->nq = keep;
	ws_close(c, WIRE_CLOSE_POLICY, "too slow");
}

static int send_frame(struct ws_conn *c, struct ws_frame *f)
{
	int r = enqueue(c, f);

	if (r != 0)
		return r;
	if (q_behind(c) > c->srv->cfg.max_queued) {
		/* A burst larger than the bound may still be read at once: try
		 * the kernel before judging. */
		if (flush(c, false) != 0)
			drop(c);
		else if (q_behind(c) > c->srv->cfg.max_queued)
			too_slow(c);
	}
	return 0;
}

int ws_send(struct ws_conn *c, struct ws_frame *f)
{
	if (c->state != WS_OPEN)
		return -EPIPE;
	return send_frame(c, f);
}

int ws_send_text(struct ws_conn *c, const void *payload, size_t len)
{
	struct ws_frame *f;
	int r;

	if (c->state != WS_OPEN)
		return -EPIPE;
	f = ws_frame_text(payload, len);
	if (!f)
		return -ENOMEM;
	r = send_frame(c, f);
	ws_frame_unref(f);
	return r;
}

static void enter_closing(struct ws_conn *c)
{
	list_unlink(c);
	set_state(c, WS_CLOSING);
	list_append(c, L_CLOSING);
	mark_dirty(c);
}

/* Queues a close frame: code 0 sends an empty one. */
static void send_close(struct ws_conn *c, uint16_t code, const char *reason, size_t len)
{
	uint8_t payload[WSC_CONTROL_MAX];
	struct ws_frame *f;

	len = wsc_close_payload(payload, code, reason, len);
	f = frame_new(WSC_OP_CLOSE, payload, len);
	if (!f || enqueue(c, f) != 0) {
		ws_frame_unref(f);
		drop(c);
		return;
	}
	ws_frame_unref(f);
	count_close(c->srv, code ? code : 1005);
	enter_closing(c);
}

void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	if (c->state != WS_OPEN)
		return;
	send_close(c, code, reason, reason ? strlen(reason) : 0);
}

/* ------------------------------------------------------------------ input */

static void on_event(struct ws_conn *c, const struct wsc_event *ev)
{
	struct ws_frame *f;

	switch (ev->kind) {
	case WSC_EV_MESSAGE:
		if (c->h)
			c->h->on_message(c, c->ud, ev->binary, ev->data, ev->len);
		return;
	case WSC_EV_PING:
		f = frame_new(WSC_OP_PONG, ev->data, ev->len);
		if (!f || send_frame(c, f) != 0)
			drop(c);
		ws_frame_unref(f);
		return;
	case WSC_EV_CLOSE:
		/* The peer's code is echoed (an empty close with an empty one). */
		send_close(c, ev->code, NULL, 0);
		return;
	case WSC_EV_ERROR:
		ws_close(c, ev->code, NULL);
		return;
	case WSC_EV_NEED:
	case WSC_EV_PONG:
		return;
	}
}

/* Decodes the complete frames at the start of p[0..n) (unmasking them in
 * place) while the connection is open and not paused. Returns the bytes
 * used; the rest is a frame still arriving (*need: its whole size when
 * known, else 0), or what waits for ws_resume_input. */
static size_t parse(struct ws_conn *c, uint8_t *p, size_t n, size_t *need)
{
	struct wsc_event ev;
	size_t off = 0;

	*need = 0;
	while (c->state == WS_OPEN && c->input != IN_PAUSED) {
		off += wsc_decode(&c->dec, p + off, n - off, &c->srv->limits, &ev);
		if (ev.kind == WSC_EV_NEED) {
			*need = ev.need;
			break;
		}
		on_event(c, &ev);
	}
	/* A paused connection keeps no delivered message while it waits. */
	wsc_decoder_trim(&c->dec);
	return c->state == WS_OPEN ? off : n;
}

/* Keeps cap bytes for c->in. Returns 0 or -ENOMEM. */
static int in_reserve(struct ws_conn *c, size_t cap)
{
	uint8_t *b;

	if (cap <= c->in_cap)
		return 0;
	b = realloc(c->in, cap);
	if (!b)
		return -ENOMEM;
	c->in = b;
	c->in_cap = (uint32_t)cap;
	return 0;
}

/* Feeds p[0..n): straight from the read buffer when nothing is kept, else
 * behind the bytes kept from before. What is left is kept in c->in: one
 * frame still arriving, with room for all of it once its header says how
 * long it is (the decoder bounds that by max_message), or, paused, what
 * follows the last message delivered (at most one read's worth). */
static void input(struct ws_conn *c, uint8_t *p, size_t n)
{
	size_t used, need, left;

	if (c->in) {
		if (in_reserve(c, c->in_len + n) != 0) {
			drop(c);
			return;
		}
		if (n)
			memcpy(c->in + c->in_len, p, n);
		c->in_len += (uint32_t)n;
		p = c->in;
		n = c->in_len;
	}
	used = parse(c, p, n, &need);
	left = n - used;
	if (left == 0) {
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
		return;
	}
	if (c->in) {
		memmove(c->in, c->in + used, left);
	} else {
		if (in_reserve(c, left) != 0) {
			drop(c);
			return;
		}
		memcpy(c->in, p + used, left);
	}
	c->in_len = (uint32_t)left;
	if (in_reserve(c, need) != 0)
		drop(c);
}

/* ------------------------------------------------------------- lifecycle */

static void conn_free(struct ws_conn *c)
{
	struct ws_server *s = c->srv;

	assert(!c->ring_busy);
	for (uint32_t i = 0; i < c->nq; i++)
		ws_frame_unref(c->q[i]);
	if (c->q != c->q_inline)
		free(c->q);
	free(c->in);
	wsc_decoder_free(&c->dec);
	list_unlink(c);
	s->n_conns--;
	free(c);
	server_maybe_close(s);
}

static void stream_closed(void *owner)
{
	struct ws_conn *c = owner;

	/* proceed() has told the user unless the socket went some other way. */
	if (!c->gone_notified && c->h) {
		c->gone_notified = true;
		c->h->on_gone(c, c->ud);
	}
	conn_free(c);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct ws_conn *c = req->data;

	free(req);
	if (status < 0)
		drop(c);
}

static void start_shutdown(struct ws_conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	set_state(c, WS_LINGER);
	if (!req) {
		set_state(c, WS_DEAD);
		return;
	}
	req->data = c;
	if (uv_shutdown(req, c->stream, shutdown_cb) != 0) {
		free(req);
		set_state(c, WS_DEAD);
	}
}

/* Parses what in holds, which comes before anything the socket has, then
 * reads (unless a message paused or closed the connection meanwhile). */
static void start_input(struct ws_conn *c)
{
	if (c->in_len > 0)
		input(c, NULL, 0);
	if (c->state == WS_OPEN && c->input != IN_PAUSED)
		set_input(c, c->input == IN_START ? IN_READ : IN_PACED);
}

/* The one place that decides what a connection does next. */
static void proceed(struct ws_conn *c)
{
	if (c->state == WS_OPEN && c->input <= IN_RESUMED)
		start_input(c);
	/* Closing, the socket is read (and what comes discarded) until the
	 * peer's end, so that unread data does not make the kernel answer with
	 * a reset that could destroy our close frame in flight. */
	if (c->state != WS_OPEN && c->state < WS_DEAD && c->input != IN_DRAIN)
		set_input(c, IN_DRAIN);
	if (c->state < WS_DEAD && c->nq > 0 && flush(c, true) != 0)
		set_state(c, WS_DEAD);  /* the peer is gone (a write failed at once) */
	/* Shut down once everything up to the close frame is with libuv, which
	 * writes it before the FIN (a ring send is not: its completion comes
	 * back here). */
	if (c->state == WS_CLOSING && c->nq == c->n_writing && !c->ring_busy)
		start_shutdown(c);
	/* Last before the socket closes, whatever above changed the state. */
	if (c->state != WS_OPEN && !c->gone_notified) {
		c->gone_notified = true;
		if (c->h)
			c->h->on_gone(c, c->ud);
	}
	if (c->state == WS_DEAD && c->input != IN_OFF)
		set_input(c, IN_OFF);
	/* The socket outlives a ring send on it: ring_done comes back here. */
	if (c->state == WS_DEAD && !c->ring_busy) {
		set_state(c, WS_CLOSED);
		httpd_conn_close(c->hc);
	}
}

/* Almost all of a delivery's cost is the kernel's, once per send, however
 * many frames the send carries. A server that sending every frame as it
 * comes would keep busy nearly all the time (the load: frames queued times
 * what a send has cost, over the time they came in, above hold_load_pct)
 * holds them back: after a flush that took D, the next one waits D / 2 (at
 * most max_write_delay_ms), and sends each connection what piled up
 * meanwhile in one go, rather than falling behind one send per frame. That
 * buys fewer sends with latency (up to max_write_delay_ms), which is why a
 * server with time to spare (WS_HOLD_SLACK points below the threshold)
 * sends at once. The load is judged from frames, not sends, so that
 * holding, which needs fewer sends, does not switch itself off. */
#define WS_LOAD_WINDOW_NS 500000000u
#define WS_HOLD_SLACK 10

static void judge_load(struct ws_server *s, uint64_t now)
{
	uint64_t span = now - s->win_start, sends = s->sends - s->win_sends;
	unsigned on, off;
	double load;

	if (span < WS_LOAD_WINDOW_NS)
		return;
	load = sends ? (double)s->win_flush_ns / (double)sends * (double)(s->frames - s->win_frames) / (double)span
		     : 0;
	on = s->cfg.hold_load_pct;
	off = on > WS_HOLD_SLACK ? on - WS_HOLD_SLACK : 0;
	s->hold = s->cfg.max_write_delay_ms > 0 && load * 100 > (s->hold ? off : on);
	s->win_start = now;
	s->win_frames = s->frames;
	s->win_sends = s->sends;
	s->win_flush_ns = 0;
}

static void flush_dirty(struct ws_server *s)
{
	uint64_t start = uv_hrtime(), end, took, cap = s->cfg.max_write_delay_ms * 1000000;

	while (s->dirty) {
		struct ws_conn *c = s->dirty;
		s->dirty = c->dirty_next;
		c->dirty = false;
		proceed(c);
	}
	uv_idle_stop(&s->idle);
	/* After the idle stop: a completion may mark its connection dirty. */
	if (s->ring)
		uring_submit(s->ring);
	end = uv_hrtime();
	took = end - start;
	s->win_flush_ns += took;
	judge_load(s, end);
	took /= 2;
	s->flush_at = s->hold ? end + (took < cap ? took : cap) : 0;
}

static void on_coalesce(uv_timer_t *t)
{
	struct ws_server *s = container_of(t, struct ws_server, coalesce);

	flush_dirty(s);
}

static void on_check(uv_check_t *h)
{
	struct ws_server *s = container_of(h, struct ws_server, check);
	uint64_t now;

	if (!s->dirty || uv_is_active((const uv_handle_t *)&s->coalesce))
		return;
	now = uv_hrtime();
	if (now >= s->flush_at) {
		flush_dirty(s);
		return;
	}
	/* Nothing else may keep poll from sleeping until then. */
	uv_idle_stop(&s->idle);
	uv_timer_start(&s->coalesce, on_coalesce, (s->flush_at - now + 999999) / 1000000, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct ws_server *s = container_of(t, struct ws_server, timer);
	uint64_t now = uv_now(s->loop), ping = s->cfg.ping_ms;
	struct ws_conn *c;

	s->timer_due = 0;
	while ((c = dlist_first(&s->closing_conns, struct ws_conn, node)) && c->mark + WS_LINGER_MS <= now)
		drop(c);  /* linger over */
	while ((c = dlist_first(&s->live, struct ws_conn, node)) && c->mark + ping <= now) {
		if (c->ping_outstanding) {
			drop(c);  /* no answer within a period */
			continue;
		}
		c->ping_outstanding = true;
		list_unlink(c);
		list_append(c, L_LIVE);
		if (send_frame(c, s->ping) != 0)
			drop(c);
	}
	if ((c = dlist_first(&s->closing_conns, struct ws_conn, node)))
		arm_timer(s, c->mark + WS_LINGER_MS);
	if ((c = dlist_first(&s->live, struct ws_conn, node)))
		arm_timer(s, c->mark + ping);
}

static void arm_timer(struct ws_server *s, uint64_t due)
{
	uint64_t now = uv_now(s->loop);

	if (s->timer_due && s->timer_due <= due)
		return;
	s->timer_due = due;
	uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ws_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->srv->rbuf, c->input == IN_PACED ? WS_PACED_READ : sizeof(c->srv->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct ws_conn *c = st->data;

	/* None once closed: proceed() stops the reads before it closes the socket. */
	if (nread == 0)
		return;
	if (nread < 0) {
		set_input(c, IN_OFF);
		drop(c);
		return;
	}
	if (c->state != WS_OPEN)
		return;  /* closing: input is read only to see the peer's end */
	c->ping_outstanding = false;
	list_unlink(c);
	list_append(c, L_LIVE);
	input(c, (uint8_t *)buf->base, (size_t)nread);
	if (c->input == IN_PACED)
		set_input(c, IN_READ);
}

void ws_pause_input(struct ws_conn *c)
{
	if (c->input == IN_PAUSED || c->state != WS_OPEN)
		return;
	/* At once, so that libuv reads no more in this turn. */
	set_input(c, IN_PAUSED);
	list_unlink(c);
	list_append(c, L_PAUSED);
}

void ws_resume_input(struct ws_conn *c)
{
	/* Closing, proceed() moves the input on to IN_DRAIN. */
	if (c->input != IN_PAUSED || c->state != WS_OPEN)
		return;
	set_input(c, IN_RESUMED);
	list_unlink(c);
	c->ping_outstanding = false;
	list_append(c, L_LIVE);
	mark_dirty(c);
}

int ws_accept(struct ws_server *s, struct httpd_req *req, const char *response, size_t len,
	      const struct ws_handler *h, void *ud, struct ws_conn **out)
{
	struct ws_conn *c;
	struct ws_frame *f;
	const char *rest = NULL;
	size_t rest_len = 0;

	if (s->closing)
		return -ESHUTDOWN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->srv = s;
	c->h = h;
	c->ud = ud;
	c->q = c->q_inline;
	c->cap_q = WS_Q_INLINE;
	f = frame_alloc(len);
	if (!f) {
		free(c);
		return -ENOMEM;
	}
	memcpy(f->data, response, len);
	c->q[c->nq++] = f;
	c->q_bytes = len;
	c->hc = req->conn;
	c->peer = req->peer;
	c->stream = httpd_upgrade(req, c, stream_closed, &rest, &rest_len);
	if (!c->stream) {
		ws_frame_unref(f);
		free(c);
		return -EPIPE;
	}
	/* From here on the socket is ours: nothing below can fail. */
	c->stream->data = c;
	s->n_conns++;
	list_append(c, L_LIVE);
	if (uv_fileno((const uv_handle_t *)c->stream, &c->fd) != 0)
		set_state(c, WS_DEAD);
	/* proceed() starts reading (the input is IN_START): the caller may
	 * pause the connection first. */
	mark_dirty(c);
	*out = c;
	/* Frames that came with the request head wait where a split frame
	 * would, for proceed(). */
	if (rest_len > 0 && c->state == WS_OPEN) {
		if (in_reserve(c, rest_len) != 0) {
			set_state(c, WS_DEAD);
			return 0;
		}
		memcpy(c->in, rest, rest_len);
		c->in_len = (uint32_t)rest_len;
	}
	return 0;
}

/* --------------------------------------------------------------- server */

int ws_server_new(uv_loop_t *loop, const struct ws_config *cfg, struct ws_server **out)
{
	struct ws_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return UV_ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	s->limits.max_message = cfg->max_message;
	s->ping = frame_new(WSC_OP_PING, NULL, 0);
	if (!s->ping) {
		free(s);
		return UV_ENOMEM;
	}
	if (cfg->io_uring != URING_OFF &&
	    (r = uring_new(loop, WS_RING_ENTRIES, WS_IOV, ring_done, &s->ring)) != 0) {
		/* Said once, at start: every send then takes the path without. */
		log_write(cfg->io_uring == URING_ON ? LOG_ERROR : LOG_WARN, "io_uring unavailable",
			  "{s:s,s:s}", "error", strerror(-r), "io_uring",
			  cfg->io_uring == URING_ON ? "on: not starting" : "auto: sending with send()");
		if (cfg->io_uring == URING_ON) {
			ws_frame_unref(s->ping);
			free(s);
			return r;
		}
		s->ring = NULL;
	}
	if ((r = uv_check_init(loop, &s->check)) != 0) {
		ws_frame_unref(s->ping);
		if (s->ring)
			uring_close(s->ring, free, s);
		else
			free(s);
		return r;
	}
	uv_idle_init(loop, &s->idle);
	uv_timer_init(loop, &s->timer);
	uv_timer_init(loop, &s->coalesce);
	uv_check_start(&s->check, on_check);
	uv_unref((uv_handle_t *)&s->check);
	s->check.data = s;
	s->idle.data = s;
	s->timer.data = s;
	s->coalesce.data = s;
	*out = s;
	return 0;
}

static void server_release(void *server)
{
	struct ws_server *s = server;

	if (--s->pending_closes == 0) {
		void (*done)(void *) = s->done;
		void *arg = s->done_arg;
		ws_frame_unref(s->ping);
		free(s);
		if (done)
			done(arg);
	}
}

static void server_closed(uv_handle_t *h)
{
	server_release(h->data);
}

static void server_maybe_close(struct ws_server *s)
{
	if (!s->closing || s->n_conns > 0 || s->pending_closes > 0)
		return;
	/* No ring send is in flight: each holds its connection open. */
	assert(!s->ring || uring_in_flight(s->ring) == 0);
	s->pending_closes = s->ring ? 5 : 4;
	if (s->ring)
		uring_close(s->ring, server_release, s);
	uv_close((uv_handle_t *)&s->check, server_closed);
	uv_close((uv_handle_t *)&s->idle, server_closed);
	uv_close((uv_handle_t *)&s->timer, server_closed);
	uv_close((uv_handle_t *)&s->coalesce, server_closed);
}

void ws_server_close(struct ws_server *s, uint16_t code, void (*done)(void *arg), void *arg)
{
	struct ws_conn *c, *next;

	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	/* ws_close moves each open connection to the closing list. */
	dlist_for_each_safe(c, next, &s->live, node)
		ws_close(c, code, NULL);
	dlist_for_each_safe(c, next, &s->paused, node)
		ws_close(c, code, NULL);
	server_maybe_close(s);
}

size_t ws_server_conn_count(const struct ws_server *s)
{
	return s->n_conns;
}

void ws_server_output(struct ws_server *s, uint64_t *frames, uint64_t *sends, bool *holding)
{
	/* Judged only when flushing, a server gone quiet would still say busy. */
	judge_load(s, uv_hrtime());
	*frames = s->frames;
	*sends = s->sends;
	*holding = s->hold;
}

size_t ws_server_closes(const struct ws_server *s, uint16_t *codes, uint64_t *counts, size_t max)
{
	size_t n = s->n_close_codes < max ? s->n_close_codes : max;

	memcpy(codes, s->close_codes, n * sizeof(*codes));
	memcpy(counts, s->close_counts, n * sizeof(*counts));
	return n;
}
