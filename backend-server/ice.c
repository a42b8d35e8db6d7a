#include "ice.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int ice_credential(const char *secret, const char *username, char out[ICE_CREDENTIAL_LEN])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username,
		  strlen(username), mac, &mac_len) || mac_len != 20)
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
	return 0;
}

static bool url_ok(const char *u, size_t len, bool turn)
{
	static const char *const schemes[2][2] = { { "stun:", "stuns:" }, { "turn:", "turns:" } };

	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(schemes[turn][i]);

		if (len > n && strncmp(u, schemes[turn][i], n) == 0)
			return memchr(u, '"', len) == NULL && memchr(u, ' ', len) == NULL;
	}
	return false;
}

/* Calls fn on each URL of list; false when fn does. */
static bool each_url(const char *list, bool (*fn)(void *arg, const char *u, size_t len), void *arg)
{
	if (!list || !*list)
		return true;
	for (;;) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (!fn(arg, list, len))
			return false;
		if (!end)
			return true;
		list = end + 1;
	}
}

static bool check_stun(void *arg, const char *u, size_t len)
{
	(void)arg;
	return url_ok(u, len, false);
}

static bool check_turn(void *arg, const char *u, size_t len)
{
	(void)arg;
	return url_ok(u, len, true);
}

bool ice_urls_valid(const char *list, bool turn)
{
	return each_url(list, turn ? check_turn : check_stun, NULL);
}

static bool append_url(void *arg, const char *u, size_t len)
{
	return json_array_append_new(arg, json_stringn(u, len)) == 0;
}

/* {"urls":[...]} of list, or NULL when list is empty or on ENOMEM. */
static json_t *entry(const char *list)
{
	json_t *urls;

	if (!list || !*list)
		return NULL;
	urls = json_array();
	if (!urls || !each_url(list, append_url, urls)) {
		json_decref(urls);
		return NULL;
	}
	return json_pack("{s:o}", "urls", urls);
}

json_t *ice_servers(const char *stun_urls, const char *turn_urls, const char *secret,
		    long ttl_s, const char *user, int64_t now)
{
	json_t *list = json_array(), *stun = entry(stun_urls), *turn = entry(turn_urls);
	char username[32 + 256], cred[ICE_CREDENTIAL_LEN];

	if (!list)
		goto fail;
	if (stun && json_array_append(list, stun) != 0)
		goto fail;
	if (turn) {
		snprintf(username, sizeof username, "%" PRId64 ":%s", now + ttl_s, user);
		if (!secret || ice_credential(secret, username, cred) != 0 ||
		    json_object_set_new(turn, "username", json_string(username)) != 0 ||
		    json_object_set_new(turn, "credential", json_string(cred)) != 0 ||
		    json_array_append(list, turn) != 0)
			goto fail;
	}
	json_decref(stun);
	json_decref(turn);
	return json_pack("{s:o,s:I}", "iceServers", list, "ttl", (json_int_t)ttl_s);
fail:
	json_decref(list);
	json_decref(stun);
	json_decref(turn);
	return NULL;
}
