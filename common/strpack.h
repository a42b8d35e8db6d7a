/* strpack: several NUL-terminated strings one after another in one
 * allocation, so that a struct and the strings it points to are allocated
 * and freed together. */
#ifndef STATEROOM_STRPACK_H
#define STATEROOM_STRPACK_H

#include <stddef.h>

/* The bytes strs[0..n) take packed: each with its NUL; a NULL takes none. */
size_t strpack_size(const char *const *strs, size_t n);

/* Copies strs[0..n) one after another into buf, which holds
 * strpack_size(strs, n) bytes, and sets out[i] to where strs[i] went (NULL
 * for NULL). Returns the byte after the last string. */
char *strpack(char *buf, const char *const *strs, size_t n, const char **out);

#endif
