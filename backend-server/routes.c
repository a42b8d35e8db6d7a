/* The route table, and what happens to requests no route takes: 404 under
 * /api/, the web client everywhere else. */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "http_json.h"
#include "static_files.h"

/* The router answers 405 itself without calling anything; so that metrics
 * can tell that apart from a handled request, each route goes through a
 * trampoline that marks the request as routed. */
#define BE_ROUTED(fn) \
	static void fn##_routed(struct httpd_req *req, const struct route_params *p, void *ud) \
	{ \
		((struct backend *)ud)->routed = true; \
		fn(req, p, ud); \
	}

#define BE_UNSUB_PATH "/api/email/unsubscribe"

BE_ROUTED(api_login)
BE_ROUTED(api_rooms_create)
BE_ROUTED(api_rooms_get)
BE_ROUTED(api_auth_register)
BE_ROUTED(api_auth_login)
BE_ROUTED(api_me)
BE_ROUTED(api_ice)
BE_ROUTED(api_me_patch)
BE_ROUTED(api_users_get)
BE_ROUTED(api_users_search)
BE_ROUTED(api_rooms_list)
BE_ROUTED(api_history)
BE_ROUTED(api_versions)
BE_ROUTED(api_friends_request)
BE_ROUTED(api_friends_accept)
BE_ROUTED(api_friends_decline)
BE_ROUTED(api_friends_cancel)
BE_ROUTED(api_friends_remove)
BE_ROUTED(api_friends_list)
BE_ROUTED(api_blocks_add)
BE_ROUTED(api_blocks_remove)
BE_ROUTED(api_blocks_list)
BE_ROUTED(api_dms_start)
BE_ROUTED(api_me_rooms)
BE_ROUTED(api_me_rooms_leave)
BE_ROUTED(api_inbox)
BE_ROUTED(api_files_upload)
BE_ROUTED(api_files_get)
BE_ROUTED(api_files_thumb)
BE_ROUTED(api_room_search)
BE_ROUTED(api_search)
BE_ROUTED(api_room_patch)
BE_ROUTED(api_room_delete)
BE_ROUTED(api_room_members)
BE_ROUTED(api_room_role)
BE_ROUTED(api_room_kick)
BE_ROUTED(api_room_owner)
BE_ROUTED(api_room_bans)
BE_ROUTED(api_room_ban)
BE_ROUTED(api_room_unban)
BE_ROUTED(api_room_mute)
BE_ROUTED(api_room_unmute)
BE_ROUTED(api_room_invites)
BE_ROUTED(api_room_invite)
BE_ROUTED(api_room_revoke_link)
BE_ROUTED(api_room_uninvite)
BE_ROUTED(api_invite_accept)
BE_ROUTED(api_devices_add)
BE_ROUTED(api_devices_list)
BE_ROUTED(api_devices_remove)
BE_ROUTED(api_server_records)
BE_ROUTED(api_server_presence)
BE_ROUTED(api_server_close)
BE_ROUTED(api_server_history)
BE_ROUTED(api_admin_servers)
BE_ROUTED(api_admin_drain)
BE_ROUTED(api_admin_webhooks_dead)
BE_ROUTED(api_admin_webhooks_replay)
BE_ROUTED(api_admin_webhooks_replay_all)
BE_ROUTED(api_notify_get)
BE_ROUTED(api_notify_put)
BE_ROUTED(api_room_notify_get)
BE_ROUTED(api_room_notify_put)
BE_ROUTED(api_reminders_add)
BE_ROUTED(api_reminders_list)
BE_ROUTED(api_reminders_remove)
BE_ROUTED(api_push_key)
BE_ROUTED(api_push_subscribe)
BE_ROUTED(api_push_unsubscribe)
BE_ROUTED(api_email_put)
BE_ROUTED(api_email_get)
BE_ROUTED(api_email_delete)
BE_ROUTED(api_email_verify)
BE_ROUTED(api_email_unsubscribe)
BE_ROUTED(status_healthz)
BE_ROUTED(status_readyz)
BE_ROUTED(status_metrics)

