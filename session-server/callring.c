#include "callring.h"

#include <stdio.h>
#include <string.h>

enum cr_event cr_update(struct callring *r, const char *const user[2], const bool in[2],
			const char *by, const char *by_name, bool video, int64_t now_ms)
{
	int alone = in[0] && !in[1] ? 0 : in[1] && !in[0] ? 1 : -1;

	if (!in[0] && !in[1]) {
		enum cr_state was = r->state;

		r->state = CR_IDLE;
		if (was == CR_RINGING)
			return CR_CANCELLED;
		if (was == CR_ON) {
			r->duration_ms = now_ms - r->since_ms;
			return CR_ENDED;
		}
		return CR_NONE;
	}
	if (in[0] && in[1]) {
		enum cr_state was = r->state;

		if (was == CR_ON)
			return CR_NONE;
		r->state = CR_ON;
		r->since_ms = now_ms;
		return was == CR_RINGING ? CR_ANSWERED : CR_NONE;
	}
	if (r->state != CR_IDLE)
		return CR_NONE;  /* still ringing, or the one left of a call */
	/* The first one in calls (by is that member, unless the look-up of
	 * the members changed under it: then whoever is in). */
	snprintf(r->caller, sizeof r->caller, "%s", user[alone]);
	snprintf(r->callee, sizeof r->callee, "%s", user[!alone]);
	snprintf(r->caller_name, sizeof r->caller_name, "%s",
		 by && strcmp(by, user[alone]) == 0 && by_name ? by_name : user[alone]);
	r->video = video;
	r->since_ms = now_ms;
	if (r->rung_ms && now_ms - r->rung_ms < CR_GAP_MS) {
		r->state = CR_OVER;
		return CR_NONE;
	}
	r->rung_ms = now_ms;
	r->state = CR_RINGING;
	return CR_RING;
}

enum cr_event cr_decline(struct callring *r, const char *user)
{
	if (r->state != CR_RINGING || strcmp(user, r->callee) != 0)
		return CR_NONE;
	r->state = CR_OVER;
	return CR_DECLINED;
}

enum cr_event cr_tick(struct callring *r, int64_t now_ms, int64_t timeout_ms)
{
	if (r->state != CR_RINGING || now_ms - r->since_ms < timeout_ms)
		return CR_NONE;
	r->state = CR_OVER;
	return CR_MISSED;
}

const char *cr_outcome(enum cr_event ev)
{
	switch (ev) {
	case CR_DECLINED:
		return "declined";
	case CR_MISSED:
	case CR_CANCELLED:
		return "missed";  /* for the callee, a call it missed */
	case CR_ENDED:
		return "ended";
	default:
		return NULL;
	}
}

const char *cr_end_reason(enum cr_event ev)
{
	switch (ev) {
	case CR_ANSWERED:
		return "answered";
	case CR_DECLINED:
		return "declined";
	case CR_MISSED:
		return "missed";
	case CR_CANCELLED:
		return "cancelled";
	default:
		return NULL;
	}
}
