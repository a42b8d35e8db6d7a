#include "dmnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

enum dmn_kind { DMN_UNKNOWN, DMN_LOOKING, DMN_NOT_DM, DMN_DM };

struct dmn {
	struct db *db;
	char room[WIRE_ROOM_ID_MAX + 1];
	enum dmn_kind kind;
	/* user[i]'s latest committed seq not yet announced to the other (0:
	 * none); before the look-up answers, the first two senders seen. */
	char user[2][WIRE_SUB_MAX + 1];
	int64_t pending[2];
	int inflight;   /* queries not answered */
	bool orphan;
	void (*known)(void *arg);
	void *known_arg;
};

static void dmn_flush(struct dmn *d);

static void dmn_release(struct dmn *d)
{
	if (--d->inflight == 0 && d->orphan)
		free(d);
}

static void dmn_on_notified(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dmn *d = arg;

	/* A notification that failed is not sent again: the recipient refetches
	 * on its next connect anyway. */
	if (d->orphan) {
		dmn_release(d);
		return;
	}
	d->inflight--;
	dmn_flush(d);
}

/* One statement for both directions; pg_notify is sent at its commit. */
static void dmn_flush(struct dmn *d)
{
	char s0[24], s1[24];
	const char *p[5] = { d->room, d->user[0], d->user[1], s0, s1 };

	if (d->kind != DMN_DM || d->inflight || (!d->pending[0] && !d->pending[1]))
		return;
	snprintf(s0, sizeof s0, "%" PRId64, d->pending[0]);
	snprintf(s1, sizeof s1, "%" PRId64, d->pending[1]);
	if (db_query(d->db,
		     "SELECT pg_notify('stateroom_inbox', json_build_object('to', t.to_user,"
		     " 'event', json_build_object('type', 'dm', 'roomId', $1::text, 'seq', t.seq))::text)"
		     " FROM (VALUES ($3, $2, $4::bigint), ($2, $3, $5::bigint)) t (to_user, from_user, seq)"
		     " WHERE t.seq > 0 AND NOT EXISTS (SELECT 1 FROM blocks b"
		     "  WHERE b.blocker = t.to_user AND b.blocked = t.from_user)",
		     5, p, dmn_on_notified, d) < 0)
		return;
	d->inflight++;
	d->pending[0] = d->pending[1] = 0;
}

static void dmn_on_looked_up(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dmn *d = arg;
	int64_t seen[2] = { 0, 0 };
	char seen_user[2][WIRE_SUB_MAX + 1];

	if (d->orphan) {
		dmn_release(d);
		return;
	}
	if (!res) {
		d->kind = DMN_UNKNOWN;
	} else if (PQntuples(res) != 1) {
		d->kind = DMN_NOT_DM;
	} else {
		/* What was committed before the answer, by whichever member. */
		memcpy(seen_user, d->user, sizeof seen_user);
		memcpy(seen, d->pending, sizeof seen);
		d->kind = DMN_DM;
		snprintf(d->user[0], sizeof d->user[0], "%s", PQgetvalue(res, 0, 0));
		snprintf(d->user[1], sizeof d->user[1], "%s", PQgetvalue(res, 0, 1));
		d->pending[0] = d->pending[1] = 0;
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 2; k++)
				if (seen[i] && strcmp(seen_user[i], d->user[k]) == 0)
					d->pending[k] = seen[i];
	}
	dmn_release(d);
	dmn_flush(d);
	if (d->kind == DMN_DM && d->known)
		d->known(d->known_arg);
}

static void dmn_look_up(struct dmn *d)
{
	const char *p[1] = { d->room };

	if (db_query(d->db, "SELECT user_a, user_b FROM direct_rooms WHERE room_id = $1", 1, p,
		     dmn_on_looked_up, d) < 0)
		return;
	d->inflight++;
	d->kind = DMN_LOOKING;
}

struct dmn *dmn_new(struct db *db, const char *room, void (*known)(void *arg), void *arg)
{
	struct dmn *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->db = db;
	d->known = known;
	d->known_arg = arg;
	snprintf(d->room, sizeof d->room, "%s", room);
	dmn_look_up(d);
	return d;
}

void dmn_sent(struct dmn *d, const char *user, int64_t seq)
{
	int i;

	if (!d || d->kind == DMN_NOT_DM)
		return;
	if (d->kind == DMN_UNKNOWN)
		dmn_look_up(d);
	for (i = 0; i < 2; i++)
		if (!d->user[i][0] || strcmp(d->user[i], user) == 0)
			break;
	if (i == 2)
		return;  /* not a member (or a third sender before the answer) */
	if (!d->user[i][0])
		snprintf(d->user[i], sizeof d->user[i], "%s", user);
	d->pending[i] = seq;
	dmn_flush(d);
}

int dmn_is_dm(const struct dmn *d)
{
	if (!d || d->kind == DMN_NOT_DM)
		return 0;
	return d->kind == DMN_DM ? 1 : -EAGAIN;
}

const char *dmn_peer(const struct dmn *d, const char *user)
{
	if (!d || d->kind != DMN_DM)
		return NULL;
	if (strcmp(d->user[0], user) == 0)
		return d->user[1];
	if (strcmp(d->user[1], user) == 0)
		return d->user[0];
	return NULL;
}

/* Shares dmn_on_notified (and so inflight) with the "dm" events: a dm
 * flush waits for it, as for its own. */
void dmn_event(struct dmn *d, const char *to, const char *from, json_t *event)
{
	char *payload;
	json_t *o;
	const char *p[3] = { NULL, to, from };

	if (!event)
		return;
	if (!d || d->kind != DMN_DM) {
		json_decref(event);
		return;
	}
	o = json_pack("{s:s,s:o}", "to", to, "event", event);
	payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!payload)
		return;
	p[0] = payload;
	if (strlen(payload) < 7900 &&
	    db_query(d->db,
		     "SELECT pg_notify('stateroom_inbox', $1) WHERE NOT EXISTS (SELECT 1 FROM blocks b"
		     " WHERE b.blocker = $2 AND b.blocked = $3)",
		     3, p, dmn_on_notified, d) == 0)
		d->inflight++;
	free(payload);
}

void dmn_free(struct dmn *d)
{
	if (!d)
		return;
	if (d->inflight)
		d->orphan = true;
	else
		free(d);
}
