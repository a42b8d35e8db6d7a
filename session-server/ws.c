#include "ws.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "utf8.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* After our close frame is written (or queued, if the peer stops reading),
 * wait this long for the peer to close before dropping the socket. Reading
 * on until then keeps the kernel from answering unread data with a reset
 * that could destroy the close frame in flight. */
#define WS_LINGER_MS 2000

#define WS_WRITE_BATCH 64
#define WS_MAX_CLOSE_CODES 32

struct ws_frame {
	unsigned refs;
	size_t len;
	uint8_t data[];
};

enum ws_state {
	WS_OPEN,
	WS_CLOSING,  /* a close frame is queued (ours or the echo) */
	WS_LINGER,   /* the close frame has been handed to uv_write */
	WS_DEAD,     /* the socket is to be closed */
};

/* Frame-header guard state (see ws.h). */
struct ws_guard {
	uint8_t hdr[14];
	uint8_t hlen, need;
	uint64_t left;           /* payload bytes of a non-close frame to pass on */
	bool in_close;
	uint8_t close[14 + 125]; /* a close frame, held until complete */
	size_t close_len, close_need;
};

struct ws_conn {
	struct ws_server *srv;
	struct httpd_conn *hc;
	uv_stream_t *stream;
	uv_timer_t timer;        /* ping, then linger */
	uv_shutdown_t shutdown_req;
	wslay_event_context_ptr ctx;
	const struct ws_handler *h;
	void *ud;

	enum ws_state state;
	bool gone_notified, dirty, ping_outstanding, shutdown_started, handles_closing, close_counted;
	unsigned pending_closes;
	uint64_t last_rx;

	struct ws_conn *dirty_next;
	struct ws_conn *prev, *next;

	const uint8_t *in;       /* bytes wslay's recv callback drains */
	size_t in_len;
	uint8_t *early;          /* bytes that came with the request head */
	size_t early_len;

	struct ws_frame **pend;
	size_t n_pend, cap_pend, pend_bytes;
	size_t writing_bytes;

	struct ws_guard g;
};

struct ws_server {
	uv_loop_t *loop;
	struct ws_config cfg;
	uv_check_t check;
	uv_idle_t idle;          /* keeps poll from blocking while work is dirty */
	unsigned pending_closes;
	struct ws_conn *dirty;
	struct ws_conn *conns;
	size_t n_conns;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	uint16_t close_codes[WS_MAX_CLOSE_CODES];
	uint64_t close_counts[WS_MAX_CLOSE_CODES];
	size_t n_close_codes;
	uint8_t rbuf[65536];     /* one read at a time per loop */
};

struct ws_write {
	uv_write_t req;
	struct ws_conn *c;
	size_t n, bytes;
	struct ws_frame *frames[WS_WRITE_BATCH];
};

static void on_timer(uv_timer_t *t);
static void server_closed(uv_handle_t *h);
static int enqueue(struct ws_conn *c, struct ws_frame *f);

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

struct ws_frame *ws_frame_text(const void *payload, size_t len)
{
	size_t hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;
	struct ws_frame *f = frame_alloc(hlen + len);

