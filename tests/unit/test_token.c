/* Tokens: what a forger, a replayer or a broken client can send must fail
 * with the right error; only a well-formed, signed, live token of the
 * expected type passes. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "token.h"

#define NOW 1700000000
#define MAX_TTL 3600

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof key - 1)

static int verify(const char *tok, const char *typ, json_t **claims)
{
	return tok_verify(tok, strlen(tok), key, KEY_LEN, typ, NOW, MAX_TTL, claims);
}

static int verify_only(const char *tok, const char *typ)
{
	json_t *claims = NULL;
	int r = verify(tok, typ, &claims);

	json_decref(claims);
	return r;
}

static char *sign(const char *typ, json_int_t exp)
{
	json_t *c = json_pack("{s:s,s:s,s:I,s:I}", "sub", "alice", "typ", typ, "iat",
			      (json_int_t)NOW, "exp", exp);
	char *tok = tok_sign(c, key, KEY_LEN);

	json_decref(c);
	return tok;
}

static void test_round_trip(void)
{
	char *tok = sign("user", NOW + 60);
	json_t *claims = NULL;

	CHECK(tok != NULL);
	CHECK_EQ_INT(verify(tok, "user", &claims), TOK_OK);
	CHECK_EQ_STR(json_string_value(json_object_get(claims, "sub")), "alice");
	CHECK_EQ_INT(json_integer_value(json_object_get(claims, "exp")), NOW + 60);
	json_decref(claims);
	CHECK(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
	free(tok);
}

static void test_claims_untouched_on_error(void)
{
	char *tok = sign("user", NOW - 1);
	json_t *sentinel = json_true(), *claims = sentinel;

	CHECK_EQ_INT(verify(tok, "user", &claims), TOK_EEXPIRED);
	CHECK(claims == sentinel);
	free(tok);
}

/* header.payload.signature from raw JSON texts, with a correct HS256
 * signature over the first two parts, so only the header check can refuse
 * it; sig_ok false leaves the signature empty (as alg "none" would). */
static char *with_header(const char *hdr_json, const char *body, bool sig_ok)
{
	char *out = malloc(8192);
	unsigned char mac[32];
	unsigned mac_len = 0;
	size_t n = b64_url_encode(out, hdr_json, strlen(hdr_json));

	out[n++] = '.';
	n += b64_url_encode(out + n, body, strlen(body));
	HMAC(EVP_sha256(), key, KEY_LEN, (unsigned char *)out, n, mac, &mac_len);
	out[n++] = '.';
	out[n] = '\0';
	if (sig_ok)
		b64_url_encode(out + n, mac, mac_len);
	return out;
}

static void test_alg_rejected(void)
{
	static const char body[] =
		"{\"sub\":\"alice\",\"typ\":\"user\",\"iat\":1700000000,\"exp\":1700000060}";
	static const char *const hdrs[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"typ\":\"JWT\"}",
		"{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256 \"}",
		"{\"alg\":null}",
		"{\"alg\":[\"HS256\"]}",
	};
	char *good = with_header("{\"alg\":\"HS256\"}", body, true);

	/* The control: the same construction with the right alg passes. */
	CHECK_EQ_INT(verify_only(good, "user"), TOK_OK);
	free(good);
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		char *signed_tok = with_header(hdrs[i], body, true);
		char *unsigned_tok = with_header(hdrs[i], body, false);

		CHECK_EQ_INT(verify_only(signed_tok, "user"), TOK_EALG);
		CHECK_EQ_INT(verify_only(unsigned_tok, "user"), TOK_EALG);
		free(signed_tok);
		free(unsigned_tok);
	}
}

static void test_duplicate_alg_rejected(void)
{
	char *t = with_header("{\"alg\":\"none\",\"alg\":\"HS256\"}", "{}", true);

	CHECK_EQ_INT(verify_only(t, "user"), TOK_EMALFORMED);
	free(t);
}

