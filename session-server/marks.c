#include "marks.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"
#include "log.h"

struct mark {
	char *user;
	int64_t seq;
};

struct marks {
	char *room;
	struct mark *dirty;          /* noted since the last write began */
	size_t n_dirty, cap_dirty;
	struct mark *sent;           /* in the write in flight */
	size_t n_sent;
	bool writing, orphan;
};

static void marks_clear(struct mark *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].user);
}

static void marks_destroy(struct marks *m)
{
	marks_clear(m->dirty, m->n_dirty);
	marks_clear(m->sent, m->n_sent);
	free(m->dirty);
	free(m->sent);
	free(m->room);
	free(m);
}

struct marks *marks_new(const char *room)
{
	struct marks *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->room = strdup(room);
	if (!m->room) {
		free(m);
		return NULL;
	}
	return m;
}

void marks_free(struct marks *m)
{
	if (!m)
		return;
	if (m->writing)
		m->orphan = true;
	else
		marks_destroy(m);
}

int marks_set(struct marks *m, const char *user, int64_t seq)
{
	struct mark *k;

	for (size_t i = 0; i < m->n_dirty; i++) {
		if (strcmp(m->dirty[i].user, user) == 0) {
			if (seq > m->dirty[i].seq)
				m->dirty[i].seq = seq;
			return 0;
		}
	}
	if (m->n_dirty == m->cap_dirty) {
		size_t cap = m->cap_dirty ? m->cap_dirty * 2 : 8;
		struct mark *p = realloc(m->dirty, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->dirty = p;
		m->cap_dirty = cap;
	}
	k = &m->dirty[m->n_dirty];
	k->user = strdup(user);
	if (!k->user)
		return -ENOMEM;
	k->seq = seq;
	m->n_dirty++;
	return 0;
}

static void flush_done(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct marks *m = arg;

	(void)sqlstate;
	m->writing = false;
	if (m->orphan) {
		marks_destroy(m);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "writing read marks failed", "{s:s,s:s}", "room", m->room, "error",
			  err ? err : "");
		/* Merged back for the next flush (on ENOMEM the mark is lost: the
		 * client sends a newer one soon enough). */
		for (size_t i = 0; i < m->n_sent; i++)
			marks_set(m, m->sent[i].user, m->sent[i].seq);
	}
	marks_clear(m->sent, m->n_sent);
	free(m->sent);
	m->sent = NULL;
	m->n_sent = 0;
}

int marks_flush(struct marks *m, struct db *db)
{
	struct jbuf marks = { 0 };
	int rc = -ENOMEM;

	if (m->writing || m->n_dirty == 0)
		return 0;
	jbuf_put(&marks, "[", 1);
	for (size_t i = 0; i < m->n_dirty; i++) {
		jbuf_put(&marks, i ? ",[" : "[", i ? 2 : 1);
		jbuf_strz(&marks, m->dirty[i].user);
		jbuf_put(&marks, ",", 1);
		jbuf_int(&marks, m->dirty[i].seq);
		jbuf_put(&marks, "]", 1);
	}
	jbuf_put(&marks, "]", 1);
	if (!jbuf_ok(&marks))
		goto out;
	{
		const char *p[] = { m->room, marks.p };
		rc = db_query(db, "INSERT INTO read_marks (room_id, user_id, seq)"
				  " SELECT $1, k->>0, (k->>1)::bigint FROM json_array_elements($2::json) k"
				  " ON CONFLICT (room_id, user_id) DO UPDATE"
				  " SET seq = GREATEST(read_marks.seq, EXCLUDED.seq), updated_at = now()"
				  " WHERE EXCLUDED.seq > read_marks.seq",
			      2, p, flush_done, m);
	}
	if (rc != 0)
		goto out;
	m->writing = true;
	m->sent = m->dirty;
	m->n_sent = m->n_dirty;
	m->dirty = NULL;
	m->n_dirty = m->cap_dirty = 0;
out:
	jbuf_fini(&marks);
	return rc;
}
