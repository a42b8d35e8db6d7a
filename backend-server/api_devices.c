/* Device keys of end-to-end encrypted DMs (docs/protocol.md, "Device keys";
 * docs/e2ee.md): POST /api/me/devices {"alg","publicKey"}, GET
 * /api/users/:id/devices, DELETE /api/me/devices/:deviceId. Public keys
 * only, accounts only; the limits are checked under the account's lock by
 * stateroom_device_add (schema/migrations/025_device_keys.sql). The key is
 * checked for its format and size, not for being a point of its curve: the
 * browsers that import it check that, and a device nobody can import only
 * harms its own account. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "http_json.h"
#include "people_req.h"

/* Each active device of both members gets a wrapped key in every message
 * (docs/e2ee.md, "Limits"): this bound keeps an envelope of the encrypted
 * DMs' text limit within the session server's 4000 bytes. */
#define DEV_MAX_ACTIVE "6"
/* Rows kept per account, removed devices included (their keys read old
 * messages). */
#define DEV_MAX_TOTAL "64"
#define DEV_ID_LEN 16            /* 12 random bytes, base64url */
#define DEV_KEY_MAX 65           /* P-256 uncompressed point */

static const char dev_bad_key[] =
	"alg must be \"X25519\" (publicKey: 32 bytes) or \"P-256\" (publicKey: a 65-byte uncompressed point),"
	" publicKey unpadded base64url";

struct dev_call {
	struct backend *be;
	struct httpd_req *req;
	enum mx_route route;
};

static void dev_done(struct dev_call *c)
{
	struct backend *be = c->be;

	free(c);
	be_release(be);
}

/* The caller, who must hold an account. Returns 0, or -1 after answering. */
static int dev_caller(struct backend *be, struct httpd_req *req, enum mx_route route, struct auth_user *me)
{
	if (auth_user(be, req, route, me) < 0)
		return -1;
	if (!me->registered || !wire_user_id_valid(me->sub, strlen(me->sub))) {
		be_error(be, req, route, 403, "account_required",
			 "encrypted direct messages need an account: register or log in", NULL);
		return -1;
	}
	return be_require_ready(be, req, route) ? 0 : -1;
}

/* Queues sql for a new call; answers and returns -1 when it cannot. */
static int dev_query(struct backend *be, struct httpd_req *req, enum mx_route route, const char *sql,
		     int n, const char *const *q, db_result_fn cb)
{
	struct dev_call *c = calloc(1, sizeof *c);

	if (!c) {
		be_error(be, req, route, 500, "internal", "out of memory", NULL);
		return -1;
	}
	c->be = be;
	c->req = req;
	c->route = route;
	be_hold(be);
	if (db_query(be->db, sql, n, q, cb, c) < 0) {
		preq_db_error(be, req, route, "device query not queued", "queue full");
		dev_done(c);
		return -1;
	}
	return 0;
}

static bool dev_key_valid(const char *alg, const char *key, size_t len)
{
	unsigned char raw[B64_DECODED_MAX(B64_URL_ENCODED_LEN(DEV_KEY_MAX))];
	ssize_t n;

	if (len > B64_URL_ENCODED_LEN(DEV_KEY_MAX))
		return false;
	n = b64_url_decode(raw, key, len);
	if (strcmp(alg, "X25519") == 0) {
		static const unsigned char zero[32];

		return n == 32 && memcmp(raw, zero, 32) != 0;
	}
	if (strcmp(alg, "P-256") == 0)
		return n == 65 && raw[0] == 0x04;
	return false;
}

static void dev_on_added(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dev_call *c = arg;
	const char *s = res && PQntuples(res) == 1 && PQnfields(res) == 2 ? PQgetvalue(res, 0, 0) : "";

	if (strcmp(s, "created") == 0 || strcmp(s, "exists") == 0)
		be_json(c->be, c->req, c->route, s[0] == 'c' ? 201 : 200,
			json_pack("{s:s}", "deviceId", PQgetvalue(res, 0, 1)), NULL);
	else if (strcmp(s, "revoked") == 0)
		be_error(c->be, c->req, c->route, 409, "key_revoked",
			 "this key belonged to a removed device: make a new key", NULL);
	else if (strcmp(s, "limit") == 0)
		be_error(c->be, c->req, c->route, 409, "too_many_devices",
			 "an account may have at most " DEV_MAX_ACTIVE " devices: remove one first", NULL);
	else if (strcmp(s, "no_user") == 0)
		be_error(c->be, c->req, c->route, 403, "account_required", "your account no longer exists", NULL);
	else
		preq_db_error(c->be, c->req, c->route, "device add failed", res ? "unexpected result" : err);
	dev_done(c);
}

