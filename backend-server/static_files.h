/* static_files: the web client, read into memory once at start.
 *
 * Why a cache and not reads per request: the client is a handful of small
 * files, and deciding once, at start, which files exist means a request path
 * (hostile input) is only ever compared with a list of names: it never
 * reaches the filesystem, so "..", hidden files, directories and symlinks
 * pointing elsewhere cannot be asked for, and serving needs no thread-pool
 * round trip. The price: changes to the folder show after a restart.
 *
 * Served: regular files directly in the folder and in its SF_LIB_DIR
 * folder (or symlinks to such files in the same folder), not hidden, named
 * with [A-Za-z0-9._-], with an extension of the table in static_files.c,
 * each at most SF_MAX_FILE bytes. */
#ifndef STATEROOM_STATIC_FILES_H
#define STATEROOM_STATIC_FILES_H

#include <stddef.h>

#define SF_MAX_FILE (8u << 20)
#define SF_MAX_FILES 256
#define SF_LIB_DIR "lib"   /* the client library: served as /lib/NAME */

struct static_files;

struct sf_file {
	const char *name;
	const char *content_type;
	const char *data;
	size_t len;
};

/* Loads the files of dir. Returns 0 and *out (possibly with no files), or a
 * negative errno when dir cannot be opened or read (nothing to free). */
int sf_load(const char *dir, struct static_files **out);

/* NULL-safe. */
void sf_free(struct static_files *sf);

size_t sf_count(const struct static_files *sf);

/* The file a GET of path (without query) serves: "/" gives index.html,
 * "/name" the file of that name ("/lib/name" one of SF_LIB_DIR), and a path whose last segment has no dot
 * (an app route such as "/r/abc1") index.html as well, so that share links
 * open the client. NULL when nothing fits or sf is NULL. */
const struct sf_file *sf_lookup(const struct static_files *sf, const char *path, size_t len);

#endif
