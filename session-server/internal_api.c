/* internal_api: see internal_api.h. The backend checks what the app's
 * backend sent (service token, sizes, names); this checks again only what
 * would harm the room, since a caller with the shared secret is the
 * backend. */
#include "internal_api.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "http_json.h"
#include "hub.h"
#include "wire.h"

/* A WebSocket close frame's reason holds at most this many bytes. */
#define IAPI_REASON_MAX 123

/* The room id of the route, NUL-terminated into room, when the caller holds
 * a token for this server, that room and act; else answers 401. */
static bool iapi_auth(struct iapi *a, struct httpd_req *req, const struct route_params *p,
		      const char *act, char room[WIRE_ROOM_ID_MAX + 1])
{
	const char *tok;
	size_t len;

	if (p->n >= 1 && wire_room_id_valid(p->v[0].s, p->v[0].len)) {
		memcpy(room, p->v[0].s, p->v[0].len);
		room[p->v[0].len] = '\0';
		if (http_bearer(req, &tok, &len) == 0 &&
		    wire_internal_verify(tok, len, (const unsigned char *)a->secret, strlen(a->secret),
					 a->server_id, room, act, (int64_t)time(NULL)))
			return true;
	}
	http_json_error(req, 401, "unauthorized", "an internal token is required",
			"WWW-Authenticate: Bearer\r\n");
	return false;
}

static void iapi_published(void *arg, int status, int64_t seq)
{
	struct httpd_req *req = arg;

	if (status == 0)
		http_json_respond(req, 200, json_pack("{s:I}", "seq", (json_int_t)seq), NULL);
	else if (status == -EPIPE)
		http_json_error(req, 409, "not_loaded", "the room was unloaded before the record was saved",
				NULL);
	else
		http_json_error(req, 503, "unavailable", "the record could not be saved; retry", NULL);
}

void iapi_records(struct iapi *a, struct httpd_req *req, const struct route_params *p)
{
	char room_id[WIRE_ROOM_ID_MAX + 1];
	struct app_room *r;
	json_t *body, *jkind, *jname, *jpayload;
	const char *kind, *name, *payload;
	size_t len;
	int rc;

	if (!iapi_auth(a, req, p, "records", room_id) || http_json_body(req, &body) < 0)
		return;
	jkind = json_object_get(body, "kind");
	jname = json_object_get(body, "name");
	jpayload = json_object_get(body, "payload");
	kind = json_string_value(jkind);
	name = json_string_value(jname);
	payload = json_string_value(jpayload);
	len = json_string_length(jpayload);
	if (!payload || memchr(payload, '\0', len) || (jkind && (!kind || !*kind ||
	    strlen(kind) > APP_KIND_MAX)) || !name || !*name || strlen(name) > WIRE_NAME_MAX) {
		json_decref(body);
		http_json_error(req, 400, "invalid_record", "payload, name and kind are malformed", NULL);
		return;
	}
	r = hub_room(a->hub, room_id);
	if (!r) {
		json_decref(body);
		http_json_error(req, 409, "not_loaded", "the room is not loaded on this server", NULL);
		return;
	}
	/* The application copies what it keeps before publish returns. */
	rc = hub_room_publish(r, kind, name, payload, len, iapi_published, req);
	json_decref(body);
	if (rc == -ENOTSUP)
		http_json_error(req, 409, "not_supported",
				"the room's application takes no records from the server", NULL);
	else if (rc == -EINVAL)
		http_json_error(req, 400, "invalid_record", "the room's application refuses this record",
				NULL);
	else if (rc < 0)
		http_json_error(req, 503, "unavailable", "the room cannot take records now; retry", NULL);
}

void iapi_presence(struct iapi *a, struct httpd_req *req, const struct route_params *p)
{
	char room_id[WIRE_ROOM_ID_MAX + 1];
	struct app_room *r;
	struct app_client *c;
	json_t *members, *out;
	size_t n;

	if (!iapi_auth(a, req, p, "presence", room_id))
		return;
	r = hub_room(a->hub, room_id);
	members = json_array();
	n = r ? app_room_member_count(r) : 0;
	for (size_t i = 0; members && i < n; i++) {
		const char *user = app_room_member(r, i);
		json_int_t conns = 0;
		for (c = app_room_clients(r); c; c = app_client_next(c))
			conns += strcmp(app_client_user(c), user) == 0;
		json_array_append_new(members, json_pack("{s:s,s:s,s:I}", "userId", user, "name",
							 app_room_member_name(r, i), "connections",
							 conns));
	}
	out = members ? json_pack("{s:b,s:o}", "loaded", r != NULL, "members", members) : NULL;
	if (!out)
		http_json_error(req, 500, "internal", "out of memory", NULL);
	else
		http_json_respond(req, 200, out, NULL);
}

void iapi_close(struct iapi *a, struct httpd_req *req, const struct route_params *p)
{
	char room_id[WIRE_ROOM_ID_MAX + 1], reason[IAPI_REASON_MAX + 1] = "closed by the server";
	struct app_room *r;
	struct app_client *c;
	json_t *body, *jreason;
	const char *user;
	json_int_t closed = 0;

	if (!iapi_auth(a, req, p, "close", room_id) || http_json_body(req, &body) < 0)
		return;
	user = json_string_value(json_object_get(body, "userId"));
	jreason = json_object_get(body, "reason");
	if (!user || (jreason && (!json_is_string(jreason) ||
				  json_string_length(jreason) > IAPI_REASON_MAX))) {
		json_decref(body);
		http_json_error(req, 400, "invalid_close", "userId and reason are malformed", NULL);
		return;
	}
	if (jreason && json_string_length(jreason) > 0)
		strcpy(reason, json_string_value(jreason));
	r = hub_room(a->hub, room_id);
	/* app_close takes effect later: the list is not changed meanwhile. */
	for (c = r ? app_room_clients(r) : NULL; c; c = app_client_next(c)) {
		if (strcmp(app_client_user(c), user) == 0) {
			app_close(c, WIRE_CLOSE_BY_SERVER, reason);
			closed++;
		}
	}
	json_decref(body);
	http_json_respond(req, 200, json_pack("{s:I}", "closed", closed), NULL);
}
