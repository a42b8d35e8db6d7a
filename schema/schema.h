/* schema: Stateroom's database migrations, embedded from
 * schema/migrations/NNN_name.sql at build time. Both servers apply them on
 * start with migrate_run(). */
#ifndef STATEROOM_SCHEMA_H
#define STATEROOM_SCHEMA_H

#include <stddef.h>
#include "migrate.h"

extern const struct migration schema_migrations[];
extern const size_t schema_migrations_len;

#endif
