/* call: a WebRTC call in a chat room, as room state (docs/protocol.md,
 * "Calls"). The session server only keeps who is in the call and relays
 * each participant's signalling (SDP, ICE candidates) to the one it names;
 * the media flow between the browsers (full mesh) or through TURN.
 *
 * A participant is a connection: one user may be in a call from several
 * tabs, each its own participant. A connection that closes leaves at once.
 * The chat hands every {"type":"call"} frame of a native client to
 * call_frame and each leaving connection to call_leave; when either says
 * the call changed, it sends call_members() to every welcomed client. */
#ifndef STATEROOM_CALL_H
#define STATEROOM_CALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"

/* Most participants (a full mesh: each sends its media to every other). */
#define CALL_MAX 6
/* Most bytes of a signal's data, serialised (an SDP offer with audio, video
 * and a screen is some 10 KB). */
#define CALL_SIGNAL_MAX 32768

struct call;

/* NULL on ENOMEM. */
struct call *call_new(void);
void call_free(struct call *call);

/* A {"type":"call"} frame o from c; muted_until: app_room_muted_until of
 * c's user (a muted user may not join: a call is a way to speak). Errors
 * and answers go to c, signals to their target. Returns whether the
 * participants changed. */
bool call_frame(struct call *call, struct app_client *c, json_t *o, int64_t muted_until);
/* c has left the room: returns whether it was in the call. */
bool call_leave(struct call *call, struct app_client *c);
/* Whether anyone is in the call. */
bool call_active(const struct call *call);
/* Whether user has a participant (any of its connections) in the call. */
bool call_has_user(const struct call *call, const char *user);
/* The connection that joined first, or NULL. */
struct app_client *call_first(const struct call *call);
/* Whether c is a participant with its camera on. */
bool call_has_video(const struct call *call, const struct app_client *c);
/* {"type":"call","op":"members","participants":[...]}, or NULL (ENOMEM). */
json_t *call_members(const struct call *call);

#endif
