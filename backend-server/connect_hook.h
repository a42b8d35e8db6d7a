/* connect_hook: asks the app's own backend whether a user may join a room
 * before a ticket is issued (docs/protocol.md, "Connect hook"):
 * --connect-hook-url gets POST {"roomId","userId","name","app"}, signed with
 * --connect-hook-secret as `X-Stateroom-Signature: t=<unix>,v1=<hex
 * HMAC-SHA256(secret, t + "." + body)>`, within --connect-hook-timeout-ms.
 * 2xx allows; 403 refuses, with the hook's {"message"} if it gave a
 * sound one; anything else (no answer in time, unreachable, any other
 * status) is a failure, and --connect-hook-fail says what it means. */
#ifndef STATEROOM_CONNECT_HOOK_H
#define STATEROOM_CONNECT_HOOK_H

#include <stdbool.h>

#include "names.h"

struct backend;

enum hook_verdict {
	HOOK_ALLOW,        /* the hook said yes, or failed with --connect-hook-fail open */
	HOOK_REFUSED,      /* 403 */
	HOOK_UNAVAILABLE,  /* failed with --connect-hook-fail closed */
};

struct hook_answer {
	enum hook_verdict verdict;
	char message[NAMES_BUF];    /* HOOK_REFUSED: what the user is told */
};

typedef void (*hook_done_fn)(const struct hook_answer *a, void *arg);

/* Whether a hook is configured. */
bool hook_enabled(const struct backend *be);

/* Asks the hook about user (subject, name) joining room of application app.
 * Returns 0, and done runs once, later, from the loop; or -1 when the hook
 * could not be asked at all (no memory, a client that is closing), which
 * the caller takes as a failure. */
int hook_ask(struct backend *be, const char *room, const char *user, const char *name,
	     const char *app, hook_done_fn done, void *arg);

#endif
