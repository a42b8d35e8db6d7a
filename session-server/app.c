#include "app.h"

#include <assert.h>
#include <string.h>

static const struct room_app_ops *const apps[] = {
	&app_chat_ops,
	&app_inbox_ops,
};

/* Room for every application's protocols (app_protocols asserts it). */
#define APP_PROTOCOLS_MAX 16

const struct room_app_ops *app_find(const char *name)
{
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
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
