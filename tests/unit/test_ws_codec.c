/* The RFC 6455 frame codec: scripted client byte sequences in, events out,
 * the same events however the bytes are split across reads. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ws_codec.h"

#define MAX 65536

/* ------------------------------------------------------------ client bytes */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_byte(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

enum len_form { MINIMAL, LEN16, LEN64 };

/* A client frame with first byte `first` (FIN, RSV, opcode) and len bytes
 * of payload, masked unless mask is false, its length in form. The mask key
 * changes with every frame so that each byte of it meets the unmasking's
 * word and tail loops. */
static void raw_frame(struct bytes *b, uint8_t first, bool mask, enum len_form form, const void *payload,
		      size_t len)
{
	static uint8_t turn;
	uint8_t key[4] = { 0x37, 0xfa, 0x21, (uint8_t)(0x3d + turn++) };
	uint8_t m = mask ? 0x80 : 0;

	put_byte(b, first);
	if (form == MINIMAL && len < 126) {
		put_byte(b, m | (uint8_t)len);
	} else if (form != LEN64 && len < 65536) {
		put_byte(b, m | 126);
		put_byte(b, (uint8_t)(len >> 8));
		put_byte(b, (uint8_t)len);
	} else {
		put_byte(b, m | 127);
		for (int i = 0; i < 8; i++)
			put_byte(b, (uint8_t)((uint64_t)len >> (56 - 8 * i)));
	}
	if (mask)
		put(b, key, 4);
	for (size_t i = 0; i < len; i++)
		put_byte(b, ((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0));
}

static void frame(struct bytes *b, bool fin, uint8_t op, const void *payload, size_t len)
{
	raw_frame(b, (fin ? 0x80 : 0) | op, true, MINIMAL, payload, len);
}

static void frame_str(struct bytes *b, bool fin, uint8_t op, const char *s)
{
	frame(b, fin, op, s, strlen(s));
}

static void close_frame(struct bytes *b, unsigned code, const void *reason, size_t len)
{
	uint8_t p[200] = { (uint8_t)(code >> 8), (uint8_t)code };

	memcpy(p + 2, reason, len);
	frame(b, true, WSC_OP_CLOSE, p, len + 2);
}

/* -------------------------------------------------------------- the runner */

/* Events as text: "text:hello", "ping:", "pong:", "close:CODE:REASON",
 * "error:CODE", and "rest:N" when N bytes of an unfinished frame are left.
 * A payload that is not short and printable shows as "x" and its hex when
 * short, "#LEN*HH" when it is LEN bytes HH, else "#LEN/HASH". */
struct trace {
	char s[4096];
	size_t n;
};

static void say(struct trace *t, const char *what)
{
	size_t n = strlen(what);

	if (t->n + n + 2 < sizeof(t->s)) {
		if (t->n)
			t->s[t->n++] = ' ';
		memcpy(t->s + t->n, what, n + 1);
		t->n += n;
	}
}

static void payload_text(const uint8_t *p, size_t len, char *out, size_t cap)
{
	bool plain = len < 64, same = len > 0;
	uint64_t h = 1469598103934665603u;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		plain = plain && p[i] >= 0x20 && p[i] < 0x7f;
		same = same && p[i] == p[0];
		h = (h ^ p[i]) * 1099511628211u;
	}
	if (plain) {
		snprintf(out, cap, "%.*s", (int)len, (const char *)p);
	} else if (len <= 16) {
		out[n++] = 'x';
		for (size_t i = 0; i < len; i++, n += 2)
			snprintf(out + n, cap - n, "%02x", p[i]);
		out[n] = 0;
	} else if (same) {
		snprintf(out, cap, "#%zu*%02x", len, p[0]);
	} else {
		snprintf(out, cap, "#%zu/%016llx", len, (unsigned long long)h);
	}
}

static void record(struct trace *t, const struct wsc_event *ev)
{
	char p[128], line[160];

	payload_text(ev->data, ev->len, p, sizeof(p));
	switch (ev->kind) {
	case WSC_EV_MESSAGE:
		snprintf(line, sizeof(line), "%s:%s", ev->binary ? "binary" : "text", p);
		break;
	case WSC_EV_PING:
		snprintf(line, sizeof(line), "ping:%s", p);
		break;
	case WSC_EV_PONG:
		snprintf(line, sizeof(line), "pong:%s", p);
		break;
	case WSC_EV_CLOSE:
		snprintf(line, sizeof(line), "close:%u:%s", ev->code, p);
		break;
	case WSC_EV_ERROR:
		snprintf(line, sizeof(line), "error:%u", ev->code);
		break;
	case WSC_EV_NEED:
		return;
	}
	say(t, line);
}

/* Feeds bytes[0..n) to a fresh decoder as a server reading a socket would:
 * in chunks ending at cuts[0..ncuts) and n, each read appended to the bytes
 * left over from before. Checks on the way that nothing is consumed beyond
 * the buffer, that NEED is honest and leaves the unfinished frame's bytes
 * as they came. */
static void run(const uint8_t *bytes, size_t n, const size_t *cuts, size_t ncuts, size_t max,
		struct trace *t)
{
	struct wsc_limits lim = { .max_message = max };
	struct wsc_decoder d = { 0 };
	uint8_t *pending = malloc(n ? n : 1);
	size_t plen = 0, fed = 0;
	bool over = false;

	t->n = 0;
	t->s[0] = 0;
	for (size_t c = 0; c <= ncuts && !over; c++) {
		size_t end = c < ncuts ? cuts[c] : n;

		memcpy(pending + plen, bytes + fed, end - fed);
		plen += end - fed;
		fed = end;
		while (!over) {
			struct wsc_event ev;
			size_t used = wsc_decode(&d, pending, plen, &lim, &ev);

			if (used > plen) {
				CHECK(used <= plen);
				over = true;
				break;
			}
			record(t, &ev);
			if (ev.kind == WSC_EV_NEED) {
				if (ev.need && ev.need <= plen - used)
					CHECK(ev.need > plen - used);
				if (memcmp(pending + used, bytes + fed - (plen - used), plen - used) != 0)
					CHECK(!"an unfinished frame's bytes were changed");
				if (used) {
					memmove(pending, pending + used, plen - used);
					plen -= used;
				}
				break;
			}
			over = ev.kind == WSC_EV_CLOSE || ev.kind == WSC_EV_ERROR;
			memmove(pending, pending + used, plen - used);
			plen -= used;
		}
	}
	if (!over && plen) {
		char rest[32];
		snprintf(rest, sizeof(rest), "rest:%zu", plen);
		say(t, rest);
	}
	wsc_decoder_free(&d);
	free(pending);
}

/* Decodes b whole and checks the events against want, then fed one byte
 * at a time and cut in two at every offset (three ways at every pair of
 * offsets when short): the same events each time. Empties b. */
static void expect_max(struct bytes *b, size_t max, const char *want)
{
	struct trace whole, t;
	size_t *cuts = malloc((b->n + 1) * sizeof(*cuts));

	run(b->p, b->n, NULL, 0, max, &whole);
	CHECK_EQ_STR(whole.s, want);
	for (size_t i = 0; i + 1 < b->n; i++)
		cuts[i] = i + 1;
	run(b->p, b->n, cuts, b->n ? b->n - 1 : 0, max, &t);
	CHECK_EQ_STR(t.s, want);
	for (size_t i = 1; i < b->n && b->n <= 4096; i++) {
		run(b->p, b->n, &i, 1, max, &t);
		if (!check_str_eq(t.s, want)) {
			fprintf(stderr, "cut at %zu of %zu:\n", i, b->n);
			CHECK_EQ_STR(t.s, want);
			break;
		}
	}
	for (size_t i = 1; i < b->n && b->n <= 300; i++) {
		for (size_t j = i + 1; j < b->n; j++) {
			size_t two[2] = { i, j };
			run(b->p, b->n, two, 2, max, &t);
			if (!check_str_eq(t.s, want)) {
				fprintf(stderr, "cut at %zu and %zu of %zu:\n", i, j, b->n);
				CHECK_EQ_STR(t.s, want);
				i = b->n;
				break;
			}
		}
	}
	free(cuts);
	free(b->p);
	*b = (struct bytes){ 0 };
}

static void expect(struct bytes *b, const char *want)
{
	expect_max(b, MAX, want);
}

/* ------------------------------------------------------------------- tests */

static void test_messages_in_one_frame(void)
{
	struct bytes b = { 0 };
	uint8_t bin[] = { 0, 1, 2, 0xff, 0xfe };

	frame_str(&b, true, WSC_OP_TEXT, "hello");
	expect(&b, "text:hello");
	frame(&b, true, WSC_OP_BINARY, bin, sizeof(bin));
	expect(&b, "binary:x000102fffe");
	frame(&b, true, WSC_OP_TEXT, "", 0);
	expect(&b, "text:");
	frame_str(&b, true, WSC_OP_TEXT, "\xf0\x9f\x98\x80 \xce\xba");
	expect(&b, "text:xf09f988020ceba");
}

/* Every length form at its edges, up to the limit. */
static void test_payload_lengths(void)
{
	static const size_t lens[] = { 125, 126, 127, 65535, 65536 };
	uint8_t *p = malloc(MAX);
	char want[64];
	struct trace t;

	memset(p, 'a', MAX);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct bytes b = { 0 };
		size_t cuts[] = { 1, 2, 3, 5, 9 };

		frame(&b, true, WSC_OP_TEXT, p, lens[i]);
		snprintf(want, sizeof(want), "text:#%zu*61", lens[i]);
		run(b.p, b.n, NULL, 0, MAX, &t);
		CHECK_EQ_STR(t.s, want);
		/* The header itself in pieces, then a piece of the payload. */
		cuts[4] = b.n - 1;
		run(b.p, b.n, cuts, 5, MAX, &t);
		CHECK_EQ_STR(t.s, want);
		if (lens[i] < 4096)
			expect(&b, want);
		else
			free(b.p);
	}
	free(p);
}

