/* backend: the state every part of stateroom-backend shares, and the way
 * its handlers answer. One struct backend per process, owned by main.c. */
#ifndef STATEROOM_BACKEND_H
#define STATEROOM_BACKEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "client_addr.h"
#include "db.h"
#include "httpd.h"
#include "metrics.h"
#include "router.h"
#include "scheduler.h"

struct static_files;
struct files_store;
struct pw;
struct thr;
struct hc;
struct st_set;
struct wh;
struct push;
struct em;

struct backend_config {                 /* docs/protocol.md, "stateroom-backend" */
	const char *host;
	long port;
	const char *database_url;
	const char *secret;
	const char *scheduler;
	const char *session_servers;
	long dead_after_ms;
	long suspect_after_ms;          /* a suspected server this quiet is dead for the room */
	long suspect_quorum;            /* users whose suspicion moves a room from a live server */
	long room_capacity;
	long ticket_ttl;
	long token_ttl;
	long max_unjoined_rooms;        /* per user; 0: no limit */
	long room_creates_per_minute;   /* per user; 0: no limit */
	const char *client_dir;
	const char *log_level;
	const char *session_binary;     /* process scheduler */
	const char *session_host;
	const char *session_public;     /* NULL: clients get the registry address */
	long max_servers;
	long min_servers;
	long server_idle_ms;
	long spawn_wait_ms;
	const char *admin_token;        /* NULL: the admin API answers 404 */
	const char *trusted_proxies;
	long max_conns, max_conns_per_ip, header_timeout_ms, idle_timeout_ms;
	long login_failures_per_account, login_failures_per_ip, guest_logins_per_minute;
	long searches_per_minute, friend_requests_per_minute, dm_starts_per_minute;
	long message_searches_per_minute;
	const char *agones_api, *agones_namespace, *agones_fleet, *agones_token_file, *agones_ca_file;
	const char *files_dir, *upload_types;
	long max_upload_bytes, max_image_pixels, upload_bytes_per_day, room_files_bytes;
	const char *service_tokens;     /* the server API's (service_tokens.h) */
	const char *connect_hook_url, *connect_hook_fail, *connect_hook_secret;
	long connect_hook_timeout_ms;
	const char *webhook_urls, *webhook_secret, *webhook_events;
	long webhook_max_attempts, webhook_timeout_ms, webhook_retry_base_ms, webhook_retry_max_ms;
	long webhook_poll_ms, webhook_max_inflight;
	const char *stun_urls, *turn_urls, *turn_secret;  /* GET /api/ice (ice.h) */
	long turn_ttl_s;
	long reminder_poll_ms, notify_sweep_ms;  /* reminders.h */
	const char *vapid_public_key, *vapid_private_key, *vapid_subject;  /* push.h */
	bool push_allow_http;
	long push_grace_ms, push_timeout_ms, push_max_inflight, push_max_attempts;
	long push_retry_base_ms, push_retry_max_ms, push_ttl_s;
	const char *smtp_url, *smtp_from, *smtp_user, *smtp_password, *public_url;  /* email.h */
	long email_timeout_ms, email_poll_ms, email_retry_base_ms, email_retry_max_ms;
	long email_max_inflight, email_test_delay_ms;
};

