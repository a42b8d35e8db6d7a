/* A DM's ringing (callring.h): the first one in rings the other; the ring
 * ends answered, declined (by the callee only), missed at the timeout or
 * cancelled when the caller leaves; an answered call ends with its
 * duration; rings come at most one a second; and the record lines. */
#include <jansson.h>

#include "action_line.h"
#include "callring.h"
#include "check.h"

static const char *const users[2] = { "alice", "bob" };

static enum cr_event set(struct callring *r, bool a, bool b, int64_t now)
{
	const bool in[2] = { a, b };

	return cr_update(r, users, in, a ? "alice" : "bob", a ? "Alice" : "Bob", true, now);
}

static void test_answered_then_ended(void)
{
	struct callring r = { 0 };

	CHECK_EQ_INT(set(&r, true, false, 10000), CR_RING);
	CHECK_EQ_STR(r.caller, "alice");
	CHECK_EQ_STR(r.callee, "bob");
	CHECK_EQ_STR(r.caller_name, "Alice");
	CHECK(r.video);
	CHECK_EQ_INT(cr_tick(&r, 39999, 30000), CR_NONE);
	CHECK_EQ_INT(set(&r, true, true, 12000), CR_ANSWERED);
	CHECK_EQ_INT(cr_tick(&r, 99000, 30000), CR_NONE);
	CHECK_EQ_INT(cr_decline(&r, "bob"), CR_NONE);
	/* One leaves: the call goes on; the last one out ends it. */
	CHECK_EQ_INT(set(&r, false, true, 100000), CR_NONE);
	CHECK_EQ_INT(set(&r, false, false, 192000), CR_ENDED);
	CHECK_EQ_INT(r.duration_ms, 180000);
	CHECK_EQ_STR(cr_outcome(CR_ENDED), "ended");
	CHECK(cr_end_reason(CR_ENDED) == NULL);
	CHECK_EQ_STR(cr_end_reason(CR_ANSWERED), "answered");
}

static void test_declined_missed_cancelled(void)
{
	struct callring r = { 0 };

	CHECK_EQ_INT(set(&r, false, true, 10000), CR_RING);
	CHECK_EQ_STR(r.caller, "bob");
	CHECK_EQ_INT(cr_decline(&r, "bob"), CR_NONE);   /* the caller does not decline */
	CHECK_EQ_INT(cr_decline(&r, "carol"), CR_NONE);
	CHECK_EQ_INT(cr_decline(&r, "alice"), CR_DECLINED);
	CHECK_EQ_INT(cr_decline(&r, "alice"), CR_NONE); /* nothing rings any more */
	CHECK_EQ_INT(cr_tick(&r, 90000, 30000), CR_NONE);
	CHECK_EQ_INT(set(&r, false, false, 20000), CR_NONE);

	CHECK_EQ_INT(set(&r, true, false, 30000), CR_RING);
	CHECK_EQ_INT(cr_tick(&r, 60000, 30000), CR_MISSED);
	CHECK_EQ_INT(cr_tick(&r, 61000, 30000), CR_NONE);
	/* Joining after it was missed is a call, without ringing again. */
	CHECK_EQ_INT(set(&r, true, true, 62000), CR_NONE);
	CHECK_EQ_INT(set(&r, false, false, 65000), CR_ENDED);
	CHECK_EQ_INT(r.duration_ms, 3000);

	CHECK_EQ_INT(set(&r, true, false, 70000), CR_RING);
	CHECK_EQ_INT(set(&r, false, false, 70300), CR_CANCELLED);
	CHECK_EQ_STR(cr_outcome(CR_CANCELLED), "missed");
	CHECK_EQ_STR(cr_end_reason(CR_CANCELLED), "cancelled");
	/* Within a second of the last ring: no ring, no record when it ends. */
	CHECK_EQ_INT(set(&r, true, false, 70500), CR_NONE);
	CHECK_EQ_INT(r.state, CR_OVER);
	CHECK_EQ_INT(set(&r, false, false, 70600), CR_NONE);
	CHECK_EQ_INT(set(&r, true, false, 71000), CR_RING);
}

static void line_is(const char *action_json, const char *actor, const char *target, const char *want)
{
	char line[512];
	json_t *detail = json_loads(action_json, 0, NULL);

	action_line(line, sizeof line, actor, "call", target, detail);
	CHECK_EQ_STR(line, want);
	json_decref(detail);
}

static void test_lines(void)
{
	line_is("{\"outcome\":\"missed\"}", "Alice", "bob", "Missed call from Alice");
	line_is("{\"outcome\":\"missed\",\"video\":true}", "Alice", "bob", "Missed video call from Alice");
	line_is("{\"outcome\":\"declined\"}", "Alice", "Bob", "Bob declined a call from Alice");
	line_is("{\"outcome\":\"ended\",\"durationS\":45}", "Alice", "bob", "Call, 45 s");
	line_is("{\"outcome\":\"ended\",\"durationS\":200}", "Alice", "bob", "Call, 3 min");
	line_is("{\"outcome\":\"ended\",\"durationS\":3900,\"video\":true}", "Alice", "bob",
		"Video call, 1 h 5 min");
	line_is("{\"outcome\":\"ended\",\"durationS\":-4}", "Alice", "bob", "Call, 0 s");
	line_is("null", "Alice", NULL, "Call, 0 s");
}

int main(void)
{
	test_answered_then_ended();
	test_declined_missed_cancelled();
	test_lines();
	return check_done();
}
