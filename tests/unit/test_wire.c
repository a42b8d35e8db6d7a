/* The wire contract: ids at their limits, a ticket minted by the backend's
 * code verifies in the session server's, a changed claim does not, and the
 * close codes are the documented numbers. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "token.h"
#include "wire.h"

#define NOW 1700000000
#define TTL 30
#define SERVER "ss-1"
#define BOOT "AAAAAAAAAAAAAAAAAAAAAA"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof key - 1)

static void test_user_ids(void)
{
	char id[WIRE_USER_ID_MAX + 2];

	memset(id, 'a', sizeof id);
	CHECK(wire_user_id_valid(id, WIRE_USER_ID_MAX));
	CHECK(!wire_user_id_valid(id, WIRE_USER_ID_MAX + 1));
	CHECK(!wire_user_id_valid(id, 0));
	CHECK(wire_user_id_valid("A-z_0.9", 7));
	CHECK(!wire_user_id_valid("a:b", 3));
	CHECK(!wire_user_id_valid("a\0b", 3));
	CHECK(!wire_user_id_valid("al ice", 6));
	CHECK(!wire_user_id_valid("<script>", 8));
	CHECK(!wire_user_id_valid("\xc3\xa9", 2));
	CHECK(!wire_user_id_valid("a/b", 3));
}

static void test_subjects(void)
{
	char sub[WIRE_GUEST_SUB_LEN + 2] = WIRE_GUEST_PREFIX;

	CHECK_EQ_INT(wire_random_id(sub + strlen(WIRE_GUEST_PREFIX)), 0);
	CHECK_EQ_INT(strlen(sub), WIRE_GUEST_SUB_LEN);
	CHECK(WIRE_GUEST_SUB_LEN <= WIRE_SUB_MAX);
	CHECK(wire_sub_valid(sub, strlen(sub)));
	CHECK(!wire_sub_valid(sub, strlen(sub) - 1));
	strcat(sub, "x");
	CHECK(!wire_sub_valid(sub, strlen(sub)));
	CHECK(!wire_sub_valid("guest:!!!!!!!!!!!!!!!!!!!!!!", 28));
	CHECK(wire_sub_valid("alice", 5));
	CHECK(!wire_sub_valid("", 0));
}

static void test_room_ids(void)
{
	char id[WIRE_ROOM_ID_MAX + 2];

	memset(id, '7', sizeof id);
	CHECK(wire_room_id_valid(id, WIRE_ROOM_ID_MAX));
	CHECK(!wire_room_id_valid(id, WIRE_ROOM_ID_MAX + 1));
	CHECK(!wire_room_id_valid(id, 0));
	CHECK(!wire_room_id_valid("Abc", 3));
	CHECK(!wire_room_id_valid("a-b", 3));
	CHECK(wire_room_id_valid("abc123", 6));
}

static void test_random_ids(void)
{
	char a[WIRE_RANDOM_ID_LEN + 1], b[WIRE_RANDOM_ID_LEN + 1];

	CHECK_EQ_INT(wire_random_id(a), 0);
	CHECK_EQ_INT(wire_random_id(b), 0);
	CHECK_EQ_INT(strlen(a), WIRE_RANDOM_ID_LEN);
	CHECK(strcmp(a, b) != 0);
}

static char *mint(const char *sub, const char *name, const char *room)
{
	struct wire_ticket t = { .epoch = 7 };

	strcpy(t.sub, sub);
	strcpy(t.name, name);
	strcpy(t.room, room);
	return wire_ticket_mint(&t, SERVER, BOOT, NOW, TTL, key, KEY_LEN);
}

static void test_ticket_round_trip(void)
{
	char *tok = mint("guest:abcdefghijklmnopqrstuv", "Alice", "abc123");
	struct wire_ticket t;

	CHECK(tok != NULL);
	CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW + 1, TTL, &t),
		     WIRE_TICKET_OK);
	CHECK_EQ_STR(t.sub, "guest:abcdefghijklmnopqrstuv");
	CHECK_EQ_STR(t.name, "Alice");
	CHECK_EQ_STR(t.room, "abc123");
	CHECK_EQ_INT(t.epoch, 7);
	CHECK_EQ_INT(t.exp, NOW + TTL);
	CHECK_EQ_INT(strlen(t.jti), WIRE_RANDOM_ID_LEN);
	CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, "ss-2", BOOT, NOW, TTL, &t),
		     WIRE_TICKET_ELSEWHERE);
	CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, "BBBBBBBBBBBBBBBBBBBBBB",
					NOW, TTL, &t), WIRE_TICKET_BAD);
	CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW + TTL, TTL, &t),
		     WIRE_TICKET_BAD);
	free(tok);
}

/* The ticket tok with its claims' first from replaced by to, signature kept. */
static char *tamper(const char *tok, const char *from, const char *to)
{
	const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
	char claims[1024], edited[1024], *out = malloc(4096), *at;
	size_t n = (size_t)b64_url_decode((unsigned char *)claims, dot1 + 1, (size_t)(dot2 - dot1 - 1));

	claims[n] = '\0';
	at = strstr(claims, from);
	CHECK(at != NULL);
	snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - claims), claims, to, at + strlen(from));
	n = (size_t)(dot1 - tok + 1);
	memcpy(out, tok, n);
	n += b64_url_encode(out + n, edited, strlen(edited));
	strcpy(out + n, dot2);
	return out;
}

