#include "strpack.h"

#include <string.h>

size_t strpack_size(const char *const *strs, size_t n)
{
	size_t size = 0;

	for (size_t i = 0; i < n; i++)
		if (strs[i])
			size += strlen(strs[i]) + 1;
	return size;
}

char *strpack(char *buf, const char *const *strs, size_t n, const char **out)
{
	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (!strs[i]) {
			out[i] = NULL;
			continue;
		}
		len = strlen(strs[i]) + 1;
		out[i] = memcpy(buf, strs[i], len);
		buf += len;
	}
	return buf;
}
