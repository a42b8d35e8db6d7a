#include "app.h"

#include <string.h>

static const struct room_app_ops *const apps[] = {
	&app_chat_ops,
};

const struct room_app_ops *app_find(const char *name)
{
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		if (strcmp(apps[i]->name, name) == 0)
			return apps[i];
	return NULL;
}
