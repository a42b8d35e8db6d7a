#include "sniff.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *mime;
	const char *exts;       /* space-separated, lower case */
	bool image;
} sniff_types[SNIFF_N_TYPES] = {
	[SNIFF_TEXT] = { "text/plain", "txt text log md csv", false },
	[SNIFF_PNG] = { "image/png", "png", true },
	[SNIFF_JPEG] = { "image/jpeg", "jpg jpeg jpe jfif", true },
	[SNIFF_WEBP] = { "image/webp", "webp", true },
	[SNIFF_GIF] = { "image/gif", "gif", true },
	[SNIFF_PDF] = { "application/pdf", "pdf", false },
};

const char *sniff_mime(enum sniff_type t)
{
	return t >= 0 && t < SNIFF_N_TYPES ? sniff_types[t].mime : "application/octet-stream";
}

bool sniff_is_image(enum sniff_type t)
{
	return t >= 0 && t < SNIFF_N_TYPES && sniff_types[t].image;
}

enum sniff_type sniff_from_mime(const char *mime, size_t len)
{
	while (len && (*mime == ' ' || *mime == '\t')) {
		mime++;
		len--;
	}
	for (size_t i = 0; i < len; i++)
		if (mime[i] == ';' || mime[i] == ' ' || mime[i] == '\t') {
			len = i;
			break;
		}
	for (int t = 0; t < SNIFF_N_TYPES; t++)
		if (strlen(sniff_types[t].mime) == len && strncasecmp(sniff_types[t].mime, mime, len) == 0)
			return (enum sniff_type)t;
	return SNIFF_NONE;
}

int sniff_parse_list(const char *list, unsigned *out)
{
	unsigned set = 0;
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		enum sniff_type t;

		while (len && p[len - 1] == ' ')
			len--;
		t = sniff_from_mime(p, len);
		if (t == SNIFF_NONE)
			return -1;
		set |= 1u << t;
		p = end ? end + 1 : NULL;
	}
	if (!set)
		return -1;
	*out = set;
	return 0;
}

void sniff_text_feed(struct sniff_text *s, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len && !s->bad; i++) {
		unsigned char b = p[i];

		if (s->need) {
			if ((b & 0xc0) != 0x80) {
				s->bad = true;
				break;
			}
			s->cp = s->cp << 6 | (b & 0x3f);
			if (--s->need == 0 && (s->cp < s->min || s->cp > 0x10ffff ||
					       (s->cp >= 0xd800 && s->cp <= 0xdfff) ||
					       (s->cp >= 0x80 && s->cp <= 0x9f)))
				s->bad = true;
			continue;
		}
		if (b < 0x80) {
			if ((b < 0x20 && b != '\t' && b != '\n' && b != '\f' && b != '\r') || b == 0x7f)
				s->bad = true;
		} else if ((b & 0xe0) == 0xc0) {
			s->need = 1, s->cp = b & 0x1f, s->min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			s->need = 2, s->cp = b & 0x0f, s->min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			s->need = 3, s->cp = b & 0x07, s->min = 0x10000;
		} else {
			s->bad = true;
		}
	}
}

bool sniff_text_ok(const struct sniff_text *s)
{
	return !s->bad && s->need == 0;
}

enum sniff_type sniff_type(const unsigned char *h, size_t n, const struct sniff_text *text)
{
	if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
		return SNIFF_PNG;
	if (n >= 3 && memcmp(h, "\xff\xd8\xff", 3) == 0)
		return SNIFF_JPEG;
	if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
		return SNIFF_WEBP;
	if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
		return SNIFF_GIF;
	if (n >= 5 && memcmp(h, "%PDF-", 5) == 0)
		return SNIFF_PDF;
	/* An empty file is empty text. */
	if (sniff_text_ok(text))
		return SNIFF_TEXT;
	return SNIFF_NONE;
}

int sniff_dims(const unsigned char *p, size_t n, enum sniff_type t, uint64_t *w, uint64_t *h)
{
	if (t == SNIFF_PNG && n >= 24 && memcmp(p + 12, "IHDR", 4) == 0) {
		*w = (uint64_t)p[16] << 24 | (uint64_t)p[17] << 16 | (uint64_t)p[18] << 8 | p[19];
		*h = (uint64_t)p[20] << 24 | (uint64_t)p[21] << 16 | (uint64_t)p[22] << 8 | p[23];
		return 0;
	}
	if (t == SNIFF_GIF && n >= 10) {
		*w = (uint64_t)p[6] | (uint64_t)p[7] << 8;
		*h = (uint64_t)p[8] | (uint64_t)p[9] << 8;
		return 0;
	}
	return -1;
}

bool sniff_ext_ok(const char *name, enum sniff_type t)
{
	const char *dot = strrchr(name, '.'), *p;
	size_t len;

	if (!dot)
		return true;
	dot++;
	len = strlen(dot);
	if (t < 0 || t >= SNIFF_N_TYPES || len == 0)
		return false;
	for (p = sniff_types[t].exts; *p;) {
		size_t el = strcspn(p, " ");

		if (el == len && strncasecmp(p, dot, len) == 0)
			return true;
		p += el;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* The code point at s (UTF-8, checked), its length in *n; -1 if invalid. */
static long sniff_utf8(const unsigned char *s, int *n)
{
	struct sniff_text t = { 0 };
	int len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
		: (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (!len)
		return -1;
	for (int i = 1; i < len; i++)
		if (!s[i])
			return -1;
	/* The validator refuses controls as text content; names drop them
	 * instead, so decode them here. */
	if (len == 1) {
		*n = 1;
		return s[0];
	}
	sniff_text_feed(&t, s, (size_t)len);
	if (t.need)
		return -1;
	*n = len;
	if (t.bad) {
		/* C1 controls are well-formed UTF-8: dropped by the caller. */
		return t.cp >= 0x80 && t.cp <= 0x9f ? (long)t.cp : -1;
	}
	return (long)t.cp;
}

int sniff_name(const char *in, char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	const char *base = in;
	size_t n = 0;
	int len;
	long cp;

	for (const char *p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	/* The whole name must be UTF-8, the part dropped included. */
	while (*s) {
		if (sniff_utf8(s, &len) < 0)
			return -1;
		s += len;
	}
	for (s = (const unsigned char *)base; *s; s += len) {
		cp = sniff_utf8(s, &len);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
		    cp == 0x200f)
			continue;
		if (n == 0 && (cp == '.' || cp == ' '))
			continue;
		memcpy(out + n, s, (size_t)len);
		n += (size_t)len;
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n ? (int)n : -1;
}

int sniff_disposition(const char *name, bool inline_, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n;
	int w;

	w = snprintf(out, out_len, "%s; filename=\"", inline_ ? "inline" : "attachment");
	if (w < 0 || (size_t)w >= out_len)
		return -1;
	n = (size_t)w;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (n + 1 >= out_len)
			return -1;
		out[n++] = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '%' ? (char)*p : '_';
	}
	w = snprintf(out + n, out_len - n, "\"; filename*=UTF-8''");
	if (w < 0 || (size_t)w >= out_len - n)
		return -1;
	n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		/* RFC 5987's attr-char, the rest percent-encoded. */
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("!#$&+-.^_`|~", *p)) {
			if (n + 1 >= out_len)
				return -1;
			out[n++] = (char)*p;
		} else {
			if (n + 3 >= out_len)
				return -1;
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return (int)n;
}
