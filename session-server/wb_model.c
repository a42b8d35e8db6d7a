#include "wb_model.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Canonical JSON: keys sorted, no spaces; what the hash and the log hold. */
#define WBM_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

void wbm_init(struct wbm *m)
{
	memset(m, 0, sizeof(*m));
}

void wbm_reset(struct wbm *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->ops[i].user);
	m->n = 0;
	m->bytes = 0;
}

void wbm_fini(struct wbm *m)
{
	wbm_reset(m);
	free(m->ops);
	wbm_init(m);
}

struct wbm_op *wbm_find(const struct wbm *m, int64_t seq)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->ops[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && m->ops[lo].seq == seq ? &m->ops[lo] : NULL;
}

/* Appends an op (seq above every op's); strings are copied. */
static int push(struct wbm *m, int64_t seq, int64_t ts, const char *user, const char *name,
		const char *op, size_t op_len, bool undone)
{
	size_t ul = strlen(user), nl = strlen(name);
	struct wbm_op *o;
	char *buf;

	if (m->n > 0 && m->ops[m->n - 1].seq >= seq)
		return -EINVAL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct wbm_op *ops = realloc(m->ops, cap * sizeof(*ops));
		if (!ops)
			return -ENOMEM;
		m->ops = ops;
		m->cap = cap;
	}
	buf = malloc(ul + nl + op_len + 3);
	if (!buf)
		return -ENOMEM;
	o = &m->ops[m->n++];
	o->seq = seq;
	o->ts = ts;
	o->user = buf;
	memcpy(o->user, user, ul + 1);
	o->name = buf + ul + 1;
	memcpy(o->name, name, nl + 1);
	o->op = o->name + nl + 1;
	memcpy(o->op, op, op_len);
	o->op[op_len] = '\0';
	o->op_len = op_len;
	o->undone = undone;
	m->bytes += op_len;
	return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv(h, b, sizeof b);
}

uint64_t wbm_hash(const struct wbm *m)
{
	uint64_t h = fnv_u64(FNV_OFFSET, m->n);

	for (size_t i = 0; i < m->n; i++) {
		const struct wbm_op *o = &m->ops[i];
		unsigned char u = o->undone;
		h = fnv_u64(h, (uint64_t)o->seq);
		h = fnv(h, &u, 1);
		h = fnv_u64(h, strlen(o->user));
		h = fnv(h, o->user, strlen(o->user));
		h = fnv_u64(h, o->op_len);
		h = fnv(h, o->op, o->op_len);
	}
	return h;
}

/* ------------------------------------------------------------ ops */

/* "#rrggbb", written back in lower case. */
static bool color_ok(const char *s, char out[8])
{
	if (!s || strlen(s) != 7 || s[0] != '#')
		return false;
	out[0] = '#';
	for (int i = 1; i < 7; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = c;
	}
	out[7] = '\0';
	return true;
}

