#include "base64.h"

#include <errno.h>
#include <stdint.h>

static const char b64_url_alpha[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_std_alpha[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes the whole groups and the tail; returns the characters written
 * before any padding. */
static size_t b64_encode(char *dst, const unsigned char *s, size_t n, const char *alpha, int pad)
{
	char *d = dst;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*d++ = alpha[v >> 18];
		*d++ = alpha[(v >> 12) & 63];
		*d++ = alpha[(v >> 6) & 63];
		*d++ = alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*d++ = alpha[v >> 18];
		*d++ = alpha[(v >> 12) & 63];
		if (pad) {
			*d++ = '=';
			*d++ = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*d++ = alpha[v >> 18];
		*d++ = alpha[(v >> 12) & 63];
		*d++ = alpha[(v >> 6) & 63];
		if (pad)
			*d++ = '=';
	}
	*d = '\0';
	return (size_t)(d - dst);
}

size_t b64_url_encode(char *dst, const void *src, size_t n)
{
	return b64_encode(dst, src, n, b64_url_alpha, 0);
}

size_t b64_std_encode(char *dst, const void *src, size_t n)
{
	return b64_encode(dst, src, n, b64_std_alpha, 1);
}

/* Value of c in the alphabet, or -1. */
static int b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decodes unpadded input of any length except 1 mod 4. */
static ssize_t b64_decode(unsigned char *dst, const char *src, size_t n, int url)
{
	unsigned char *d = dst;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (n % 4 == 1)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)src[i], url);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*d++ = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, or two encodings would decode alike. */
	if (acc != 0)
		return -EINVAL;
	return d - dst;
}

ssize_t b64_url_decode(void *dst, const char *src, size_t n)
{
	return b64_decode(dst, src, n, 1);
}

ssize_t b64_std_decode(void *dst, const char *src, size_t n)
{
	size_t pad = 0;

	if (n % 4 != 0)
		return -EINVAL;
	if (n >= 1 && src[n - 1] == '=')
		pad++;
	if (n >= 2 && src[n - 2] == '=')
		pad++;
	return b64_decode(dst, src, n - pad, 0);
}
