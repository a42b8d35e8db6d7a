/* log: one JSON object per line on stderr.
 *
 * Every line carries "ts" (RFC 3339, UTC, milliseconds), "level", "prog" and
 * "msg"; extra fields come from a jansson pack format, so callers never build
 * JSON by hand:
 *
 *     log_write(LOG_INFO, "listening", "{s:s,s:i}", "host", host, "port", port);
 *
 * fmt may be NULL for no extra fields. A pack error drops the extra fields,
 * never the line. Lines below the level set by log_init() are skipped before
 * any formatting. Not thread-safe: one loop, one thread. */
#ifndef STATEROOM_LOG_H
#define STATEROOM_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* prog is kept by pointer: pass a string literal or argv[0]. */
void log_init(const char *prog, enum log_level min);

/* Parses "debug", "info", "warn", "error". Returns 0, or -1 (level untouched). */
int log_parse_level(const char *s, enum log_level *level);

void log_write(enum log_level level, const char *msg, const char *fmt, ...);

#endif
