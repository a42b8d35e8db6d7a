#include "action_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A DM's call record (docs/protocol.md, "Calls"): actor is the caller,
 * target the callee, detail {"outcome","video"?,"durationS"?}. */
static void call_line(char *line, size_t size, const char *actor, const char *target,
		      json_t *detail)
{
	const char *outcome = json_string_value(json_object_get(detail, "outcome"));
	bool video = json_is_true(json_object_get(detail, "video"));
	json_int_t s = json_integer_value(json_object_get(detail, "durationS"));
	const char *kind = video ? "video call" : "call";

	if (!outcome)
		outcome = "";
	if (strcmp(outcome, "missed") == 0)
		snprintf(line, size, "Missed %s from %s", kind, actor);
	else if (strcmp(outcome, "declined") == 0)
		snprintf(line, size, "%s declined a %s from %s", target ? target : "someone", kind, actor);
	else if (s < 60)
		snprintf(line, size, "%s, %d s", video ? "Video call" : "Call", (int)(s < 0 ? 0 : s));
	else if (s < 3600)
		snprintf(line, size, "%s, %d min", video ? "Video call" : "Call", (int)(s / 60));
	else
		snprintf(line, size, "%s, %lld h %d min", video ? "Video call" : "Call",
			 (long long)(s / 3600), (int)(s % 3600 / 60));
}

void action_line(char *line, size_t size, const char *actor, const char *action,
		 const char *target, json_t *detail)
{
	static const struct { const char *action, *verb, *after; } lines[] = {
		{ "promote", "made", " a moderator" },
		{ "demote", "removed", " as a moderator" },
		{ "transfer", "handed the room over to", "" },
		{ "kick", "removed", "" },
		{ "ban", "banned", "" },
		{ "unban", "lifted the ban on", "" },
		{ "mute", "muted", "" },
		{ "unmute", "unmuted", "" },
		{ "invite", "invited", "" },
		{ "uninvite", "withdrew the invitation of", "" },
	};
	const char *reason = json_string_value(json_object_get(detail, "reason"));
	const char *name = json_string_value(json_object_get(detail, "name"));
	size_t i, len;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strcmp(action, lines[i].action) == 0)
			break;
	if (strcmp(action, "call") == 0) {
		call_line(line, size, actor, target, detail);
		return;
	}
	if (i < sizeof(lines) / sizeof(lines[0]))
		snprintf(line, size, "%s %s %s%s", actor, lines[i].verb, target ? target : "someone",
			 lines[i].after);
	else if (strcmp(action, "settings") == 0 && name && *name)
		snprintf(line, size, "%s renamed the room to %s", actor, name);
	else if (strcmp(action, "settings") == 0)
		snprintf(line, size, "%s changed the room's settings", actor);
	else if (strcmp(action, "invite_link") == 0)
		snprintf(line, size, "%s made an invite link", actor);
	else if (strcmp(action, "revoke_link") == 0)
		snprintf(line, size, "%s revoked an invite link", actor);
	else
		snprintf(line, size, "%s: %s", actor, action);
	len = strlen(line);
	if (reason && *reason)
		snprintf(line + len, size - len, " for %s", reason);
}
