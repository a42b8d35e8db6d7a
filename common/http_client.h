/* http_client: outbound HTTP(S) requests with libcurl, driven by a libuv loop.
 *
 * One struct hc holds a curl multi handle on the loop through the
 * multi-socket API: a uv_poll_t per socket curl opens, one uv_timer_t for
 * curl's timeouts. Nothing blocks the loop (name resolution runs in curl's
 * resolver thread). Knows nothing of who it talks to.
 *
 * The same engine sends mail over SMTP (hc_mail): one message to one
 * recipient through a relay, so a slow relay blocks nothing either.
 *
 * Contract: hc_request() and hc_mail() return 0 and later calls done exactly once, from
 * the loop and never from inside hc_request(); or returns a negative errno
 * and never calls it. done may start new requests or call hc_close(). */
#ifndef STATEROOM_HTTP_CLIENT_H
#define STATEROOM_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct hc;

struct hc_request {
	const char *method;          /* "GET", "POST", "PATCH", ... */
	const char *url;             /* http:// or https:// only */
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *body;            /* may be NULL (no body) */
	size_t body_len;
	const char *bearer;          /* sent as "Authorization: Bearer ..."; NULL or "": none */
	const char *ca_file;         /* PEM bundle to verify https with; NULL: the system's */
	uint64_t timeout_ms;         /* whole request; 0: 10000 */
	bool public_only;            /* connect only to a public address (a URL a user gave:
	                              * whatever its name resolves to, never loopback, private,
	                              * link-local, shared or multicast space); else -EACCES */
};

struct hc_response {
	int err;                     /* 0: an HTTP answer came (any status); else a negative errno:
	                              * -ECONNREFUSED, -ETIMEDOUT, -EMSGSIZE (body over the cap),
	                              * -ECANCELED (hc_close), -EACCES (public_only and the
	                              * address is not public), -EIO (anything else) */
	long status;                 /* HTTP status when err == 0 */
	int64_t retry_after_s;       /* its Retry-After in seconds (a date: the wait until
	                              * then), 0 when none */
	const char *body;            /* NUL-terminated (never NULL); valid during the callback */
	size_t body_len;
	const char *error;           /* one-line reason when err != 0, else "" */
};

typedef void (*hc_done_fn)(const struct hc_response *res, void *arg);

/* Largest response body kept; a longer one fails with -EMSGSIZE. */
#define HC_MAX_BODY (1u << 20)

/* Returns 0 and *out, or a negative errno. */
int hc_new(uv_loop_t *loop, struct hc **out);

/* Starts a request; everything in req is copied. -EINVAL for a missing
 * method or URL, a header or token with a line break, or a URL that is not
 * http(s); -ESHUTDOWN after hc_close; -ENOMEM. */
int hc_request(struct hc *c, const struct hc_request *req, hc_done_fn done, void *arg);

/* One message for a relay: smtp:// (STARTTLS when the relay offers it, and
 * required when user is set, so that a password never goes in clear) or
 * smtps://. message is the whole RFC 5322 text with CRLF line ends (curl
 * escapes leading dots). */
struct hc_mail {
	const char *url;             /* smtp://host[:port] or smtps://host[:port] */
	const char *from;            /* envelope sender (MAIL FROM), a bare address */
	const char *to;              /* envelope recipient (RCPT TO), a bare address */
	const char *user, *password; /* AUTH; NULL or "": none */
	const char *message;
	size_t message_len;
	const char *ca_file;         /* as for hc_request */
	uint64_t timeout_ms;         /* the whole dialogue; 0: 10000 */
};

/* Starts sending m; everything is copied. done gets err 0 once the relay
 * accepted the message (status: its last reply code, e.g. 250), else a
 * negative errno as for hc_request (-EIO covers a refusal: status is then
 * the relay's reply code when one came, error its reason). -EINVAL for a
 * missing field, a line break in an address or credential, or a URL that is
 * not smtp(s); -ESHUTDOWN after hc_close; -ENOMEM. */
int hc_mail(struct hc *c, const struct hc_mail *m, hc_done_fn done, void *arg);

/* Fails every pending request (done with -ECANCELED, before hc_close
 * returns), then closes the handles; closed(arg) runs from the loop once c is
 * freed (closed may be NULL). NULL-safe. */
void hc_close(struct hc *c, void (*closed)(void *arg), void *arg);

#endif
