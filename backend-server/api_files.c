/* POST /api/rooms/:id/files?name=NAME: upload a file to a room; the body is
 * the file's bytes, streamed to the spool as it arrives (httpd's on_head:
 * files_head()), never held in memory.
 * GET /api/rooms/:id/files/:fileId and .../thumb: the file, or an image's
 * thumbnail, for the room's members.
 *
 * Members are those who may have a ticket for the room (room_access.h); a
 * banned or uninvited user is refused as a ticket is (403 banned,
 * invite_only), anyone else hears of no file (404), as of no room.
 *
 * An upload goes: head (token, room id, name and declared type checked, a
 * spool file opened: refusals here come before any of the body is read) →
 * body (written to the spool; plain text checked as it goes) → type sniffed
 * and checked against the allow-list, the declared type and the name's
 * extension → on the thread pool: an image's header checked and its
 * thumbnail made, both moved into the store → the database row, written
 * only if the caller may use the room and is within both quotas, in one
 * statement → 201. A refusal after the store has the bytes deletes them. */
#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "backend.h"
#include "files.h"
#include "http_json.h"
#include "inbox_id.h"
#include "log.h"
#include "room_access.h"
#include "sniff.h"
#include "thumbs.h"
#include "wire.h"

/* A name is kept up to this many bytes (a file system's usual limit). */
#define FILES_NAME_MAX 255
/* ?name= as sent, percent-decoded, before it is cleaned. */
#define FILES_NAME_IN_MAX 1024
/* A thumbnail is at most 320 × 320 WebP: far below this. */
#define FILES_THUMB_READ_MAX (4u << 20)

static const char files_headers_fmt[] =
	"Content-Disposition: %s\r\n"
	"Content-Security-Policy: default-src 'none'; sandbox\r\n"
	"Cache-Control: private, max-age=3600\r\n";

struct files_up {               /* one upload, from its head to its answer */
	struct backend *be;
	struct httpd_req *req;  /* once on_request has it */
	struct auth_user user;
	char room[WIRE_ROOM_ID_MAX + 1];
	char name[FILES_NAME_MAX + 1];
	enum sniff_type declared, type;
	int fd;
	char spool[FILES_PATH_MAX], thumb_spool[FILES_PATH_MAX];
	unsigned char head[SNIFF_HEAD];
	size_t head_len;
	struct sniff_text text;
	uint64_t size;
	char id[FILES_ID_LEN + 1];
	bool thumb, stored;
	enum thumbs_result tr;
	int put_rc;
	char err[256];
	uv_work_t work;
};

struct files_dl {               /* one download */
	struct backend *be;
	struct httpd_req *req;
	char id[FILES_ID_LEN + 1];
	char name[FILES_NAME_MAX + 1];
	char type[64];
	bool thumb;
	size_t size;
	char *data;
	size_t len;
	int rc;
	uv_work_t work;
};

/* ---- the head: before the body ----------------------------------------- */

static void files_up_free(struct files_up *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->spool[0])
		unlink(u->spool);
	if (u->thumb_spool[0])
		unlink(u->thumb_spool);
	free(u);
}

static void files_on_abort(void *arg)
{
	files_up_free(arg);
}

