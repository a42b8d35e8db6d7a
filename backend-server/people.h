/* people: how the API shows a user (docs/protocol.md, "People"): one JSON
 * shape for every answer that names somebody, so that the client draws a
 * name and an avatar the same way everywhere. */
#ifndef STATEROOM_PEOPLE_H
#define STATEROOM_PEOPLE_H

#include <jansson.h>

/* The columns a query selects, in this order, for people_user_json():
 * alias is the users row's alias in the query. */
#define PEOPLE_COLUMNS(alias) alias ".id, coalesce(" alias ".display_name, " alias ".id), " alias ".status"
#define PEOPLE_NCOLUMNS 3

/* {"userId","displayName","status","avatar":{"initials","color"}}.
 * display_name NULL shows user_id; status NULL is "". Returns a new
 * reference, or NULL when out of memory. */
json_t *people_user_json(const char *user_id, const char *display_name, const char *status);

#endif
