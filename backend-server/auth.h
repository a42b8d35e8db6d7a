/* auth: the caller of an API request, from its bearer user token. */
#ifndef STATEROOM_AUTH_H
#define STATEROOM_AUTH_H

#include "backend.h"
#include "ids.h"

#define AUTH_NAME_MAX 64

struct auth_user {
	char sub[IDS_USER_MAX + 1];
	char name[AUTH_NAME_MAX + 1];
	bool registered;        /* claim "reg": logged in with a password */
};

/* Signs a user token for user id sub (name = sub: guests have only a name).
 * Returns a malloc'd token the caller frees, or NULL. */
char *auth_user_token(const struct backend *be, const char *sub);

/* The same for a registered user: the token also carries "reg":true. */
char *auth_account_token(const struct backend *be, const char *sub);

/* Checks "Authorization: Bearer <user token>". Returns 0 and *out, or -1
 * after answering 401 unauthorized (missing, malformed, forged, expired, or
 * not a user token). */
int auth_user(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *out);

#endif
