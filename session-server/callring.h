/* callring: the ringing of a DM's call (docs/protocol.md, "Calls",
 * "Ringing in a DM"), as a state machine without clock or I/O: the chat
 * feeds it who of the DM's two members is in the call after every change,
 * declines and ticks, and does what the returned event says (inbox events,
 * frames to the room, a call record in the log).
 *
 * The first member to join rings the other (at most one ring a second per
 * DM: a join and leave loop must not flood the other's inbox and the log).
 * The ring ends when the other joins (answered), declines, nobody answers
 * within the timeout (missed) or the caller leaves (cancelled). A call that
 * was answered ends when nobody is left in it (ended, with its duration).
 * After a decline or a missed ring the caller may stay in the call alone;
 * nothing rings again until it is empty. */
#ifndef STATEROOM_CALLRING_H
#define STATEROOM_CALLRING_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* A ring starts at most this long after the previous one started. */
#define CR_GAP_MS 1000

enum cr_state {
	CR_IDLE,     /* nobody in the call */
	CR_RINGING,  /* the caller alone in it, the other rung */
	CR_ON,       /* both were in it: a call, until it is empty */
	CR_OVER,     /* declined, missed or not rung: the caller alone in it */
};

enum cr_event {
	CR_NONE,
	CR_RING,       /* ring callee */
	CR_ANSWERED,   /* the ring ends: callee joined */
	CR_DECLINED,   /* the ring ends: callee declined */
	CR_MISSED,     /* the ring ends: nobody answered in time */
	CR_CANCELLED,  /* the ring ends: the caller left */
	CR_ENDED,      /* an answered call is over (duration_ms) */
};

struct callring {
	enum cr_state state;
	char caller[WIRE_SUB_MAX + 1], callee[WIRE_SUB_MAX + 1];
	char caller_name[WIRE_NAME_MAX + 1];
	bool video;                  /* the caller joined with video */
	int64_t since_ms;            /* rung or answered at */
	int64_t rung_ms;             /* the latest ring's start; 0: none */
	int64_t duration_ms;         /* CR_ENDED: how long the call was on */
};

/* After a change of the call: in[i] is whether user[i] (the DM's members)
 * has a participant in it. by/by_name/video: the connection whose frame or
 * leave made the change (its join starts a ring). */
enum cr_event cr_update(struct callring *r, const char *const user[2], const bool in[2],
			const char *by, const char *by_name, bool video, int64_t now_ms);
/* user declines: ends a ring of user only. */
enum cr_event cr_decline(struct callring *r, const char *user);
/* A ring older than timeout_ms is missed. */
enum cr_event cr_tick(struct callring *r, int64_t now_ms, int64_t timeout_ms);

/* The record line's outcome of an event that writes one ("missed",
 * "declined", "ended"), or NULL. */
const char *cr_outcome(enum cr_event ev);
/* The reason of a ring_end ("answered", "declined", "missed",
 * "cancelled"), or NULL for an event that does not end a ring. */
const char *cr_end_reason(enum cr_event ev);

#endif
