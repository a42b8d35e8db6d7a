#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static const char *log_prog = "stateroom";
static enum log_level log_min = LOG_INFO;

static const char *const log_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *prog, enum log_level min)
{
	if (prog)
		log_prog = prog;
	log_min = min;
}

int log_parse_level(const char *s, enum log_level *level)
{
	for (size_t i = 0; s && i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* The line goes out in one write so lines of processes sharing stderr do not
 * interleave (stderr is unbuffered: json_dumpf would write piecemeal). */
static void log_emit(const json_t *line)
{
	char buf[4096];
	size_t n = json_dumpb(line, buf, sizeof buf - 1, JSON_COMPACT);

	if (n > 0 && n < sizeof buf - 1) {
		buf[n++] = '\n';
		fwrite(buf, 1, n, stderr);
		return;
	}
	char *big = json_dumps(line, JSON_COMPACT);
	if (big) {
		fprintf(stderr, "%s\n", big);
		free(big);
	}
}

void log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	char ts[64];
	json_t *line, *extra = NULL;

	if (level < log_min || level > LOG_ERROR)
		return;
	log_timestamp(ts, sizeof ts);
	line = json_pack("{s:s,s:s,s:s,s:s?}", "ts", ts, "level", log_names[level], "prog", log_prog,
			 "msg", msg);
	if (!line) {
		/* msg was not UTF-8: still say something rather than nothing. */
		line = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", log_names[level], "prog",
				 log_prog, "msg", "(message not UTF-8)");
		if (!line)
			return;
	}
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		extra = json_vpack_ex(NULL, 0, fmt, ap);
		va_end(ap);
		/* The standard fields win over extras of the same name. */
		if (json_is_object(extra))
			json_object_update_missing(line, extra);
		json_decref(extra);
	}
	log_emit(line);
	json_decref(line);
}
