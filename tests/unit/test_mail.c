/* mail_compose: what a hostile subject, name or body can do to the message
 * (nothing: no header of its own, no early end of one), and that what it
 * writes is what RFC 2047, 2045 (quoted-printable) and 8058 ask for. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mail_compose.h"

static struct mail_parts base(void)
{
	return (struct mail_parts){
		.from = "chat@example.com", .to = "ann@example.org", .subject = "Hello",
		.text = "Hi Ann\nsee you", .message_id = "d1.abc", .date = 0,
	};
}

static char *compose(const struct mail_parts *p, size_t *len)
{
	char *out = NULL;
	size_t n = 0;

	CHECK_EQ_INT(mail_compose(p, &out, &n), 0);
	if (len)
		*len = n;
	return out ? out : strdup("");
}

/* The header block: everything before the first empty line. */
static char *head_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	return strndup(msg, end ? (size_t)(end - msg) + 2 : strlen(msg));
}

/* Every line of the header block is a known field or a folded
 * continuation; returns how many fields start a line. */
static int count_fields(const char *head, const char *name)
{
	int n = 0;
	size_t len = strlen(name);

	for (const char *l = head; *l;) {
		const char *e = strstr(l, "\r\n");

		if (strncmp(l, name, len) == 0)
			n++;
		if (!e)
			break;
		l = e + 2;
	}
	return n;
}

static void test_addresses(void)
{
	CHECK(mail_address_ok("ann@example.org"));
	CHECK(mail_address_ok("a.b+tag@sub.example.co"));
	CHECK(mail_address_ok("x@localhost"));
	CHECK(!mail_address_ok("ann@example.org\r\nBcc: eve@example.net"));
	CHECK(!mail_address_ok("ann@example.org>, <eve@example.net"));
	CHECK(!mail_address_ok("ann example@example.org"));
	CHECK(!mail_address_ok("\"ann\"@example.org"));
	CHECK(!mail_address_ok("ann@@example.org"));
	CHECK(!mail_address_ok("ann.@example.org"));
	CHECK(!mail_address_ok("a..b@example.org"));
	CHECK(!mail_address_ok("ann@-example.org"));
	CHECK(!mail_address_ok("ann@example..org"));
	CHECK(!mail_address_ok("ann@"));
	CHECK(!mail_address_ok("@example.org"));
	CHECK(!mail_address_ok("änn@example.org"));
	CHECK(!mail_address_ok(NULL));
}