struct backend {
	uv_loop_t *loop;
	struct backend_config cfg;
	struct db *db;
	const struct sched_ops *sched;
	void *sched_state;
	struct sched_env sched_env;     /* borrowed by the scheduler instance */
	struct httpd *httpd;
	struct static_files *files;
	struct pw *pw;                  /* password hashing (pwhash.h) */
	struct ca_trust *trust;         /* --trusted-proxies (client_addr.h) */
	struct thr *thr;                /* login limits (throttle.h) */
	struct files_store *store;      /* uploaded files (files.h) */
	struct wh *wh;                  /* the webhook dispatcher (webhooks.h) */
	struct push *push;              /* the push sender (push.h) */
	struct em *em;                  /* email: verification and digests (email.h) */
	unsigned upload_types;          /* --upload-types: 1 << enum sniff_type */
	struct metrics mx;
	struct hc *hc;                  /* outbound HTTP: the server API, the connect hook */
	struct st_set *service_tokens;  /* NULL: the server API answers 404 */
	bool hook_fail_open;            /* --connect-hook-fail open */
	bool ready;                     /* migrations applied: the API may run */
	bool stopping;                  /* a signal came: new requests get 503 */
	bool routed;                    /* set by a route's handler, see routes.c */
	unsigned pending;               /* requests waiting on the database */
};

/* Answer and count the request (metrics by route and status class). body is
 * stolen as in http_json_respond(). */
void be_json(struct backend *be, struct httpd_req *req, enum mx_route route, int status,
	     json_t *body, const char *extra_headers);
void be_error(struct backend *be, struct httpd_req *req, enum mx_route route, int status,
	      const char *code, const char *message, const char *extra_headers);

/* Answers 503 unavailable with Retry-After: 2 (a database or the scheduler
 * down usually comes back within seconds); message says what is down. */
void be_unavailable(struct backend *be, struct httpd_req *req, enum mx_route route,
		    const char *message);

/* Answers 429 with Retry-After: seconds (a client over one of its limits). */
void be_too_many(struct backend *be, struct httpd_req *req, enum mx_route route, unsigned seconds,
		 const char *code, const char *message);

/* The client req comes from, as limits count it: see client_addr.h. */
void be_client(const struct backend *be, const struct httpd_req *req, struct ca_addr *out);

/* True when migrations are applied; else answers 503 unavailable (with
 * Retry-After) and returns false. For handlers that need the database. */
bool be_require_ready(struct backend *be, struct httpd_req *req, enum mx_route route);

/* A handler that waits on the database calls be_hold() before and
 * be_release() after it answered, so that shutdown waits for it (main.c). */
void be_hold(struct backend *be);
void be_release(struct backend *be);

/* --session-public (api_rooms.c): whether tmpl is a usable template (NULL
 * is: none), else false with a reason in err. */
bool rooms_public_valid(const char *tmpl, char *err, size_t err_len);

/* The host a look-up hands out for a session server registered at address
 * ("host:port", "[v6]:port"): --session-public with {host} and {port} filled
 * in, or the address itself. 0, or -ENAMETOOLONG when out is too short. */
int rooms_public_host(const struct backend *be, const char *address, char *out, size_t out_len);

/* httpd's on_request and on_head: routes.c. */
void be_on_request(struct httpd_req *req, void *ud);
enum httpd_head_result be_on_head(const struct httpd_req *req, void *ud, struct httpd_body_sink *sink,
				  struct httpd_head_refusal *no);

/* The upload route's head (api_files.c): streams the body of
 * POST /api/rooms/:id/files to the spool, or refuses it before it is read. */
enum httpd_head_result files_head(const struct httpd_req *req, struct backend *be,
				  struct httpd_body_sink *sink, struct httpd_head_refusal *no);

