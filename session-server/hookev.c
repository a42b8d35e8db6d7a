/* hookev: see hookev.h. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hookev.h"
#include "log.h"

#define HEV_CHANNEL "stateroom_webhook_subs"
/* Events waiting at most (a database away for long): past it the newest
 * are dropped, with a warning, rather than memory growing without bound. */
#define HEV_MAX_PENDING 100000

enum hev_type { HEV_JOINED, HEV_LEFT, HEV_UNLOADED, HEV_TYPES };

static const char *const hev_names[HEV_TYPES] = { "joined", "left", "unloaded" };

struct hev {
	struct db *db;
	json_t *pending;             /* [[room, type, user, name], ...] */
	json_t *sending;             /* the batch in flight, put back on failure */
	bool want[HEV_TYPES];
	bool loaded, loading, reload, orphan, dropped;
};

static void hev_release(struct hev *h)
{
	json_decref(h->pending);
	json_decref(h->sending);
	free(h);
}

static void hev_load(struct hev *h);

static void hev_on_subs(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct hev *h = arg;

	(void)sqlstate;
	h->loading = false;
	if (h->orphan) {
		if (!h->sending)
			hev_release(h);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "reading the webhook subscriptions failed", "{s:s}", "error",
			  err ? err : "");
		return;   /* the next flush tries again */
	}
	memset(h->want, 0, sizeof h->want);
	for (int i = 0; i < PQntuples(res); i++)
		for (int t = 0; t < HEV_TYPES; t++)
			if (strcmp(PQgetvalue(res, i, 0), hev_names[t]) == 0)
				h->want[t] = true;
	h->loaded = true;
	if (h->reload) {
		h->reload = false;
		hev_load(h);
	}
}

static void hev_load(struct hev *h)
{
	if (h->loading) {
		h->reload = true;
		return;
	}
	if (db_query(h->db, "SELECT DISTINCT event FROM webhook_subscriptions"
			    " WHERE event IN ('joined', 'left', 'unloaded')",
		     0, NULL, hev_on_subs, h) == 0)
		h->loading = true;
}

static void hev_on_notify(void *arg, const char *payload)
{
	struct hev *h = arg;

	(void)payload;   /* NULL, after a reconnection, also means: read again */
	if (!h->orphan)
		hev_load(h);
}

struct hev *hev_new(struct db *db)
{
	struct hev *h = calloc(1, sizeof *h);

	if (!h || !(h->pending = json_array())) {
		free(h);
		return NULL;
	}
	h->db = db;
	if (db_listen(db, HEV_CHANNEL, hev_on_notify, h) < 0)
		log_write(LOG_WARN, "cannot listen for webhook subscriptions", NULL);
	hev_load(h);
	return h;
}

static void hev_note(struct hev *h, enum hev_type t, const char *room, const char *user,
		     const char *name)
{
	json_t *e;

	if (!h || !h->want[t])
		return;
	if (json_array_size(h->pending) >= HEV_MAX_PENDING) {
		if (!h->dropped)
			log_write(LOG_WARN, "webhook events dropped: the database is away", NULL);
		h->dropped = true;
		return;
	}
	e = json_pack("[s,s,s?,s?]", room, hev_names[t], user, name);
	if (!e || json_array_append_new(h->pending, e) < 0)
		log_write(LOG_WARN, "webhook event dropped: out of memory", "{s:s}", "room", room);
}

void hev_joined(struct hev *h, const char *room, const char *user, const char *name)
{
	hev_note(h, HEV_JOINED, room, user, name);
}

void hev_left(struct hev *h, const char *room, const char *user, const char *name)
{
	hev_note(h, HEV_LEFT, room, user, name);
}

void hev_unloaded(struct hev *h, const char *room)
{
	hev_note(h, HEV_UNLOADED, room, NULL, NULL);
}

static void hev_on_written(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct hev *h = arg;

	(void)sqlstate;
	if (h->orphan) {
		json_decref(h->sending);
		h->sending = NULL;
		if (!h->loading)
			hev_release(h);
		return;
	}
	if (!res) {
		log_write(LOG_WARN, "writing webhook events failed; trying again", "{s:s}", "error",
			  err ? err : "");
		/* Back in front of what came since, in order. */
		if (json_array_extend(h->sending, h->pending) == 0) {
			json_decref(h->pending);
			h->pending = h->sending;
			h->sending = NULL;
			return;
		}
	}
	json_decref(h->sending);
	h->sending = NULL;
	h->dropped = false;
}

void hev_flush(struct hev *h)
{
	json_t *next;
	char *text;
	const char *p[1];

	if (!h)
		return;
	if (!h->loaded)
		hev_load(h);
	if (h->sending || json_array_size(h->pending) == 0)
		return;
	next = json_array();
	text = json_dumps(h->pending, JSON_COMPACT);
	p[0] = text;
	if (next && text &&
	    db_query(h->db, "SELECT stateroom_webhook_events($1::json)", 1, p, hev_on_written, h) == 0) {
		h->sending = h->pending;
		h->pending = next;
		next = NULL;
	}
	json_decref(next);
	free(text);
}

/* The listener stays registered until db_close, which the session server
 * calls right after hub_close, before the loop could deliver another
 * notification. */
void hev_free(struct hev *h)
{
	if (!h)
		return;
	if (h->sending || h->loading) {
		h->orphan = true;
		return;
	}
	hev_release(h);
}