static bool int_in(json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* The coordinates of points (numbers, finite, 0..WBM_CANVAS, rounded),
 * between lo and hi points; NULL with *why set. */
static json_t *points_of(json_t *pts, size_t lo, size_t hi, const char **why)
{
	size_t n = json_array_size(pts);
	json_t *out;

	if (!json_is_array(pts) || n % 2 != 0 || n / 2 < lo || n / 2 > hi) {
		*why = lo == hi ? (lo == 1 ? "points must be [x,y]" : "points must be [x1,y1,x2,y2]")
				: "points must be [x,y,...] with 1 to 1000 points";
		return NULL;
	}
	out = json_array();
	for (size_t i = 0; out && i < n; i++) {
		json_t *v = json_array_get(pts, i);
		double d = json_number_value(v);
		if (!json_is_number(v) || !isfinite(d) || d < 0 || d > WBM_CANVAS) {
			*why = "coordinates must be numbers from 0 to 4096";
			json_decref(out);
			return NULL;
		}
		if (json_array_append_new(out, json_integer((json_int_t)lround(d))) != 0) {
			json_decref(out);
			out = NULL;
		}
	}
	if (!out)
		*why = "out of memory";
	return out;
}

int wbm_op_check(json_t *op, char **out, size_t *out_len, const char **why)
{
	const char *kind = json_string_value(json_object_get(op, "kind"));
	json_t *canon = NULL, *pts;
	char color[8];
	json_int_t width, size;

	*out = NULL;
	if (!json_is_object(op) || !kind) {
		*why = "op must be an object with a kind";
		return -EINVAL;
	}
	if (strcmp(kind, "erase") == 0) {
		json_t *t = json_object_get(op, "targets"), *seqs;
		size_t n = json_array_size(t);
		json_int_t s;
		if (!json_is_array(t) || n < 1 || n > WBM_ERASE_MAX) {
			*why = "erase needs targets: 1 to 100 op seqs";
			return -EINVAL;
		}
		seqs = json_array();
		for (size_t i = 0; seqs && i < n; i++) {
			if (!int_in(json_array_get(t, i), 1, INT64_MAX, &s)) {
				*why = "erase targets are op seqs";
				json_decref(seqs);
				return -EINVAL;
			}
			json_array_append_new(seqs, json_integer(s));
		}
		canon = json_pack("{s:s,s:o}", "kind", "erase", "targets", seqs);
		goto dump;
	}
	if (strcmp(kind, "stroke") != 0 && strcmp(kind, "line") != 0 && strcmp(kind, "rect") != 0 &&
	    strcmp(kind, "ellipse") != 0 && strcmp(kind, "text") != 0) {
		*why = "kind must be stroke, line, rect, ellipse, text or erase";
		return -EINVAL;
	}
	if (!color_ok(json_string_value(json_object_get(op, "color")), color)) {
		*why = "color must be #rrggbb";
		return -EINVAL;
	}
	if (strcmp(kind, "text") == 0) {
		json_t *jt = json_object_get(op, "text");
		const char *text = json_string_value(jt);
		size_t len = json_string_length(jt);
		if (!text || len < 1 || len > WBM_TEXT_MAX || memchr(text, '\0', len)) {
			*why = "text must be 1 to 500 bytes without NUL";
			return -EINVAL;
		}
		if (!int_in(json_object_get(op, "size"), WBM_SIZE_MIN, WBM_SIZE_MAX, &size)) {
			*why = "size must be an integer from 8 to 200";
			return -EINVAL;
		}
		if (!(pts = points_of(json_object_get(op, "points"), 1, 1, why)))
			return -EINVAL;
		canon = json_pack("{s:s,s:s,s:I,s:o,s:s%}", "kind", "text", "color", color, "size",
				  size, "points", pts, "text", text, len);
		goto dump;
	}
	if (!int_in(json_object_get(op, "width"), 1, WBM_WIDTH_MAX, &width)) {
		*why = "width must be an integer from 1 to 64";
		return -EINVAL;
	}
	if (strcmp(kind, "stroke") == 0)
		pts = points_of(json_object_get(op, "points"), 1, WBM_POINTS_MAX, why);
	else
		pts = points_of(json_object_get(op, "points"), 2, 2, why);
	if (!pts)
		return -EINVAL;
	canon = json_pack("{s:s,s:s,s:I,s:o}", "kind", kind, "color", color, "width", width, "points",
			  pts);
dump:
	*out = canon ? json_dumps(canon, WBM_DUMP_FLAGS) : NULL;
	json_decref(canon);
	if (!*out) {
		*why = "out of memory";
		return -ENOMEM;
	}
	*out_len = strlen(*out);
	return 0;
}

enum wbm_target wbm_can_target(const struct wbm *m, const char *user, int64_t target, bool redo)
{
	const struct wbm_op *o = wbm_find(m, target);

	if (!o)
		return WBM_TARGET_NOT_FOUND;
	if (strcmp(o->user, user) != 0)
		return WBM_TARGET_NOT_YOURS;
	return o->undone == redo ? WBM_TARGET_OK : WBM_TARGET_STATE;
}

/* ------------------------------------------------------- snapshots */

static int hex_hash(const char *s, uint64_t *out)
{
	char *end;

	if (!s || strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
		return -EINVAL;
	*out = strtoull(s, &end, 16);
	return 0;
}

char *wbm_snapshot(const struct wbm *m, int64_t upto, size_t *len)
{
	char hash[17];
	json_t *ops = json_array(), *o;
	char *s;

	snprintf(hash, sizeof hash, "%016" PRIx64, wbm_hash(m));
	for (size_t i = 0; ops && i < m->n; i++) {
		const struct wbm_op *p = &m->ops[i];
		json_t *op = json_loadb(p->op, p->op_len, 0, NULL);
		json_t *e = op ? json_pack("{s:I,s:I,s:s,s:s,s:o}", "seq", (json_int_t)p->seq, "ts",
					   (json_int_t)p->ts, "userId", p->user, "user", p->name, "op", op) : NULL;
		if (e && p->undone)
			json_object_set_new(e, "undone", json_true());
		if (!e || json_array_append_new(ops, e) != 0) {
			json_decref(ops);
			return NULL;
		}
	}
	o = ops ? json_pack("{s:I,s:s,s:o}", "upto", (json_int_t)upto, "hash", hash, "ops", ops) : NULL;
	s = o ? json_dumps(o, WBM_DUMP_FLAGS) : NULL;
	json_decref(o);
	if (s)
		*len = strlen(s);
	return s;
}

int wbm_snapshot_head(const char *payload, size_t len, int64_t *upto, uint64_t *hash)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	json_int_t u;
	int rc = -EINVAL;

	if (json_is_object(o) && int_in(json_object_get(o, "upto"), 0, INT64_MAX, &u) &&
	    hex_hash(json_string_value(json_object_get(o, "hash")), hash) == 0) {
		*upto = u;
		rc = 0;
	}
	json_decref(o);
	return rc;
}

/* Replaces the board with the snapshot's, checked against its hash. */
static int apply_snapshot(struct wbm *m, const struct app_record *r)
{
	json_t *o = json_loadb(r->payload, r->payload_len, 0, NULL), *ops = json_object_get(o, "ops");
	struct wbm fresh;
	uint64_t hash;
	int rc = -EINVAL;

	wbm_init(&fresh);
	if (!json_is_array(ops) || hex_hash(json_string_value(json_object_get(o, "hash")), &hash) != 0)
		goto out;
	for (size_t i = 0; i < json_array_size(ops); i++) {
		json_t *e = json_array_get(ops, i);
		json_int_t seq, ts;
		const char *user = json_string_value(json_object_get(e, "userId"));
		const char *name = json_string_value(json_object_get(e, "user"));
		json_t *op = json_object_get(e, "op");
		char *s;
		if (!int_in(json_object_get(e, "seq"), 1, INT64_MAX, &seq) ||
		    !int_in(json_object_get(e, "ts"), 0, INT64_MAX, &ts) || !user || !name ||
		    !json_is_object(op) || seq >= r->seq)
			goto out;
		if (!(s = json_dumps(op, WBM_DUMP_FLAGS))) {
			rc = -ENOMEM;
			goto out;
		}
		rc = push(&fresh, seq, ts, user, name, s, strlen(s),
			  json_is_true(json_object_get(e, "undone")));
		free(s);
		if (rc != 0)
			goto out;
		rc = -EINVAL;
	}
	if (wbm_hash(&fresh) != hash)
		goto out;
	wbm_fini(m);
	*m = fresh;
	wbm_init(&fresh);
	rc = 0;
out:
	wbm_fini(&fresh);
	json_decref(o);
	return rc;
}

int wbm_apply(struct wbm *m, const struct app_record *r)
{
	if (strcmp(r->kind, WBM_KIND_OP) == 0) {
		if (r->payload_len == 0 || memchr(r->payload, '\0', r->payload_len))
			return -EINVAL;
		return push(m, r->seq, r->ts, r->user ? r->user : "", r->name ? r->name : "", r->payload,
			    r->payload_len, false);
	}
	if (strcmp(r->kind, WBM_KIND_UNDO) == 0 || strcmp(r->kind, WBM_KIND_REDO) == 0) {
		bool redo = r->kind[0] == 'r';
		if (r->target <= 0 || !r->user)
			return -EINVAL;
		/* One that lost a race (its op undone meanwhile, or cleared) is a
		 * no-op, logged as it was. */
		if (wbm_can_target(m, r->user, r->target, redo) == WBM_TARGET_OK)
			wbm_find(m, r->target)->undone = !redo;
		return 0;
	}
	if (strcmp(r->kind, WBM_KIND_CLEAR) == 0) {
		wbm_reset(m);
		return 0;
	}
	if (strcmp(r->kind, WBM_KIND_SNAPSHOT) == 0)
		return apply_snapshot(m, r);
	return -EINVAL;
}
