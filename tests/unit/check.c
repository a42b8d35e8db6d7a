#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned n_checks, n_failed;

void check_pass(void)
{
	n_checks++;
}

void check_fail(const char *file, int line, const char *what)
{
	n_checks++;
	n_failed++;
	fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
}

void check_fail_int(const char *file, int line, const char *expr, int64_t got, int64_t want)
{
	n_checks++;
	n_failed++;
	fprintf(stderr, "FAIL %s:%d: %s: got %" PRId64 ", want %" PRId64 "\n", file, line, expr, got, want);
}

void check_fail_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
	n_checks++;
	n_failed++;
	fprintf(stderr, "FAIL %s:%d: %s: got \"%s\", want \"%s\"\n", file, line, expr,
		got ? got : "(null)", want ? want : "(null)");
}

int check_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

int check_done(void)
{
	printf("%u checks, %u failed\n", n_checks, n_failed);
	return n_failed ? 1 : 0;
}