static int files_on_data(void *arg, const char *data, size_t len)
{
	struct files_up *u = arg;
	size_t off = 0;

	if (u->head_len < SNIFF_HEAD) {
		size_t n = len < SNIFF_HEAD - u->head_len ? len : SNIFF_HEAD - u->head_len;

		memcpy(u->head + u->head_len, data, n);
		u->head_len += n;
	}
	sniff_text_feed(&u->text, (const unsigned char *)data, len);
	/* The spool is on local disk: a write lands in the page cache. */
	while (off < len) {
		ssize_t n = write(u->fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ENOSPC || errno == EDQUOT ? UV_ENOSPC : -errno;
		off += (size_t)n;
	}
	u->size += len;
	return 0;
}

/* The room id of a path "/api/rooms/<id>/files", exactly as the router
 * matches it, or NULL. */
static const char *files_upload_path(const struct httpd_req *req, size_t *len)
{
	static const char pre[] = "/api/rooms/", post[] = "/files";
	const char *p = req->path, *slash;
	size_t n = req->path_len;

	if (n <= sizeof pre - 1 + sizeof post - 1 || memcmp(p, pre, sizeof pre - 1) != 0 ||
	    memcmp(p + n - (sizeof post - 1), post, sizeof post - 1) != 0)
		return NULL;
	p += sizeof pre - 1;
	n -= sizeof pre - 1 + sizeof post - 1;
	slash = memchr(p, '/', n);
	if (slash || n == 0)
		return NULL;
	*len = n;
	return p;
}

static enum httpd_head_result files_refuse(struct backend *be, struct httpd_head_refusal *no,
					   int status, const char *code, const char *msg)
{
	mx_request(&be->mx, MX_FILES_UPLOAD, status);
	no->status = status;
	no->code = code;
	no->msg = msg;
	return HTTPD_HEAD_REFUSE;
}

enum httpd_head_result files_head(const struct httpd_req *req, struct backend *be,
				  struct httpd_body_sink *sink, struct httpd_head_refusal *no)
{
	char raw[FILES_NAME_IN_MAX];
	const char *room, *ct, *why;
	size_t room_len, ct_len;
	struct auth_user user;
	struct files_up *u;
	enum sniff_type declared = SNIFF_NONE;
	int n;

	if (req->method != HTTP_POST || !(room = files_upload_path(req, &room_len)))
		return HTTPD_HEAD_BUFFER;
	/* Stopping or not ready: routes.c answers 503 from the buffered way. */
	if (be->stopping || !be->ready || !be->store)
		return HTTPD_HEAD_BUFFER;
	if (auth_check(be, req, &user, &why) < 0)
		return files_refuse(be, no, 401, "unauthorized", why);
	if (!wire_room_id_valid(room, room_len) || room_len == INBOX_ID_LEN)
		return files_refuse(be, no, 404, "not_found", "no such room");
	n = httpd_query(req, "name", raw, sizeof raw);
	if (n == -1)
		return files_refuse(be, no, 400, "invalid_name", "the file's name is required (?name=)");
	if (n < 0 || n > FILES_NAME_IN_MAX)
		return files_refuse(be, no, 400, "invalid_name", "the file's name is too long");
	u = calloc(1, sizeof *u);
	if (!u)
		return files_refuse(be, no, 503, "unavailable", "out of memory");
	u->fd = -1;
	if (sniff_name(raw, u->name) < 0 || strlen(u->name) > FILES_NAME_MAX) {
		files_up_free(u);
		return files_refuse(be, no, 400, "invalid_name",
				    "a file's name must be UTF-8, at most 255 bytes, and not empty");
	}
	ct = httpd_header(req, "Content-Type", &ct_len);
	if (ct && !(ct_len >= 24 && strncasecmp(ct, "application/octet-stream", 24) == 0)) {
		declared = sniff_from_mime(ct, ct_len);
		if (declared == SNIFF_NONE || !(be->upload_types & (1u << declared))) {
			files_up_free(u);
			return files_refuse(be, no, 415, "type_not_allowed",
					    "files of this type are not taken here (see --upload-types)");
		}
		if (!sniff_ext_ok(u->name, declared)) {
			files_up_free(u);
			return files_refuse(be, no, 415, "name_mismatch",
					    "the file's name has an extension of another type than its Content-Type");
		}
	}
	u->be = be;
	u->user = user;
	memcpy(u->room, room, room_len);
	u->declared = declared;
	u->fd = files_spool(be->store, u->spool);
	if (u->fd < 0) {
		log_write(LOG_WARN, "cannot open a spool file", "{s:s}", "error", strerror(-u->fd));
		u->spool[0] = '\0';
		files_up_free(u);
		return files_refuse(be, no, 500, "internal", "the file cannot be stored now");
	}
	sink->max_bytes = (uint64_t)be->cfg.max_upload_bytes;
	sink->too_large_code = "file_too_large";
	sink->too_large_msg = "the file is larger than this server takes (--max-upload-bytes)";
	sink->on_data = files_on_data;
	sink->on_abort = files_on_abort;
	sink->arg = u;
	return HTTPD_HEAD_STREAM;
}

/* ---- the body is in ------------------------------------------------------ */

static void files_up_done(struct files_up *u)
{
	struct backend *be = u->be;

	files_up_free(u);
	be_release(be);
}

static void files_up_error(struct files_up *u, int status, const char *code, const char *msg,
			   const char *extra)
{
	be_error(u->be, u->req, MX_FILES_UPLOAD, status, code, msg, extra);
	u->req = NULL;
}

static void files_work_delete(uv_work_t *w)
{
	struct files_up *u = w->data;

	files_delete(u->be->store, u->id);
}

static void files_after_delete(uv_work_t *w, int status)
{
	files_up_done(w->data);
}

/* After a refusal once the store has the bytes: they go, then u. */
static void files_unstore(struct files_up *u)
{
	u->work.data = u;
	if (!u->stored || uv_queue_work(u->be->loop, &u->work, files_work_delete, files_after_delete) < 0)
		files_up_done(u);
}

static const char files_insert_sql[] =
	"WITH a AS (SELECT " ROOM_ACCESS_SQL " AS access"
	"  FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id WHERE r.id = $1),"
	" u AS (SELECT coalesce(sum(size), 0) AS used FROM files"
	"  WHERE owner = $2 AND created_at > now() - interval '1 day'),"
	" rm AS (SELECT coalesce(sum(size), 0) AS used FROM files WHERE room_id = $1),"
	" v AS (SELECT a.access,"
	"  $7::bigint > 0 AND u.used + $6::bigint > $7::bigint AS over_user,"
	"  $8::bigint > 0 AND rm.used + $6::bigint > $8::bigint AS over_room FROM a, u, rm),"
	" ins AS (INSERT INTO files (id, room_id, owner, name, type, size, thumb)"
	"  SELECT $3, $1, $2, $4, $5, $6::bigint, $9::boolean FROM v"
	"  WHERE access = 'ok' AND NOT over_user AND NOT over_room RETURNING id)"
	" SELECT access, over_user, over_room, (SELECT count(*) FROM ins) FROM v";

static void files_on_inserted(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct files_up *u = arg;
	struct backend *be = u->be;
	struct room_refusal no;

	if (!res || PQnfields(res) != 4 || PQntuples(res) > 1) {
		log_write(LOG_WARN, "file insert failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, u->req, MX_FILES_UPLOAD, "the file directory is unavailable; try again shortly");
		goto refused;
	}
	if (PQntuples(res) == 0) {
		files_up_error(u, 404, "not_found", "no such room", NULL);
		goto refused;
	}
	if (room_access_refused(PQgetvalue(res, 0, 0), &no)) {
		files_up_error(u, no.status, no.code, no.message, NULL);
		goto refused;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		files_up_error(u, 429, "upload_quota",
			       "you have uploaded as much as this server takes in a day (--upload-bytes-per-day)",
			       "Retry-After: 3600\r\n");
		goto refused;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		files_up_error(u, 413, "room_files_full",
			       "this room holds as many files as this server takes (--room-files-bytes)", NULL);
		goto refused;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "1") != 0) {
		be_unavailable(be, u->req, MX_FILES_UPLOAD, "the file was not recorded; try again shortly");
		goto refused;
	}
	log_write(LOG_INFO, "file uploaded", "{s:s,s:s,s:s,s:s,s:I}", "room", u->room, "owner", u->user.sub,
		  "file", u->id, "type", sniff_mime(u->type), "size", (json_int_t)u->size);
	be_json(be, u->req, MX_FILES_UPLOAD, 201,
		json_pack("{s:s,s:s,s:s,s:I,s:b}", "fileId", u->id, "name", u->name, "type",
			  sniff_mime(u->type), "size", (json_int_t)u->size, "thumb", u->thumb),
		NULL);
	files_up_done(u);
	return;
refused:
	files_unstore(u);
}

static void files_work_store(uv_work_t *w)
{
	struct files_up *u = w->data;
	struct files_store *fs = u->be->store;

	if (sniff_is_image(u->type)) {
		if (snprintf(u->thumb_spool, sizeof u->thumb_spool, "%s.thumb", u->spool) >=
		    (int)sizeof u->thumb_spool) {
			u->thumb_spool[0] = '\0';
			u->tr = THUMBS_ERROR;
			return;
		}
		u->tr = thumbs_make(u->spool, u->type, (uint64_t)u->be->cfg.max_image_pixels,
				    u->thumb_spool, u->err, sizeof u->err);
		if (u->tr != THUMBS_OK)
			return;
		u->thumb = true;
		u->put_rc = files_put(fs, u->id, FILES_THUMB, u->thumb_spool);
		u->thumb_spool[0] = '\0';
		if (u->put_rc < 0)
			return;
	}
	u->put_rc = files_put(fs, u->id, FILES_ORIGINAL, u->spool);
	u->spool[0] = '\0';
	u->stored = u->put_rc == 0 || u->thumb;
}

static void files_after_store(uv_work_t *w, int status)
{
	struct files_up *u = w->data;
	struct backend *be = u->be;
	char size[24], thumb[2];
	const char *q[9];

	if (u->tr == THUMBS_TOO_LARGE) {
		files_up_error(u, 422, "image_too_large",
			       "the image's dimensions are over what this server decodes (--max-image-pixels)", NULL);
		files_unstore(u);
		return;
	}
	if (u->tr == THUMBS_BAD || u->tr == THUMBS_ERROR) {
		log_write(LOG_INFO, "image refused", "{s:s,s:s}", "room", u->room, "error", u->err);
		files_up_error(u, 422, "bad_image", "the image cannot be read", NULL);
		files_unstore(u);
		return;
	}
	if (status < 0 || u->put_rc < 0) {
		log_write(LOG_WARN, "file not stored", "{s:s}", "error", strerror(-u->put_rc));
		if (u->put_rc == -ENOSPC)
			files_up_error(u, 507, "insufficient_storage", "no room to store the file", NULL);
		else
			files_up_error(u, 500, "internal", "the file could not be stored", NULL);
		files_unstore(u);
		return;
	}
	snprintf(size, sizeof size, "%llu", (unsigned long long)u->size);
	snprintf(thumb, sizeof thumb, "%c", u->thumb ? 't' : 'f');
	char user_q[24], room_q[24];

	snprintf(user_q, sizeof user_q, "%ld", be->cfg.upload_bytes_per_day);
	snprintf(room_q, sizeof room_q, "%ld", be->cfg.room_files_bytes);
	q[0] = u->room;
	q[1] = u->user.sub;
	q[2] = u->id;
	q[3] = u->name;
	q[4] = sniff_mime(u->type);
	q[5] = size;
	q[6] = user_q;
	q[7] = room_q;
	q[8] = thumb;
	if (db_query(be->db, files_insert_sql, 9, q, files_on_inserted, u) == 0)
		return;
	be_unavailable(be, u->req, MX_FILES_UPLOAD, "the file directory is unavailable; try again shortly");
	files_unstore(u);
}

void api_files_upload(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct files_up *u = req->stream;
	uint64_t w, hgt;

	if (!u) {
		/* Not streamed: the server was stopping or not ready at its head. */
		if (be_require_ready(be, req, MX_FILES_UPLOAD))
			be_unavailable(be, req, MX_FILES_UPLOAD, "files cannot be taken now; try again shortly");
		return;
	}
	req->stream = NULL;
	u->req = req;
	be_hold(be);
	close(u->fd);
	u->fd = -1;
	u->type = sniff_type(u->head, u->head_len, &u->text);
	if (u->type == SNIFF_NONE || !(be->upload_types & (1u << u->type))) {
		files_up_error(u, 415, "type_not_allowed",
			       "files of this type are not taken here (see --upload-types)", NULL);
		files_up_done(u);
		return;
	}
	if (u->declared != SNIFF_NONE && u->declared != u->type) {
		files_up_error(u, 415, "type_mismatch", "the file's content is not of its declared Content-Type",
			       NULL);
		files_up_done(u);
		return;
	}
	if (!sniff_ext_ok(u->name, u->type)) {
		files_up_error(u, 415, "name_mismatch", "the file's content does not match its name's extension",
			       NULL);
		files_up_done(u);
		return;
	}
	/* An image bomb goes before any decoder sees it: a GIF decoder may
	 * size its canvas by the logical screen, which libvips does not report. */
	if (sniff_dims(u->head, u->head_len, u->type, &w, &hgt) == 0 &&
	    (w == 0 || hgt == 0 || w * hgt > (uint64_t)be->cfg.max_image_pixels)) {
		files_up_error(u, 422, "image_too_large",
			       "the image's dimensions are over what this server decodes (--max-image-pixels)", NULL);
		files_up_done(u);
		return;
	}
	if (files_new_id(u->id) < 0) {
		files_up_error(u, 500, "internal", "no random file id", NULL);
		files_up_done(u);
		return;
	}
	u->work.data = u;
	if (uv_queue_work(be->loop, &u->work, files_work_store, files_after_store) < 0) {
		files_up_error(u, 500, "internal", "the file could not be stored", NULL);
		files_up_done(u);
	}
}

/* ---- downloads ------------------------------------------------------------ */

static void files_dl_done(struct files_dl *d)
{
	struct backend *be = d->be;

	free(d->data);
	free(d);
	be_release(be);
}

static void files_work_get(uv_work_t *w)
{
	struct files_dl *d = w->data;

	d->rc = files_get(d->be->store, d->id, d->thumb ? FILES_THUMB : FILES_ORIGINAL,
			  d->thumb ? FILES_THUMB_READ_MAX : d->size, &d->data, &d->len);
}

static void files_after_get(uv_work_t *w, int status)
{
	struct files_dl *d = w->data;
	struct backend *be = d->be;
	char disp[FILES_NAME_MAX * 4 + 128], headers[sizeof disp + sizeof files_headers_fmt + 16];
	const char *ct;
	bool image;

	if (status < 0 || d->rc < 0) {
		if (d->rc == -ENOENT) {
			be_error(be, d->req, MX_FILES_GET, 404, "not_found", "no such file", NULL);
		} else {
			log_write(LOG_WARN, "file not read", "{s:s,s:s}", "file", d->id, "error", strerror(-d->rc));
			be_error(be, d->req, MX_FILES_GET, 500, "internal", "the file cannot be read", NULL);
		}
		files_dl_done(d);
		return;
	}
	image = d->thumb || sniff_is_image(sniff_from_mime(d->type, strlen(d->type)));
	ct = d->thumb ? THUMBS_MIME : strcmp(d->type, "text/plain") == 0 ? "text/plain; charset=utf-8" : d->type;
	if (sniff_disposition(d->name, image, disp, sizeof disp) < 0)
		snprintf(disp, sizeof disp, "%s", image ? "inline" : "attachment");
	snprintf(headers, sizeof headers, files_headers_fmt, disp);
	mx_request(&be->mx, MX_FILES_GET, 200);
	httpd_respond(d->req, 200, ct, headers, d->data, d->len);
	files_dl_done(d);
}

/* The room's row with the caller's access, and the file's (NULLs: none);
 * no row: no room. A file is no file for those the room refuses. */
static const char files_get_sql[] =
	"SELECT f.name, f.type, f.size, f.thumb, a.access FROM rooms r"
	" LEFT JOIN direct_rooms d ON d.room_id = r.id"
	" CROSS JOIN LATERAL (SELECT " ROOM_ACCESS_SQL " AS access) a"
	" LEFT JOIN files f ON f.room_id = r.id AND f.id = $3 AND a.access = 'ok'"
	" WHERE r.id = $1";

static void files_on_found(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct files_dl *d = arg;
	struct backend *be = d->be;
	struct room_refusal no;

	if (!res || PQnfields(res) != 5 || PQntuples(res) > 1) {
		log_write(LOG_WARN, "file look-up failed", "{s:s}", "error", err ? err : "unexpected result");
		be_unavailable(be, d->req, MX_FILES_GET, "the file directory is unavailable; try again shortly");
		files_dl_done(d);
		return;
	}
	/* A stranger to a DM hears of no file, as of no room (hidden); a
	 * banned or uninvited user of a room is told why. */
	if (PQntuples(res) == 1 && room_access_refused(PQgetvalue(res, 0, 4), &no) && no.status != 404) {
		be_error(be, d->req, MX_FILES_GET, no.status, no.code, no.message, NULL);
		files_dl_done(d);
		return;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ||
	    (d->thumb && strcmp(PQgetvalue(res, 0, 3), "t") != 0)) {
		be_error(be, d->req, MX_FILES_GET, 404, "not_found", "no such file", NULL);
		files_dl_done(d);
		return;
	}
	snprintf(d->name, sizeof d->name, "%s", PQgetvalue(res, 0, 0));
	snprintf(d->type, sizeof d->type, "%s", PQgetvalue(res, 0, 1));
	d->size = (size_t)strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	d->work.data = d;
	if (uv_queue_work(be->loop, &d->work, files_work_get, files_after_get) == 0)
		return;
	be_error(be, d->req, MX_FILES_GET, 500, "internal", "the file cannot be read", NULL);
	files_dl_done(d);
}

static void files_get_route(struct httpd_req *req, const struct route_params *params, void *ud,
			    bool thumb)
{
	struct backend *be = ud;
	struct auth_user user;
	struct files_dl *d;
	char room[WIRE_ROOM_ID_MAX + 1];
	const char *q[3];

	if (auth_user(be, req, MX_FILES_GET, &user) < 0 || !be_require_ready(be, req, MX_FILES_GET))
		return;
	if (params->n < 2 || !wire_room_id_valid(params->v[0].s, params->v[0].len) ||
	    params->v[0].len == INBOX_ID_LEN || !files_id_valid(params->v[1].s, params->v[1].len) ||
	    !be->store) {
		be_error(be, req, MX_FILES_GET, 404, "not_found", "no such file", NULL);
		return;
	}
	d = calloc(1, sizeof *d);
	if (!d) {
		be_error(be, req, MX_FILES_GET, 500, "internal", "out of memory", NULL);
		return;
	}
	d->be = be;
	d->req = req;
	d->thumb = thumb;
	memcpy(room, params->v[0].s, params->v[0].len);
	room[params->v[0].len] = '\0';
	memcpy(d->id, params->v[1].s, FILES_ID_LEN);
	q[0] = room;
	q[1] = user.sub;
	q[2] = d->id;
	be_hold(be);
	if (db_query(be->db, files_get_sql, 3, q, files_on_found, d) == 0)
		return;
	be_unavailable(be, req, MX_FILES_GET, "the file directory is unavailable; try again shortly");
	files_dl_done(d);
}

void api_files_get(struct httpd_req *req, const struct route_params *params, void *ud)
{
	files_get_route(req, params, ud, false);
}

void api_files_thumb(struct httpd_req *req, const struct route_params *params, void *ud)
{
	files_get_route(req, params, ud, true);
}
