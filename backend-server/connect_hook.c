/* connect_hook: see connect_hook.h. */
#include "connect_hook.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "http_client.h"
#include "log.h"

#define HOOK_REFUSED_DEFAULT "the app refused to let you join this room"

struct hook_call {
	struct backend *be;
	hook_done_fn done;
	void *arg;
	char room[64];
};

bool hook_enabled(const struct backend *be)
{
	return be->cfg.connect_hook_url && be->cfg.connect_hook_url[0];
}

/* The hook failed: what the mode makes of it. */
static void hook_failed(struct hook_call *c, const char *why)
{
	struct backend *be = c->be;
	struct hook_answer a = { .verdict = be->hook_fail_open ? HOOK_ALLOW : HOOK_UNAVAILABLE };

	log_write(LOG_WARN, "connect hook failed", "{s:s,s:s,s:s}", "room", c->room, "error", why,
		  "mode", be->hook_fail_open ? "open" : "closed");
	c->done(&a, c->arg);
}

static void hook_on_answer(const struct hc_response *res, void *arg)
{
	struct hook_call *c = arg;
	struct hook_answer a = { .verdict = HOOK_ALLOW };
	char why[64];
	json_t *body;
	const char *msg;

	if (res->err != 0) {
		hook_failed(c, res->error);
	} else if (res->status >= 200 && res->status < 300) {
		c->done(&a, c->arg);
	} else if (res->status == 403) {
		/* Its message reaches a user's screen: checked as a status line
		 * is (no control characters, 140 characters at most). */
		a.verdict = HOOK_REFUSED;
		body = json_loadb(res->body, res->body_len, 0, NULL);
		msg = json_string_value(json_object_get(body, "message"));
		if (!msg || names_clean(msg, json_string_length(json_object_get(body, "message")),
					NAMES_STATUS_MAX, false, a.message) != NAMES_OK)
			snprintf(a.message, sizeof a.message, "%s", HOOK_REFUSED_DEFAULT);
		json_decref(body);
		c->done(&a, c->arg);
	} else {
		snprintf(why, sizeof why, "HTTP status %ld", res->status);
		hook_failed(c, why);
	}
	free(c);
}

/* "X-Stateroom-Signature: t=<now>,v1=<hex HMAC-SHA256(secret, now.body)>". */
static int hook_signature(const char *secret, int64_t now, const char *body, char *out, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t blen = strlen(body);
	char *signed_text;
	int off, t_len;

	signed_text = malloc(blen + 24);
	if (!signed_text)
		return -1;
	t_len = snprintf(signed_text, 24, "%" PRId64 ".", now);
	memcpy(signed_text + t_len, body, blen);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_text,
		  (size_t)t_len + blen, mac, &mac_len)) {
		free(signed_text);
		return -1;
	}
	free(signed_text);
	off = snprintf(out, len, "X-Stateroom-Signature: t=%" PRId64 ",v1=", now);
	for (unsigned int i = 0; i < mac_len && off > 0 && (size_t)off + 3 <= len; i++)
		off += snprintf(out + off, len - (size_t)off, "%02x", mac[i]);
	return off > 0 && (size_t)off + 1 < len ? 0 : -1;
}

int hook_ask(struct backend *be, const char *room, const char *user, const char *name,
	     const char *app, hook_done_fn done, void *arg)
{
	char sig[160];
	const char *headers[] = { "Content-Type: application/json", sig, NULL };
	struct hook_call *c;
	json_t *j;
	char *body;
	int rc = -1;

	j = json_pack("{s:s,s:s,s:s,s:s}", "roomId", room, "userId", user, "name", name, "app", app);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	c = body ? calloc(1, sizeof *c) : NULL;
	if (c && hook_signature(be->cfg.connect_hook_secret, (int64_t)time(NULL), body, sig,
				sizeof sig) == 0) {
		c->be = be;
		c->done = done;
		c->arg = arg;
		snprintf(c->room, sizeof c->room, "%s", room);
		rc = hc_request(be->hc, &(struct hc_request){
					.method = "POST",
					.url = be->cfg.connect_hook_url,
					.headers = headers,
					.body = body,
					.body_len = strlen(body),
					.timeout_ms = (uint64_t)be->cfg.connect_hook_timeout_ms,
				}, hook_on_answer, c);
	}
	if (rc != 0)
		free(c);
	free(body);
	return rc == 0 ? 0 : -1;
}
