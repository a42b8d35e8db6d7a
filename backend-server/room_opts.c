#include <string.h>

#include "room_opts.h"

int room_opts_parse(const json_t *body, int max_capacity, struct room_opts *out, const char **why)
{
	struct room_opts o = { .capacity = max_capacity, .visibility = "unlisted", .persistent = true,
			       .app = "chat" };
	const json_t *v;

	if (!json_is_object(body)) {
		*why = "the body must be a JSON object";
		return -1;
	}

	v = json_object_get(body, "name");
	if (v && !json_is_null(v)) {
		size_t len;

		if (!json_is_string(v)) {
			*why = "name must be a string";
			return -1;
		}
		len = json_string_length(v);
		if (len > ROOM_NAME_MAX) {
			*why = "name must be at most 100 bytes";
			return -1;
		}
		/* jansson strings are valid UTF-8 but may hold NUL bytes, which
		 * PostgreSQL text cannot store. */
		if (memchr(json_string_value(v), '\0', len)) {
			*why = "name must not contain NUL";
			return -1;
		}
		memcpy(o.name, json_string_value(v), len);
		o.name[len] = '\0';
		o.has_name = true;
	}

	v = json_object_get(body, "capacity");
	if (v && !json_is_null(v)) {
		json_int_t c;

		if (!json_is_integer(v) || (c = json_integer_value(v)) < 1 || c > max_capacity) {
			*why = "capacity must be an integer from 1 to the server's room capacity";
			return -1;
		}
		o.capacity = (int)c;
	}

	v = json_object_get(body, "visibility");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (s && strcmp(s, "public") == 0 && json_string_length(v) == 6) {
			o.visibility = "public";
		} else if (s && strcmp(s, "unlisted") == 0 && json_string_length(v) == 8) {
			o.visibility = "unlisted";
		} else {
			*why = "visibility must be \"public\" or \"unlisted\"";
			return -1;
		}
	}

	v = json_object_get(body, "persistent");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			*why = "persistent must be true or false";
			return -1;
		}
		o.persistent = json_is_true(v);
	}

	v = json_object_get(body, "inviteOnly");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			*why = "inviteOnly must be true or false";
			return -1;
		}
		o.invite_only = json_is_true(v);
	}

	v = json_object_get(body, "app");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (!s) {
			*why = "app must be a string";
			return -1;
		}
		/* The inbox is a room of every account's, placed by its own
		 * rules (GET /api/me/inbox): never a client's choice. */
		if (wire_app_name_valid(s, len) && strcmp(s, "inbox") != 0)
			memcpy(o.app, s, len + 1);
		else
			o.app[0] = '\0';
	}

	v = json_object_get(body, "seats");
	if (v && !json_is_null(v)) {
		json_int_t n;

		if (!json_is_integer(v) || (n = json_integer_value(v)) < ROOM_SEATS_MIN ||
		    n > ROOM_SEATS_MAX) {
			*why = "seats must be an integer from 2 to 16";
			return -1;
		}
		o.seats = (int)n;
	}

	*out = o;
	return 0;
}
