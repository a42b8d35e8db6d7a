/* mail_compose: an email (RFC 5322, MIME) from parts that may hold anything
 * a user typed: no part can add a header or end one early. The subject and
 * the sender's name are sent as RFC 2047 encoded words when they are not
 * plain ASCII; the body is UTF-8 text/plain in quoted-printable, so every
 * line is short ASCII whatever the text. With an unsubscribe URL the message
 * carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 one-click). */
#ifndef STATEROOM_MAIL_COMPOSE_H
#define STATEROOM_MAIL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#define MAIL_ADDRESS_MAX 254
#define MAIL_SUBJECT_MAX 200        /* bytes of UTF-8 kept; longer is cut */
#define MAIL_URL_MAX 900

struct mail_parts {
	const char *from;            /* bare address (mail_address_ok) */
	const char *from_name;       /* UTF-8 display name; NULL or "": none */
	const char *to;              /* bare address */
	const char *subject;         /* UTF-8; control characters become spaces */
	const char *text;            /* UTF-8 body, LF or CRLF line ends */
	const char *unsubscribe_url; /* http(s) URL; NULL: no List-Unsubscribe */
	const char *message_id;      /* 1 to 64 of [A-Za-z0-9._-]; the domain is from's */
	long long date;              /* unix seconds */
};

/* Whether s is an address we send to: ASCII addr-spec local@domain, the
 * local part a dot-atom of at most 64 bytes, the domain dot-separated labels
 * of letters, digits and '-', MAIL_ADDRESS_MAX bytes in all. Nothing that
 * could end a header or an SMTP command. */
bool mail_address_ok(const char *s);

/* Writes the message (CRLF line ends) into *out (malloc'd, NUL-terminated)
 * and its length into *len. Returns 0, -EINVAL (a bad address, message id
 * or URL) or -ENOMEM. */
int mail_compose(const struct mail_parts *p, char **out, size_t *len);

#endif
