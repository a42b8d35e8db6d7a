/* ticket: join tickets, checked before the 101 answer.
 *
 * A ticket is a JWT (see token.h) with typ "ticket" whose claims bind a user
 * to a room, a session server (aud), this process of it (boot) and a
 * placement epoch. Each ticket's jti is remembered until the ticket expires,
 * so a ticket works once. The remembered set lives in memory and dies with
 * the process, so each jar draws a random boot id that the server publishes
 * in its registry row and that the backend signs into its tickets: a ticket
 * for an earlier process of this server is refused, which is what makes a
 * ticket work once across restarts. The remembered set is bounded: when it
 * is full of unexpired tickets, new ones are refused (TICKET_BUSY) rather
 * than letting memory grow. */
#ifndef STATEROOM_TICKET_H
#define STATEROOM_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Results double as the WebSocket close codes the caller sends. */
enum ticket_result {
	TICKET_OK = 0,
	TICKET_BAD = WIRE_CLOSE_BAD_TICKET,   /* missing, malformed, forged, expired, used,
	                                       * or for an earlier process of this server */
	TICKET_ELSEWHERE = WIRE_CLOSE_NOT_HERE, /* valid, but for another server */
	TICKET_BUSY = WIRE_CLOSE_BUSY,        /* the used-ticket set is full */
};

struct ticket {
	char user[WIRE_SUB_MAX + 1];
	char name[WIRE_NAME_MAX + 1];
	char room[WIRE_ROOM_ID_MAX + 1];
	int64_t epoch;
};

struct ticket_jar;

/* A jar remembering at most max_used tickets, taking those that live at most
 * ttl seconds (the backend's --ticket-ttl), with a new random boot id.
 * Returns 0 and *out, -ENOMEM, or -EIO (no random bytes). */
int ticket_jar_new(size_t max_used, int64_t ttl, struct ticket_jar **out);
void ticket_jar_free(struct ticket_jar *jar);

/* The jar's boot id: WIRE_BOOT_LEN characters, NUL-terminated. */
const char *ticket_jar_boot(const struct ticket_jar *jar);

/* Verifies one ticket for server_id at time now (Unix seconds) and, on
 * TICKET_OK, marks it used and fills *out. */
enum ticket_result ticket_verify(struct ticket_jar *jar, const char *tok, size_t len,
				 const unsigned char *key, size_t key_len, const char *server_id,
				 int64_t now, struct ticket *out);

/* Parameter names longer than this are passed over by ticket_from_query. */
#define TICKET_PARAM_NAME_MAX 63

struct httpd_req;

/* Finds the ticket in the request's URL query: the "token" parameter, or
 * failing that the first other parameter (not "since") whose value
 * verifies. Returns the result for the token parameter if present, else
 * TICKET_OK for the first value that verifies, else TICKET_ELSEWHERE if any
 * value was only for another server, else TICKET_BAD. A parameter that does
 * not decode (a NUL byte, a value longer than TOK_MAX_LEN, a name longer
 * than TICKET_PARAM_NAME_MAX) counts as absent. */
enum ticket_result ticket_from_query(struct ticket_jar *jar, const struct httpd_req *req,
				     const unsigned char *key, size_t key_len,
				     const char *server_id, int64_t now, struct ticket *out);

#endif
