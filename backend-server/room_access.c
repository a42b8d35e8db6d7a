/* room_access: see room_access.h. */
#include <string.h>

#include "room_access.h"

bool room_access_refused(const char *access, struct room_refusal *out)
{
	if (strcmp(access, "ok") == 0)
		return false;
	if (strcmp(access, "blocked") == 0)
		*out = (struct room_refusal){ 403, "not_allowed", "you cannot message this user" };
	else if (strcmp(access, "banned") == 0)
		*out = (struct room_refusal){ 403, "banned", "you are banned from this room" };
	else if (strcmp(access, "invite_only") == 0)
		*out = (struct room_refusal){ 403, "invite_only",
					      "this room is invite-only: you need an invite or an invite link" };
	else
		*out = (struct room_refusal){ 404, "not_found", "no such room" };
	return true;
}