static void test_tampered_payload(void)
{
	char *tok = sign("user", NOW + 60);
	char *t = malloc(strlen(tok) + 64), *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
	static const char body[] = "{\"sub\":\"admin\",\"typ\":\"user\",\"exp\":1900000000}";
	size_t n;

	n = (size_t)(dot1 - tok) + 1;
	memcpy(t, tok, n);
	n += b64_url_encode(t + n, body, strlen(body));
	strcpy(t + n, dot2);
	CHECK_EQ_INT(verify_only(t, "user"), TOK_ESIG);
	free(t);
	free(tok);
}

static void test_tampered_signature(void)
{
	char *tok = sign("user", NOW + 60);
	size_t len = strlen(tok);

	/* Flip a character in the middle of the signature to another valid one. */
	tok[len - 10] = tok[len - 10] == 'A' ? 'B' : 'A';
	CHECK_EQ_INT(verify_only(tok, "user"), TOK_ESIG);
	free(tok);

	/* A signature cut short (but still valid base64url) is not one either. */
	tok = sign("user", NOW + 60);
	char *sig = strrchr(tok, '.') + 1;
	unsigned char raw[64];
	ssize_t n = b64_url_decode(raw, sig, strlen(sig));
	CHECK_EQ_INT(n, 32);
	b64_url_encode(sig, raw, 31);
	CHECK_EQ_INT(verify_only(tok, "user"), TOK_ESIG);
	free(tok);
}

static void test_wrong_key(void)
{
	static const unsigned char other[] = "fedcba9876543210fedcba9876543210";
	json_t *c = json_pack("{s:s,s:I}", "typ", "user", "exp", (json_int_t)NOW + 60);
	char *tok = tok_sign(c, other, sizeof other - 1);

	CHECK_EQ_INT(verify_only(tok, "user"), TOK_ESIG);
	free(tok);
	json_decref(c);
}

static void test_expiry(void)
{
	char *expired = sign("user", NOW - 1), *now = sign("user", NOW), *live = sign("user", NOW + 1);

	CHECK_EQ_INT(verify_only(expired, "user"), TOK_EEXPIRED);
	CHECK_EQ_INT(verify_only(now, "user"), TOK_EEXPIRED);
	CHECK_EQ_INT(verify_only(live, "user"), TOK_OK);
	free(expired);
	free(now);
	free(live);
}

/* A signed token whose claims are {"typ":"user",<times>}; 1 when it
 * verifies, else the error. */
static int verify_times(const char *times)
{
	char body[512];
	char *t;
	int r;

	snprintf(body, sizeof body, "{\"typ\":\"user\",%s}", times);
	t = with_header("{\"alg\":\"HS256\"}", body, true);
	r = verify_only(t, "user");
	free(t);
	return r == TOK_OK ? 1 : r;
}

/* iat and exp are JSON integers in range, or the token is refused: a real
 * such as 1e300 once overflowed the used-ticket table's integer and made a
 * ticket reusable for ever. */