static void test_plain_message(void)
{
	struct mail_parts p = base();
	size_t len;
	char *m = compose(&p, &len);

	CHECK_EQ_INT(strlen(m), len);
	CHECK(strncmp(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", 39) == 0);
	CHECK(strstr(m, "\r\nFrom: <chat@example.com>\r\n") != NULL);
	CHECK(strstr(m, "\r\nTo: <ann@example.org>\r\n") != NULL);
	CHECK(strstr(m, "\r\nSubject: Hello\r\n") != NULL);
	CHECK(strstr(m, "\r\nMessage-ID: <d1.abc@example.com>\r\n") != NULL);
	CHECK(strstr(m, "\r\nContent-Type: text/plain; charset=UTF-8\r\n") != NULL);
	CHECK(strstr(m, "\r\nContent-Transfer-Encoding: quoted-printable\r\n") != NULL);
	CHECK(strstr(m, "List-Unsubscribe") == NULL);
	CHECK(strstr(m, "\r\n\r\nHi Ann\r\nsee you\r\n") != NULL);
	CHECK(strchr(m, '\n') == strchr(m, '\r') + 1);   /* no bare LF */
	free(m);
}

static void test_rfc8058_headers(void)
{
	struct mail_parts p = base();
	char *m;

	p.unsubscribe_url = "https://chat.example.com/api/email/unsubscribe?token=abc_DEF-1";
	m = compose(&p, NULL);
	CHECK(strstr(m, "\r\nList-Unsubscribe: <https://chat.example.com/api/email/unsubscribe"
		      "?token=abc_DEF-1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
	free(m);
	p.unsubscribe_url = "https://x.example/a>\r\nBcc: eve@example.net";
	CHECK_EQ_INT(mail_compose(&p, &m, &(size_t){ 0 }), -22);
	p.unsubscribe_url = "javascript:alert(1)";
	CHECK_EQ_INT(mail_compose(&p, &m, &(size_t){ 0 }), -22);
}

static void test_injection_is_impossible(void)
{
	struct mail_parts p = base();
	char *m, *head;

	p.subject = "hi\r\nBcc: eve@example.net\r\n\r\nforged body";
	p.from_name = "Stateroom\r\nBcc: eve@example.net";
	p.text = "line\r\nBcc: eve@example.net\r\n.\r\n";
	m = compose(&p, NULL);
	head = head_of(m);
	CHECK_EQ_INT(count_fields(head, "Bcc:"), 0);
	CHECK_EQ_INT(count_fields(head, "Subject:"), 1);
	CHECK_EQ_INT(count_fields(head, "From:"), 1);
	/* The subject's line breaks are spaces: one plain line. */
	CHECK(strstr(head, "Subject: hi  Bcc: eve@example.net    forged body\r\n") != NULL);
	/* A lone "." never starts a body line (it would end the SMTP data). */
	CHECK(strstr(m, "\r\n.\r\n") == NULL);
	CHECK(strstr(m, "\r\n=2E\r\n") != NULL);
	free(head);
	free(m);

	p = base();
	p.to = "ann@example.org\r\nBcc: eve@example.net";
	CHECK_EQ_INT(mail_compose(&p, &m, &(size_t){ 0 }), -22);
	p = base();
	p.message_id = "x>\r\nBcc: y";
	CHECK_EQ_INT(mail_compose(&p, &m, &(size_t){ 0 }), -22);
}

static void test_rfc2047_subject(void)
{
	struct mail_parts p = base();
	char *m, *head;
	char long_subject[400];

	/* "Grüße" in UTF-8, base64 "R3LDvMOfZQ==". */
	p.subject = "Gr\xc3\xbc\xc3\x9f" "e";
	m = compose(&p, NULL);
	CHECK(strstr(m, "\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n") != NULL);
	free(m);

	/* Text that looks like an encoded word is encoded, not taken as one. */
	p.subject = "=?UTF-8?B?Ym9ndXM=?=";
	m = compose(&p, NULL);
	CHECK(strstr(m, "Subject: =?UTF-8?B?PT9VVEYtOD9CP1ltOW5kWE09Pz0=?=\r\n") != NULL);
	free(m);

	/* Long non-ASCII text: several words on folded lines, each at most 75
	 * characters, never splitting a character (each word decodes alone). */
	for (size_t i = 0; i + 2 < sizeof long_subject; i += 2)
		memcpy(long_subject + i, "\xc3\xa9", 2);
	long_subject[sizeof long_subject - 2] = '\0';
	p.subject = long_subject;
	m = compose(&p, NULL);
	head = head_of(m);
	{
		const char *s = strstr(head, "Subject: ");
		int words = 0;

		for (const char *l = s; l && (*l == ' ' || l == s);) {
			const char *e = strstr(l, "\r\n");

			CHECK(e && e - l <= 76);
			words++;
			l = e + 2;
			if (*l != ' ')
				break;
		}
		CHECK(words >= 5);
		/* 39 bytes (19 characters of 2 bytes: 38) per word at most, so that
		 * even the first line, after "Subject: ", keeps to 76. */
		CHECK(strstr(head, "=?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=") != NULL);
	}
	free(head);
	free(m);

	p = base();
	p.from_name = "Stateroom";
	m = compose(&p, NULL);
	CHECK(strstr(m, "\r\nFrom: =?UTF-8?B?U3RhdGVyb29t?= <chat@example.com>\r\n") != NULL);
	free(m);
}

static void test_quoted_printable(void)
{
	struct mail_parts p = base();
	char *m, *body;
	char long_line[300];

	p.text = "a=b caf\xc3\xa9 end \nnext\ttab\t\n";
	m = compose(&p, NULL);
	body = strstr(m, "\r\n\r\n") + 4;
	CHECK_EQ_STR(body, "a=3Db caf=C3=A9 end=20\r\nnext\ttab=09\r\n");
	free(m);

	memset(long_line, 'x', sizeof long_line - 1);
	long_line[sizeof long_line - 1] = '\0';
	p.text = long_line;
	m = compose(&p, NULL);
	body = strstr(m, "\r\n\r\n") + 4;
	for (const char *l = body; *l;) {
		const char *e = strstr(l, "\r\n");

		CHECK(e && e - l <= 76);
		l = e + 2;
	}
	CHECK(strncmp(body, "xxxxxxxxxx", 10) == 0);
	CHECK(strstr(body, "=\r\n") != NULL);
	free(m);
}

int main(void)
{
	test_addresses();
	test_plain_message();
	test_rfc8058_headers();
	test_injection_is_impossible();
	test_rfc2047_subject();
	test_quoted_printable();
	return check_done();
}
