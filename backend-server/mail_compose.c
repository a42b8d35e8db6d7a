/* mail_compose: see mail_compose.h. Everything is written through a small
 * growing buffer; the only text copied verbatim into a header is what the
 * checks above allow (addresses, the message id, the URL), so a header ends
 * only where this file ends it. */
#include "mail_compose.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAIL_QP_LINE 76              /* RFC 2045: encoded lines at most */
#define MAIL_EW_BYTES 39             /* input bytes per encoded word: 64 characters,
                                      * so "Subject: " and one fit in 76 */

struct mail_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void mail_put(struct mail_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mail_puts(struct mail_buf *b, const char *s)
{
	mail_put(b, s, strlen(s));
}

static bool mail_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static bool mail_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool mail_address_ok(const char *s)
{
	const char *at, *p;
	size_t len;

	if (!s || (len = strlen(s)) < 3 || len > MAIL_ADDRESS_MAX || !(at = strrchr(s, '@')))
		return false;
	if (at == s || at - s > 64 || s[0] == '.' || at[-1] == '.')
		return false;
	for (p = s; p < at; p++)
		if (!(mail_atext((unsigned char)*p) || (*p == '.' && p[1] != '.')))
			return false;
	/* The domain: labels of 1 to 63, no '-' at either end. */
	for (p = at + 1;;) {
		const char *start = p;

		while (mail_label_char((unsigned char)*p))
			p++;
		if (p == start || p - start > 63 || *start == '-' || p[-1] == '-')
			return false;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

static bool mail_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > 64)
		return false;
	for (; *s; s++)
		if (!mail_label_char((unsigned char)*s) && *s != '.' && *s != '_')
			return false;
	return true;
}

static bool mail_url_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > MAIL_URL_MAX || !((n > 7 && strncmp(s, "http://", 7) == 0) ||
				  (n > 8 && strncmp(s, "https://", 8) == 0)))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '<' || *s == '>')
			return false;
	return true;
}

/* The length of the UTF-8 sequence starting at s (1 for a stray byte), so
 * that an encoded word never splits a character. */
static size_t mail_utf8_len(const unsigned char *s, size_t left)
{
	size_t n = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : (*s >> 3) == 30 ? 4 : 1;

	if (n > left)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

static void mail_base64(struct mail_buf *b, const unsigned char *s, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);

		q[0] = t[v >> 18 & 63];
		q[1] = t[v >> 12 & 63];
		q[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? t[v & 63] : '=';
		mail_put(b, q, 4);
	}
}

/* Header text s (at most max bytes of it, cut between characters), control
 * characters as spaces: as it is when it is printable ASCII that cannot be
 * mistaken for an encoded word (and encode is false), else as RFC 2047 "B"
 * encoded words, one per folded line. */
static void mail_header_text(struct mail_buf *b, const char *s, size_t max, bool encode)
{
	unsigned char clean[MAIL_SUBJECT_MAX];
	size_t n = 0;
	bool plain = !encode;

	if (max > sizeof clean)
		max = sizeof clean;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t k = mail_utf8_len(p, strlen((const char *)p));

		if (n + k > max)
			break;
		for (size_t i = 0; i < k; i++)
			clean[n + i] = k == 1 && (p[0] < 0x20 || p[0] == 0x7f) ? ' ' : p[i];
		if (k > 1 || p[0] >= 0x80)
			plain = false;
		n += k;
		p += k;
	}
	if (plain && !memmem(clean, n, "=?", 2)) {
		mail_put(b, (const char *)clean, n);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t w = 0;

		while (i + w < n) {
			size_t k = mail_utf8_len(clean + i + w, n - i - w);

			if (w + k > MAIL_EW_BYTES)
				break;
			w += k;
		}
		if (i)
			mail_puts(b, "\r\n ");
		mail_puts(b, "=?UTF-8?B?");
		mail_base64(b, clean + i, w);
		mail_puts(b, "?=");
		i += w;
	}
}

/* The body as quoted-printable: line ends (LF, CRLF or CR) become CRLF;
 * '=', bytes outside printable ASCII, a space or tab before a line end and
 * a '.' that starts a line are =XX; soft breaks keep lines at most 76. */
static void mail_qp(struct mail_buf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char enc[3];
		size_t n;
		bool eol_next = p[1] == '\0' || p[1] == '\n' || p[1] == '\r';

		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			mail_puts(b, "\r\n");
			col = 0;
			continue;
		}
		if ((*p >= 33 && *p <= 126 && *p != '=' && !(*p == '.' && col == 0)) ||
		    ((*p == ' ' || *p == '\t') && !eol_next)) {
			enc[0] = (char)*p;
			n = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			n = 3;
		}
		/* Room for the soft break's '=' unless the line ends right here. */
		if (col + n > MAIL_QP_LINE - (eol_next ? 0 : 1)) {
			mail_puts(b, "=\r\n");
			col = 0;
			if (enc[0] == '.') {
				enc[0] = '=';
				enc[1] = '2';
				enc[2] = 'E';
				n = 3;
			}
		}
		mail_put(b, enc, n);
		col += n;
	}
	if (col)
		mail_puts(b, "\r\n");
}

int mail_compose(const struct mail_parts *p, char **out, size_t *len)
{
	struct mail_buf b = { 0 };
	char date[64];
	time_t t = (time_t)p->date;
	struct tm tm;

	if (!mail_address_ok(p->from) || !mail_address_ok(p->to) || !mail_id_ok(p->message_id) ||
	    (p->unsubscribe_url && !mail_url_ok(p->unsubscribe_url)) || !gmtime_r(&t, &tm))
		return -EINVAL;
	/* RFC 5322 3.3, in English whatever the locale. */
	snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 (const char *[]){ "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }[tm.tm_wday],
		 tm.tm_mday,
		 (const char *[]){ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
				   "Oct", "Nov", "Dec" }[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	mail_puts(&b, "Date: ");
	mail_puts(&b, date);
	mail_puts(&b, "\r\nFrom: ");
	if (p->from_name && *p->from_name) {
		/* Always encoded words: a phrase has quoting rules of its own. */
		mail_header_text(&b, p->from_name, 64, true);
		mail_puts(&b, " ");
	}
	mail_puts(&b, "<");
	mail_puts(&b, p->from);
	mail_puts(&b, ">\r\nTo: <");
	mail_puts(&b, p->to);
	mail_puts(&b, ">\r\nSubject: ");
	mail_header_text(&b, p->subject ? p->subject : "", MAIL_SUBJECT_MAX, false);
	mail_puts(&b, "\r\nMessage-ID: <");
	mail_puts(&b, p->message_id);
	mail_puts(&b, strrchr(p->from, '@'));
	mail_puts(&b, ">\r\nMIME-Version: 1.0\r\n"
		  "Content-Type: text/plain; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n"
		  "Auto-Submitted: auto-generated\r\n");
	if (p->unsubscribe_url) {
		mail_puts(&b, "List-Unsubscribe: <");
		mail_puts(&b, p->unsubscribe_url);
		mail_puts(&b, ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	}
	mail_puts(&b, "\r\n");
	mail_qp(&b, p->text ? p->text : "");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