/* A message in one frame is handed out where it lies, unmasked in place. */
static void test_zero_copy(void)
{
	struct bytes b = { 0 };
	struct wsc_decoder d = { 0 };
	struct wsc_limits lim = { .max_message = MAX };
	struct wsc_event ev;
	size_t used;

	frame_str(&b, true, WSC_OP_TEXT, "in place");
	frame_str(&b, true, WSC_OP_PING, "p");
	used = wsc_decode(&d, b.p, b.n, &lim, &ev);
	CHECK_EQ_INT(ev.kind, WSC_EV_MESSAGE);
	CHECK_EQ_INT(used, 2 + 4 + 8);
	CHECK(ev.data == b.p + 6);
	CHECK_EQ_INT(ev.len, 8);
	CHECK(memcmp(b.p + 6, "in place", 8) == 0);
	used += wsc_decode(&d, b.p + used, b.n - used, &lim, &ev);
	CHECK_EQ_INT(ev.kind, WSC_EV_PING);
	CHECK(ev.data == b.p + used - 1);
	CHECK_EQ_INT(used, b.n);
	wsc_decode(&d, b.p + used, 0, &lim, &ev);
	CHECK_EQ_INT(ev.kind, WSC_EV_NEED);
	CHECK_EQ_INT(ev.need, 0);
	CHECK(d.msg == NULL);
	free(b.p);
}

