/* check: the smallest test harness that says what failed and where.
 *
 *     CHECK(cond);                 records a failure, the test goes on
 *     CHECK_EQ_INT(a, b);          prints both values on failure
 *     CHECK_EQ_STR(a, b);
 *     return check_done();         in main: prints "N checks, N failed", exit code
 */
#ifndef STATEROOM_CHECK_H
#define STATEROOM_CHECK_H

#include <stdint.h>

void check_fail(const char *file, int line, const char *what);
void check_pass(void);
void check_fail_int(const char *file, int line, const char *expr, int64_t got, int64_t want);
void check_fail_str(const char *file, int line, const char *expr, const char *got, const char *want);
int check_done(void);
int check_str_eq(const char *a, const char *b);

#define CHECK(c) ((c) ? check_pass() : check_fail(__FILE__, __LINE__, #c))
#define CHECK_EQ_INT(a, b) do { int64_t a_ = (int64_t)(a), b_ = (int64_t)(b); \
	if (a_ == b_) check_pass(); else check_fail_int(__FILE__, __LINE__, #a " == " #b, a_, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (check_str_eq(a_, b_)) check_pass(); else check_fail_str(__FILE__, __LINE__, #a " == " #b, a_, b_); } while (0)

#endif
