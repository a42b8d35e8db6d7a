/* auth: the caller of an API request, from its bearer user token. */
#ifndef STATEROOM_AUTH_H
#define STATEROOM_AUTH_H

#include "backend.h"
#include "wire.h"

/* A guest's subject is WIRE_GUEST_PREFIX (no user id holds a ':') and a
 * random id, new at every guest login. */
#define AUTH_NAME_MAX WIRE_NAME_MAX
#define AUTH_SUB_MAX WIRE_SUB_MAX

/* The caller. sub is who it is: what it owns (rooms.owner, read marks) is
 * keyed by sub. name is what others see. A registered user's sub is its
 * name; a guest's is WIRE_GUEST_PREFIX and a random id. */
struct auth_user {
	char sub[AUTH_SUB_MAX + 1];
	char name[AUTH_NAME_MAX + 1];
	bool registered;        /* claim "reg": logged in with a password */
};

/* Signs a guest token for name, with a new subject of its own. Returns a
 * malloc'd token the caller frees, or NULL. */
char *auth_guest_token(const struct backend *be, const char *name);

/* The same for a registered user (sub = name): the token also carries
 * "reg":true. */
char *auth_account_token(const struct backend *be, const char *name);

/* Checks "Authorization: Bearer <user token>". Returns 0 and *out, or -1
 * after answering 401 unauthorized (missing, malformed, forged, expired, or
 * not a user token). */
/* The same check, answering nothing (for a request whose head is all
 * there is yet): 0 and *out, or -1 and *why (a static reason). */
int auth_check(const struct backend *be, const struct httpd_req *req, struct auth_user *out,
	       const char **why);

int auth_user(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *out);

#endif
