/* migrate: applies numbered SQL migrations on start.
 *
 * Each migration runs in its own transaction together with the insert of its
 * version into schema_migrations, under a transaction-scoped advisory lock,
 * so several processes starting at once apply each migration exactly once and
 * in order. Knows nothing of what the migrations contain. */
#ifndef STATEROOM_MIGRATE_H
#define STATEROOM_MIGRATE_H

#include <stddef.h>
#include "db.h"

struct migration {
	int version;      /* strictly increasing */
	const char *name;
	const char *sql;  /* may hold several statements; no parameters, no
	                   * BEGIN/COMMIT (it already runs inside one) */
};

/* done(err, arg): err is NULL on success, else a one-line reason (valid
 * during the call). Returns 0, or a negative errno and done never runs. */
int migrate_run(struct db *db, const struct migration *m, size_t n,
		void (*done)(const char *err, void *arg), void *arg);

#endif
