#include "ws_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "wire.h"

/* A fragmented message: gathered fragment by fragment, then, once
 * delivered (done), kept until the next call, as the event points into it. */
struct wsc_msg {
	bool binary, done;
	size_t len, cap;
	uint8_t data[];
};

/* ---------------------------------------------------------------- decoding */

/* The codes a peer may send (RFC 6455 7.4 and the IANA registry: 1012 to
 * 1014 were added after the RFC). */
static bool close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

static size_t header_len(const uint8_t *h)
{
	uint8_t len7 = h[1] & 0x7f;

	return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (h[1] & 0x80 ? 4 : 0);
}

/* Returns 0 and *len, or the close code a complete header deserves (judged
 * before its payload arrives, so that nothing waits for a frame it will
 * refuse). m: the message being gathered, if any. */
static uint16_t check_header(const struct wsc_msg *m, const uint8_t *h, const struct wsc_limits *lim,
			     uint64_t *len)
{
	uint8_t opcode = h[0] & 0x0f;
	bool fin = h[0] & 0x80;
	uint8_t len7 = h[1] & 0x7f;
	uint64_t n = len7;

	if (h[0] & 0x70)
		return WIRE_CLOSE_PROTOCOL;
	if ((opcode >= 3 && opcode <= 7) || opcode >= 0xb)
		return WIRE_CLOSE_PROTOCOL;
	if (!(h[1] & 0x80))
		return WIRE_CLOSE_PROTOCOL;
	if ((opcode & 0x8) && (!fin || len7 > WSC_CONTROL_MAX))
		return WIRE_CLOSE_PROTOCOL;
	if (len7 == 126) {
		n = (uint64_t)h[2] << 8 | h[3];
		if (n < 126)
			return WIRE_CLOSE_PROTOCOL;
	} else if (len7 == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | h[2 + i];
		if (n < 65536 || (n >> 63))
			return WIRE_CLOSE_PROTOCOL;
	}
	if (!(opcode & 0x8) && n + (opcode == WSC_OP_CONT && m ? m->len : 0) > lim->max_message)
		return WIRE_CLOSE_TOO_BIG;
	*len = n;
	return 0;
}

