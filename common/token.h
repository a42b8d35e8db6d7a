/* token: JWT compact serialisation, HS256 only.
 *
 * The header is always {"alg":"HS256","typ":"JWT"} on signing; on
 * verification the header's alg must be exactly "HS256" (never trusted to
 * pick an algorithm), the signature is compared in constant time, neither
 * part may repeat a key, "iat" and "exp" must be JSON integers (not reals)
 * with iat no later than now and exp after now but no further ahead than the
 * caller's lifetime (both give TOK_CLOCK_SKEW of slack), and "typ" in the
 * claims must equal the expected type, so a join ticket is never accepted as
 * a user token or the other way round. */
#ifndef STATEROOM_TOKEN_H
#define STATEROOM_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A verdict on a token: its own kind, never an errno. */
enum tok_result {
	TOK_OK,
	TOK_EMALFORMED, /* not three base64url parts, bad JSON, too long */
	TOK_EALG,       /* header alg is not HS256 */
	TOK_ESIG,       /* signature does not match */
	TOK_EEXPIRED,   /* exp <= now */
	TOK_ETYPE,      /* typ claim differs from the expected one */
	TOK_ENOMEM,
	TOK_ETIME,      /* iat or exp missing, not an integer, or out of range */
};

/* Longest token accepted by tok_verify(); longer input is TOK_EMALFORMED. */
#define TOK_MAX_LEN 4096

/* Seconds the clocks of the signer and the checker may disagree by. */
#define TOK_CLOCK_SKEW 5

/* Signs claims (borrowed, not modified). Returns a malloc'd NUL-terminated
 * token the caller frees, or NULL on allocation failure. */
char *tok_sign(const json_t *claims, const unsigned char *key, size_t key_len);

/* Verifies token[0..len). On TOK_OK *claims receives a new reference the
 * caller must json_decref(); on error *claims is untouched. now is Unix
 * seconds; max_ttl the longest lifetime such a token is signed with. */
enum tok_result tok_verify(const char *token, size_t len, const unsigned char *key, size_t key_len,
			   const char *expected_typ, int64_t now, int64_t max_ttl, json_t **claims);

/* A short English phrase for a verdict, for error messages. */
const char *tok_strerror(enum tok_result err);

#endif
