/* client_addr: which client a request comes from, for per-client limits.
 *
 * Without trusted proxies the client is the peer of the connection, and
 * X-Forwarded-For is ignored (anyone can send one). With them
 * (--trusted-proxies, a list of addresses and CIDR blocks), a request from
 * a trusted peer comes from the right-most address of X-Forwarded-For that
 * is not trusted itself: each proxy appends the address it got the request
 * from, so what is left of the first untrusted hop was written by the
 * client and proves nothing. Several X-Forwarded-For fields count as one
 * list, in order. An entry that is not an address ends the walk at the
 * trusted hop to its right; when every hop is trusted, the left-most is the
 * client.
 *
 * Limits count an IPv6 client by its /64 (one host usually has a whole
 * /64 to pick addresses from); see ca_group(). */
#ifndef STATEROOM_CLIENT_ADDR_H
#define STATEROOM_CLIENT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "httpd.h"

#define CA_LEN 16

/* An IPv6 address; IPv4 as ::ffff:a.b.c.d. */
struct ca_addr {
	unsigned char b[CA_LEN];
};

struct ca_trust;

/* Parses a comma-separated list of addresses and CIDR blocks ("10.0.0.0/8,
 * ::1, 192.0.2.7"); an empty or NULL list is no trusted proxy (*out NULL).
 * Returns 0, or -1 with a message in err. */
int ca_trust_parse(const char *list, struct ca_trust **out, char *err, size_t err_len);

/* NULL-safe. */
void ca_trust_free(struct ca_trust *t);

/* Whether a is in the list (NULL: nothing is). */
bool ca_trusted(const struct ca_trust *t, const struct ca_addr *a);

/* Parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" or "[::1]:80" (s[0..len),
 * spaces around allowed). Returns 0, or -1 when it is none of those. */
int ca_parse(const char *s, size_t len, struct ca_addr *out);

/* An AF_INET or AF_INET6 socket address. Returns 0, or -1 for another. */
int ca_from_sockaddr(const struct sockaddr *sa, struct ca_addr *out);

/* The client req comes from (see the top); the zero address :: when even
 * the peer is unknown. */
void ca_client(const struct ca_trust *t, const struct httpd_req *req, struct ca_addr *out);

/* What limits count under: an IPv6 address cut to its /64, IPv4 as is. */
void ca_group(struct ca_addr *a);

/* "1.2.3.4" or "2001:db8::1", NUL-terminated, for logs. */
void ca_format(const struct ca_addr *a, char *out, size_t out_len);

#endif