/* Handlers (route_fn, ud is the struct backend). */
void api_login(struct httpd_req *req, const struct route_params *params, void *ud);
void api_rooms_create(struct httpd_req *req, const struct route_params *params, void *ud);
void api_rooms_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_auth_register(struct httpd_req *req, const struct route_params *params, void *ud);
void api_auth_login(struct httpd_req *req, const struct route_params *params, void *ud);
void api_ice(struct httpd_req *req, const struct route_params *params, void *ud);
void api_me(struct httpd_req *req, const struct route_params *params, void *ud);
void api_me_patch(struct httpd_req *req, const struct route_params *params, void *ud);
void api_users_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_users_search(struct httpd_req *req, const struct route_params *params, void *ud);
void api_rooms_list(struct httpd_req *req, const struct route_params *params, void *ud);
void api_history(struct httpd_req *req, const struct route_params *params, void *ud);
void api_versions(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_request(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_accept(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_decline(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_cancel(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_remove(struct httpd_req *req, const struct route_params *params, void *ud);
void api_friends_list(struct httpd_req *req, const struct route_params *params, void *ud);
void api_blocks_add(struct httpd_req *req, const struct route_params *params, void *ud);
void api_blocks_remove(struct httpd_req *req, const struct route_params *params, void *ud);
void api_blocks_list(struct httpd_req *req, const struct route_params *params, void *ud);
void api_devices_add(struct httpd_req *req, const struct route_params *params, void *ud);
void api_devices_list(struct httpd_req *req, const struct route_params *params, void *ud);
void api_devices_remove(struct httpd_req *req, const struct route_params *params, void *ud);
void api_dms_start(struct httpd_req *req, const struct route_params *params, void *ud);
void api_me_rooms(struct httpd_req *req, const struct route_params *params, void *ud);
void api_me_rooms_leave(struct httpd_req *req, const struct route_params *params, void *ud);
void api_inbox(struct httpd_req *req, const struct route_params *params, void *ud);
void api_files_upload(struct httpd_req *req, const struct route_params *params, void *ud);
void api_files_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_files_thumb(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_search(struct httpd_req *req, const struct route_params *params, void *ud);
void api_search(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_patch(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_delete(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_members(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_role(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_kick(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_owner(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_bans(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_ban(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_unban(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_mute(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_unmute(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_invites(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_invite(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_revoke_link(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_uninvite(struct httpd_req *req, const struct route_params *params, void *ud);
void api_invite_accept(struct httpd_req *req, const struct route_params *params, void *ud);
void api_server_records(struct httpd_req *req, const struct route_params *params, void *ud);
void api_server_presence(struct httpd_req *req, const struct route_params *params, void *ud);
void api_server_close(struct httpd_req *req, const struct route_params *params, void *ud);
void api_server_history(struct httpd_req *req, const struct route_params *params, void *ud);
void api_admin_servers(struct httpd_req *req, const struct route_params *params, void *ud);
void api_admin_drain(struct httpd_req *req, const struct route_params *params, void *ud);
void api_admin_webhooks_dead(struct httpd_req *req, const struct route_params *params, void *ud);
void api_admin_webhooks_replay(struct httpd_req *req, const struct route_params *params, void *ud);
void api_admin_webhooks_replay_all(struct httpd_req *req, const struct route_params *params, void *ud);
void api_notify_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_notify_put(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_notify_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_room_notify_put(struct httpd_req *req, const struct route_params *params, void *ud);
void api_reminders_add(struct httpd_req *req, const struct route_params *params, void *ud);
void api_reminders_list(struct httpd_req *req, const struct route_params *params, void *ud);
void api_reminders_remove(struct httpd_req *req, const struct route_params *params, void *ud);
void api_push_key(struct httpd_req *req, const struct route_params *params, void *ud);
void api_push_subscribe(struct httpd_req *req, const struct route_params *params, void *ud);
void api_push_unsubscribe(struct httpd_req *req, const struct route_params *params, void *ud);
void api_email_put(struct httpd_req *req, const struct route_params *params, void *ud);
void api_email_get(struct httpd_req *req, const struct route_params *params, void *ud);
void api_email_delete(struct httpd_req *req, const struct route_params *params, void *ud);
void api_email_verify(struct httpd_req *req, const struct route_params *params, void *ud);
void api_email_unsubscribe(struct httpd_req *req, const struct route_params *params, void *ud);
void status_healthz(struct httpd_req *req, const struct route_params *params, void *ud);
void status_readyz(struct httpd_req *req, const struct route_params *params, void *ud);
void status_metrics(struct httpd_req *req, const struct route_params *params, void *ud);

#endif
