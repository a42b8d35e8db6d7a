#include "wire.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "token.h"

_Static_assert(WIRE_GUEST_SUB_LEN <= WIRE_SUB_MAX, "a guest subject is a subject");

int wire_random_id(char out[WIRE_RANDOM_ID_LEN + 1])
{
	unsigned char rnd[16];

	_Static_assert(B64_URL_ENCODED_LEN(sizeof rnd) == WIRE_RANDOM_ID_LEN, "random id length");
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -EIO;
	out[b64_url_encode(out, rnd, sizeof rnd)] = '\0';
	return 0;
}

static bool wire_is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

bool wire_user_id_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > WIRE_USER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!wire_is_b64url(s[i]) && s[i] != '.')
			return false;
	return true;
}

bool wire_sub_valid(const char *s, size_t len)
{
	size_t pre = sizeof WIRE_GUEST_PREFIX - 1;

	if (!s || len < pre || strncmp(s, WIRE_GUEST_PREFIX, pre) != 0)
		return wire_user_id_valid(s, len);
	if (len != WIRE_GUEST_SUB_LEN)
		return false;
	for (size_t i = pre; i < len; i++)
		if (!wire_is_b64url(s[i]))
			return false;
	return true;
}

bool wire_room_id_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > WIRE_ROOM_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

bool wire_app_name_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > WIRE_APP_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

char *wire_ticket_mint(const struct wire_ticket *t, const char *aud, const char *boot, int64_t now,
		       int64_t ttl, const unsigned char *key, size_t key_len)
{
	char jti[WIRE_RANDOM_ID_LEN + 1];
	json_t *claims;
	char *tok;

	if (wire_random_id(jti) < 0)
		return NULL;
	claims = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s}",
			   "sub", t->sub, "name", t->name, "room", t->room, "aud", aud,
			   WIRE_BOOT_CLAIM, boot, "epoch", (json_int_t)t->epoch, "iat", (json_int_t)now,
			   "exp", (json_int_t)(now + ttl), "jti", jti, "typ", "ticket");
	if (!claims)
		return NULL;
	tok = tok_sign(claims, key, key_len);
	json_decref(claims);
	return tok;
}

/* A string claim of 1 to dst_len - 1 bytes without NUL, copied into dst. */
static bool wire_claim(char *dst, size_t dst_len, const json_t *claims, const char *key)
{
	const json_t *v = json_object_get(claims, key);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || n == 0 || n >= dst_len || memchr(s, '\0', n))
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

enum wire_verdict wire_ticket_verify(const char *tok, size_t len, const unsigned char *key,
				     size_t key_len, const char *server_id, const char *boot,
				     int64_t now, int64_t max_ttl, struct wire_ticket *out)
{
	struct wire_ticket t;
	json_t *claims = NULL, *epoch;
	const char *aud, *tboot;
	enum wire_verdict res = WIRE_TICKET_BAD;

	if (tok_verify(tok, len, key, key_len, "ticket", now, max_ttl, &claims) != TOK_OK)
		return WIRE_TICKET_BAD;
	aud = json_string_value(json_object_get(claims, "aud"));
	tboot = json_string_value(json_object_get(claims, WIRE_BOOT_CLAIM));
	epoch = json_object_get(claims, "epoch");
	if (!aud || !tboot || !json_is_integer(epoch) || json_integer_value(epoch) < 0 ||
	    !wire_claim(t.jti, sizeof t.jti, claims, "jti") ||
	    !wire_claim(t.sub, sizeof t.sub, claims, "sub") || !wire_sub_valid(t.sub, strlen(t.sub)) ||
	    !wire_claim(t.room, sizeof t.room, claims, "room") ||
	    !wire_room_id_valid(t.room, strlen(t.room)))
		goto out;
	if (!wire_claim(t.name, sizeof t.name, claims, "name"))
		strcpy(t.name, t.sub);
	t.epoch = json_integer_value(epoch);
	/* tok_verify() checked that exp is an integer at most max_ttl ahead. */
	t.exp = json_integer_value(json_object_get(claims, "exp"));
	if (strcmp(aud, server_id) != 0) {
		res = WIRE_TICKET_ELSEWHERE;
		goto out;
	}
	/* Signed for an earlier process of this server, whose used tickets
	 * died with it: it may have been used there. */
	if (strcmp(tboot, boot) != 0)
		goto out;
	*out = t;
	res = WIRE_TICKET_OK;
out:
	json_decref(claims);
	return res;
}

char *wire_internal_mint(const char *aud, const char *room, const char *act, int64_t now,
			 const unsigned char *key, size_t key_len)
{
	json_t *claims;
	char *tok;

	claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "aud", aud, "room", room, "act", act,
			   "iat", (json_int_t)now, "exp", (json_int_t)(now + WIRE_INTERNAL_TTL),
			   "typ", WIRE_INTERNAL_TYP);
	if (!claims)
		return NULL;
	tok = tok_sign(claims, key, key_len);
	json_decref(claims);
	return tok;
}

/* A string claim equal to want. */
static bool wire_claim_is(const json_t *claims, const char *key, const char *want)
{
	const char *s = json_string_value(json_object_get(claims, key));

	return s && strcmp(s, want) == 0;
}

bool wire_internal_verify(const char *tok, size_t len, const unsigned char *key, size_t key_len,
			  const char *server_id, const char *room, const char *act, int64_t now)
{
	json_t *claims = NULL;
	bool ok;

	if (tok_verify(tok, len, key, key_len, WIRE_INTERNAL_TYP, now, WIRE_INTERNAL_TTL, &claims) !=
	    TOK_OK)
		return false;
	ok = wire_claim_is(claims, "aud", server_id) && wire_claim_is(claims, "room", room) &&
	     wire_claim_is(claims, "act", act);
	json_decref(claims);
	return ok;
}