void api_devices_add(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	json_t *body, *alg, *key;
	unsigned char rnd[12];
	char id[DEV_ID_LEN + 1], keycopy[B64_URL_ENCODED_LEN(DEV_KEY_MAX) + 1];
	const char *q[6];

	if (dev_caller(be, req, MX_DEVICES_ADD, &me) < 0)
		return;
	if (http_json_body(req, &body) < 0) {
		mx_request(&be->mx, MX_DEVICES_ADD, 400);
		return;
	}
	alg = json_object_get(body, "alg");
	key = json_object_get(body, "publicKey");
	if (json_object_size(body) != 2 || !json_is_string(alg) || !json_is_string(key) ||
	    !dev_key_valid(json_string_value(alg), json_string_value(key), json_string_length(key))) {
		json_decref(body);
		be_error(be, req, MX_DEVICES_ADD, 400, "invalid_key", dev_bad_key, NULL);
		return;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		json_decref(body);
		be_error(be, req, MX_DEVICES_ADD, 500, "internal", "no random device id", NULL);
		return;
	}
	b64_url_encode(id, rnd, sizeof rnd);
	snprintf(keycopy, sizeof keycopy, "%s", json_string_value(key));
	q[0] = me.sub;
	q[1] = id;
	q[2] = strcmp(json_string_value(alg), "X25519") == 0 ? "X25519" : "P-256";
	q[3] = keycopy;
	q[4] = DEV_MAX_ACTIVE;
	q[5] = DEV_MAX_TOTAL;
	json_decref(body);
	dev_query(be, req, MX_DEVICES_ADD, "SELECT * FROM stateroom_device_add($1, $2, $3, $4, $5, $6)", 6, q,
		  dev_on_added);
}

/* No row: no such account; one row of NULLs: an account without devices. */
static const char dev_list_sql[] =
	"SELECT d.device_id, d.alg, d.public_key,"
	"  to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	"  to_char(d.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	" FROM users u LEFT JOIN device_keys d ON d.user_id = u.id"
	" WHERE u.id = $1 ORDER BY d.created_at, d.device_id";

static void dev_on_list(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dev_call *c = arg;
	json_t *active, *revoked, *d;
	int rows;

	if (!res || PQnfields(res) != 5) {
		preq_db_error(c->be, c->req, c->route, "device list failed", res ? "unexpected result" : err);
		goto out;
	}
	rows = PQntuples(res);
	if (rows == 0) {
		be_error(c->be, c->req, c->route, 404, "not_found", "no such account", NULL);
		goto out;
	}
	active = json_array();
	revoked = json_array();
	for (int i = 0; active && revoked && i < rows && !PQgetisnull(res, i, 0); i++) {
		bool gone = !PQgetisnull(res, i, 4);

		d = json_pack("{s:s,s:s,s:s,s:s}", "deviceId", PQgetvalue(res, i, 0), "alg",
			      PQgetvalue(res, i, 1), "publicKey", PQgetvalue(res, i, 2), "createdAt",
			      PQgetvalue(res, i, 3));
		if (d && gone && json_object_set_new(d, "revokedAt", json_string(PQgetvalue(res, i, 4))) < 0) {
			json_decref(d);
			d = NULL;
		}
		if (!d || json_array_append_new(gone ? revoked : active, d) < 0) {
			json_decref(active);
			active = NULL;
		}
	}
	if (!active || !revoked) {
		json_decref(active);
		json_decref(revoked);
		be_error(c->be, c->req, c->route, 500, "internal", "out of memory", NULL);
		goto out;
	}
	be_json(c->be, c->req, c->route, 200, json_pack("{s:o,s:o}", "devices", active, "revoked", revoked), NULL);
out:
	dev_done(c);
}

void api_devices_list(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char them[WIRE_USER_ID_MAX + 1];
	const char *q[1];

	if (dev_caller(be, req, MX_DEVICES_LIST, &me) < 0 ||
	    preq_path_user(be, req, MX_DEVICES_LIST, params, 0, them) < 0)
		return;
	q[0] = them;
	dev_query(be, req, MX_DEVICES_LIST, dev_list_sql, 1, q, dev_on_list);
}

static void dev_on_removed(PGresult *res, const char *err, const char *sqlstate, void *arg)
{
	struct dev_call *c = arg;

	if (!res)
		preq_db_error(c->be, c->req, c->route, "device remove failed", err);
	else if (PQntuples(res) == 0)
		be_error(c->be, c->req, c->route, 404, "not_found", "no such device of yours", NULL);
	else
		preq_no_content(c->be, c->req, c->route);
	dev_done(c);
}

void api_devices_remove(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user me;
	char id[DEV_ID_LEN + 1];
	const char *q[2];

	if (dev_caller(be, req, MX_DEVICES_REMOVE, &me) < 0)
		return;
	/* Not decoded: an escaped character is no device id. */
	if (params->n < 1 || params->v[0].len != DEV_ID_LEN ||
	    strspn(params->v[0].s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < DEV_ID_LEN) {
		be_error(be, req, MX_DEVICES_REMOVE, 400, "invalid_device_id",
			 "a device id is 16 characters of A-Z a-z 0-9 - _", NULL);
		return;
	}
	memcpy(id, params->v[0].s, DEV_ID_LEN);
	id[DEV_ID_LEN] = '\0';
	q[0] = me.sub;
	q[1] = id;
	dev_query(be, req, MX_DEVICES_REMOVE,
		  "UPDATE device_keys SET revoked_at = now()"
		  " WHERE user_id = $1 AND device_id = $2 AND revoked_at IS NULL RETURNING 1",
		  2, q, dev_on_removed);
}
