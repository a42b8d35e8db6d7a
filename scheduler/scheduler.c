/* The registry of scheduler backends: one entry per backend here, one file
 * per backend beside this one. */
#include <string.h>

#include "sched_backends.h"
#include "scheduler.h"

static const struct sched_ops *const sched_backends[] = {
	&sched_local_ops,
	&sched_agones_ops,
	&sched_process_ops,
};

#define SCHED_N_BACKENDS (sizeof sched_backends / sizeof sched_backends[0])

const struct sched_ops *sched_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < SCHED_N_BACKENDS; i++)
		if (strcmp(sched_backends[i]->name, name) == 0)
			return sched_backends[i];
	return NULL;
}

const char *sched_names(void)
{
	/* Built once from the table so it cannot drift from it; the program has
	 * one thread, and the caller never frees it. */
	static char names[128];

	if (!names[0]) {
		size_t off = 0;
		for (size_t i = 0; i < SCHED_N_BACKENDS; i++) {
			size_t len = strlen(sched_backends[i]->name);
			if (off + len + 2 > sizeof names)
				break;
			if (i > 0)
				names[off++] = ',';
			memcpy(names + off, sched_backends[i]->name, len);
			off += len;
			names[off] = '\0';
		}
	}
	return names;
}
