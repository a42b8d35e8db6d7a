#include "room.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static unsigned clamp(unsigned capacity, unsigned max_users)
{
	return capacity < max_users ? capacity : max_users;
}

void room_init(struct room *r, const char *id, unsigned capacity, unsigned max_users)
{
	memset(r, 0, sizeof(*r));
	strncpy(r->id, id, WIRE_ROOM_ID_MAX);
	r->capacity = clamp(capacity, max_users);
}

void room_set_capacity(struct room *r, unsigned capacity, unsigned max_users)
{
	r->capacity = clamp(capacity, max_users);
}

void room_fini(struct room *r)
{
	if (!r)
		return;
	free(r->members);
	r->members = NULL;
	r->n_members = r->cap_members = 0;
}

static struct room_member *find(const struct room *r, const char *user)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (strcmp(r->members[i].user, user) == 0)
			return &r->members[i];
	return NULL;
}

enum room_join_result room_join(struct room *r, const char *user, const char *name)
{
	struct room_member *m = find(r, user);
	size_t len = strlen(user), nlen;

	if (m) {
		if (r->max_tabs && m->tabs >= r->max_tabs)
			return ROOM_TOO_MANY_TABS;
		m->tabs++;
		return ROOM_JOINED_AGAIN;
	}
	if (!name)
		name = user;
	nlen = strlen(name);
	if (len == 0 || len > WIRE_SUB_MAX || nlen == 0 || nlen > WIRE_NAME_MAX)
		return ROOM_BAD_USER;
	if (r->n_members >= r->capacity)
		return ROOM_FULL;
	if (r->n_members == r->cap_members) {
		size_t cap = r->cap_members ? r->cap_members * 2 : 4;
		/* A full room holds no slots it can never use. */
		if (cap > r->capacity)
			cap = r->capacity;
		struct room_member *p = realloc(r->members, cap * sizeof(*p));
		if (!p)
			return ROOM_NO_MEMORY;
		r->members = p;
		r->cap_members = cap;
	}
	m = &r->members[r->n_members++];
	m->user = user;
	m->name = name;
	m->tabs = 1;
	return ROOM_JOINED_FIRST;
}

static struct room_member *holder(const struct room *r, const char *user)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i].user == user)
			return &r->members[i];
	return NULL;
}

bool room_holds(const struct room *r, const char *user)
{
	return holder(r, user) != NULL;
}

void room_rebind(struct room *r, const char *old, const char *user, const char *name)
{
	struct room_member *m = holder(r, old);

	assert(m && strcmp(user, old) == 0);
	m->user = user;
	m->name = name ? name : user;
}

enum room_leave_result room_leave(struct room *r, const char *user)
{
	struct room_member *m = find(r, user);
	size_t i;

	if (!m)
		return ROOM_NOT_MEMBER;
	if (--m->tabs > 0)
		return ROOM_TABS_REMAIN;
	i = (size_t)(m - r->members);
	memmove(m, m + 1, (r->n_members - i - 1) * sizeof(*m));
	r->n_members--;
	return ROOM_LEFT;
}

const char *room_member(const struct room *r, size_t i)
{
	return i < r->n_members ? r->members[i].user : NULL;
}

const char *room_member_name(const struct room *r, size_t i)
{
	return i < r->n_members ? r->members[i].name : NULL;
}

/* FNV-1a from a random start: room ids are short, and the seed keeps the
 * chains even whatever ids a server is given. */
static size_t table_bucket(const struct room_table *t, const char *id)
{
	uint64_t h = t->seed;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return (size_t)(h ^ (h >> 32)) & t->mask;
}

int room_table_init(struct room_table *t, size_t max)
{
	size_t nb = 16;

	while (nb < max)
		nb <<= 1;
	t->rooms = calloc(max ? max : 1, sizeof(*t->rooms));
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->rooms || !t->buckets) {
		free(t->rooms);
		free(t->buckets);
		t->rooms = t->buckets = NULL;
		return -ENOMEM;
	}
	if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != sizeof t->seed)
		t->seed = 14695981039346656037u ^ (uint64_t)(uintptr_t)t;
	t->n = 0;
	t->max = max;
	t->mask = nb - 1;
	return 0;
}

void room_table_fini(struct room_table *t)
{
	if (!t)
		return;
	free(t->rooms);
	free(t->buckets);
	t->rooms = t->buckets = NULL;
	t->n = t->max = 0;
}

struct room *room_table_find(const struct room_table *t, const char *id)
{
	for (struct room *r = t->buckets[table_bucket(t, id)]; r; r = r->hnext)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

int room_table_add(struct room_table *t, struct room *r)
{
	struct room **head;

	if (room_table_find(t, r->id))
		return -EEXIST;
	if (t->n >= t->max)
		return -ENOSPC;
	head = &t->buckets[table_bucket(t, r->id)];
	r->hnext = *head;
	*head = r;
	r->slot = t->n;
	t->rooms[t->n++] = r;
	return 0;
}

void room_table_remove(struct room_table *t, struct room *r)
{
	struct room **pp = &t->buckets[table_bucket(t, r->id)];

	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (!*pp)
		return;         /* never added (a load that failed before) */
	*pp = r->hnext;
	assert(r->slot < t->n && t->rooms[r->slot] == r);
	t->rooms[r->slot] = t->rooms[--t->n];
	t->rooms[r->slot]->slot = r->slot;
}
