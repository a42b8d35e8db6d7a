/* Tickets: a valid one joins once, also across a restart (boot ids); its
 * times are integers in range; the used-ticket set stays bounded and forgets
 * tickets once they expire; the ticket is found in the URL query. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "check.h"
#include "httpd.h"
#include "ticket.h"
#include "token.h"

#define NOW 1700000000
#define SERVER "ss-1"
#define TTL 300

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof key - 1)

/* A ticket for room "abc" on aud and the jar's boot, living until exp; the
 * caller frees it. */
static char *ticket_for(const struct ticket_jar *jar, const char *jti, const char *aud,
			json_int_t exp)
{
	json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "typ", "ticket", "sub", "alice",
			      "room", "abc", "aud", aud, "boot", ticket_jar_boot(jar), "jti", jti,
			      "epoch", (json_int_t)7, "iat", (json_int_t)NOW, "exp", exp);
	char *tok = tok_sign(c, key, KEY_LEN);

	json_decref(c);
	return tok;
}

/* A ticket whose claims are those of ticket_for() with raw JSON claims
 * appended or given twice; the caller frees it. */
static char *ticket_raw(const struct ticket_jar *jar, const char *extra)
{
	json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "typ", "ticket", "sub", "alice", "room", "abc",
			      "aud", SERVER, "boot", ticket_jar_boot(jar), "jti", "raw");
	char *json = json_dumps(c, JSON_COMPACT), body[1024], *tok;
	size_t n;

	snprintf(body, sizeof body, "%.*s,%s}", (int)strlen(json) - 1, json, extra);
	tok = malloc(2048);
	n = (size_t)sprintf(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.");
	n += b64_url_encode(tok + n, body, strlen(body));
	{
		unsigned char mac[32];
		unsigned mac_len = 0;

		HMAC(EVP_sha256(), key, KEY_LEN, (unsigned char *)tok, n, mac, &mac_len);
		tok[n++] = '.';
		tok[n + b64_url_encode(tok + n, mac, mac_len)] = '\0';
	}
	free(json);
	json_decref(c);
	return tok;
}

static enum ticket_result verify_at(struct ticket_jar *jar, const char *jti, json_int_t exp,
				    int64_t now)
{
	char *tok = ticket_for(jar, jti, SERVER, exp);
	struct ticket t;
	enum ticket_result r = ticket_verify(jar, tok, strlen(tok), key, KEY_LEN, SERVER, now, &t);

	free(tok);
	return r;
}

static enum ticket_result from_query(struct ticket_jar *jar, const char *query, struct ticket *t)
{
	struct httpd_req req = { .query = query, .query_len = query ? strlen(query) : 0 };

	return ticket_from_query(jar, &req, key, KEY_LEN, SERVER, NOW, t);
}

static void test_ticket_joins_once(void)
{
	struct ticket_jar *jar;
	struct ticket t;
	char *tok;

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &jar), 0);
	tok = ticket_for(jar, "j1", SERVER, NOW + 30);
	CHECK_EQ_INT(ticket_verify(jar, tok, strlen(tok), key, KEY_LEN, SERVER, NOW, &t), TICKET_OK);
	CHECK_EQ_STR(t.user, "alice");
	CHECK_EQ_STR(t.name, "alice");
	CHECK_EQ_STR(t.room, "abc");
	CHECK_EQ_INT(t.epoch, 7);
	CHECK_EQ_INT(ticket_verify(jar, tok, strlen(tok), key, KEY_LEN, SERVER, NOW + 1, &t),
		     TICKET_BAD);
	free(tok);
	ticket_jar_free(jar);
}

static void test_ticket_for_another_server_is_elsewhere(void)
{
	struct ticket_jar *jar;
	struct ticket t;
	char *tok;

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &jar), 0);
	tok = ticket_for(jar, "j1", "ss-2", NOW + 30);
	CHECK_EQ_INT(ticket_verify(jar, tok, strlen(tok), key, KEY_LEN, SERVER, NOW, &t),
		     TICKET_ELSEWHERE);
	free(tok);
	ticket_jar_free(jar);
}

/* Far more tickets than the table's first size: every one is still
 * remembered after the table has grown. */
static void test_every_ticket_is_remembered_as_the_jar_grows(void)
{
	struct ticket_jar *jar;
	char jti[16];
	int ok = 0, replayed = 0;

	CHECK_EQ_INT(ticket_jar_new(100000, TTL, &jar), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(jti, sizeof(jti), "j%d", i);
		ok += verify_at(jar, jti, NOW + 300, NOW) == TICKET_OK;
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(jti, sizeof(jti), "j%d", i);
		replayed += verify_at(jar, jti, NOW + 300, NOW + 1) == TICKET_BAD;
	}
	CHECK_EQ_INT(ok, 5000);
	CHECK_EQ_INT(replayed, 5000);
	ticket_jar_free(jar);
}