static void test_time_claims(void)
{
	static const char *const bad_exp[] = {
		"1e300", "-1", "1700000000.5", "1700000060.0", "1.7e9", "\"1700000060\"", "null",
		"true", "[1700000060]", "9223372036854775807", "-9223372036854775808",
	};
	static const char *const bad_iat[] = {
		"1e300", "-1", "1699999999.5", "\"1700000000\"", "null", "9223372036854775807",
		"-9223372036854775808", "1700000060", "1700000006",
	};
	char times[256];

	/* The controls: the edges that pass. */
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":1700000060"), 1);
	CHECK_EQ_INT(verify_times("\"iat\":0,\"exp\":1700000001"), 1);
	CHECK_EQ_INT(verify_times("\"iat\":1700000005,\"exp\":1700003605"), 1);
	/* exp at most the lifetime (and the skew) ahead. */
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":1700003606"), TOK_ETIME);
	for (size_t i = 0; i < sizeof bad_exp / sizeof bad_exp[0]; i++) {
		int r;

		snprintf(times, sizeof times, "\"iat\":1700000000,\"exp\":%s", bad_exp[i]);
		r = verify_times(times);
		if (r != TOK_ETIME && r != TOK_EEXPIRED)
			fprintf(stderr, "exp %s gave %d\n", bad_exp[i], r);
		CHECK(r == TOK_ETIME || r == TOK_EEXPIRED);
	}
	for (size_t i = 0; i < sizeof bad_iat / sizeof bad_iat[0]; i++) {
		int r;

		snprintf(times, sizeof times, "\"iat\":%s,\"exp\":1700000060", bad_iat[i]);
		r = verify_times(times);
		if (r != TOK_ETIME)
			fprintf(stderr, "iat %s gave %d\n", bad_iat[i], r);
		CHECK_EQ_INT(r, TOK_ETIME);
	}
	CHECK_EQ_INT(verify_times("\"exp\":1700000060"), TOK_ETIME);
	CHECK_EQ_INT(verify_times("\"iat\":1700000000"), TOK_ETIME);
	/* Integers beyond 64 bits are not JSON jansson reads. */
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":100000000000000000000000000000"),
		     TOK_EMALFORMED);
	CHECK_EQ_INT(verify_times("\"iat\":-100000000000000000000000000000,\"exp\":1700000060"),
		     TOK_EMALFORMED);
	/* A claim given twice is no claim. */
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":1700000060,\"exp\":1e300"),
		     TOK_EMALFORMED);
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":1700000060,\"typ\":\"ticket\""),
		     TOK_EMALFORMED);
	CHECK_EQ_INT(verify_times("\"iat\":1700000000,\"exp\":1700000060,\"sub\":\"a\",\"sub\":\"b\""),
		     TOK_EMALFORMED);
}

