/* agones_sdk: this session server as an Agones GameServer, through the SDK
 * sidecar's REST API on http://localhost:PORT (AGONES_SDK_HTTP_PORT).
 *
 *  - Ready once the server can take rooms (cfg.can_ready holds), retried with
 *    backoff for as long as the sidecar refuses (it may start after us);
 *  - Health every health_ms from the start;
 *  - the `rooms` list and counter kept in step with the rooms held (chat
 *    rooms; never an inbox, which no allocation counted): a room loaded is
 *    added to the list (the allocation that placed it has already counted
 *    it), a room unloaded is removed from the list and the counter goes
 *    down by one;
 *  - on drain, the counter's capacity is set to its count, so that no
 *    allocation lands here any more, and room changes stop being reported;
 *  - Shutdown at the end of the drain, after everything queued before it.
 *
 * Calls other than Ready and Health go out one at a time, in the order they
 * were asked for, each retried a few times on a transport error or a 5xx.
 * Nothing here blocks or fails the server: the sidecar's trouble is logged. */
#ifndef STATEROOM_AGONES_SDK_H
#define STATEROOM_AGONES_SDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct agones_sdk;

struct agones_sdk_config {
	int port;                       /* the sidecar's HTTP port */
	uint64_t health_ms;             /* 0: 5000 */
	bool (*can_ready)(void *ud);    /* polled before Ready; NULL: at once */
	void *ud;
};

/* Starts the Ready attempts and the Health timer. Returns 0 and *out, or a
 * negative errno. */
int agones_sdk_start(uv_loop_t *loop, const struct agones_sdk_config *cfg, struct agones_sdk **out);

/* A room was loaded (true) or unloaded (false). room_id is copied.
 * NULL-safe; ignored once draining. */
void agones_sdk_room(struct agones_sdk *s, const char *room_id, bool loaded);

/* Stops new allocations from landing here: capacity = rooms (the count the
 * server still holds). Idempotent, NULL-safe. */
void agones_sdk_drain(struct agones_sdk *s, size_t rooms);

/* Sends Shutdown after what is queued, then stops and frees s (bounded:
 * the loop is let go of within a few seconds whatever the sidecar does).
 * NULL-safe; s must not be used afterwards. */
void agones_sdk_shutdown(struct agones_sdk *s);

#endif