static void test_tampered_claims_refused(void)
{
	char *tok = mint("alice", "alice", "abc123");
	const char *swaps[][2] = { { "\"alice\"", "\"mallory\"" }, { "abc123", "abc124" },
				   { "\"epoch\":7", "\"epoch\":8" } };
	struct wire_ticket t;

	for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
		char *bad = tamper(tok, swaps[i][0], swaps[i][1]);

		CHECK_EQ_INT(wire_ticket_verify(bad, strlen(bad), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
			     WIRE_TICKET_BAD);
		free(bad);
	}
	free(tok);
}

/* Claims the backend never signs are refused even with a good signature. */
static void test_claims_at_the_limits(void)
{
	char sub[WIRE_SUB_MAX + 2], room[WIRE_ROOM_ID_MAX + 2], name[WIRE_NAME_MAX + 2];
	struct wire_ticket t;
	char *tok;

	memset(sub, 'u', sizeof sub);
	memset(room, 'r', sizeof room);
	memset(name, 'n', sizeof name);
	sub[WIRE_SUB_MAX] = room[WIRE_ROOM_ID_MAX] = name[WIRE_NAME_MAX] = '\0';
	tok = mint(sub, name, room);
	CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
		     WIRE_TICKET_OK);
	CHECK_EQ_STR(t.name, name);
	free(tok);

	{
		json_t *c = json_pack("{s:s,s:s+,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "typ", "ticket",
				      "sub", sub, "u", "room", room, "aud", SERVER, "boot", BOOT,
				      "jti", "j", "epoch", (json_int_t)1, "iat", (json_int_t)NOW,
				      "exp", (json_int_t)NOW + TTL);

		tok = tok_sign(c, key, KEY_LEN);
		CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
			     WIRE_TICKET_BAD);
		free(tok);
		json_object_set_new(c, "sub", json_string(sub));
		json_object_set_new(c, "room", json_string("has-dash"));
		tok = tok_sign(c, key, KEY_LEN);
		CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
			     WIRE_TICKET_BAD);
		free(tok);
		/* No name, or one too long: the subject is shown. */
		json_object_set_new(c, "room", json_string(room));
		tok = tok_sign(c, key, KEY_LEN);
		CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
			     WIRE_TICKET_OK);
		CHECK_EQ_STR(t.name, sub);
		free(tok);
		json_object_set_new(c, "name", json_pack("s+", name, "n"));
		tok = tok_sign(c, key, KEY_LEN);
		CHECK_EQ_INT(wire_ticket_verify(tok, strlen(tok), key, KEY_LEN, SERVER, BOOT, NOW, TTL, &t),
			     WIRE_TICKET_OK);
		CHECK_EQ_STR(t.name, sub);
		free(tok);
		json_decref(c);
	}
}

static void test_close_codes(void)
{
	static const struct { enum wire_close code; int number; } table[] = {
		{ WIRE_CLOSE_PROTOCOL, 1002 }, { WIRE_CLOSE_UNSUPPORTED, 1003 },
		{ WIRE_CLOSE_BAD_DATA, 1007 }, { WIRE_CLOSE_POLICY, 1008 },
		{ WIRE_CLOSE_TOO_BIG, 1009 }, { WIRE_CLOSE_INTERNAL, 1011 },
		{ WIRE_CLOSE_RESTART, 1012 }, { WIRE_CLOSE_BAD_TICKET, 4001 },
		{ WIRE_CLOSE_NOT_HERE, 4004 }, { WIRE_CLOSE_USER_CONNS, 4008 },
		{ WIRE_CLOSE_ROOM_FULL, 4009 }, { WIRE_CLOSE_BUSY, 4029 },
		{ WIRE_CLOSE_BY_SERVER, 4013 },
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		CHECK_EQ_INT(table[i].code, table[i].number);
}

/* The server API's internal token: for one server, room and action, a few
 * seconds; the server API's subject is no user's. */
static void test_internal_tokens(void)
{
	char *tok = wire_internal_mint(SERVER, "room1", "records", NOW, key, KEY_LEN);
	size_t len = tok ? strlen(tok) : 0;

	CHECK(tok != NULL);
	CHECK(wire_internal_verify(tok, len, key, KEY_LEN, SERVER, "room1", "records", NOW));
	CHECK(wire_internal_verify(tok, len, key, KEY_LEN, SERVER, "room1", "records",
				   NOW + WIRE_INTERNAL_TTL - 1));
	CHECK(!wire_internal_verify(tok, len, key, KEY_LEN, SERVER, "room1", "records",
				    NOW + WIRE_INTERNAL_TTL));
	CHECK(!wire_internal_verify(tok, len, key, KEY_LEN, "ss-2", "room1", "records", NOW));
	CHECK(!wire_internal_verify(tok, len, key, KEY_LEN, SERVER, "room2", "records", NOW));
	CHECK(!wire_internal_verify(tok, len, key, KEY_LEN, SERVER, "room1", "close", NOW));
	CHECK(!wire_internal_verify(tok, len, (const unsigned char *)"another key of thirty-two bytes!",
				    32, SERVER, "room1", "records", NOW));
	CHECK(!wire_internal_verify(tok, len - 1, key, KEY_LEN, SERVER, "room1", "records", NOW));
	free(tok);
	CHECK(!wire_sub_valid(WIRE_SERVER_SUB, strlen(WIRE_SERVER_SUB)));
	CHECK(!wire_user_id_valid(WIRE_SERVER_SUB, strlen(WIRE_SERVER_SUB)));
}

int main(void)
{
	test_internal_tokens();
	test_user_ids();
	test_subjects();
	test_room_ids();
	test_random_ids();
	test_ticket_round_trip();
	test_tampered_claims_refused();
	test_claims_at_the_limits();
	test_close_codes();
	return check_done();
}
