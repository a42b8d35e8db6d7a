/* service_tokens: the tokens an app's own backend holds for the server API
 * (--service-tokens: a comma-separated list, or @FILE naming a file of them,
 * one a line or comma-separated, read once at start). Each is 16 to 512
 * bytes of printable ASCII, so that a token is never a guessable word. */
#ifndef STATEROOM_SERVICE_TOKENS_H
#define STATEROOM_SERVICE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define ST_MIN_LEN 16
#define ST_MAX_LEN 512

struct st_set;

/* Parses spec (NULL or "": no tokens, *out NULL). Returns 0 and *out, or
 * -1 with a reason in err. */
int st_parse(const char *spec, struct st_set **out, char *err, size_t err_len);

/* Whether any token is configured (the server API exists). NULL-safe. */
bool st_any(const struct st_set *s);

/* Whether tok[0..len) is one of them: compared as digests, with every
 * token, so that timing tells neither which nor how much matched. */
bool st_match(const struct st_set *s, const char *tok, size_t len);

void st_free(struct st_set *s);

#endif