/* An unfinished frame is left where it is; once its header is in, the
 * decoder says how big the whole frame is. */
static void test_need(void)
{
	struct bytes b = { 0 };
	struct wsc_decoder d = { 0 };
	struct wsc_limits lim = { .max_message = MAX };
	struct wsc_event ev;
	uint8_t p[300];

	memset(p, 'x', sizeof(p));
	frame_str(&b, true, WSC_OP_TEXT, "first");
	frame(&b, true, WSC_OP_TEXT, p, sizeof(p));
	CHECK_EQ_INT(wsc_decode(&d, b.p, 11, &lim, &ev), 11);
	CHECK_EQ_INT(ev.kind, WSC_EV_MESSAGE);
	for (size_t have = 0; have < 8; have++) {
		CHECK_EQ_INT(wsc_decode(&d, b.p + 11, have, &lim, &ev), 0);
		CHECK_EQ_INT(ev.kind, WSC_EV_NEED);
		CHECK_EQ_INT(ev.need, 0);
	}
	CHECK_EQ_INT(wsc_decode(&d, b.p + 11, 8, &lim, &ev), 0);
	CHECK_EQ_INT(ev.kind, WSC_EV_NEED);
	CHECK_EQ_INT(ev.need, 2 + 2 + 4 + 300);
	CHECK_EQ_INT(wsc_decode(&d, b.p + 11, b.n - 12, &lim, &ev), 0);
	CHECK_EQ_INT(ev.need, 308);
	CHECK_EQ_INT(wsc_decode(&d, b.p + 11, b.n - 11, &lim, &ev), 308);
	CHECK_EQ_INT(ev.kind, WSC_EV_MESSAGE);
	CHECK_EQ_INT(ev.len, 300);
	wsc_decoder_free(&d);
	free(b.p);
}

