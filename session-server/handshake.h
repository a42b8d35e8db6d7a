/* handshake: the server side of the RFC 6455 opening handshake, with no I/O.
 *
 * hs_check() validates an upgrade request (header names and the tokens of
 * Connection and Upgrade are matched case-insensitively, and a header may
 * appear several times or hold a comma-separated list), checks Origin
 * against an allow-list and picks the subprotocol among those served (the
 * room applications', app_protocols()). hs_response() builds the 101
 * answer. */
#ifndef STATEROOM_HANDSHAKE_H
#define STATEROOM_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include "httpd.h"

/* Sec-WebSocket-Accept is base64 of a SHA-1: 28 characters. */
#define HS_ACCEPT_LEN 28

struct hs_result {
	char accept[HS_ACCEPT_LEN + 1];
	/* The first subprotocol the client offered that is served (one of
	 * hs_check's protocols, by pointer), or NULL: none. */
	const char *protocol;
};

/* Returns 0 and fills *out, or why the request is refused: HS_OLD_HTTP
 * (HTTP before 1.1: RFC 6455 4.1, and HTTP/1.0 has no Upgrade; answer 400),
 * 400 (not GET, Upgrade or Connection wrong, key missing or not 16 bytes of
 * base64, version missing), 426 (version other than 13; answer with
 * "Sec-WebSocket-Version: 13"), 403 (Origin present and not allowed).
 * allowed_origins: comma-separated origins, "*" for any, NULL or "" for none
 * (requests without Origin always pass). protocols: the subprotocols served,
 * NULL-terminated (names compared exactly, as RFC 6455 says). */
#define HS_OLD_HTTP 1
int hs_check(const struct httpd_req *req, const char *allowed_origins,
	     const char *const *protocols, struct hs_result *out);

/* Computes the accept value for key[0..key_len) into out (HS_ACCEPT_LEN + 1
 * bytes, NUL-terminated). */
void hs_accept(const char *key, size_t key_len, char *out);

/* Writes the 101 response into buf. Returns its length, or 0 if buf is too
 * small (256 bytes suffice for a subprotocol of up to 64 bytes). */
size_t hs_response(const struct hs_result *r, char *buf, size_t len);

#endif