static void test_full_jar_refuses_new_tickets_until_some_expire(void)
{
	struct ticket_jar *jar;
	char jti[16];

	CHECK_EQ_INT(ticket_jar_new(40, TTL, &jar), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(jti, sizeof(jti), "a%d", i);
		CHECK_EQ_INT(verify_at(jar, jti, i < 10 ? NOW + 5 : NOW + 100, NOW), TICKET_OK);
	}
	CHECK_EQ_INT(verify_at(jar, "b0", NOW + 100, NOW), TICKET_BUSY);
	CHECK_EQ_INT(verify_at(jar, "b1", NOW + 100, NOW + 1), TICKET_BUSY);
	CHECK_EQ_INT(verify_at(jar, "a20", NOW + 100, NOW + 1), TICKET_BAD);
	/* The first ten are gone (stored until exp + 1): room for ten more. */
	for (int i = 0; i < 10; i++) {
		snprintf(jti, sizeof(jti), "c%d", i);
		CHECK_EQ_INT(verify_at(jar, jti, NOW + 100, NOW + 6), TICKET_OK);
	}
	CHECK_EQ_INT(verify_at(jar, "c10", NOW + 100, NOW + 6), TICKET_BUSY);
	CHECK_EQ_INT(verify_at(jar, "c10", NOW + 100, NOW + 7), TICKET_BUSY);
	CHECK_EQ_INT(verify_at(jar, "a39", NOW + 100, NOW + 7), TICKET_BAD);
	ticket_jar_free(jar);
}

/* The jar keeps only live tickets across growth: a stream of short-lived
 * tickets many times the bound all get in, one after another. */
static void test_expired_tickets_make_room_as_time_passes(void)
{
	struct ticket_jar *jar;
	char jti[16];
	int ok = 0;

	CHECK_EQ_INT(ticket_jar_new(100, TTL, &jar), 0);
	for (int i = 0; i < 10000; i++) {
		int64_t now = NOW + i / 50;

		snprintf(jti, sizeof(jti), "s%d", i);
		ok += verify_at(jar, jti, now + 1, now) == TICKET_OK;
	}
	CHECK_EQ_INT(ok, 10000);
	ticket_jar_free(jar);
}

static void test_query_prefers_the_token_parameter(void)
{
	struct ticket_jar *jar;
	struct ticket t;
	char *good, *other;
	char q[2 * TOK_MAX_LEN];

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &jar), 0);
	good = ticket_for(jar, "q1", SERVER, NOW + 30);
	other = ticket_for(jar, "q2", SERVER, NOW + 30);
	snprintf(q, sizeof(q), "x=%s&token=bad&since=3", good);
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_BAD);
	snprintf(q, sizeof(q), "x=bad&token=%s", good);
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_OK);
	CHECK_EQ_STR(t.room, "abc");
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_BAD);
	snprintf(q, sizeof(q), "x=1&token=&t=%s", other);
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_BAD);
	free(good);
	free(other);
	ticket_jar_free(jar);
}

static void test_query_falls_back_to_any_other_parameter(void)
{
	struct ticket_jar *jar;
	struct ticket t;
	char *mine, *theirs;
	char q[3 * TOK_MAX_LEN], *enc;

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &jar), 0);
	mine = ticket_for(jar, "f1", SERVER, NOW + 30);
	theirs = ticket_for(jar, "f2", "ss-2", NOW + 30);
	snprintf(q, sizeof(q), "since=%s&a=%%zz&b=x%%00y", mine);
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_BAD);
	snprintf(q, sizeof(q), "a=1&b=%s", theirs);
	CHECK_EQ_INT(from_query(jar, q, &t), TICKET_ELSEWHERE);
	/* Percent-encoded dots: the value is decoded before it is verified. */
	enc = malloc(3 * strlen(mine) + 1);
	CHECK(enc != NULL);
	if (enc) {
		char *o = enc;

		for (const char *p = mine; *p; p++)
			o += *p == '.' ? sprintf(o, "%%2E") : sprintf(o, "%c", *p);
		snprintf(q, sizeof(q), "a=1&b=%s&%%63=%s", theirs, enc);
		CHECK_EQ_INT(from_query(jar, q, &t), TICKET_OK);
		CHECK_EQ_STR(t.user, "alice");
		free(enc);
	}
	CHECK_EQ_INT(from_query(jar, NULL, &t), TICKET_BAD);
	CHECK_EQ_INT(from_query(jar, "", &t), TICKET_BAD);
	free(mine);
	free(theirs);
	ticket_jar_free(jar);
}

/* A restarted server (a new jar: the used tickets are gone) has a new boot
 * id and refuses every ticket signed for the earlier one, used or not. */