static void test_several_frames_in_one_buffer(void)
{
	struct bytes b = { 0 };

	frame_str(&b, true, WSC_OP_TEXT, "one");
	frame_str(&b, true, WSC_OP_PING, "are you there?");
	frame(&b, true, WSC_OP_BINARY, "\x00\x01", 2);
	frame_str(&b, true, WSC_OP_PONG, "hi");
	frame_str(&b, true, WSC_OP_TEXT, "two");
	frame_str(&b, true, WSC_OP_TEXT, "thr");
	expect(&b, "text:one ping:are you there? binary:x0001 pong:hi text:two text:thr");
	/* And an unfinished one behind them. */
	frame_str(&b, true, WSC_OP_TEXT, "one");
	put(&b, "\x81\x85\x01\x02", 4);
	expect(&b, "text:one rest:4");
}

static void test_fragmented_with_control_frames_between(void)
{
	struct bytes b = { 0 };

	frame_str(&b, false, WSC_OP_TEXT, "frag");
	frame_str(&b, true, WSC_OP_PING, "mid");
	frame_str(&b, false, WSC_OP_CONT, "men");
	frame_str(&b, true, WSC_OP_PONG, "");
	frame_str(&b, false, WSC_OP_CONT, "");
	frame_str(&b, true, WSC_OP_CONT, "ted");
	frame_str(&b, true, WSC_OP_TEXT, "after");
	frame(&b, false, WSC_OP_BINARY, "\x01", 1);
	frame(&b, true, WSC_OP_CONT, "\x02", 1);
	expect(&b, "ping:mid pong: text:fragmented text:after binary:x0102");
	/* A close inside a fragmented message ends it. */
	frame_str(&b, false, WSC_OP_TEXT, "frag");
	close_frame(&b, 1000, "bye", 3);
	expect(&b, "close:1000:bye");
}

/* A fragmented message is gathered, delivered from the decoder's buffer and
 * given back at the next call, or when the caller trims. */
static void test_fragmented_buffer_given_back(void)
{
	struct bytes b = { 0 };
	struct wsc_decoder d = { 0 };
	struct wsc_limits lim = { .max_message = MAX };
	struct wsc_event ev;
	size_t used;

	frame_str(&b, false, WSC_OP_TEXT, "ab");
	frame_str(&b, true, WSC_OP_CONT, "cd");
	used = wsc_decode(&d, b.p, b.n, &lim, &ev);
	CHECK_EQ_INT(used, b.n);
	CHECK_EQ_INT(ev.kind, WSC_EV_MESSAGE);
	CHECK(ev.len == 4 && memcmp(ev.data, "abcd", 4) == 0);
	CHECK(d.msg != NULL);
	wsc_decoder_trim(&d);
	CHECK(d.msg == NULL);
	/* Half a message is kept by trim. */
	used = wsc_decode(&d, b.p, 8, &lim, &ev);
	CHECK_EQ_INT(used, 8);
	CHECK_EQ_INT(ev.kind, WSC_EV_NEED);
	wsc_decoder_trim(&d);
	CHECK(d.msg != NULL);
	wsc_decoder_free(&d);
	CHECK(d.msg == NULL);
	free(b.p);
}

