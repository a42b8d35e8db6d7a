/* internal_api: the session server's side of the server API
 * (docs/protocol.md, "Server API", "The internal routes"): the backend
 * forwards what acts on a live room to the server that holds it.
 *
 *   POST /internal/rooms/:id/records {"payload","kind"?,"name"?} → {"seq"}
 *   GET  /internal/rooms/:id/presence → {"loaded","members":[...]}
 *   POST /internal/rooms/:id/close {"userId","reason"?} → {"closed":N}
 *
 * Every call needs `Authorization: Bearer` with a token of type
 * WIRE_INTERNAL_TYP signed with the shared secret for this server, this
 * room and this action (wire.h), or it is 401 and nothing else is said. */
#ifndef STATEROOM_INTERNAL_API_H
#define STATEROOM_INTERNAL_API_H

#include "httpd.h"
#include "router.h"

struct hub;

struct iapi {
	struct hub *hub;
	const char *secret;
	const char *server_id;
};

void iapi_records(struct iapi *a, struct httpd_req *req, const struct route_params *p);
void iapi_presence(struct iapi *a, struct httpd_req *req, const struct route_params *p);
void iapi_close(struct iapi *a, struct httpd_req *req, const struct route_params *p);

#endif
