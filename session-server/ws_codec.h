/* ws_codec: RFC 6455 frames, server side, as a function of bytes and
 * limits: no socket, no timer, no configuration of its own.
 *
 * Decoding. wsc_decode() reads client frames from the start of a buffer
 * and stops at the first event the caller must act on: a complete message
 * (text is valid UTF-8), a ping, a pong, a close, or an error with the close
 * code to answer it with: 1002 (reserved bits or opcodes, an unmasked frame,
 * a fragmented or over-125-byte control frame, a non-minimal length, a stray
 * continuation, a new message inside a fragmented one, a 1-byte close or
 * one with a code a peer may not send), 1007
 * (a text message or close reason that is not UTF-8), 1009 (a message over
 * max_message, judged from the frame header, before its payload arrives)
 * or 1011 (out of memory). Fragments of a message are taken in silently,
 * with any control frames between them returned as they come.
 *
 * Bytes: wsc_decode() returns how many bytes at the start of buf it is done
 * with; the caller drops those and, on WSC_EV_NEED, presents the rest again
 * later, followed by what arrives next (a frame is decoded only once it is
 * all in one buffer; NEED says how big it is once its header is in, so that
 * the caller can make room for it at once). Frames are unmasked in place:
 * consumed bytes are changed, the bytes of a frame not yet whole are not.
 * Nothing is copied or allocated per frame except the fragments of a
 * fragmented message, which the decoder gathers in a buffer of its own
 * (allocated at the first fragment, grown as needed up to max_message).
 *
 * Events: data points into buf (a message in one frame, control frames) or
 * into the decoder's buffer (a fragmented message). It is valid until the
 * next wsc_* call on the same decoder and while buf[0..consumed) is
 * unchanged. After WSC_EV_CLOSE or WSC_EV_ERROR the stream is over: the
 * caller stops decoding it and frees the decoder.
 *
 * Encoding: server frames are unmasked and never fragmented; the caller
 * writes wsc_put_header() in front of the payload. */
#ifndef STATEROOM_WS_CODEC_H
#define STATEROOM_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest server frame header; the largest control frame payload. */
#define WSC_HEADER_MAX 10
#define WSC_CONTROL_MAX 125
/* The longest close reason: a control payload less the code. */
#define WSC_REASON_MAX 123

enum wsc_opcode {
	WSC_OP_CONT = 0x0,
	WSC_OP_TEXT = 0x1,
	WSC_OP_BINARY = 0x2,
	WSC_OP_CLOSE = 0x8,
	WSC_OP_PING = 0x9,
	WSC_OP_PONG = 0xa,
};

struct wsc_limits {
	size_t max_message;  /* largest message, all its fragments together */
};

enum wsc_event_kind {
	WSC_EV_NEED,     /* no complete frame left: need = its whole size once its header is in, else 0 */
	WSC_EV_MESSAGE,  /* binary, data[0..len) */
	WSC_EV_PING,     /* data[0..len): the payload to answer with a pong */
	WSC_EV_PONG,
	WSC_EV_CLOSE,    /* code (0: the peer gave none), reason in data[0..len) (valid UTF-8) */
	WSC_EV_ERROR,    /* close the connection with code */
};

struct wsc_event {
	enum wsc_event_kind kind;
	bool binary;
	uint16_t code;
	const uint8_t *data;
	size_t len;
	size_t need;
};

struct wsc_msg;

/* All zero is a decoder at the start of a stream. */
struct wsc_decoder {
	struct wsc_msg *msg;  /* the fragmented message being gathered, or the last one delivered */
};

/* Decodes from buf[0..len) (unmasking in place) up to the first event, which
 * goes to *out; returns the bytes consumed. */
size_t wsc_decode(struct wsc_decoder *d, uint8_t *buf, size_t len, const struct wsc_limits *lim,
		  struct wsc_event *out);

/* Frees the copy of a fragmented message already delivered, for a caller
 * that stops decoding for a while; the last event's data is then invalid. */
void wsc_decoder_trim(struct wsc_decoder *d);

/* Frees what the decoder holds; it is then at the start of a stream again. */
void wsc_decoder_free(struct wsc_decoder *d);

/* The header of a frame with a payload of len bytes: its size, and writes
 * it (FIN set, unmasked) to p, which has room for WSC_HEADER_MAX bytes. */
size_t wsc_header_len(size_t len);
size_t wsc_put_header(uint8_t *p, enum wsc_opcode op, size_t len);

/* Writes the payload of a close frame with code and reason[0..len) (cut to
 * WSC_REASON_MAX bytes) to p, which has room for WSC_CONTROL_MAX bytes;
 * code 0 makes an empty payload. Returns its size. */
size_t wsc_close_payload(uint8_t *p, uint16_t code, const char *reason, size_t len);

#endif
