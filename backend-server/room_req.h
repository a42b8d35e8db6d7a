/* room_req: what the room administration, moderation and invite handlers
 * (api_room_admin.c, api_moderation.c, api_invites.c) share: a call that
 * holds the caller and the room of /api/rooms/:id/..., the user ids and
 * fields they read, and the one way they change a room: stateroom_room_act
 * (migration 020), whose statuses they answer alike (docs/protocol.md,
 * "Roles and moderation"). */
#ifndef STATEROOM_ROOM_REQ_H
#define STATEROOM_ROOM_REQ_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "auth.h"
#include "backend.h"
#include "wire.h"

#define RREQ_REASON_MAX 200             /* bytes of UTF-8 */
#define RREQ_DURATION_MAX 31536000      /* seconds: a year */

struct rreq_call;
/* Called when stateroom_room_act answered 'ok': answers and calls
 * rreq_done(). */
typedef void (*rreq_ok_fn)(struct rreq_call *c, long long action_id);

struct rreq_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
	struct auth_user user;
	char room[WIRE_ROOM_ID_MAX + 1];
	char target[WIRE_SUB_MAX + 1];
	int ok_status;                  /* without on_ok: 204, or 200/201 with {} */
	rreq_ok_fn on_ok;
	long long link_id;              /* api_invites.c: the link being made, */
	json_int_t link_expires;        /* dropped if its act is refused */
	char token[64];
};

/* Checks the caller's token, that the database is ready and the room id of
 * params->v[0] (an id we could never have made is no room: 404 not_found),
 * then allocates the call (be_hold()). Returns it, or NULL after answering. */
struct rreq_call *rreq_begin(struct backend *be, struct httpd_req *req, enum mx_route route,
			     const struct route_params *params);

/* Frees c (be_release()). */
void rreq_done(struct rreq_call *c);

/* A subject (an account's id or a guest's) into c->target from s[0..len):
 * true, or false after answering 400 invalid_user_id and rreq_done(). */
bool rreq_target(struct rreq_call *c, const char *s, size_t len);

/* The same from the path's params->v[i], percent-decoded. */
bool rreq_path_target(struct rreq_call *c, const struct route_params *params, size_t i);

/* The body as an object (NULL after answering 400 and rreq_done()). */
json_t *rreq_body(struct rreq_call *c);

/* Answers 400 invalid_request with message, and rreq_done(). */
void rreq_invalid(struct rreq_call *c, const char *message);

/* Reads an optional durationS of obj (an integer 1..RREQ_DURATION_MAX):
 * 1 with *out, 0 when absent (or null), -1 when anything else. */
int rreq_duration(const json_t *obj, json_int_t *out);

/* Whether s[0..len) is a reason: at most RREQ_REASON_MAX bytes, no NUL, no
 * control character but tab (UTF-8 is the caller's to check, jansson's for
 * a body). */
bool rreq_reason_ok(const char *s, size_t len);

/* Runs stateroom_room_act(c->room, caller, caller's name, action, target
 * (NULL: none), NULL, detail (stolen; NULL: {})); answers its status
 * (anything but 'ok': 404 not_found, 403 forbidden, 403 outranked, 404
 * no_such_user, 409 exists, 400 invalid_request) or, on 'ok', calls
 * c->on_ok or answers c->ok_status. Ends c either way. */
void rreq_act(struct rreq_call *c, const char *action, const char *target, json_t *detail);

/* Answers a stateroom_room_act status other than 'ok'. Does not end c. */
void rreq_refuse(struct rreq_call *c, const char *status);

/* The database failed: logged with what, answered 503; ends c. */
void rreq_db_error(struct rreq_call *c, const char *what, const char *err);

/* Answers status with body (stolen) or, for 204, no body; ends c. */
void rreq_answer(struct rreq_call *c, int status, json_t *body);
/* Answers a list built from rows: 200 with body (stolen), or 500 when it is
 * NULL (out of memory while building it); ends c. */
void rreq_answer_built(struct rreq_call *c, json_t *body);
/* Queries sql with $1 the room and $2 the caller (the GET routes' reads);
 * on_rows answers. When the query cannot be queued, logs what and answers
 * 503, ending c. */
void rreq_read(struct rreq_call *c, const char *sql, db_result_fn on_rows, const char *what);

/* For GET .../bans and .../invites, whose first row is the caller's role
 * (none: no room): true for a moderator or the owner, else answers (404
 * not_found, 403 forbidden) and ends c. */
bool rreq_may_list(struct rreq_call *c, const PGresult *res);

/* Ms since the epoch from a bigint column, NULL or not. */
json_t *rreq_ms(const PGresult *res, int row, int col);

#endif