static void test_ticket_for_an_earlier_boot_is_refused(void)
{
	struct ticket_jar *before, *after;
	struct ticket t;
	char *old, *fresh;

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &before), 0);
	CHECK_EQ_INT(ticket_jar_new(10, TTL, &after), 0);
	CHECK_EQ_INT(strlen(ticket_jar_boot(before)), WIRE_BOOT_LEN);
	CHECK(strcmp(ticket_jar_boot(before), ticket_jar_boot(after)) != 0);
	old = ticket_for(before, "r1", SERVER, NOW + 30);
	fresh = ticket_for(after, "r2", SERVER, NOW + 30);
	CHECK_EQ_INT(ticket_verify(before, old, strlen(old), key, KEY_LEN, SERVER, NOW, &t), TICKET_OK);
	CHECK_EQ_INT(ticket_verify(after, old, strlen(old), key, KEY_LEN, SERVER, NOW + 5, &t),
		     TICKET_BAD);
	CHECK_EQ_INT(ticket_verify(after, fresh, strlen(fresh), key, KEY_LEN, SERVER, NOW + 5, &t),
		     TICKET_OK);
	free(old);
	free(fresh);
	ticket_jar_free(before);
	ticket_jar_free(after);
}

static enum ticket_result verify_raw(struct ticket_jar *jar, const char *extra, int64_t now)
{
	char *tok = ticket_raw(jar, extra);
	struct ticket t;
	enum ticket_result r = ticket_verify(jar, tok, strlen(tok), key, KEY_LEN, SERVER, now, &t);

	free(tok);
	return r;
}

/* iat, exp and epoch are JSON integers in range, boot is present, and no
 * claim is given twice; anything else is a bad ticket. A real exp of 1e300
 * once overflowed the used-ticket table and made the ticket reusable. */
static void test_ticket_claims_are_checked(void)
{
	static const char *const bad[] = {
		"\"iat\":1700000000,\"exp\":1e300,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":-1,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":1700000030.5,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":\"1700000030\",\"epoch\":7",
		"\"iat\":1700000000,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":9223372036854775807,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":1700000306,\"epoch\":7",   /* TTL + skew + 1 ahead */
		"\"iat\":1e300,\"exp\":1700000030,\"epoch\":7",
		"\"iat\":-1,\"exp\":1700000030,\"epoch\":7",
		"\"iat\":1699999999.5,\"exp\":1700000030,\"epoch\":7",
		"\"iat\":\"1700000000\",\"exp\":1700000030,\"epoch\":7",
		"\"exp\":1700000030,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":1e300",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":-1",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":1.5",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":\"7\"",
		"\"iat\":1700000000,\"exp\":1700000030",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":100000000000000000000000",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":7,\"epoch\":8",
		"\"iat\":1700000000,\"exp\":1700000030,\"exp\":1e300,\"epoch\":7",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":7,\"aud\":\"ss-1\"",
		"\"iat\":1700000000,\"exp\":1700000030,\"epoch\":7,\"boot\":\"AAAAAAAAAAAAAAAAAAAAAA\"",
	};
	struct ticket_jar *jar;

	CHECK_EQ_INT(ticket_jar_new(10, TTL, &jar), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* Twice: a ticket wrongly admitted must not be admitted again either. */
		enum ticket_result r1 = verify_raw(jar, bad[i], NOW), r2 = verify_raw(jar, bad[i], NOW + 400);

		if (r1 != TICKET_BAD || r2 != TICKET_BAD)
			fprintf(stderr, "claims %s gave %d then %d\n", bad[i], r1, r2);
		CHECK_EQ_INT(r1, TICKET_BAD);
		CHECK_EQ_INT(r2, TICKET_BAD);
	}
	/* The control: the same construction in range passes, once. */
	CHECK_EQ_INT(verify_raw(jar, "\"iat\":1700000000,\"exp\":1700000305,\"epoch\":7", NOW),
		     TICKET_OK);
	CHECK_EQ_INT(verify_raw(jar, "\"iat\":1700000000,\"exp\":1700000305,\"epoch\":7", NOW),
		     TICKET_BAD);
	ticket_jar_free(jar);
}

int main(void)
{
	test_ticket_joins_once();
	test_ticket_for_another_server_is_elsewhere();
	test_ticket_for_an_earlier_boot_is_refused();
	test_ticket_claims_are_checked();
	test_every_ticket_is_remembered_as_the_jar_grows();
	test_full_jar_refuses_new_tickets_until_some_expire();
	test_expired_tickets_make_room_as_time_passes();
	test_query_prefers_the_token_parameter();
	test_query_falls_back_to_any_other_parameter();
	ticket_jar_free(NULL);
	return check_done();
}
