/* dlist: an intrusive doubly linked list, header only.
 *
 * A struct joins a list by embedding a struct dlist_node; dlist_entry() gets
 * the struct back from its node. The list never allocates or frees: the
 * owner of each struct unlinks it (dlist_remove) before freeing it, and a
 * struct is in at most one list per embedded node. The head keeps both ends,
 * so appending is O(1) and a list kept in time order has its oldest entry
 * first. A node not in any list has prev == next == NULL, as does the only
 * node of a list: callers that need to know whether a node is linked track
 * that themselves. Not thread-safe. */
#ifndef STATEROOM_DLIST_H
#define STATEROOM_DLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "container.h"

struct dlist_node {
	struct dlist_node *prev, *next;
};

struct dlist {
	struct dlist_node *first, *last;
};

#define DLIST_INIT { NULL, NULL }

#define dlist_entry(node, type, member) container_of(node, type, member)

/* The struct holding node, or NULL when node is NULL. */
#define dlist_entry_or_null(node, type, member) \
	((node) ? dlist_entry(node, type, member) : (type *)NULL)

/* The first struct of l, or NULL when l is empty. */
#define dlist_first(l, type, member) dlist_entry_or_null((l)->first, type, member)

/* pos (a pointer to the embedding struct) walks l from first to last; the
 * body must not unlink pos. */
#define dlist_for_each(pos, l, member)                                                   \
	for ((pos) = dlist_entry_or_null((l)->first, __typeof__(*(pos)), member); (pos); \
	     (pos) = dlist_entry_or_null((pos)->member.next, __typeof__(*(pos)), member))

/* As dlist_for_each, but the body may unlink or free pos: tmp (same type)
 * already holds the next one. */
#define dlist_for_each_safe(pos, tmp, l, member)                                                \
	for ((pos) = dlist_entry_or_null((l)->first, __typeof__(*(pos)), member),               \
	    (tmp) = (pos) ? dlist_entry_or_null((pos)->member.next, __typeof__(*(pos)), member) \
			  : NULL;                                                               \
	     (pos); (pos) = (tmp),                                                              \
	    (tmp) = (pos) ? dlist_entry_or_null((pos)->member.next, __typeof__(*(pos)), member) \
			  : NULL)

static inline bool dlist_empty(const struct dlist *l)
{
	return !l->first;
}

/* n must be in no list. */
static inline void dlist_push_front(struct dlist *l, struct dlist_node *n)
{
	n->prev = NULL;
	n->next = l->first;
	if (l->first)
		l->first->prev = n;
	else
		l->last = n;
	l->first = n;
}

/* n must be in no list. */
static inline void dlist_push_back(struct dlist *l, struct dlist_node *n)
{
	n->next = NULL;
	n->prev = l->last;
	if (l->last)
		l->last->next = n;
	else
		l->first = n;
	l->last = n;
}

/* Unlinks n, which must be in l, and leaves it in no list. */
static inline void dlist_remove(struct dlist *l, struct dlist_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->last = n->prev;
	n->prev = n->next = NULL;
}

#endif
