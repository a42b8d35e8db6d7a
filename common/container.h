/* container.h: container_of, the one definition every module uses.
 *
 * libuv hands callbacks a pointer to the handle or request, and the handle is
 * embedded in the struct that owns it: container_of gets that struct back. */
#ifndef STATEROOM_CONTAINER_H
#define STATEROOM_CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