static void test_reserved_bits(void)
{
	struct bytes b = { 0 };

	for (uint8_t rsv = 1; rsv <= 7; rsv++) {
		raw_frame(&b, 0x80 | (uint8_t)(rsv << 4) | WSC_OP_TEXT, true, MINIMAL, "x", 1);
		expect(&b, "error:1002");
	}
	frame_str(&b, false, WSC_OP_TEXT, "a");
	raw_frame(&b, 0x80 | 0x40 | WSC_OP_CONT, true, MINIMAL, "b", 1);
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | 0x10 | WSC_OP_PING, true, MINIMAL, "", 0);
	expect(&b, "error:1002");
}

static void test_reserved_opcodes(void)
{
	struct bytes b = { 0 };

	for (uint8_t op = 3; op <= 0xf; op++) {
		if (op >= WSC_OP_CLOSE && op <= WSC_OP_PONG)
			continue;
		raw_frame(&b, 0x80 | op, true, MINIMAL, "x", 1);
		expect(&b, "error:1002");
	}
}

static void test_unmasked_frames(void)
{
	struct bytes b = { 0 };

	raw_frame(&b, 0x80 | WSC_OP_TEXT, false, MINIMAL, "hello", 5);
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | WSC_OP_PING, false, MINIMAL, "", 0);
	expect(&b, "error:1002");
	frame_str(&b, true, WSC_OP_TEXT, "ok");
	raw_frame(&b, 0x80 | WSC_OP_CLOSE, false, MINIMAL, "\x03\xe8", 2);
	expect(&b, "text:ok error:1002");
}

static void test_control_frames_fragmented_or_long(void)
{
	struct bytes b = { 0 };
	uint8_t p[126];
	uint8_t reason[124];

	memset(p, 'a', sizeof(p));
	memset(reason, 'r', sizeof(reason));
	frame_str(&b, false, WSC_OP_PING, "frag");
	expect(&b, "error:1002");
	frame_str(&b, false, WSC_OP_PONG, "frag");
	expect(&b, "error:1002");
	raw_frame(&b, WSC_OP_CLOSE, true, MINIMAL, "\x03\xe8", 2);
	expect(&b, "error:1002");
	frame(&b, true, WSC_OP_PING, p, 125);
	expect(&b, "ping:#125*61");
	frame(&b, true, WSC_OP_PING, p, 126);
	expect(&b, "error:1002");
	frame(&b, true, WSC_OP_PONG, p, 126);
	expect(&b, "error:1002");
	close_frame(&b, 1000, reason, 123);
	expect(&b, "close:1000:#123*72");
	close_frame(&b, 1000, reason, 124);
	expect(&b, "error:1002");
	/* Judged from the header: no payload needed. */
	raw_frame(&b, 0x80 | WSC_OP_PING, true, LEN16, p, 126);
	b.n = 8;
	expect(&b, "error:1002");
}

static void test_non_minimal_lengths(void)
{
	struct bytes b = { 0 };
	uint8_t *p = calloc(1, 65536);

	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, LEN16, "short", 5);
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, LEN16, p, 125);
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, LEN64, "short", 5);
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, LEN64, p, 65535);
	b.n = 14;  /* the header says it all */
	expect(&b, "error:1002");
	raw_frame(&b, 0x80 | WSC_OP_PING, true, LEN16, "", 0);
	expect(&b, "error:1002");
	/* The 64-bit form's top bit must be clear. */
	put(&b, "\x82\xff\x80\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04", 14);
	expect_max(&b, SIZE_MAX, "error:1002");
	/* The smallest lengths of each form are fine. */
	raw_frame(&b, 0x80 | WSC_OP_BINARY, true, LEN16, p, 126);
	raw_frame(&b, 0x80 | WSC_OP_BINARY, true, LEN64, p, 65536);
	expect_max(&b, 65536, "binary:#126*00 binary:#65536*00");
	free(p);
}