static void unmask(uint8_t *p, size_t len, const uint8_t *key)
{
	uint32_t k;
	size_t i = 0;

	memcpy(&k, key, 4);
	for (; i + 4 <= len; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		w ^= k;
		memcpy(p + i, &w, 4);
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

static void event(struct wsc_event *ev, enum wsc_event_kind kind, uint16_t code, const uint8_t *data,
		  size_t len)
{
	ev->kind = kind;
	ev->binary = false;
	ev->code = code;
	ev->data = data;
	ev->len = len;
	ev->need = 0;
}

static void message(struct wsc_event *ev, bool binary, const uint8_t *data, size_t len)
{
	if (!binary && !utf8_valid(data, len)) {
		event(ev, WSC_EV_ERROR, WIRE_CLOSE_BAD_DATA, NULL, 0);
		return;
	}
	event(ev, WSC_EV_MESSAGE, 0, data, len);
	ev->binary = binary;
}

static void close_event(struct wsc_event *ev, const uint8_t *p, size_t len)
{
	unsigned code;

	if (len == 0) {
		event(ev, WSC_EV_CLOSE, 0, p, 0);
		return;
	}
	if (len == 1) {
		event(ev, WSC_EV_ERROR, WIRE_CLOSE_PROTOCOL, NULL, 0);
		return;
	}
	code = (unsigned)p[0] << 8 | p[1];
	if (!close_code_valid(code))
		event(ev, WSC_EV_ERROR, WIRE_CLOSE_PROTOCOL, NULL, 0);
	else if (!utf8_valid(p + 2, len - 2))
		event(ev, WSC_EV_ERROR, WIRE_CLOSE_BAD_DATA, NULL, 0);
	else
		event(ev, WSC_EV_CLOSE, (uint16_t)code, p + 2, len - 2);
}

/* Adds a fragment to d's message. Returns 0 or -ENOMEM. */
static int gather(struct wsc_decoder *d, const uint8_t *p, size_t len, const struct wsc_limits *lim)
{
	struct wsc_msg *m = d->msg;

	if (m->len + len > m->cap) {
		/* check_header keeps len + m->len within max_message. */
		size_t cap = m->cap * 2 > m->len + len ? m->cap * 2 : m->len + len;
		if (cap > lim->max_message)
			cap = lim->max_message;
		m = realloc(m, sizeof(*m) + cap);
		if (!m)
			return -ENOMEM;
		m->cap = cap;
		d->msg = m;
	}
	memcpy(m->data + m->len, p, len);
	m->len += len;
	return 0;
}

size_t wsc_decode(struct wsc_decoder *d, uint8_t *buf, size_t n, const struct wsc_limits *lim,
		  struct wsc_event *ev)
{
	size_t off = 0;

	wsc_decoder_trim(d);
	for (;;) {
		uint8_t *h = buf + off, *p;
		size_t hlen, len;
		uint64_t len64;
		uint16_t code;
		uint8_t opcode;
		bool fin;

		if (n - off < 2 || n - off < (hlen = header_len(h))) {
			event(ev, WSC_EV_NEED, 0, NULL, 0);
			return off;
		}
		code = check_header(d->msg, h, lim, &len64);
		if (code) {
			event(ev, WSC_EV_ERROR, code, NULL, 0);
			return off;
		}
		/* check_header bounds len64 by max_message or WSC_CONTROL_MAX. */
		len = (size_t)len64;
		if (n - off - hlen < len) {
			event(ev, WSC_EV_NEED, 0, NULL, 0);
			ev->need = hlen + len;
			return off;
		}
		p = h + hlen;
		unmask(p, len, p - 4);
		off += hlen + len;
		opcode = h[0] & 0x0f;
		fin = h[0] & 0x80;
		switch (opcode) {
		case WSC_OP_TEXT:
		case WSC_OP_BINARY:
			if (d->msg) {
				event(ev, WSC_EV_ERROR, WIRE_CLOSE_PROTOCOL, NULL, 0);
				return off;
			}
			if (fin) {
				message(ev, opcode == WSC_OP_BINARY, p, len);
				return off;
			}
			d->msg = malloc(sizeof(*d->msg) + len);
			if (!d->msg) {
				event(ev, WSC_EV_ERROR, WIRE_CLOSE_INTERNAL, NULL, 0);
				return off;
			}
			d->msg->binary = opcode == WSC_OP_BINARY;
			d->msg->done = false;
			d->msg->len = d->msg->cap = len;
			memcpy(d->msg->data, p, len);
			continue;
		case WSC_OP_CONT:
			if (!d->msg) {
				event(ev, WSC_EV_ERROR, WIRE_CLOSE_PROTOCOL, NULL, 0);
				return off;
			}
			if (gather(d, p, len, lim) != 0) {
				event(ev, WSC_EV_ERROR, WIRE_CLOSE_INTERNAL, NULL, 0);
				return off;
			}
			if (!fin)
				continue;
			d->msg->done = true;
			message(ev, d->msg->binary, d->msg->data, d->msg->len);
			return off;
		case WSC_OP_PING:
			event(ev, WSC_EV_PING, 0, p, len);
			return off;
		case WSC_OP_PONG:
			event(ev, WSC_EV_PONG, 0, p, len);
			return off;
		default:  /* WSC_OP_CLOSE: check_header let no other opcode through */
			close_event(ev, p, len);
			return off;
		}
	}
}

void wsc_decoder_trim(struct wsc_decoder *d)
{
	if (d->msg && d->msg->done)
		wsc_decoder_free(d);
}

void wsc_decoder_free(struct wsc_decoder *d)
{
	free(d->msg);
	d->msg = NULL;
}

/* ---------------------------------------------------------------- encoding */

size_t wsc_header_len(size_t len)
{
	return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

size_t wsc_put_header(uint8_t *p, enum wsc_opcode op, size_t len)
{
	p[0] = 0x80 | op;
	if (len < 126) {
		p[1] = (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		p[1] = 126;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		return 4;
	}
	p[1] = 127;
	for (int i = 0; i < 8; i++)
		p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

size_t wsc_close_payload(uint8_t *p, uint16_t code, const char *reason, size_t len)
{
	if (!code)
		return 0;
	if (len > WSC_REASON_MAX)
		len = WSC_REASON_MAX;
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (len)
		memcpy(p + 2, reason, len);
	return len + 2;
}