static void test_wrong_type(void)
{
	char *ticket = sign("ticket", NOW + 30), *user = sign("user", NOW + 30);
	json_t *c = json_pack("{s:I,s:I}", "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 30);
	char *untyped = tok_sign(c, key, KEY_LEN);

	CHECK_EQ_INT(verify_only(ticket, "user"), TOK_ETYPE);
	CHECK_EQ_INT(verify_only(user, "ticket"), TOK_ETYPE);
	CHECK_EQ_INT(verify_only(ticket, "ticket"), TOK_OK);
	CHECK_EQ_INT(verify_only(untyped, "user"), TOK_ETYPE);
	free(ticket);
	free(user);
	free(untyped);
	json_decref(c);
}

static void test_malformed(void)
{
	char *tok = sign("user", NOW + 60);
	char *dot2 = strrchr(tok, '.');
	char buf[TOK_MAX_LEN + 64];
	json_t *claims = NULL;

	/* two parts */
	snprintf(buf, sizeof buf, "%.*s", (int)(dot2 - tok), tok);
	CHECK_EQ_INT(verify_only(buf, "user"), TOK_EMALFORMED);
	/* four parts */
	snprintf(buf, sizeof buf, "%s.AAAA", tok);
	CHECK_EQ_INT(verify_only(buf, "user"), TOK_EMALFORMED);
	/* standard base64 characters and padding are not base64url */
	snprintf(buf, sizeof buf, "%s", tok);
	buf[5] = '+';
	CHECK_EQ_INT(verify_only(buf, "user"), TOK_EMALFORMED);
	snprintf(buf, sizeof buf, "%s=", tok);
	CHECK_EQ_INT(verify_only(buf, "user"), TOK_EMALFORMED);
	/* a NUL inside the given length */
	snprintf(buf, sizeof buf, "%s", tok);
	buf[3] = '\0';
	CHECK_EQ_INT(tok_verify(buf, strlen(tok), key, KEY_LEN, "user", NOW, MAX_TTL, &claims), TOK_EMALFORMED);
	/* too long, even if otherwise fine */
	memset(buf, 'A', sizeof buf);
	memcpy(buf, tok, strlen(tok));
	CHECK_EQ_INT(tok_verify(buf, TOK_MAX_LEN + 1, key, KEY_LEN, "user", NOW, MAX_TTL, &claims),
		     TOK_EMALFORMED);
	/* empty, dots only */
	CHECK_EQ_INT(verify_only("", "user"), TOK_EMALFORMED);
	CHECK_EQ_INT(verify_only("..", "user"), TOK_EMALFORMED);
	/* header or body that is JSON but not an object, or not JSON */
	char *arr = with_header("[\"HS256\"]", "{}", true);
	CHECK_EQ_INT(verify_only(arr, "user"), TOK_EMALFORMED);
	free(arr);
	char *garbage = with_header("{\"alg\":", "{}", true);
	CHECK_EQ_INT(verify_only(garbage, "user"), TOK_EMALFORMED);
	free(garbage);
	char *body_arr = with_header("{\"alg\":\"HS256\"}", "[1]", true);
	CHECK_EQ_INT(verify_only(body_arr, "user"), TOK_EMALFORMED);
	free(body_arr);
	char *body_bad = with_header("{\"alg\":\"HS256\"}", "{\"exp\":", true);
	CHECK_EQ_INT(verify_only(body_bad, "user"), TOK_EMALFORMED);
	free(body_bad);
	CHECK(claims == NULL);
	free(tok);
}

static void test_strerror(void)
{
	CHECK_EQ_STR(tok_strerror(TOK_EEXPIRED), "token expired");
	CHECK_EQ_STR(tok_strerror(TOK_ETIME), "bad token times");
	CHECK(tok_strerror(12345) != NULL);
}

/* RFC 4648 section 10 vectors, and the strictness tokens rely on. */
static void test_base64(void)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	char enc[16];
	unsigned char dec[16];

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		size_t n = strlen(in[i]);

		CHECK_EQ_INT(b64_std_encode(enc, in[i], n), B64_STD_ENCODED_LEN(n));
		CHECK_EQ_STR(enc, std[i]);
		CHECK_EQ_INT(b64_url_encode(enc, in[i], n), B64_URL_ENCODED_LEN(n));
		CHECK_EQ_STR(enc, url[i]);
		CHECK_EQ_INT(b64_std_decode(dec, std[i], strlen(std[i])), n);
		CHECK(memcmp(dec, in[i], n) == 0);
		CHECK_EQ_INT(b64_url_decode(dec, url[i], strlen(url[i])), n);
		CHECK(memcmp(dec, in[i], n) == 0);
	}
	CHECK_EQ_INT(b64_url_encode(enc, "\xfb\xff", 2), 3);
	CHECK_EQ_STR(enc, "-_8");
	CHECK_EQ_INT(b64_url_decode(dec, "-_8", 3), 2);
	CHECK(b64_url_decode(dec, "+/8", 3) < 0);     /* standard alphabet */
	CHECK(b64_url_decode(dec, "Zg==", 4) < 0);    /* padding */
	CHECK(b64_url_decode(dec, "Zm9vY", 5) < 0);   /* 1 mod 4 */
	CHECK(b64_url_decode(dec, "Zh", 2) < 0);      /* non-zero unused bits */
	CHECK(b64_url_decode(dec, "Zm 9", 4) < 0);
	CHECK(b64_std_decode(dec, "Zg=", 3) < 0);     /* missing padding */
	CHECK(b64_std_decode(dec, "Z===", 4) < 0);
	CHECK(b64_std_decode(dec, "Zg=a", 4) < 0);
	CHECK(b64_std_decode(dec, "-_8=", 4) < 0);    /* URL alphabet */
}

int main(void)
{
	test_base64();
	test_round_trip();
	test_claims_untouched_on_error();
	test_alg_rejected();
	test_duplicate_alg_rejected();
	test_tampered_payload();
	test_tampered_signature();
	test_wrong_key();
	test_expiry();
	test_time_claims();
	test_wrong_type();
	test_malformed();
	test_strerror();
	return check_done();
}
