/* room: who is in a room, and which rooms a server holds.
 *
 * Pure bookkeeping with no I/O, so that the limits can be tested alone.
 * A member is a distinct user with a count of their connections (tabs):
 * capacity counts members, a further tab of a member is always admitted,
 * and the member list keeps the order in which users first joined.
 *
 * The struct room is embedded in its owner's struct (the hub's); the table
 * holds pointers and never frees rooms. */
#ifndef STATEROOM_ROOM_H
#define STATEROOM_ROOM_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

struct room_member {
	char user[WIRE_SUB_MAX + 1];    /* the key */
	char name[WIRE_NAME_MAX + 1];   /* as shown: the first connection's */
	unsigned tabs;
};

struct room {
	char id[WIRE_ROOM_ID_MAX + 1];
	unsigned capacity;            /* distinct users */
	unsigned max_tabs;            /* connections of one user; 0: no limit */
	struct room_member *members;  /* in join order */
	size_t n_members, cap_members;
};

struct room_table {
	struct room **rooms;
	size_t n, max;
};

/* id is truncated to WIRE_ROOM_ID_MAX; capacity is clamped to max_users. */
void room_init(struct room *r, const char *id, unsigned capacity, unsigned max_users);
void room_set_capacity(struct room *r, unsigned capacity, unsigned max_users);
/* Frees the member list. NULL-safe. */
void room_fini(struct room *r);

/* Adds a connection of user, shown as name (NULL: the user id). Returns 1
 * when the user is new to the room (presence "joined"), 0 for a further tab,
 * -ENOSPC when the room already has capacity members, -EMLINK when the user
 * has max_tabs connections already, -EINVAL for an empty or too long user id
 * or name, -ENOMEM. */
int room_join(struct room *r, const char *user, const char *name);

/* Removes a connection of user. Returns 1 when it was the user's last
 * (presence "left"; the member is gone), 0 when tabs remain, -ENOENT. */
int room_leave(struct room *r, const char *user);

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