static const struct route be_routes[] = {
	{ HTTP_POST, "/api/login", api_login_routed },
	{ HTTP_POST, "/api/rooms", api_rooms_create_routed },
	{ HTTP_GET, "/api/rooms/:id", api_rooms_get_routed },
	{ HTTP_POST, "/api/auth/register", api_auth_register_routed },
	{ HTTP_POST, "/api/auth/login", api_auth_login_routed },
	{ HTTP_GET, "/api/me", api_me_routed },
	{ HTTP_GET, "/api/ice", api_ice_routed },
	{ HTTP_PATCH, "/api/me", api_me_patch_routed },
	{ HTTP_GET, "/api/users", api_users_search_routed },
	{ HTTP_GET, "/api/users/:id", api_users_get_routed },
	{ HTTP_GET, "/api/me/inbox", api_inbox_routed },
	{ HTTP_GET, "/api/rooms", api_rooms_list_routed },
	{ HTTP_GET, "/api/rooms/:id/messages", api_history_routed },
	{ HTTP_POST, "/api/rooms/:id/files", api_files_upload_routed },
	{ HTTP_GET, "/api/rooms/:id/files/:fileId", api_files_get_routed },
	{ HTTP_GET, "/api/rooms/:id/files/:fileId/thumb", api_files_thumb_routed },
	{ HTTP_GET, "/api/rooms/:id/messages/:seq/versions", api_versions_routed },
	{ HTTP_GET, "/api/rooms/:id/search", api_room_search_routed },
	{ HTTP_GET, "/api/search", api_search_routed },
	{ HTTP_PATCH, "/api/rooms/:id", api_room_patch_routed },
	{ HTTP_DELETE, "/api/rooms/:id", api_room_delete_routed },
	{ HTTP_GET, "/api/rooms/:id/members", api_room_members_routed },
	{ HTTP_PATCH, "/api/rooms/:id/members/:userId", api_room_role_routed },
	{ HTTP_DELETE, "/api/rooms/:id/members/:userId", api_room_kick_routed },
	{ HTTP_POST, "/api/rooms/:id/owner", api_room_owner_routed },
	{ HTTP_GET, "/api/rooms/:id/bans", api_room_bans_routed },
	{ HTTP_POST, "/api/rooms/:id/bans", api_room_ban_routed },
	{ HTTP_DELETE, "/api/rooms/:id/bans/:userId", api_room_unban_routed },
	{ HTTP_POST, "/api/rooms/:id/mutes", api_room_mute_routed },
	{ HTTP_DELETE, "/api/rooms/:id/mutes/:userId", api_room_unmute_routed },
	{ HTTP_GET, "/api/rooms/:id/invites", api_room_invites_routed },
	{ HTTP_POST, "/api/rooms/:id/invites", api_room_invite_routed },
	{ HTTP_DELETE, "/api/rooms/:id/invites/links/:linkId", api_room_revoke_link_routed },
	{ HTTP_DELETE, "/api/rooms/:id/invites/:userId", api_room_uninvite_routed },
	{ HTTP_POST, "/api/invites/:token", api_invite_accept_routed },
	{ HTTP_POST, "/api/me/devices", api_devices_add_routed },
	{ HTTP_GET, "/api/users/:id/devices", api_devices_list_routed },
	{ HTTP_DELETE, "/api/me/devices/:id", api_devices_remove_routed },
	{ HTTP_POST, "/api/friends/requests", api_friends_request_routed },
	{ HTTP_POST, "/api/friends/requests/:userId/accept", api_friends_accept_routed },
	{ HTTP_POST, "/api/friends/requests/:userId/decline", api_friends_decline_routed },
	{ HTTP_DELETE, "/api/friends/requests/:userId", api_friends_cancel_routed },
	{ HTTP_DELETE, "/api/friends/:userId", api_friends_remove_routed },
	{ HTTP_GET, "/api/friends", api_friends_list_routed },
	{ HTTP_POST, "/api/blocks", api_blocks_add_routed },
	{ HTTP_DELETE, "/api/blocks/:userId", api_blocks_remove_routed },
	{ HTTP_GET, "/api/blocks", api_blocks_list_routed },
	{ HTTP_POST, "/api/dms", api_dms_start_routed },
	{ HTTP_GET, "/api/me/rooms", api_me_rooms_routed },
	{ HTTP_DELETE, "/api/me/rooms/:id", api_me_rooms_leave_routed },
	{ HTTP_POST, "/api/server/rooms/:id/records", api_server_records_routed },
	{ HTTP_GET, "/api/server/rooms/:id/presence", api_server_presence_routed },
	{ HTTP_POST, "/api/server/rooms/:id/close", api_server_close_routed },
	{ HTTP_GET, "/api/server/rooms/:id/history", api_server_history_routed },
	{ HTTP_GET, "/api/admin/servers", api_admin_servers_routed },
	{ HTTP_POST, "/api/admin/servers/:id/drain", api_admin_drain_routed },
	{ HTTP_GET, "/api/push/key", api_push_key_routed },
	{ HTTP_POST, "/api/me/push", api_push_subscribe_routed },
	{ HTTP_DELETE, "/api/me/push", api_push_unsubscribe_routed },
	{ HTTP_GET, "/api/admin/webhooks/dead", api_admin_webhooks_dead_routed },
	{ HTTP_POST, "/api/admin/webhooks/dead/replay", api_admin_webhooks_replay_all_routed },
	{ HTTP_POST, "/api/admin/webhooks/dead/:id/replay", api_admin_webhooks_replay_routed },
	{ HTTP_GET, "/api/me/notify", api_notify_get_routed },
	{ HTTP_PUT, "/api/me/notify", api_notify_put_routed },
	{ HTTP_GET, "/api/rooms/:id/notify", api_room_notify_get_routed },
	{ HTTP_PUT, "/api/rooms/:id/notify", api_room_notify_put_routed },
	{ HTTP_POST, "/api/reminders", api_reminders_add_routed },
	{ HTTP_GET, "/api/me/reminders", api_reminders_list_routed },
	{ HTTP_DELETE, "/api/reminders/:id", api_reminders_remove_routed },
	{ HTTP_PUT, "/api/me/email", api_email_put_routed },
	{ HTTP_GET, "/api/me/email", api_email_get_routed },
	{ HTTP_DELETE, "/api/me/email", api_email_delete_routed },
	{ HTTP_GET, "/api/email/verify", api_email_verify_routed },
	{ HTTP_GET, "/api/email/unsubscribe", api_email_unsubscribe_routed },
	{ HTTP_POST, "/api/email/unsubscribe", api_email_unsubscribe_routed },
	{ HTTP_GET, "/healthz", status_healthz_routed },
	{ HTTP_GET, "/readyz", status_readyz_routed },
	{ HTTP_GET, "/metrics", status_metrics_routed },
};

