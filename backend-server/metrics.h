/* metrics: counters the backend exposes on GET /metrics (Prometheus text
 * format 0.0.4). Plain integers: one loop, one thread. */
#ifndef STATEROOM_METRICS_H
#define STATEROOM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler.h"

enum mx_route {
	MX_LOGIN,
	MX_ROOMS_CREATE,
	MX_ROOMS_GET,
	MX_REGISTER,
	MX_ACCOUNT_LOGIN,
	MX_ME,
	MX_ROOMS_LIST,
	MX_HISTORY,
	MX_ME_PATCH,
	MX_USERS_GET,
	MX_USERS_SEARCH,
	MX_FRIENDS_REQUEST,
	MX_FRIENDS_ACCEPT,
	MX_FRIENDS_DECLINE,
	MX_FRIENDS_CANCEL,
	MX_FRIENDS_REMOVE,
	MX_FRIENDS_LIST,
	MX_BLOCKS_ADD,
	MX_BLOCKS_REMOVE,
	MX_BLOCKS_LIST,
	MX_DMS,
	MX_ME_ROOMS,
	MX_ME_ROOMS_LEAVE,
	MX_INBOX,
	MX_FILES_UPLOAD,
	MX_FILES_GET,
	MX_ROOM_SEARCH,
	MX_SEARCH,
	MX_ROOM_PATCH,
	MX_ROOM_DELETE,
	MX_ROOM_MEMBERS,
	MX_ROOM_ROLE,
	MX_ROOM_KICK,
	MX_ROOM_OWNER,
	MX_ROOM_BANS,
	MX_ROOM_BAN,
	MX_ROOM_UNBAN,
	MX_ROOM_MUTE,
	MX_ROOM_UNMUTE,
	MX_ROOM_INVITES,
	MX_ROOM_INVITE,
	MX_ROOM_REVOKE_LINK,
	MX_ROOM_UNINVITE,
	MX_INVITE_ACCEPT,
	MX_DEVICES_ADD,
	MX_DEVICES_LIST,
	MX_DEVICES_REMOVE,
	MX_ICE,
	MX_NOTIFY,              /* /api/me/notify (api_notify.c) */
	MX_ROOM_NOTIFY,
	MX_REMINDERS,
	MX_PUSH_KEY,
	MX_PUSH_SUBSCRIBE,
	MX_PUSH_UNSUBSCRIBE,
	MX_EMAIL,               /* /api/me/email and the pages of mail links */
	MX_HEALTHZ,
	MX_READYZ,
	MX_METRICS,
	MX_STATIC,
	MX_NOT_FOUND,           /* no route (404) */
	MX_METHOD_NOT_ALLOWED,  /* a route's path, another method (405) */
	MX_OTHER,               /* refused before routing: starting or stopping */
	MX_N_ROUTES
};

enum mx_sched { MX_SCHED_OK, MX_SCHED_NOROOM, MX_SCHED_FULL, MX_SCHED_UNAVAIL, MX_SCHED_EXISTS,
		MX_SCHED_NOAPP, MX_N_SCHED };

struct metrics {
	uint64_t requests[MX_N_ROUTES][5];     /* by status class 1xx..5xx */
	uint64_t place[MX_N_SCHED];            /* scheduler outcomes */
	uint64_t locate[MX_N_SCHED];
};

/* Counts one answered request; status outside 100..599 is ignored. */
void mx_request(struct metrics *m, enum mx_route route, int status);

/* The counter index of a scheduler result. */
enum mx_sched mx_sched_index(enum sched_result sched_err);

/* Renders the counters and the gauges given into a malloc'd text the caller
 * frees; *len receives its length. NULL on allocation failure. */
char *mx_render(const struct metrics *m, size_t http_conns, int db_connected, int ready, size_t *len);

#endif
