/* files: where uploaded files' bytes live, behind one interface, so that a
 * store other than the local disk (an S3-compatible bucket: docs/deploy.md,
 * "File storage") is a new implementation of these calls, not a change to
 * the API. Files are named by id (FILES_ID_LEN characters of [a-z0-9],
 * checked here before any use) and kind (the original or its thumbnail).
 *
 * Every call but files_open/files_close and files_spool may block (disk or
 * network): run them on libuv's thread pool, never on the loop. They are
 * safe to call from several threads at once.
 *
 * The spool is always local: a body being received is written there as it
 * arrives (httpd streams it), then handed to files_put(). */
#ifndef STATEROOM_FILES_H
#define STATEROOM_FILES_H

#include <stdbool.h>
#include <stddef.h>

#define FILES_ID_LEN 24
#define FILES_PATH_MAX 4096

enum files_kind { FILES_ORIGINAL, FILES_THUMB };

struct files_store;

/* The local store under dir (created if missing, with dir/spool). Returns
 * 0 and *out, or a negative errno. */
int files_open(const char *dir, struct files_store **out);
void files_close(struct files_store *fs);

/* A new file id. Returns 0, or -1 when the random generator fails. */
int files_new_id(char out[FILES_ID_LEN + 1]);
bool files_id_valid(const char *id, size_t len);

/* Creates a new spool file: its path in path (FILES_PATH_MAX) and an open
 * descriptor, or a negative errno. Quick (one open on local disk): may run
 * on the loop. */
int files_spool(struct files_store *fs, char *path);

/* Moves the spooled file at src into the store as (id, kind); src is gone
 * afterwards whatever the result. 0 or a negative errno. */
int files_put(struct files_store *fs, const char *id, enum files_kind kind, const char *src);

/* Reads (id, kind) into a malloc'd buffer the caller frees. 0, -ENOENT, or
 * another negative errno. At most max bytes (-EFBIG past it). */
int files_get(struct files_store *fs, const char *id, enum files_kind kind, size_t max,
	      char **data, size_t *len);

/* Deletes both kinds of id; a missing one is not an error. */
int files_delete(struct files_store *fs, const char *id);

#endif
