/* room_opts: the options a client may give when it creates a room
 * (POST /api/rooms body {"name","capacity","visibility","persistent",
 * "inviteOnly","app","seats"}, every field optional). */
#ifndef STATEROOM_ROOM_OPTS_H
#define STATEROOM_ROOM_OPTS_H

#include <jansson.h>
#include <stdbool.h>

#include "wire.h"

#define ROOM_NAME_MAX 100   /* bytes of UTF-8 */

struct room_opts {
	bool has_name;
	char name[ROOM_NAME_MAX + 1];
	int capacity;           /* users */
	const char *visibility; /* a static string: "public" or "unlisted" */
	bool persistent;        /* false: messages are never written to the database */
	bool invite_only;       /* only the invited look it up and join */
	/* The application asked for: "chat" when none; "" for a string that
	 * can name no application a client may choose (not a name, or the
	 * inbox), which the caller refuses with the known ones. */
	char app[WIRE_APP_NAME_MAX + 1];
	/* Seats of a game (ROOM_SEATS_MIN..MAX); 0: not given (the
	 * application's default). Applications without seats ignore it. */
	int seats;
};

#define ROOM_SEATS_MIN 2
#define ROOM_SEATS_MAX 16

/* Reads body (an object) into *out; a missing or null field takes its
 * default (no name, max_capacity users, "unlisted", persistent, not
 * invite-only, "chat"). Unknown fields are
 * ignored so that newer clients work against older backends. Returns 0, or -1
 * with *why set to a static English reason (out untouched). */
int room_opts_parse(const json_t *body, int max_capacity, struct room_opts *out, const char **why);

#endif
