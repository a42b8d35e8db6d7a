/* Room limits: distinct users, tabs, presence, member order, rooms per server. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "room.h"

static void test_capacity_counts_distinct_users(void)
{
	struct room r;

	room_init(&r, "abc", 2, 100);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);
	CHECK_EQ_INT(room_join(&r, "bob", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(r.n_members, 2);
	CHECK_EQ_INT(room_join(&r, "carol", NULL), ROOM_FULL);
	CHECK_EQ_INT(r.n_members, 2);
	room_fini(&r);
}

static void test_second_tab_of_member_admitted_when_full(void)
{
	struct room r;

	room_init(&r, "abc", 1, 100);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, "bob", NULL), ROOM_FULL);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);
	CHECK_EQ_INT(r.members[0].tabs, 2);
	room_fini(&r);
}

static void test_tabs_of_one_user_capped(void)
{
	struct room r;

	room_init(&r, "abc", 10, 100);
	r.max_tabs = 2;
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_TOO_MANY_TABS);
	CHECK_EQ_INT(r.members[0].tabs, 2);
	CHECK_EQ_INT(room_join(&r, "bob", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_leave(&r, "alice"), ROOM_TABS_REMAIN);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);
	room_fini(&r);
}

static void test_capacity_never_over_server_limit(void)
{
	struct room r;
	char users[3][2];  /* one each: a member keeps its pointer */

	room_init(&r, "abc", 500, 3);
	CHECK_EQ_INT(r.capacity, 3);
	for (int i = 0; i < 3; i++) {
		users[i][0] = (char)('a' + i);
		users[i][1] = '\0';
		CHECK_EQ_INT(room_join(&r, users[i], NULL), ROOM_JOINED_FIRST);
	}
	CHECK_EQ_INT(room_join(&r, "z", NULL), ROOM_FULL);
	room_set_capacity(&r, 2, 100);
	CHECK_EQ_INT(r.capacity, 2);
	room_fini(&r);
}

static void test_presence_on_first_join_and_last_leave(void)
{
	struct room r;

	room_init(&r, "abc", 10, 100);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);   /* joined */
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_AGAIN);   /* second tab: no presence */
	CHECK_EQ_INT(room_leave(&r, "alice"), ROOM_TABS_REMAIN);  /* one tab left: no presence */
	CHECK_EQ_INT(r.n_members, 1);
	CHECK_EQ_INT(room_leave(&r, "alice"), ROOM_LEFT);  /* left */
	CHECK_EQ_INT(r.n_members, 0);
	CHECK_EQ_INT(room_leave(&r, "alice"), ROOM_NOT_MEMBER);
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);   /* joins again */
	room_fini(&r);
}

static void test_member_list_keeps_join_order(void)
{
	struct room r;

	room_init(&r, "abc", 10, 100);
	room_join(&r, "carol", NULL);
	room_join(&r, "alice", NULL);
	room_join(&r, "bob", NULL);
	room_join(&r, "alice", NULL);
	CHECK_EQ_STR(room_member(&r, 0), "carol");
	CHECK_EQ_STR(room_member(&r, 1), "alice");
	CHECK_EQ_STR(room_member(&r, 2), "bob");
	CHECK(room_member(&r, 3) == NULL);
	room_leave(&r, "carol");
	CHECK_EQ_STR(room_member(&r, 0), "alice");
	CHECK_EQ_STR(room_member(&r, 1), "bob");
	room_leave(&r, "alice");                   /* one of two tabs */
	CHECK_EQ_STR(room_member(&r, 0), "alice");
	room_join(&r, "carol", NULL);
	CHECK_EQ_STR(room_member(&r, 2), "carol");
	room_fini(&r);
}

/* Guests pick names freely: two users may show one name, and are still two
 * members; a user's further tab keeps the name it joined with. */
static void test_members_keyed_by_user_shown_by_name(void)
{
	struct room r;

	room_init(&r, "abc", 10, 100);
	CHECK_EQ_INT(room_join(&r, "guest:a", "hog"), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, "guest:b", "hog"), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, "guest:a", "other"), ROOM_JOINED_AGAIN);
	CHECK_EQ_INT(r.n_members, 2);
	CHECK_EQ_STR(room_member(&r, 0), "guest:a");
	CHECK_EQ_STR(room_member_name(&r, 0), "hog");
	CHECK_EQ_STR(room_member(&r, 1), "guest:b");
	CHECK_EQ_STR(room_member_name(&r, 1), "hog");
	CHECK_EQ_INT(room_leave(&r, "guest:a"), ROOM_TABS_REMAIN);
	CHECK_EQ_INT(room_leave(&r, "guest:a"), ROOM_LEFT);
	CHECK_EQ_STR(room_member_name(&r, 0), "hog");
	CHECK_EQ_INT(room_join(&r, "alice", NULL), ROOM_JOINED_FIRST);
	CHECK_EQ_STR(room_member_name(&r, 1), "alice");
	CHECK_EQ_INT(room_join(&r, "carol", ""), ROOM_BAD_USER);
	room_fini(&r);
}

