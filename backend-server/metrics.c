#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

static const char *const mx_route_names[MX_N_ROUTES] = {
	[MX_LOGIN] = "login",
	[MX_ROOMS_CREATE] = "rooms_create",
	[MX_ROOMS_GET] = "rooms_get",
	[MX_REGISTER] = "register",
	[MX_ACCOUNT_LOGIN] = "account_login",
	[MX_ME] = "me",
	[MX_ROOMS_LIST] = "rooms_list",
	[MX_HISTORY] = "history",
	[MX_ME_PATCH] = "me_patch",
	[MX_USERS_GET] = "users_get",
	[MX_USERS_SEARCH] = "users_search",
	[MX_FRIENDS_REQUEST] = "friends_request",
	[MX_FRIENDS_ACCEPT] = "friends_accept",
	[MX_FRIENDS_DECLINE] = "friends_decline",
	[MX_FRIENDS_CANCEL] = "friends_cancel",
	[MX_FRIENDS_REMOVE] = "friends_remove",
	[MX_FRIENDS_LIST] = "friends_list",
	[MX_BLOCKS_ADD] = "blocks_add",
	[MX_BLOCKS_REMOVE] = "blocks_remove",
	[MX_BLOCKS_LIST] = "blocks_list",
	[MX_DMS] = "dms",
	[MX_ME_ROOMS] = "me_rooms",
	[MX_ME_ROOMS_LEAVE] = "me_rooms_leave",
	[MX_INBOX] = "inbox",
	[MX_FILES_UPLOAD] = "files_upload",
	[MX_FILES_GET] = "files_get",
	[MX_ROOM_SEARCH] = "room_search",
	[MX_SEARCH] = "search",
	[MX_ROOM_PATCH] = "room_patch",
	[MX_ROOM_DELETE] = "room_delete",
	[MX_ROOM_MEMBERS] = "room_members",
	[MX_ROOM_ROLE] = "room_role",
	[MX_ROOM_KICK] = "room_kick",
	[MX_ROOM_OWNER] = "room_owner",
	[MX_ROOM_BANS] = "room_bans",
	[MX_ROOM_BAN] = "room_ban",
	[MX_ROOM_UNBAN] = "room_unban",
	[MX_ROOM_MUTE] = "room_mute",
	[MX_ROOM_UNMUTE] = "room_unmute",
	[MX_ROOM_INVITES] = "room_invites",
	[MX_ROOM_INVITE] = "room_invite",
	[MX_ROOM_REVOKE_LINK] = "room_revoke_link",
	[MX_ROOM_UNINVITE] = "room_uninvite",
	[MX_INVITE_ACCEPT] = "invite_accept",
	[MX_DEVICES_ADD] = "devices_add",
	[MX_DEVICES_LIST] = "devices_list",
	[MX_DEVICES_REMOVE] = "devices_remove",
	[MX_ICE] = "ice",
	[MX_NOTIFY] = "notify",
	[MX_ROOM_NOTIFY] = "room_notify",
	[MX_REMINDERS] = "reminders",
	[MX_PUSH_KEY] = "push_key",
	[MX_PUSH_SUBSCRIBE] = "push_subscribe",
	[MX_PUSH_UNSUBSCRIBE] = "push_unsubscribe",
	[MX_EMAIL] = "email",
	[MX_HEALTHZ] = "healthz",
	[MX_READYZ] = "readyz",
	[MX_METRICS] = "metrics",
	[MX_STATIC] = "static",
	[MX_NOT_FOUND] = "not_found",
	[MX_METHOD_NOT_ALLOWED] = "method_not_allowed",
	[MX_OTHER] = "other",
};

static const char *const mx_sched_names[MX_N_SCHED] = {
	[MX_SCHED_OK] = "ok",
	[MX_SCHED_NOROOM] = "no_room",
	[MX_SCHED_FULL] = "full",
	[MX_SCHED_UNAVAIL] = "unavailable",
	[MX_SCHED_EXISTS] = "exists",
	[MX_SCHED_NOAPP] = "no_app",
};

void mx_request(struct metrics *m, enum mx_route route, int status)
{
	if (route < MX_N_ROUTES && status >= 100 && status < 600)
		m->requests[route][status / 100 - 1]++;
}

enum mx_sched mx_sched_index(enum sched_result sched_err)
{
	switch (sched_err) {
	case SCHED_OK: return MX_SCHED_OK;
	case SCHED_NOROOM: return MX_SCHED_NOROOM;
	case SCHED_FULL: return MX_SCHED_FULL;
	case SCHED_EXISTS: return MX_SCHED_EXISTS;
	case SCHED_NOAPP: return MX_SCHED_NOAPP;
	case SCHED_UNAVAIL: break;
	}
	return MX_SCHED_UNAVAIL;
}

struct mx_buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void mx_printf(struct mx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mx_printf(struct mx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *s = realloc(b->s, b->cap * 2 + (size_t)n);
		if (!s) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

char *mx_render(const struct metrics *m, size_t http_conns, int db_connected, int ready, size_t *len)
{
	struct mx_buf b = { .cap = 4096 };

	b.s = malloc(b.cap);
	if (!b.s)
		return NULL;

	mx_printf(&b, "# HELP stateroom_http_requests_total HTTP requests answered by the backend, "
		  "by route and status class.\n# TYPE stateroom_http_requests_total counter\n");
	for (int r = 0; r < MX_N_ROUTES; r++)
		for (int c = 0; c < 5; c++)
			if (m->requests[r][c])
				mx_printf(&b, "stateroom_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n",
					  mx_route_names[r], c + 1, (unsigned long long)m->requests[r][c]);

	mx_printf(&b, "# HELP stateroom_sched_place_total Room placements by outcome.\n"
		  "# TYPE stateroom_sched_place_total counter\n");
	for (int i = 0; i < MX_N_SCHED; i++)
		mx_printf(&b, "stateroom_sched_place_total{result=\"%s\"} %llu\n", mx_sched_names[i],
			  (unsigned long long)m->place[i]);
	mx_printf(&b, "# HELP stateroom_sched_locate_total Room look-ups by outcome.\n"
		  "# TYPE stateroom_sched_locate_total counter\n");
	for (int i = 0; i < MX_N_SCHED; i++)
		mx_printf(&b, "stateroom_sched_locate_total{result=\"%s\"} %llu\n", mx_sched_names[i],
			  (unsigned long long)m->locate[i]);

	mx_printf(&b, "# HELP stateroom_http_connections Open HTTP connections.\n"
		  "# TYPE stateroom_http_connections gauge\nstateroom_http_connections %zu\n",
		  http_conns);
	mx_printf(&b, "# HELP stateroom_db_connected 1 while the PostgreSQL connection is up.\n"
		  "# TYPE stateroom_db_connected gauge\nstateroom_db_connected %d\n", db_connected);
	mx_printf(&b, "# HELP stateroom_ready 1 once migrations are applied.\n"
		  "# TYPE stateroom_ready gauge\nstateroom_ready %d\n", ready);

	if (b.failed) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s;
}
