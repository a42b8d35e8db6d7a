/* jbuf: a growable byte buffer for writing JSON text by hand, so that the
 * per-message paths (a batch of messages for PostgreSQL, a message frame)
 * cost one reused buffer instead of a tree of jansson objects.
 *
 * An allocation failure is sticky: every later write is a no-op and
 * jbuf_ok() says false, so a writer checks once at the end. */
#ifndef STATEROOM_JBUF_H
#define STATEROOM_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
	char *p;      /* NUL-terminated while ok */
	size_t len, cap;
	bool failed;
};

/* Empties b (keeping its memory). */
void jbuf_reset(struct jbuf *b);
/* Frees the memory. NULL-safe. */
void jbuf_fini(struct jbuf *b);
bool jbuf_ok(const struct jbuf *b);

void jbuf_put(struct jbuf *b, const char *s, size_t n);
/* s up to its NUL. */
void jbuf_puts(struct jbuf *b, const char *s);
void jbuf_int(struct jbuf *b, int64_t v);
/* s[0..n) (valid UTF-8) as a quoted JSON string; NULL writes null. */
void jbuf_str(struct jbuf *b, const char *s, size_t n);
/* The same for a NUL-terminated string or NULL. */
void jbuf_strz(struct jbuf *b, const char *s);

#endif
