/* action_line: the plain English line of a room's action (migration 020's
 * room_actions, docs/protocol.md "Moderation in a room"), "Alice banned Bob
 * for spam", for clients that do not know the action. Both servers show
 * action records (the session server's frames, the backend's HTTP history)
 * and must say the same of each. A DM's call record is shown as an action
 * "call" (the caller its actor, the callee its target; detail {"outcome":
 * "missed"|"declined"|"ended","video"?,"durationS"?}): "Missed call from
 * Alice", "Bob declined a call from Alice", "Call, 3 min". */
#ifndef STATEROOM_ACTION_LINE_H
#define STATEROOM_ACTION_LINE_H

#include <jansson.h>
#include <stddef.h>

/* The line of actor's action on target (NULL: none) with its detail (the
 * action's object, may be NULL), in line[0..size), cut to fit. Names are
 * at most 64 bytes, a room's name 100 and a reason 200 (migration 020):
 * 512 bytes always fit. */
void action_line(char *line, size_t size, const char *actor, const char *action,
		 const char *target, json_t *detail);

#endif
