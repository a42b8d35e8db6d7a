/* utf8: strict UTF-8 validation (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
#ifndef STATEROOM_UTF8_H
#define STATEROOM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..len) is complete, well-formed UTF-8. */
bool utf8_valid(const uint8_t *s, size_t len);

#endif