static void test_continuation_out_of_place(void)
{
	struct bytes b = { 0 };

	frame_str(&b, true, WSC_OP_CONT, "stray");
	expect(&b, "error:1002");
	frame_str(&b, false, WSC_OP_CONT, "stray");
	expect(&b, "error:1002");
	frame_str(&b, false, WSC_OP_TEXT, "a");
	frame_str(&b, true, WSC_OP_CONT, "b");
	frame_str(&b, true, WSC_OP_CONT, "c");
	expect(&b, "text:ab error:1002");
	frame_str(&b, false, WSC_OP_TEXT, "a");
	frame_str(&b, true, WSC_OP_TEXT, "inner");
	expect(&b, "error:1002");
	frame_str(&b, false, WSC_OP_TEXT, "a");
	frame_str(&b, false, WSC_OP_BINARY, "inner");
	expect(&b, "error:1002");
	frame_str(&b, false, WSC_OP_BINARY, "a");
	frame_str(&b, true, WSC_OP_CONT, "b");
	frame_str(&b, false, WSC_OP_TEXT, "c");
	frame_str(&b, true, WSC_OP_CONT, "d");
	expect(&b, "binary:ab text:cd");
}

static void test_close_frames(void)
{
	static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999 };
	struct bytes b = { 0 };
	char want[32];

	frame(&b, true, WSC_OP_CLOSE, "", 0);
	expect(&b, "close:0:");
	frame(&b, true, WSC_OP_CLOSE, "\x03", 1);
	expect(&b, "error:1002");
	close_frame(&b, 1000, "bye now", 7);
	frame_str(&b, true, WSC_OP_TEXT, "after");
	expect(&b, "close:1000:bye now");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		close_frame(&b, bad[i], "", 0);
		expect(&b, "error:1002");
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		close_frame(&b, good[i], "", 0);
		snprintf(want, sizeof(want), "close:%u:", good[i]);
		expect(&b, want);
	}
	close_frame(&b, 1000, "a\xff" "b", 3);
	expect(&b, "error:1007");
	close_frame(&b, 1000, "\xce\xba", 2);
	expect(&b, "close:1000:xceba");
	close_frame(&b, 1000, "\xce", 1);
	expect(&b, "error:1007");
}

static void test_invalid_utf8(void)
{
	static const char *bad[] = {
		"a\x80" "b",             /* a lone continuation byte */
		"a\xc0\xaf" "b",         /* overlong */
		"a\xed\xa0\x80" "b",     /* a UTF-16 surrogate */
		"a\xf4\x90\x80\x80" "b", /* over U+10FFFF */
		"a\xe2\x82",             /* truncated */
		"\xff",
	};
	struct bytes b = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		frame_str(&b, true, WSC_OP_TEXT, bad[i]);
		expect(&b, "error:1007");
	}
	/* Binary messages are not text. */
	frame_str(&b, true, WSC_OP_BINARY, "\xff");
	expect(&b, "binary:xff");
	/* Split across fragments: F0 9F begins a valid sequence, 28 breaks it. */
	frame_str(&b, false, WSC_OP_TEXT, "a\xf0\x9f");
	frame_str(&b, true, WSC_OP_CONT, "\x28\x41");
	expect(&b, "error:1007");
	/* A valid character split across fragments, and one cut short. */
	frame_str(&b, false, WSC_OP_TEXT, "a\xf0\x9f");
	frame_str(&b, false, WSC_OP_CONT, "\x98");
	frame_str(&b, true, WSC_OP_CONT, "\x80z");
	expect(&b, "text:x61f09f98807a");
	frame_str(&b, false, WSC_OP_TEXT, "a\xf0\x9f");
	frame_str(&b, true, WSC_OP_CONT, "\x98");
	expect(&b, "error:1007");
}

