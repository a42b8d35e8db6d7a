/* names: the text people choose for themselves (docs/protocol.md,
 * "Identifiers and limits"): display names and status lines, checked and
 * NFC-normalised, and the case-folded key that search and look-alike
 * checks compare. ICU does the Unicode. */
#ifndef STATEROOM_NAMES_H
#define STATEROOM_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_DISPLAY_MAX 64    /* code points, after NFC and trimming */
#define NAMES_STATUS_MAX 140
#define NAMES_QUERY_MAX 64      /* a search query */

/* Enough for NAMES_STATUS_MAX code points of 4 bytes and a NUL. */
#define NAMES_BUF (NAMES_STATUS_MAX * 4 + 1)
/* A key: case folding may triple a code point (U+FB03 → "ffi"). */
#define NAMES_KEY_BUF (NAMES_DISPLAY_MAX * 3 * 4 + 1)

enum names_result {
	NAMES_OK,
	NAMES_EMPTY,            /* nothing but white space, and that is not allowed */
	NAMES_TOO_LONG,
	NAMES_CONTROL,          /* a control character (Cc), U+2028 or U+2029 */
	NAMES_INVALID,          /* not UTF-8 */
	NAMES_NOMEM,
};

/* Checks s[0..len) (UTF-8, may hold NULs, which are control characters)
 * as a text of at most max code points once NFC-normalised and trimmed of
 * white space; empty only if allow_empty. On NAMES_OK writes the result and
 * its NUL into out[0..NAMES_BUF). max is at most NAMES_STATUS_MAX. */
enum names_result names_clean(const char *s, size_t len, unsigned max, bool allow_empty,
			      char out[NAMES_BUF]);

/* The key of a names_clean()ed text: its case folding (full, default),
 * NFC again, into out[0..NAMES_KEY_BUF). Returns 0, or -1 (no memory, too
 * long for a key). */
int names_key(const char *clean, char out[NAMES_KEY_BUF]);

/* Copies s into out, cut at a character boundary to at most max bytes
 * (out holds max + 1): for a name where a byte limit applies (a ticket's). */
void names_cut(const char *s, char *out, size_t max);

#endif
