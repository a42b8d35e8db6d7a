/* sniff: what an uploaded file is, from its bytes, and a name safe to keep.
 *
 * The allow-list of upload types is small and fixed (PNG, JPEG, WebP, GIF,
 * PDF, plain text), so the type is told by the signatures of those formats
 * here rather than by libmagic: six exact checks instead of a rules engine
 * parsing hostile bytes in the server, and an answer that is one of the six
 * or none (libmagic names hundreds of types, and calls a text file holding
 * "<html>" text/html, a type this server never serves). Plain text is UTF-8
 * without NUL or control characters other than tab, line feed, form feed
 * and carriage return, checked over every byte as the body streams. */
#ifndef STATEROOM_SNIFF_H
#define STATEROOM_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sniff_type {
	SNIFF_NONE = -1,        /* none of the types below */
	SNIFF_TEXT,
	SNIFF_PNG,
	SNIFF_JPEG,
	SNIFF_WEBP,
	SNIFF_GIF,
	SNIFF_PDF,
	SNIFF_N_TYPES
};

/* Bytes of a file's start that sniff_type() looks at. */
#define SNIFF_HEAD 32

/* The MIME type ("image/png") and whether it is an image (thumbnailed and
 * served inline). */
const char *sniff_mime(enum sniff_type t);
bool sniff_is_image(enum sniff_type t);

/* The type of a MIME name (case-insensitive, parameters ignored), or
 * SNIFF_NONE. */
enum sniff_type sniff_from_mime(const char *mime, size_t len);

/* Parses a comma-separated list of MIME types into a bit set (1 << type).
 * Returns 0, or -1 for an empty list or a type sniff does not know. */
int sniff_parse_list(const char *list, unsigned *out);

/* Whether a body is plain text, fed piece by piece. */
struct sniff_text {
	bool bad;
	unsigned need;          /* continuation bytes still due */
	uint32_t cp, min;       /* the code point so far, its least legal value */
};
void sniff_text_feed(struct sniff_text *s, const unsigned char *p, size_t len);
bool sniff_text_ok(const struct sniff_text *s);

/* The type of a whole file: head holds its first head_len bytes (up to
 * SNIFF_HEAD), text the verdict over all of it. */
enum sniff_type sniff_type(const unsigned char *head, size_t head_len, const struct sniff_text *text);

/* The dimensions a PNG's IHDR or a GIF's logical screen claims, from the
 * file's first bytes (the other formats: libvips reads them). Returns 0,
 * or -1 when head does not hold them. */
int sniff_dims(const unsigned char *head, size_t head_len, enum sniff_type t, uint64_t *w, uint64_t *h);

/* Whether name's extension (after its last '.', any case) belongs to t;
 * a name without one matches every type. */
bool sniff_ext_ok(const char *name, enum sniff_type t);

/* A name to keep: the part after the last '/' or '\', without control
 * characters (C0, DEL, C1) or the bidirectional overrides that can
 * disguise an extension, and without leading dots and spaces or trailing
 * spaces. It is plain text, shown as text. Returns its length (written to
 * out with a NUL), or -1 when the input is not UTF-8 or nothing is left.
 * out must hold strlen(in) + 1 bytes. */
int sniff_name(const char *in, char *out);

/* A Content-Disposition value for name: "attachment" or "inline", a
 * filename of printable ASCII (others replaced by '_') and a filename* in
 * UTF-8, percent-encoded. Returns the length written, or -1 if out_len is
 * too small. */
int sniff_disposition(const char *name, bool inline_, char *out, size_t out_len);

#endif