/* Judged from the header, before any of the payload has come. */
static void test_message_over_the_limit(void)
{
	struct bytes b = { 0 };
	uint8_t *p = calloc(1, 70000);

	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, MINIMAL, p, 1001);
	b.n = 8;
	expect_max(&b, 1000, "error:1009");
	raw_frame(&b, 0x80 | WSC_OP_BINARY, true, MINIMAL, p, 1000);
	expect_max(&b, 1000, "binary:#1000*00");
	raw_frame(&b, 0x80 | WSC_OP_TEXT, true, LEN64, p, 65537);
	b.n = 14;
	expect(&b, "error:1009");
	put(&b, "\x81\xff\x00\x00\x01\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);  /* 1 TiB */
	expect(&b, "error:1009");
	/* All fragments together. */
	frame(&b, false, WSC_OP_TEXT, p, 600);
	frame(&b, true, WSC_OP_CONT, p, 401);
	b.n -= 401;
	expect_max(&b, 1000, "error:1009");
	frame(&b, false, WSC_OP_TEXT, p, 600);
	frame(&b, false, WSC_OP_CONT, p, 0);
	frame(&b, true, WSC_OP_CONT, p, 400);
	expect_max(&b, 1000, "text:#1000*00");
	/* Control frames do not count. */
	frame(&b, false, WSC_OP_TEXT, p, 1000);
	frame(&b, true, WSC_OP_PING, p, 100);
	frame(&b, true, WSC_OP_CONT, p, 0);
	expect_max(&b, 1000, "ping:#100*00 text:#1000*00");
	free(p);
}

static void test_encoding(void)
{
	uint8_t h[WSC_HEADER_MAX], p[WSC_CONTROL_MAX];
	char reason[200];

	CHECK_EQ_INT(wsc_header_len(0), 2);
	CHECK_EQ_INT(wsc_put_header(h, WSC_OP_PING, 0), 2);
	CHECK(memcmp(h, "\x89\x00", 2) == 0);
	CHECK_EQ_INT(wsc_header_len(125), 2);
	CHECK_EQ_INT(wsc_put_header(h, WSC_OP_TEXT, 125), 2);
	CHECK(memcmp(h, "\x81\x7d", 2) == 0);
	CHECK_EQ_INT(wsc_header_len(126), 4);
	CHECK_EQ_INT(wsc_put_header(h, WSC_OP_PONG, 126), 4);
	CHECK(memcmp(h, "\x8a\x7e\x00\x7e", 4) == 0);
	CHECK_EQ_INT(wsc_header_len(65535), 4);
	CHECK_EQ_INT(wsc_put_header(h, WSC_OP_TEXT, 65535), 4);
	CHECK(memcmp(h, "\x81\x7e\xff\xff", 4) == 0);
	CHECK_EQ_INT(wsc_header_len(65536), 10);
	CHECK_EQ_INT(wsc_put_header(h, WSC_OP_CLOSE, 65536), 10);
	CHECK(memcmp(h, "\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);

	CHECK_EQ_INT(wsc_close_payload(p, 0, "ignored", 7), 0);
	CHECK_EQ_INT(wsc_close_payload(p, 1008, "too slow", 8), 10);
	CHECK(memcmp(p, "\x03\xf0too slow", 10) == 0);
	CHECK_EQ_INT(wsc_close_payload(p, 1002, NULL, 0), 2);
	CHECK(memcmp(p, "\x03\xea", 2) == 0);
	memset(reason, 'r', sizeof(reason));
	CHECK_EQ_INT(wsc_close_payload(p, 4000, reason, sizeof(reason)), WSC_CONTROL_MAX);
	CHECK_EQ_INT(p[WSC_CONTROL_MAX - 1], 'r');
}

int main(void)
{
	test_messages_in_one_frame();
	test_payload_lengths();
	test_zero_copy();
	test_need();
	test_several_frames_in_one_buffer();
	test_fragmented_with_control_frames_between();
	test_fragmented_buffer_given_back();
	test_reserved_bits();
	test_reserved_opcodes();
	test_unmasked_frames();
	test_control_frames_fragmented_or_long();
	test_non_minimal_lengths();
	test_continuation_out_of_place();
	test_close_frames();
	test_invalid_utf8();
	test_message_over_the_limit();
	test_encoding();
	return check_done();
}
