/* room: who is in a room, and which rooms a server holds.
 *
 * Pure bookkeeping with no I/O, so that the limits can be tested alone.
 * A member is a distinct user with a count of their connections (tabs):
 * capacity counts members, a further tab of a member is always admitted,
 * and the member list keeps the order in which users first joined.
 * A member holds its user id and name by pointer, not by copy: they are one
 * of its connections' strings (an idle connection paid 104 bytes for the
 * copies, issue 18), which the caller keeps valid, handing another tab's
 * over (room_rebind) when the connection they belong to leaves first.
 *
 * The struct room is embedded in its owner's struct (the hub's); the table
 * holds pointers and never frees rooms. A server may hold ten thousand
 * (inboxes are rooms), and every join looks its room up: the table is a
 * dense array (rooms[0..n), to walk) with a hash index beside it. */
#ifndef STATEROOM_ROOM_H
#define STATEROOM_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct room_member {
	const char *user;               /* the key */
	const char *name;               /* as shown: the first connection's, then a remaining tab's */
	unsigned tabs;
};

struct room {
	char id[WIRE_ROOM_ID_MAX + 1];
	unsigned capacity;            /* distinct users */
	unsigned max_tabs;            /* connections of one user; 0: no limit */
	struct room_member *members;  /* in join order */
	size_t n_members, cap_members;
	struct room *hnext;           /* the table's: its hash chain */
	size_t slot;                  /* the table's: its index in rooms */
};

struct room_table {
	struct room **rooms;          /* rooms[0..n): removal moves the last into the gap */
	size_t n, max;
	struct room **buckets;        /* mask + 1 chains */
	size_t mask;
	uint64_t seed;                /* random: nobody can aim ids at one chain */
};

/* id is truncated to WIRE_ROOM_ID_MAX; capacity is clamped to max_users. */
void room_init(struct room *r, const char *id, unsigned capacity, unsigned max_users);
void room_set_capacity(struct room *r, unsigned capacity, unsigned max_users);
/* Frees the member list. NULL-safe. */
void room_fini(struct room *r);

/* What a join did: the first two admit the connection, the others refuse it. */
enum room_join_result {
	ROOM_JOINED_FIRST,   /* the user is new to the room (presence "joined") */
	ROOM_JOINED_AGAIN,   /* a further tab of a member */
	ROOM_FULL,           /* the room already has capacity members */
	ROOM_TOO_MANY_TABS,  /* the user has max_tabs connections already */
	ROOM_BAD_USER,       /* an empty or too long user id or name */
	ROOM_NO_MEMORY,
};

/* Adds a connection of user, shown as name (NULL: the user id). A new
 * member keeps the two pointers: they stay valid until it leaves or they
 * are replaced by room_rebind. */
enum room_join_result room_join(struct room *r, const char *user, const char *name);

/* True when a member holds user (this very pointer, not an equal string):
 * its connection may not go while tabs remain without a room_rebind. */
bool room_holds(const struct room *r, const char *user);
/* The member holding old (a pointer room_join was given) now holds user
 * and name (NULL: user), an equal user id of another of its tabs. */
void room_rebind(struct room *r, const char *old, const char *user, const char *name);

enum room_leave_result {
	ROOM_LEFT,          /* the user's last connection (presence "left"; the member is gone) */
	ROOM_TABS_REMAIN,
	ROOM_NOT_MEMBER,
};

/* Removes a connection of user. */
enum room_leave_result room_leave(struct room *r, const char *user);

/* Member i (0 ≤ i < r->n_members) in join order, and its name. */
const char *room_member(const struct room *r, size_t i);
const char *room_member_name(const struct room *r, size_t i);

/* A table of at most max rooms. Returns 0 or -ENOMEM. */
int room_table_init(struct room_table *t, size_t max);
void room_table_fini(struct room_table *t);
struct room *room_table_find(const struct room_table *t, const char *id);
/* Returns 0, or -ENOSPC when the table is full, -EEXIST if the id is held. */
int room_table_add(struct room_table *t, struct room *r);
void room_table_remove(struct room_table *t, struct room *r);

#endif
