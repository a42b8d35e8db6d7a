/* base64: RFC 4648 encodings.
 *
 * b64_url_*: the URL and filename safe alphabet without padding, as JWT
 * uses it. b64_std_*: the standard alphabet with '=' padding, as the
 * WebSocket handshake uses it.
 *
 * Decoding is strict: a character outside the alphabet, a length no
 * encoding can have, padding where there should be none (or missing where
 * it is required) and non-zero unused trailing bits are all rejected, so
 * every accepted input has exactly one decoding and one encoding. */
#ifndef STATEROOM_BASE64_H
#define STATEROOM_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* Encoded lengths of n bytes, without the terminating NUL. */
#define B64_URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
#define B64_STD_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Largest decoded length of n encoded characters (either alphabet). */
#define B64_DECODED_MAX(n) (((n) / 4) * 3 + ((n) % 4) * 3 / 4)

/* Encode src[0..n) into dst, which must hold B64_*_ENCODED_LEN(n) + 1
 * bytes; dst is NUL-terminated. Return the encoded length. */
size_t b64_url_encode(char *dst, const void *src, size_t n);
size_t b64_std_encode(char *dst, const void *src, size_t n);

/* Decode src[0..n) into dst, which must hold B64_DECODED_MAX(n) bytes.
 * Return the decoded length, or -EINVAL for input that is not the strict
 * encoding of anything (dst may then hold garbage). */
ssize_t b64_url_decode(void *dst, const char *src, size_t n);
ssize_t b64_std_decode(void *dst, const char *src, size_t n);

#endif