	if (!f)
		return NULL;
	f->data[0] = 0x81; /* FIN, text */
	if (len < 126) {
		f->data[1] = (uint8_t)len;
	} else if (len < 65536) {
		f->data[1] = 126;
		f->data[2] = (uint8_t)(len >> 8);
		f->data[3] = (uint8_t)len;
	} else {
		f->data[1] = 127;
		for (int i = 0; i < 8; i++)
			f->data[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(f->data + hlen, payload, len);
	return f;
}

void ws_frame_unref(struct ws_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

/* ------------------------------------------------------------ server side */

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

static void idle_noop(uv_idle_t *h)
{
	(void)h;
}

static void mark_dirty(struct ws_conn *c)
{
	struct ws_server *s = c->srv;

	if (c->dirty || c->handles_closing)
		return;
	c->dirty = true;
	c->dirty_next = s->dirty;
	if (!s->dirty)
		uv_idle_start(&s->idle, idle_noop);
	s->dirty = c;
}

/* --------------------------------------------------------- wslay callbacks */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
	struct ws_conn *c = ud;
	size_t n = c->in_len < len ? c->in_len : len;

	(void)flags;
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	memcpy(buf, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (ssize_t)n;
}

/* wslay writes only control frames (pong, close): each piece becomes a
 * private frame in the queue, so nothing is ever left half-sent inside wslay. */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
		       void *ud)
{
	struct ws_conn *c = ud;
	struct ws_frame *f;

	(void)flags;
	f = frame_alloc(len);
	if (!f || c->state == WS_DEAD || enqueue(c, f) != 0) {
		ws_frame_unref(f);
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(f->data, data, len);
	ws_frame_unref(f);
	return (ssize_t)len;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
		   void *ud)
{
	struct ws_conn *c = ud;

	(void)ctx;
	if (c->state != WS_OPEN || !c->h)
		return;
	if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
		c->h->on_message(c, c->ud, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	.on_msg_recv_callback = msg_cb,
};

/* ------------------------------------------------------------------ input */

static void enter_closing(struct ws_conn *c)
{
	if (c->state != WS_OPEN)
		return;
	c->state = WS_CLOSING;
	uv_timer_start(&c->timer, on_timer, WS_LINGER_MS, 0);
	mark_dirty(c);
}

static void drop(struct ws_conn *c)
{
	c->state = WS_DEAD;
	mark_dirty(c);
}

static void fail(struct ws_conn *c, uint16_t code)
{
	ws_close(c, code, NULL);
}

/* Passes data[0..len) to wslay. */
static void feed(struct ws_conn *c, const uint8_t *data, size_t len)
{
	c->in = data;
	c->in_len = len;
	if (wslay_event_recv(c->ctx) != 0) {
		drop(c);
		return;
	}
	c->in_len = 0;
	if (!wslay_event_get_read_enabled(c->ctx))
		enter_closing(c);
}

static bool close_code_valid(unsigned code)
{
	/* The set wslay accepts, so that the guard and wslay never disagree. */
	return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

/* Returns 0, or the close code a header deserves. Sets *len on success. */
static uint16_t check_header(const uint8_t *h, uint64_t *len)
{
	uint8_t opcode = h[0] & 0x0f;
	bool fin = h[0] & 0x80, masked = h[1] & 0x80;
	uint8_t len7 = h[1] & 0x7f;
	uint64_t n = len7;

	if (h[0] & 0x70)
		return 1002;
	if ((opcode >= 3 && opcode <= 7) || opcode >= 0xb)
		return 1002;
	if (!masked)
		return 1002;
	if ((opcode & 0x8) && (!fin || len7 > 125))
		return 1002;
	if (len7 == 126) {
		n = (uint64_t)h[2] << 8 | h[3];
		if (n < 126)
			return 1002;
	} else if (len7 == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | h[2 + i];
		if (n < 65536 || (n >> 63))
			return 1002;
	}
	*len = n;
	return 0;
}

/* Validates a complete close frame held by the guard; 0 if it may go to wslay. */
static uint16_t check_close(struct ws_guard *g)
{
	/* A control frame's header is 2 bytes and the mask (check_header). */
	const size_t hlen = 6;
	const uint8_t *mask = g->close + 2;
	size_t plen = g->close_len - hlen;
	uint8_t payload[125];

	for (size_t i = 0; i < plen; i++)
		payload[i] = g->close[hlen + i] ^ mask[i % 4];
	if (plen == 1)
		return 1002;
	if (plen >= 2) {
		unsigned code = (unsigned)payload[0] << 8 | payload[1];
		if (!close_code_valid(code))
			return 1002;
		if (!utf8_valid(payload + 2, plen - 2))
			return 1007;
	}
	return 0;
}

static void input(struct ws_conn *c, const uint8_t *p, size_t n)
{
	struct ws_guard *g = &c->g;

	while (n > 0 && c->state == WS_OPEN) {
		if (g->left > 0) {
			size_t k = g->left < n ? (size_t)g->left : n;
			g->left -= k;
			feed(c, p, k);
			p += k;
			n -= k;
			continue;
		}
		if (g->in_close) {
			size_t k = g->close_need - g->close_len;
			uint16_t code;
			if (k > n)
				k = n;
			memcpy(g->close + g->close_len, p, k);
			g->close_len += k;
			p += k;
			n -= k;
			if (g->close_len < g->close_need)
				continue;
			g->in_close = false;
			code = check_close(g);
			if (code)
				fail(c, code);
			else
				feed(c, g->close, g->close_len);
			continue;
		}

		g->hdr[g->hlen++] = *p++;
		n--;
		if (g->hlen == 2) {
			uint8_t len7 = g->hdr[1] & 0x7f;
			g->need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
					    (g->hdr[1] & 0x80 ? 4 : 0));
		}
		if (g->hlen < 2 || g->hlen < g->need)
			continue;

		uint64_t len = 0;
		uint16_t code = check_header(g->hdr, &len);
		uint8_t hlen = g->hlen;
		g->hlen = 0;
		g->need = 0;
		if (code) {
			fail(c, code);
			return;
		}
		if ((g->hdr[0] & 0x0f) == WSLAY_CONNECTION_CLOSE) {
			memcpy(g->close, g->hdr, hlen);
			g->close_len = hlen;
			g->close_need = hlen + (size_t)len;
			g->in_close = true;
			if (len == 0) {
				g->in_close = false;
				feed(c, g->close, g->close_len);
			}
			continue;
		}
		feed(c, g->hdr, hlen);
		g->left = len;
	}
}

/* ---------------------------------------------------------------- output */

static void write_cb(uv_write_t *req, int status)
{
	struct ws_write *w = container_of(req, struct ws_write, req);
	struct ws_conn *c = w->c;

	for (size_t i = 0; i < w->n; i++)
		ws_frame_unref(w->frames[i]);
	c->writing_bytes -= w->bytes;
	free(w);
	if (status < 0 && c->state != WS_DEAD)
		drop(c);
}

static int flush(struct ws_conn *c)
{
	size_t done = 0;

	while (done < c->n_pend) {
		struct ws_write *w = malloc(sizeof(*w));
		uv_buf_t bufs[WS_WRITE_BATCH];
		int r;

		if (!w)
			return -ENOMEM;
		w->c = c;
		w->n = 0;
		w->bytes = 0;
		while (done < c->n_pend && w->n < WS_WRITE_BATCH) {
			struct ws_frame *f = c->pend[done++];
			bufs[w->n] = uv_buf_init((char *)f->data, (unsigned)f->len);
			w->frames[w->n++] = f;
			w->bytes += f->len;
		}
		r = uv_write(&w->req, c->stream, bufs, (unsigned)w->n, write_cb);
		if (r < 0) {
			for (size_t i = 0; i < w->n; i++)
				ws_frame_unref(w->frames[i]);
			free(w);
			memmove(c->pend, c->pend + done, (c->n_pend - done) * sizeof(*c->pend));
			c->n_pend -= done;
			return r;
		}
		c->pend_bytes -= w->bytes;
		c->writing_bytes += w->bytes;
	}
	c->n_pend = 0;
	return 0;
}

/* Appends f to the output; wslay's own frames come here in state CLOSING too. */
static int enqueue(struct ws_conn *c, struct ws_frame *f)
{
	if (c->n_pend == c->cap_pend) {
		size_t cap = c->cap_pend ? c->cap_pend * 2 : 8;
		struct ws_frame **p = realloc(c->pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->cap_pend = cap;
	}
	f->refs++;
	c->pend[c->n_pend++] = f;
	c->pend_bytes += f->len;
	if (c->pend_bytes + c->writing_bytes > c->srv->cfg.max_queued)
		drop(c);
	else
		mark_dirty(c);
	return 0;
}

int ws_send(struct ws_conn *c, struct ws_frame *f)
{
	if (c->state != WS_OPEN)
		return -EPIPE;
	return enqueue(c, f);
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
	r = ws_send(c, f);
	ws_frame_unref(f);
	return r;
}

void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	size_t len = reason ? strlen(reason) : 0;

	if (c->state != WS_OPEN)
		return;
	if (len > 123)
		len = 123;
	wslay_event_shutdown_read(c->ctx);
	if (wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, len) != 0) {
		drop(c);
		return;
	}
	enter_closing(c);
}

/* ------------------------------------------------------------- lifecycle */

static void conn_free(struct ws_conn *c)
{
	struct ws_server *s = c->srv;

	for (size_t i = 0; i < c->n_pend; i++)
		ws_frame_unref(c->pend[i]);
	free(c->pend);
	free(c->early);
	wslay_event_context_free(c->ctx);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	free(c);
	if (s->closing && s->n_conns == 0 && s->pending_closes == 0) {
		s->pending_closes = 2;
		uv_close((uv_handle_t *)&s->check, server_closed);
		uv_close((uv_handle_t *)&s->idle, server_closed);
	}
}

static void handle_closed(struct ws_conn *c)
{
	if (--c->pending_closes == 0)
		conn_free(c);
}

static void timer_closed(uv_handle_t *h)
{
	handle_closed(container_of((uv_timer_t *)h, struct ws_conn, timer));
}

static void stream_closed(void *owner)
{
	handle_closed(owner);
}

static void close_handles(struct ws_conn *c)
{
	c->handles_closing = true;
	c->pending_closes = 2;
	uv_close((uv_handle_t *)&c->timer, timer_closed);
	httpd_conn_close(c->hc);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct ws_conn *c = container_of(req, struct ws_conn, shutdown_req);

	if (status < 0 && c->state != WS_DEAD)
		drop(c);
}

/* The one place that decides what a connection does next. */
static void proceed(struct ws_conn *c)
{
	if (c->early) {
		uint8_t *early = c->early;
		size_t n = c->early_len;
		c->early = NULL;
		if (c->state == WS_OPEN)
			input(c, early, n);
		free(early);
	}
	if (c->state == WS_OPEN || c->state == WS_CLOSING) {
		if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
			c->state = WS_DEAD;
		if (c->state != WS_DEAD && wslay_event_get_close_sent(c->ctx)) {
			if (c->state == WS_OPEN)
				uv_timer_start(&c->timer, on_timer, WS_LINGER_MS, 0);
			c->state = WS_LINGER;
		} else if (c->state == WS_OPEN && !wslay_event_get_read_enabled(c->ctx)) {
			enter_closing(c);
		}
	}
	if (!c->close_counted && wslay_event_get_close_sent(c->ctx)) {
		c->close_counted = true;
		count_close(c->srv, wslay_event_get_status_code_sent(c->ctx));
	}
	if (c->state != WS_OPEN && !c->gone_notified) {
		c->gone_notified = true;
		if (c->h)
			c->h->on_gone(c, c->ud);
	}
	if (c->state != WS_DEAD && c->n_pend > 0 && flush(c) != 0)
		c->state = WS_DEAD;
	if (c->state == WS_LINGER && !c->shutdown_started) {
		c->shutdown_started = true;
		if (uv_shutdown(&c->shutdown_req, c->stream, shutdown_cb) != 0)
			c->state = WS_DEAD;
	}
	if (c->state == WS_DEAD && !c->handles_closing)
		close_handles(c);
}

static void on_check(uv_check_t *h)
{
	struct ws_server *s = container_of(h, struct ws_server, check);

	while (s->dirty) {
		struct ws_conn *c = s->dirty;
		s->dirty = c->dirty_next;
		c->dirty = false;
		proceed(c);
	}
	uv_idle_stop(&s->idle);
}

static void on_timer(uv_timer_t *t)
{
	struct ws_conn *c = container_of(t, struct ws_conn, timer);
	uint64_t now = uv_now(c->srv->loop), ping = c->srv->cfg.ping_ms;

	if (c->state != WS_OPEN) {
		drop(c);  /* linger over */
		return;
	}
	if (c->ping_outstanding) {
		drop(c);  /* no answer within a period */
		return;
	}
	if (now - c->last_rx < ping) {
		uv_timer_start(&c->timer, on_timer, ping - (now - c->last_rx), 0);
		return;
	}
	struct wslay_event_msg msg = { .opcode = WSLAY_PING, .msg = NULL, .msg_length = 0 };
	if (wslay_event_queue_msg(c->ctx, &msg) != 0) {
		drop(c);
		return;
	}
	c->ping_outstanding = true;
	uv_timer_start(&c->timer, on_timer, ping, 0);
	mark_dirty(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ws_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->srv->rbuf, sizeof(c->srv->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct ws_conn *c = st->data;

	if (nread == 0 || c->handles_closing)
		return;
	if (nread < 0) {
		uv_read_stop(st);
		if (c->state != WS_DEAD)
			drop(c);
		return;
	}
	c->last_rx = uv_now(c->srv->loop);
	c->ping_outstanding = false;
	if (c->state == WS_OPEN)
		input(c, (const uint8_t *)buf->base, (size_t)nread);
	mark_dirty(c);
}

int ws_accept(struct ws_server *s, struct httpd_req *req, const char *response, size_t len,
	      const struct ws_handler *h, void *ud, struct ws_conn **out)
{
	struct ws_conn *c;
	struct ws_frame *f;
	const char *rest = NULL;
	size_t rest_len = 0;
	int r = -ENOMEM;

	if (s->closing)
		return -ESHUTDOWN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->srv = s;
	c->h = h;
	c->ud = ud;
	if (wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0)
		goto out_free;
	wslay_event_config_set_max_recv_msg_length(c->ctx, s->cfg.max_message);
	f = frame_alloc(len);
	if (!f)
		goto out_ctx;
	memcpy(f->data, response, len);
	c->pend = malloc(8 * sizeof(*c->pend));
	if (!c->pend) {
		ws_frame_unref(f);
		goto out_ctx;
	}
	c->cap_pend = 8;
	c->pend[c->n_pend++] = f;
	c->pend_bytes = len;
	c->hc = req->conn;
	c->stream = httpd_upgrade(req, c, stream_closed, &rest, &rest_len);
	if (!c->stream) {
		r = -EPIPE;
		goto out_pend;
	}
	/* From here on the socket is ours: nothing below can fail. */
	uv_timer_init(s->loop, &c->timer);
	if (rest_len > 0) {
		c->early = malloc(rest_len);
		if (c->early) {
			memcpy(c->early, rest, rest_len);
			c->early_len = rest_len;
		} else {
			c->state = WS_DEAD;
		}
	}
	c->stream->data = c;
	c->last_rx = uv_now(s->loop);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_read_start(c->stream, on_alloc, on_read) != 0)
		c->state = WS_DEAD;
	uv_timer_start(&c->timer, on_timer, s->cfg.ping_ms, 0);
	mark_dirty(c);
	*out = c;
	return 0;

out_pend:
	ws_frame_unref(c->pend[0]);
	free(c->pend);
out_ctx:
	wslay_event_context_free(c->ctx);
out_free:
	free(c);
	return r;
}

int ws_server_new(uv_loop_t *loop, const struct ws_config *cfg, struct ws_server **out)
{
	struct ws_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return UV_ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	if ((r = uv_check_init(loop, &s->check)) != 0) {
		free(s);
		return r;
	}
	uv_idle_init(loop, &s->idle);
	uv_check_start(&s->check, on_check);
	uv_unref((uv_handle_t *)&s->check);
	*out = s;
	return 0;
}

static void server_closed(uv_handle_t *h)
{
	struct ws_server *s = h->data;

	if (--s->pending_closes == 0) {
		void (*done)(void *) = s->done;
		void *arg = s->done_arg;
		free(s);
		if (done)
			done(arg);
	}
}

void ws_server_close(struct ws_server *s, uint16_t code, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	s->check.data = s;
	s->idle.data = s;
	for (struct ws_conn *c = s->conns; c; c = c->next)
		ws_close(c, code, NULL);
	if (s->n_conns == 0) {
		s->pending_closes = 2;
		uv_close((uv_handle_t *)&s->check, server_closed);
		uv_close((uv_handle_t *)&s->idle, server_closed);
	}
}

size_t ws_server_conn_count(const struct ws_server *s)
{
	return s->n_conns;
}

size_t ws_server_closes(const struct ws_server *s, uint16_t *codes, uint64_t *counts, size_t max)
{
	size_t n = s->n_close_codes < max ? s->n_close_codes : max;

	memcpy(codes, s->close_codes, n * sizeof(*codes));
	memcpy(counts, s->close_counts, n * sizeof(*counts));
	return n;
}
