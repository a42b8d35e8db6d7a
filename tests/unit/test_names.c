/* names: display names and status lines (NFC, limits, control
 * characters) and their case-folded keys. */
#include <string.h>

#include "check.h"
#include "names.h"

static enum names_result clean(const char *s, unsigned max, bool allow_empty, char out[NAMES_BUF])
{
	return names_clean(s, strlen(s), max, allow_empty, out);
}

static void test_nfc(void)
{
	char a[NAMES_BUF], b[NAMES_BUF], ka[NAMES_KEY_BUF], kb[NAMES_KEY_BUF];

	/* é precomposed (U+00E9) and decomposed (e, U+0301): one form, one key */
	CHECK_EQ_INT(clean("Ren\xc3\xa9", NAMES_DISPLAY_MAX, false, a), NAMES_OK);
	CHECK_EQ_INT(clean("Rene\xcc\x81", NAMES_DISPLAY_MAX, false, b), NAMES_OK);
	CHECK_EQ_STR(a, "Ren\xc3\xa9");
	CHECK_EQ_STR(b, "Ren\xc3\xa9");
	CHECK_EQ_INT(names_key(a, ka), 0);
	CHECK_EQ_INT(names_key(b, kb), 0);
	CHECK_EQ_STR(ka, "ren\xc3\xa9");
	CHECK_EQ_STR(kb, ka);
	/* a decomposed name longer in bytes than the limit allows, within it once composed */
	{
		char big[64 * 3 + 1] = "";

		for (int i = 0; i < 64; i++)
			strcat(big, "e\xcc\x81");
		CHECK_EQ_INT(clean(big, NAMES_DISPLAY_MAX, false, a), NAMES_OK);
		CHECK_EQ_INT((int)strlen(a), 64 * 2);
	}
}

static void test_case(void)
{
	char a[NAMES_BUF], b[NAMES_BUF], ka[NAMES_KEY_BUF], kb[NAMES_KEY_BUF];

	CHECK_EQ_INT(clean("ALICE", NAMES_DISPLAY_MAX, false, a), NAMES_OK);
	CHECK_EQ_INT(clean("alice", NAMES_DISPLAY_MAX, false, b), NAMES_OK);
	CHECK_EQ_STR(a, "ALICE");       /* the name keeps its case; the key does not */
	CHECK_EQ_INT(names_key(a, ka), 0);
	CHECK_EQ_INT(names_key(b, kb), 0);
	CHECK_EQ_STR(ka, "alice");
	CHECK_EQ_STR(kb, "alice");
	/* full folding: Straße and STRASSE, ΣΊΣΥΦΟΣ and σίσυφος */
	CHECK_EQ_INT(names_key("Stra\xc3\x9f" "e", ka), 0);
	CHECK_EQ_INT(names_key("STRASSE", kb), 0);
	CHECK_EQ_STR(ka, kb);
	CHECK_EQ_INT(names_key("\xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3", ka), 0);
	CHECK_EQ_INT(names_key("\xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x82", kb), 0);
	CHECK_EQ_STR(ka, kb);
}

static void test_refused(void)
{
	char out[NAMES_BUF];

	CHECK_EQ_INT(clean("al\tice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(clean("al\nice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(clean("al\x7fice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(clean("al\xc2\x85ice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL); /* U+0085 */
	CHECK_EQ_INT(clean("al\xe2\x80\xa8ice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(clean("al\xe2\x80\xa9ice", NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(names_clean("al\0ce", 5, NAMES_DISPLAY_MAX, false, out), NAMES_CONTROL);
	CHECK_EQ_INT(clean("\xff" "abc", NAMES_DISPLAY_MAX, false, out), NAMES_INVALID);
	CHECK_EQ_INT(clean("", NAMES_DISPLAY_MAX, false, out), NAMES_EMPTY);
	CHECK_EQ_INT(clean(" \xe3\x80\x80 \xc2\xa0", NAMES_DISPLAY_MAX, false, out), NAMES_EMPTY);
	CHECK_EQ_INT(clean("   ", NAMES_STATUS_MAX, true, out), NAMES_OK);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(clean("  Alice Smith \xe3\x80\x80", NAMES_DISPLAY_MAX, false, out), NAMES_OK);
	CHECK_EQ_STR(out, "Alice Smith");
}

static void test_lengths(void)
{
	char s[2048], out[NAMES_BUF];

	memset(s, 'a', 64);
	s[64] = '\0';
	CHECK_EQ_INT(clean(s, NAMES_DISPLAY_MAX, false, out), NAMES_OK);
	s[64] = 'a';
	s[65] = '\0';
	CHECK_EQ_INT(clean(s, NAMES_DISPLAY_MAX, false, out), NAMES_TOO_LONG);
	/* 64 of a 4-byte script (U+1F600, outside the BMP: two UTF-16 units) */
	s[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(s, "\xf0\x9f\x98\x80");
	CHECK_EQ_INT(clean(s, NAMES_DISPLAY_MAX, false, out), NAMES_OK);
	CHECK_EQ_STR(out, s);
	strcat(s, "\xf0\x9f\x98\x80");
	CHECK_EQ_INT(clean(s, NAMES_DISPLAY_MAX, false, out), NAMES_TOO_LONG);
	/* a status: 140 of 4 bytes fit the buffer */
	s[0] = '\0';
	for (int i = 0; i < 140; i++)
		strcat(s, "\xf0\x90\x8c\xb0");
	CHECK_EQ_INT(clean(s, NAMES_STATUS_MAX, true, out), NAMES_OK);
	CHECK_EQ_STR(out, s);
	/* a flood is refused, not cut */
	memset(s, 'a', sizeof s - 1);
	s[sizeof s - 1] = '\0';
	CHECK_EQ_INT(clean(s, NAMES_STATUS_MAX, true, out), NAMES_TOO_LONG);
}

static void test_cut(void)
{
	char out[8];

	names_cut("abc", out, 7);
	CHECK_EQ_STR(out, "abc");
	names_cut("abcdefghij", out, 7);
	CHECK_EQ_STR(out, "abcdefg");
	names_cut("ab\xe6\x9d\x8e\xe5\xb0\x8f", out, 7);      /* 2 + 3 + 3 bytes: the second is left out */
	CHECK_EQ_STR(out, "ab\xe6\x9d\x8e");
	names_cut("abcdef\xf0\x9f\x98\x80", out, 7);
	CHECK_EQ_STR(out, "abcdef");
}

int main(void)
{
	test_cut();
	test_nfc();
	test_case();
	test_refused();
	test_lengths();
	return check_done();
}
