#include "token.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define TOK_SIG_LEN 32 /* SHA-256 */

/* base64url of {"alg":"HS256","typ":"JWT"}: the only header we ever sign. */
static const char tok_header[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static int tok_hmac(const unsigned char *key, size_t key_len, const char *data, size_t len,
		    unsigned char out[TOK_SIG_LEN])
{
	static const unsigned char no_key[1];
	unsigned int out_len = 0;

	/* HMAC() refuses a NULL key even when its length is zero. */
	if (!HMAC(EVP_sha256(), key_len ? key : no_key, (int)key_len, (const unsigned char *)data, len,
		  out, &out_len) || out_len != TOK_SIG_LEN)
		return -1;
	return 0;
}

char *tok_sign(const json_t *claims, const unsigned char *key, size_t key_len)
{
	unsigned char sig[TOK_SIG_LEN];
	char *payload, *tok = NULL;
	size_t payload_len, hdr_len = sizeof tok_header - 1, pos;

	if (key_len > INT_MAX)
		return NULL;
	payload = json_dumps(claims, JSON_COMPACT);
	if (!payload)
		return NULL;
	payload_len = strlen(payload);
	tok = malloc(hdr_len + 1 + B64_URL_ENCODED_LEN(payload_len) + 1 +
		     B64_URL_ENCODED_LEN(TOK_SIG_LEN) + 1);
	if (!tok)
		goto out_free_payload;
	memcpy(tok, tok_header, hdr_len);
	tok[hdr_len] = '.';
	pos = hdr_len + 1;
	pos += b64_url_encode(tok + pos, payload, payload_len);
	if (tok_hmac(key, key_len, tok, pos, sig) < 0) {
		free(tok);
		tok = NULL;
		goto out_free_payload;
	}
	tok[pos++] = '.';
	b64_url_encode(tok + pos, sig, sizeof sig);
out_free_payload:
	free(payload);
	return tok;
}

/* Decodes one base64url part into buf and parses it as a JSON object. */
static json_t *tok_part_json(const char *s, size_t n, unsigned char *buf)
{
	ssize_t len = b64_url_decode(buf, s, n);
	json_t *v;

	if (len < 0)
		return NULL;
	v = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

enum tok_result tok_verify(const char *token, size_t len, const unsigned char *key, size_t key_len,
			   const char *expected_typ, int64_t now, int64_t max_ttl, json_t **claims)
{
	unsigned char buf[B64_DECODED_MAX(TOK_MAX_LEN)];
	unsigned char want[TOK_SIG_LEN];
	const char *dot1, *dot2, *alg, *typ;
	json_t *hdr, *body, *iat, *exp;
	ssize_t sig_len;
	enum tok_result err;

	if (!token || len == 0 || len > TOK_MAX_LEN || key_len > INT_MAX)
		return TOK_EMALFORMED;
	dot1 = memchr(token, '.', len);
	if (!dot1)
		return TOK_EMALFORMED;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return TOK_EMALFORMED;

	hdr = tok_part_json(token, (size_t)(dot1 - token), buf);
	if (!hdr)
		return TOK_EMALFORMED;
	alg = json_string_value(json_object_get(hdr, "alg"));
	err = alg && strcmp(alg, "HS256") == 0 ? TOK_OK : TOK_EALG;
	json_decref(hdr);
	if (err)
		return err;

	/* The signature is checked before anything in the claims is believed. */
	sig_len = b64_url_decode(buf, dot2 + 1, len - (size_t)(dot2 + 1 - token));
	if (sig_len < 0)
		return TOK_EMALFORMED;
	if (tok_hmac(key, key_len, token, (size_t)(dot2 - token), want) < 0)
		return TOK_ENOMEM;
	if (sig_len != TOK_SIG_LEN || CRYPTO_memcmp(buf, want, TOK_SIG_LEN) != 0)
		return TOK_ESIG;

	body = tok_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf);
	if (!body)
		return TOK_EMALFORMED;
	/* Integers only: a real such as 1e300 would overflow whatever integer
	 * a caller keeps it in (the used-ticket table did). */
	iat = json_object_get(body, "iat");
	exp = json_object_get(body, "exp");
	if (!json_is_integer(iat) || !json_is_integer(exp)) {
		err = TOK_ETIME;
		goto out_free_body;
	}
	if (json_integer_value(exp) <= now) {
		err = TOK_EEXPIRED;
		goto out_free_body;
	}
	if (json_integer_value(iat) < 0 || json_integer_value(iat) > now + TOK_CLOCK_SKEW ||
	    json_integer_value(iat) >= json_integer_value(exp) ||
	    json_integer_value(exp) - now - TOK_CLOCK_SKEW > max_ttl) {
		err = TOK_ETIME;
		goto out_free_body;
	}
	typ = json_string_value(json_object_get(body, "typ"));
	if (!typ || !expected_typ || strcmp(typ, expected_typ) != 0) {
		err = TOK_ETYPE;
		goto out_free_body;
	}
	*claims = body;
	return TOK_OK;
out_free_body:
	json_decref(body);
	return err;
}

const char *tok_strerror(enum tok_result err)
{
	switch (err) {
	case TOK_OK:
		return "valid";
	case TOK_EMALFORMED:
		return "malformed token";
	case TOK_EALG:
		return "unsupported token algorithm";
	case TOK_ESIG:
		return "bad token signature";
	case TOK_EEXPIRED:
		return "token expired";
	case TOK_ETYPE:
		return "wrong token type";
	case TOK_ENOMEM:
		return "out of memory";
	case TOK_ETIME:
		return "bad token times";
	}
	return "unknown token error";
}