/* A member holds its first tab's strings; when that tab leaves first,
 * another's take their place, and the member reads the same. */
static void test_member_strings_handed_to_remaining_tab(void)
{
	struct room r;
	char tab1[] = "alice", name1[] = "Alice", tab2[] = "alice", name2[] = "Alice";

	room_init(&r, "abc", 10, 100);
	CHECK_EQ_INT(room_join(&r, tab1, name1), ROOM_JOINED_FIRST);
	CHECK_EQ_INT(room_join(&r, tab2, name2), ROOM_JOINED_AGAIN);
	CHECK(room_holds(&r, tab1));
	CHECK(!room_holds(&r, tab2));
	CHECK_EQ_INT(room_leave(&r, tab1), ROOM_TABS_REMAIN);
	CHECK(room_holds(&r, tab1));
	room_rebind(&r, tab1, tab2, name2);
	memset(tab1, 'x', sizeof tab1 - 1);  /* the first tab's strings are gone */
	memset(name1, 'x', sizeof name1 - 1);
	CHECK(!room_holds(&r, tab1));
	CHECK(room_holds(&r, tab2));
	CHECK_EQ_STR(room_member(&r, 0), "alice");
	CHECK_EQ_STR(room_member_name(&r, 0), "Alice");
	CHECK_EQ_INT(room_leave(&r, tab2), ROOM_LEFT);
	CHECK_EQ_INT(r.n_members, 0);
	room_fini(&r);
}

static void test_bad_user_ids_refused(void)
{
	struct room r;

	room_init(&r, "abc", 10, 100);
	CHECK_EQ_INT(room_join(&r, "", NULL), ROOM_BAD_USER);
	CHECK_EQ_INT(room_join(&r, "0123456789012345678901234567890123456789012345678901234567890123x", NULL),
		     ROOM_BAD_USER);
	CHECK_EQ_INT(r.n_members, 0);
	room_fini(&r);
}

static void test_max_rooms(void)
{
	struct room_table t;
	struct room a, b, c, a2;

	CHECK_EQ_INT(room_table_init(&t, 2), 0);
	room_init(&a, "a", 1, 1);
	room_init(&b, "b", 1, 1);
	room_init(&c, "c", 1, 1);
	room_init(&a2, "a", 1, 1);
	CHECK_EQ_INT(room_table_add(&t, &a), 0);
	CHECK_EQ_INT(room_table_add(&t, &a2), -EEXIST);
	CHECK_EQ_INT(room_table_add(&t, &b), 0);
	CHECK_EQ_INT(room_table_add(&t, &c), -ENOSPC);
	CHECK(room_table_find(&t, "b") == &b);
	CHECK(room_table_find(&t, "c") == NULL);
	room_table_remove(&t, &a);
	CHECK(room_table_find(&t, "a") == NULL);
	CHECK_EQ_INT(room_table_add(&t, &c), 0);
	CHECK(room_table_find(&t, "c") == &c);
	CHECK(room_table_find(&t, "b") == &b);
	room_table_remove(&t, &a2);     /* never added: nothing changes */
	CHECK_EQ_INT((int)t.n, 2);
	room_table_fini(&t);
}

/* Thousands of rooms: each found by id after removals have moved others
 * in the array, and the array holds exactly the rooms left. */
static void test_many_rooms(void)
{
	enum { N = 5000 };
	static struct room rooms[N];
	struct room_table t;
	char id[16];
	size_t left = 0;

	CHECK_EQ_INT(room_table_init(&t, N), 0);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "r%d", i);
		room_init(&rooms[i], id, 1, 1);
		CHECK_EQ_INT(room_table_add(&t, &rooms[i]), 0);
	}
	for (int i = 0; i < N; i += 3)
		room_table_remove(&t, &rooms[i]);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "r%d", i);
		CHECK(room_table_find(&t, id) == (i % 3 ? &rooms[i] : NULL));
		left += i % 3 != 0;
	}
	CHECK_EQ_INT((int)t.n, (int)left);
	for (size_t i = 0; i < t.n; i++)
		CHECK(t.rooms[i]->slot == i && room_table_find(&t, t.rooms[i]->id) == t.rooms[i]);
	room_table_fini(&t);
	for (int i = 0; i < N; i++)
		room_fini(&rooms[i]);
}

int main(void)
{
	test_capacity_counts_distinct_users();
	test_second_tab_of_member_admitted_when_full();
	test_tabs_of_one_user_capped();
	test_capacity_never_over_server_limit();
	test_presence_on_first_join_and_last_leave();
	test_members_keyed_by_user_shown_by_name();
	test_member_list_keeps_join_order();
	test_member_strings_handed_to_remaining_tab();
	test_bad_user_ids_refused();
	test_max_rooms();
	test_many_rooms();
	return check_done();
}
