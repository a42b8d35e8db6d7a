/* ice: the ICE servers a browser uses for a call (GET /api/ice,
 * docs/protocol.md "Calls"), with TURN credentials of the TURN REST API
 * scheme that coturn's --use-auth-secret checks: username
 * "<expiry unix seconds>:<userId>", credential
 * base64(HMAC-SHA1(secret, username)). The backend and the TURN server
 * share only the secret; nothing is stored per user. */
#ifndef STATEROOM_ICE_H
#define STATEROOM_ICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* base64 of a 20-byte HMAC-SHA1, and its NUL. */
#define ICE_CREDENTIAL_LEN 29

/* out = base64(HMAC-SHA1(secret, username)). 0, or -EINVAL (OpenSSL
 * refused). */
int ice_credential(const char *secret, const char *username, char out[ICE_CREDENTIAL_LEN]);

/* Whether list (comma-separated, NULL or "" for none) holds only URLs of
 * the schemes turn (turn:, turns:) or not turn (stun:, stuns:) allows. */
bool ice_urls_valid(const char *list, bool turn);

/* {"iceServers":[...],"ttl"} for user at now (unix seconds): one entry for
 * the STUN URLs, one with the TURN URLs and a credential expiring at
 * now + ttl_s (secret required when there are TURN URLs). NULL on ENOMEM
 * or when OpenSSL fails. */
json_t *ice_servers(const char *stun_urls, const char *turn_urls, const char *secret,
		    long ttl_s, const char *user, int64_t now);

#endif