void be_json(struct backend *be, struct httpd_req *req, enum mx_route route, int status,
	     json_t *body, const char *extra_headers)
{
	mx_request(&be->mx, route, status);
	http_json_respond(req, status, body, extra_headers);
}

void be_error(struct backend *be, struct httpd_req *req, enum mx_route route, int status,
	      const char *code, const char *message, const char *extra_headers)
{
	mx_request(&be->mx, route, status);
	http_json_error(req, status, code, message, extra_headers);
}

void be_unavailable(struct backend *be, struct httpd_req *req, enum mx_route route,
		    const char *message)
{
	be_error(be, req, route, 503, "unavailable", message, "Retry-After: 2\r\n");
}

void be_too_many(struct backend *be, struct httpd_req *req, enum mx_route route, unsigned seconds,
		 const char *code, const char *message)
{
	char retry[32];

	snprintf(retry, sizeof retry, "Retry-After: %u\r\n", seconds ? seconds : 1);
	be_error(be, req, route, 429, code, message, retry);
}

void be_client(const struct backend *be, const struct httpd_req *req, struct ca_addr *out)
{
	ca_client(be->trust, req, out);
	ca_group(out);
}

static void be_static(struct backend *be, struct httpd_req *req)
{
	/* no-cache: the browser revalidates, so a new client version shows at
	 * once (nosniff and the CSP come with every answer: main.c). */
	static const char headers[] = "Cache-Control: no-cache\r\n";
	const struct sf_file *f = sf_lookup(be->files, req->path, req->path_len);

	if (!f) {
		be_error(be, req, MX_NOT_FOUND, 404, "not_found", "no such file", NULL);
		return;
	}
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		be_error(be, req, MX_METHOD_NOT_ALLOWED, 405, "method_not_allowed",
			 "only GET and HEAD are allowed here", "Allow: GET, HEAD\r\n");
		return;
	}
	mx_request(&be->mx, MX_STATIC, 200);
	httpd_respond(req, 200, f->content_type, headers, f->data, f->len);
}

bool be_require_ready(struct backend *be, struct httpd_req *req, enum mx_route route)
{
	if (be->ready)
		return true;
	be_unavailable(be, req, route, "the database is not ready yet");
	return false;
}

static bool be_is_status_path(const struct httpd_req *req)
{
	static const char *const paths[] = { "/healthz", "/readyz", "/metrics" };

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (req->path_len == strlen(paths[i]) && memcmp(req->path, paths[i], req->path_len) == 0)
			return true;
	return false;
}

enum httpd_head_result be_on_head(const struct httpd_req *req, void *ud, struct httpd_body_sink *sink,
				  struct httpd_head_refusal *no)
{
	return files_head(req, ud, sink, no);
}

void be_on_request(struct httpd_req *req, void *ud)
{
	struct backend *be = ud;
	bool api = req->path_len >= 4 && memcmp(req->path, "/api", 4) == 0 &&
		   (req->path_len == 4 || req->path[4] == '/');

	/* While stopping, monitoring still sees the process (readyz says no). */
	if (be->stopping && !be_is_status_path(req)) {
		be_error(be, req, MX_OTHER, 503, "unavailable", "the server is shutting down",
			 "Retry-After: 1\r\n");
		return;
	}
	/* Before any route: none takes a body that is not JSON (http_json.h
	 * says why), whether it reads its body or not. Except the unsubscribe
	 * link's POST, which a mail client (RFC 8058) and a plain form send as
	 * a form: it reads no body, and its token is its only authority. */
	if (!http_json_content_ok(req) &&
	    !(req->method == HTTP_POST && req->path_len == strlen(BE_UNSUB_PATH) &&
	      memcmp(req->path, BE_UNSUB_PATH, req->path_len) == 0)) {
		mx_request(&be->mx, MX_OTHER, 415);
		http_json_unsupported(req);
		return;
	}
	be->routed = false;
	if (route_dispatch(be_routes, sizeof be_routes / sizeof be_routes[0], req, be) == 0) {
		if (!be->routed)
			mx_request(&be->mx, MX_METHOD_NOT_ALLOWED, 405);
		return;
	}
	if (api) {
		be_error(be, req, MX_NOT_FOUND, 404, "not_found", "no such API route", NULL);
		return;
	}
	be_static(be, req);
}
