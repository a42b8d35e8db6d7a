/* people: see people.h. */
#include "people.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Twelve colours that white initials read well on; a user keeps one for
 * life because it comes from the id, not the name. */
static const char *const people_colors[] = {
	"#c0392b", "#d35400", "#b7950b", "#27ae60", "#16a085", "#2980b9",
	"#8e44ad", "#2c3e50", "#a93226", "#1e8449", "#1f618d", "#6c3483",
};

static const char *people_color(const char *user_id)
{
	uint32_t h = 2166136261u;       /* FNV-1a: stable across builds and hosts */

	for (const unsigned char *p = (const unsigned char *)user_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return people_colors[h % (sizeof people_colors / sizeof people_colors[0])];
}

/* The bytes of the UTF-8 character at s (a valid string: the database
 * holds nothing else). */
static size_t people_char_len(const unsigned char *s)
{
	size_t n = 1;

	while (s[n] && (s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

/* The first character of the first two words, ASCII letters upper-cased:
 * "alice smith" → "AS", "李 小龍" → "李小". */
static void people_initials(const char *name, char out[16])
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = 0;

	for (int words = 0; *p && words < 2;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = people_char_len(p);
		if (len + n >= 16)
			break;
		memcpy(out + len, p, n);
		if (n == 1 && out[len] >= 'a' && out[len] <= 'z')
			out[len] = (char)(out[len] - 'a' + 'A');
		len += n;
		words++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	out[len] = '\0';
}

json_t *people_user_json(const char *user_id, const char *display_name, const char *status)
{
	const char *shown = display_name && *display_name ? display_name : user_id;
	char initials[16];

	people_initials(shown, initials);
	return json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "userId", user_id, "displayName", shown,
			 "status", status ? status : "", "avatar", "initials", initials, "color",
			 people_color(user_id));
}

json_t *people_presence_json(const char *column)
{
	json_t *j = column ? json_loads(column, 0, NULL) : NULL;
	const char *state = json_string_value(json_object_get(j, "state"));
	json_t *seen = json_object_get(j, "lastSeen");
	json_t *out;

	if (!state || (strcmp(state, "online") != 0 && strcmp(state, "away") != 0 &&
		       strcmp(state, "offline") != 0))
		state = "offline";
	out = json_pack("{s:s,s:O}", "state", state, "lastSeen", json_is_string(seen) ? seen : json_null());
	json_decref(j);
	return out;
}
