/* wire: what the backend and the session servers must agree on, written
 * once (docs/protocol.md, "Identifiers and limits", "Tokens", "Close codes"):
 * the ids and their limits, the join ticket's claims (minted by the backend,
 * verified by a session server), and the WebSocket close codes. */
#ifndef STATEROOM_WIRE_H
#define STATEROOM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Random ids (ticket ids, boot ids, guest subjects): 16 random bytes in
 * unpadded base64url. */
#define WIRE_RANDOM_ID_LEN 22

#define WIRE_USER_ID_MAX 32        /* user id: 1..32 of A-Z a-z 0-9 _ - . */
#define WIRE_GUEST_PREFIX "guest:" /* a guest's subject: this and a random id */
#define WIRE_GUEST_SUB_LEN (sizeof WIRE_GUEST_PREFIX - 1 + WIRE_RANDOM_ID_LEN)
#define WIRE_SUB_MAX WIRE_USER_ID_MAX /* a subject (token and ticket "sub") */
#define WIRE_NAME_MAX 64           /* a user's name as shown, in bytes */
#define WIRE_ROOM_ID_LEN 12        /* a new room id: 12 of a-z 0-9 */
#define WIRE_ROOM_ID_MAX 32        /* a room id looked up: 1..32 of a-z 0-9 */
#define WIRE_APP_NAME_MAX 32       /* a room application's name: 1..32 of a-z 0-9 _ */
#define WIRE_MSG_ID_MAX 64         /* a native send's client message id, bytes */
#define WIRE_JTI_MAX 64            /* the longest ticket id a server takes */
#define WIRE_SERVER_ID_MAX 63      /* a session server's id (a ticket's aud) */
#define WIRE_BOOT_LEN WIRE_RANDOM_ID_LEN /* a server process's boot id, random */
#define WIRE_BOOT_CLAIM "boot"     /* the ticket claim naming it */

/* The subject of what the server API publishes (docs/protocol.md, "Server
 * API"): the colon makes it no user id, and it is no guest's either, so no
 * user can ever be it. */
#define WIRE_SERVER_SUB "server:"

/* The backend's calls to a session server's /internal/ routes carry a token
 * of this type for that server, room and action, living this many seconds. */
#define WIRE_INTERNAL_TYP "internal"
#define WIRE_INTERNAL_TTL 5

#define WIRE_TICKET_TTL_DEFAULT "30" /* seconds, --ticket-ttl of both servers */
#define WIRE_TICKET_TTL_MAX 3600

/* The close codes the session server sends (docs/protocol.md, "Close
 * codes"); RFC 6455's below 4000, ours above. */
enum wire_close {
	WIRE_CLOSE_PROTOCOL = 1002,    /* the peer broke RFC 6455 */
	WIRE_CLOSE_UNSUPPORTED = 1003, /* a binary frame */
	WIRE_CLOSE_BAD_DATA = 1007,    /* invalid UTF-8, a NUL in a message */
	WIRE_CLOSE_POLICY = 1008,      /* "too slow" */
	WIRE_CLOSE_TOO_BIG = 1009,     /* message over the limit */
	WIRE_CLOSE_INTERNAL = 1011,    /* the room or its messages could not be loaded or saved */
	WIRE_CLOSE_RESTART = 1012,     /* shutting down or draining: look the room up again */
	WIRE_CLOSE_BAD_TICKET = 4001,  /* missing, malformed, forged, expired, used or stale ticket */
	WIRE_CLOSE_FORBIDDEN = 4003,   /* a room the ticket's user may not join (another user's inbox) */
	WIRE_CLOSE_NOT_HERE = 4004,    /* ticket or room for another server or epoch */
	WIRE_CLOSE_SUBPROTOCOL = 4006, /* the room's application does not serve the subprotocol */
	WIRE_CLOSE_USER_CONNS = 4008,  /* too many connections of this user in this room */
	WIRE_CLOSE_ROOM_FULL = 4009,   /* the room is at capacity */
	WIRE_CLOSE_BANNED = 4010,      /* banned from the room: do not come back */
	WIRE_CLOSE_REMOVED = 4011,     /* removed (kicked) by a moderator */
	WIRE_CLOSE_DELETED = 4012,     /* the room was deleted by its owner */
	WIRE_CLOSE_BY_SERVER = 4013,   /* closed by the app's backend (server API) */
	WIRE_CLOSE_BUSY = 4029,        /* too many joins to remember */
};

/* Writes a new random id and its NUL into out. Returns 0, or -EIO when the
 * random generator fails. */
int wire_random_id(char out[WIRE_RANDOM_ID_LEN + 1]);

bool wire_user_id_valid(const char *s, size_t len);

/* A user id, or a guest subject: WIRE_GUEST_PREFIX and a random id. */
bool wire_sub_valid(const char *s, size_t len);

bool wire_room_id_valid(const char *s, size_t len);

/* A name a room application could have (rooms.app, session_servers.apps,
 * POST /api/rooms "app"): what the backend checks before it asks the
 * database, and what every application's name is. */
bool wire_app_name_valid(const char *s, size_t len);

/* A join ticket's claims (besides typ, iat and exp). */
struct wire_ticket {
	char sub[WIRE_SUB_MAX + 1];
	char name[WIRE_NAME_MAX + 1];      /* verify: sub when the ticket has no usable name */
	char room[WIRE_ROOM_ID_MAX + 1];
	char jti[WIRE_JTI_MAX + 1];        /* mint draws it */
	int64_t epoch;
	int64_t exp;                       /* verify only */
};

/* A ticket for t's user, room and epoch (t->jti is not read) on the server
 * aud, process boot, living ttl seconds from now. Returns a malloc'd token
 * the caller frees, or NULL (no memory, no random bytes). */
char *wire_ticket_mint(const struct wire_ticket *t, const char *aud, const char *boot, int64_t now,
		       int64_t ttl, const unsigned char *key, size_t key_len);

enum wire_verdict {
	WIRE_TICKET_OK,
	WIRE_TICKET_BAD,        /* malformed, forged, expired, or for another process (boot) */
	WIRE_TICKET_ELSEWHERE,  /* sound, but for another server */
};

/* Checks tok[0..len) as a ticket for server_id's process boot at time now
 * (Unix seconds), living at most max_ttl seconds; on WIRE_TICKET_OK fills
 * *out. Whether the ticket was used already is the caller's to know. */
enum wire_verdict wire_ticket_verify(const char *tok, size_t len, const unsigned char *key,
				     size_t key_len, const char *server_id, const char *boot,
				     int64_t now, int64_t max_ttl, struct wire_ticket *out);

/* An internal call's token: for server aud, room and action act (its
 * route's last segment), living WIRE_INTERNAL_TTL seconds from now.
 * Returns a malloc'd token the caller frees, or NULL. */
char *wire_internal_mint(const char *aud, const char *room, const char *act, int64_t now,
			 const unsigned char *key, size_t key_len);

/* Whether tok[0..len) is a sound internal token for server_id, room and act
 * at time now. */
bool wire_internal_verify(const char *tok, size_t len, const unsigned char *key, size_t key_len,
			  const char *server_id, const char *room, const char *act, int64_t now);

#endif
