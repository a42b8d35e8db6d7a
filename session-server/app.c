#include "app.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

static const struct room_app_ops *const apps[] = {
	&app_chat_ops,
	&app_inbox_ops,
	&app_game_ops,
	&app_whiteboard_ops,
};

#define APP_COUNT (sizeof(apps) / sizeof(apps[0]))

/* Which of apps[] this server hosts (app_host); every one until told. */
static bool app_off[APP_COUNT];

/* The inbox is every account's, placed by its own bound (migration 015):
 * no client chooses it, and every server hosts it. */
static bool app_internal(const struct room_app_ops *a)
{
	return a == &app_inbox_ops;
}

int app_host(const char *list)
{
	bool off[APP_COUNT];
	const char *p = list;

	if (!list) {
		memset(app_off, 0, sizeof app_off);
		return 0;
	}
	for (size_t i = 0; i < APP_COUNT; i++)
		off[i] = !app_internal(apps[i]);
	while (*p) {
		const char *start, *end;
		size_t i;

		while (*p == ' ' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ',' && *p != ' ')
			p++;
		end = p;
		if (end == start)
			continue;
		for (i = 0; i < APP_COUNT; i++)
			if (!app_internal(apps[i]) && strlen(apps[i]->name) == (size_t)(end - start) &&
			    memcmp(apps[i]->name, start, (size_t)(end - start)) == 0)
				break;
		if (i == APP_COUNT)
			return -EINVAL;
		off[i] = false;
	}
	memcpy(app_off, off, sizeof app_off);
	return 0;
}

bool app_hosted(const struct room_app_ops *a)
{
	for (size_t i = 0; i < APP_COUNT; i++)
		if (apps[i] == a)
			return !app_off[i];
	return false;
}

int app_hosted_array(char *buf, size_t len)
{
	size_t n = 0;
	int w;

	/* Names are [a-z0-9_] (wire_app_name_valid), so the literal needs
	 * no quoting. */
	w = snprintf(buf, len, "{");
	for (size_t i = 0; i < APP_COUNT && w >= 0 && (size_t)w < len; i++) {
		if (app_off[i] || app_internal(apps[i]))
			continue;
		assert(wire_app_name_valid(apps[i]->name, strlen(apps[i]->name)));
		w += snprintf(buf + w, len - (size_t)w, "%s%s", n++ ? "," : "", apps[i]->name);
	}
	if (w >= 0 && (size_t)w < len)
		w += snprintf(buf + w, len - (size_t)w, "}");
	return w >= 0 && (size_t)w < len ? 0 : -ENOSPC;
}

const char *app_names(void)
{
	static char all[256];
	size_t n = 0;

	if (all[0])
		return all;
	for (size_t i = 0; i < APP_COUNT; i++)
		if (!app_internal(apps[i]))
			n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", n ? "," : "", apps[i]->name);
	return all;
}

/* Room for every application's protocols (app_protocols asserts it). */
#define APP_PROTOCOLS_MAX 16

const struct room_app_ops *app_find(const char *name)
{
	for (size_t i = 0; i < APP_COUNT; i++)
		if (strcmp(apps[i]->name, name) == 0)
			return apps[i];
	return NULL;
}

static bool listed(const char *const *list, const char *p)
{
	for (; *list; list++)
		if (strcmp(*list, p) == 0)
			return true;
	return false;
}

const char *const *app_protocols(void)
{
	static const char *all[APP_PROTOCOLS_MAX + 1];
	static bool built;
	size_t n = 0;

	/* Built once, on the loop thread, from the constant table above. */
	if (built)
		return all;
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		for (const char *const *p = apps[i]->protocols; *p; p++)
			if (**p && !listed(all, *p)) {
				assert(n < APP_PROTOCOLS_MAX);
				all[n++] = *p;
			}
	built = true;
	return all;
}
