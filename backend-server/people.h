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

/* A friend's presence as others see it (stateroom_presence, migration 013:
 * a server that died leaves its users offline): one text column of JSON,
 * for the users row aliased alias, dead_param the query parameter ("$2")
 * holding --dead-after-ms. Select it beside PEOPLE_COLUMNS and pass the
 * value to people_presence_json(). */
#define PEOPLE_PRESENCE_COLUMN(alias, dead_param)                                   \
	"(SELECT json_build_object('state', p.state, 'lastSeen', p.last_seen)"      \
	" FROM stateroom_presence(" alias ".id, " dead_param "::bigint) p)::text"

/* {"state":"online"|"away"|"offline","lastSeen":ISO 8601|null} from that
 * column's value (NULL or unreadable: offline, never seen). Returns a new
 * reference, or NULL when out of memory. */
json_t *people_presence_json(const char *column);

#endif
