/* names: see names.h. Everything in UTF-16 on the stack: ICU's own form,
 * and the texts are short. */
#include "names.h"

#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

/* The most UTF-16 units an input may have: a name written fully decomposed
 * (a base and a few marks per character) still fits, a flood does not. */
#define NAMES_IN_UNITS (NAMES_STATUS_MAX * 8)

/* Normalises src[0..n) to NFC into dst. Returns the length, or -1. */
static int32_t names_nfc(const UChar *src, int32_t n, UChar *dst, int32_t cap)
{
	UErrorCode err = U_ZERO_ERROR;
	const UNormalizer2 *nfc = unorm2_getNFCInstance(&err);
	int32_t len;

	if (U_FAILURE(err))
		return -1;
	len = unorm2_normalize(nfc, src, n, dst, cap, &err);
	return U_FAILURE(err) || len >= cap ? -1 : len;
}

enum names_result names_clean(const char *s, size_t len, unsigned max, bool allow_empty,
			      char out[NAMES_BUF])
{
	UChar in[NAMES_IN_UNITS], nfc[NAMES_IN_UNITS];
	UErrorCode err = U_ZERO_ERROR;
	int32_t n, start, end, i;

	if (len > NAMES_IN_UNITS * 3)   /* a UTF-16 unit is at most 3 bytes of UTF-8 */
		return NAMES_TOO_LONG;
	u_strFromUTF8(in, NAMES_IN_UNITS, &n, s, (int32_t)len, &err);
	if (err == U_BUFFER_OVERFLOW_ERROR || err == U_STRING_NOT_TERMINATED_WARNING)
		return NAMES_TOO_LONG;
	if (U_FAILURE(err))
		return NAMES_INVALID;
	n = names_nfc(in, n, nfc, NAMES_IN_UNITS);
	if (n < 0)
		return NAMES_TOO_LONG;  /* NFC grew it past the buffer */

	for (i = 0; i < n;) {
		UChar32 c;

		U16_NEXT(nfc, i, n, c);
		if (u_charType(c) == U_CONTROL_CHAR || c == 0x2028 || c == 0x2029)
			return NAMES_CONTROL;
	}
	for (start = 0; start < n;) {
		UChar32 c;
		int32_t next = start;

		U16_NEXT(nfc, next, n, c);
		if (!u_isUWhiteSpace(c))
			break;
		start = next;
	}
	for (end = n; end > start;) {
		UChar32 c;
		int32_t prev = end;

		U16_PREV(nfc, start, prev, c);
		if (!u_isUWhiteSpace(c))
			break;
		end = prev;
	}
	if (end == start && !allow_empty)
		return NAMES_EMPTY;
	if (u_countChar32(nfc + start, end - start) > (int32_t)max)
		return NAMES_TOO_LONG;
	u_strToUTF8(out, NAMES_BUF, NULL, nfc + start, end - start, &err);
	if (U_FAILURE(err) || err == U_STRING_NOT_TERMINATED_WARNING)
		return NAMES_TOO_LONG;
	return NAMES_OK;
}

int names_key(const char *clean, char out[NAMES_KEY_BUF])
{
	UChar in[NAMES_KEY_BUF], folded[NAMES_KEY_BUF], nfc[NAMES_KEY_BUF];
	UErrorCode err = U_ZERO_ERROR;
	int32_t n;

	u_strFromUTF8(in, NAMES_KEY_BUF, &n, clean, -1, &err);
	if (U_FAILURE(err) || n >= NAMES_KEY_BUF)
		return -1;
	n = u_strFoldCase(folded, NAMES_KEY_BUF, in, n, U_FOLD_CASE_DEFAULT, &err);
	if (U_FAILURE(err) || n >= NAMES_KEY_BUF)
		return -1;
	/* Folding can undo composition (U+1E9E → "ss" is fine, but a folded
	 * capital with a mark may come out decomposed): one form per key. */
	n = names_nfc(folded, n, nfc, NAMES_KEY_BUF);
	if (n < 0)
		return -1;
	u_strToUTF8(out, NAMES_KEY_BUF, NULL, nfc, n, &err);
	return U_FAILURE(err) || err == U_STRING_NOT_TERMINATED_WARNING ? -1 : 0;
}

void names_cut(const char *s, char *out, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;    /* s[n], the first byte left out, continues a character */
	}
	memcpy(out, s, n);
	out[n] = '\0';
}
