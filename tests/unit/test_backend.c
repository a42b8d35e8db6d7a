/* The backend's pure parts: identifiers, room options, the static file
 * whitelist, client addresses behind proxies, login limits. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "client_addr.h"
#include "ice.h"
#include "ids.h"
#include "people.h"
#include "room_opts.h"
#include "service_tokens.h"
#include "static_files.h"
#include "throttle.h"
#include "wire.h"

static void test_new_room_ids(void)
{
	char id[WIRE_ROOM_ID_LEN + 1], other[WIRE_ROOM_ID_LEN + 1];

	CHECK_EQ_INT(ids_room_new(id), 0);
	CHECK_EQ_INT(strlen(id), WIRE_ROOM_ID_LEN);
	CHECK(wire_room_id_valid(id, strlen(id)));
	CHECK_EQ_INT(ids_room_new(other), 0);
	CHECK(strcmp(id, other) != 0);
}

/* Parses text as the body and returns room_opts_parse's result. */
static int parse(const char *text, struct room_opts *o)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	const char *why = NULL;
	int rc;

	if (!j)
		return 99;
	rc = room_opts_parse(j, 50, o, &why);
	json_decref(j);
	if (rc < 0)
		CHECK(why != NULL);
	return rc;
}

static void test_room_opts(void)
{
	struct room_opts o;

	CHECK_EQ_INT(parse("{}", &o), 0);
	CHECK(!o.has_name);
	CHECK_EQ_INT(o.capacity, 50);
	CHECK_EQ_STR(o.visibility, "unlisted");
	CHECK(o.persistent);

	CHECK_EQ_INT(parse("{\"name\":\"Lobby\",\"capacity\":7,\"visibility\":\"public\",\"x\":1}", &o), 0);
	CHECK(o.has_name);
	CHECK_EQ_STR(o.name, "Lobby");
	CHECK_EQ_INT(o.capacity, 7);
	CHECK_EQ_STR(o.visibility, "public");

	CHECK_EQ_INT(parse("{\"name\":null,\"capacity\":null,\"visibility\":null}", &o), 0);
	CHECK_EQ_INT(o.capacity, 50);

	CHECK_EQ_INT(parse("[]", &o), -1);
	CHECK_EQ_INT(parse("{\"name\":5}", &o), -1);
	CHECK_EQ_INT(parse("{\"name\":\"a\\u0000b\"}", &o), -1);
	CHECK_EQ_INT(parse("{\"capacity\":0}", &o), -1);
	CHECK_EQ_INT(parse("{\"capacity\":51}", &o), -1);
	CHECK_EQ_INT(parse("{\"capacity\":2.5}", &o), -1);
	CHECK_EQ_INT(parse("{\"capacity\":\"3\"}", &o), -1);
	CHECK_EQ_INT(parse("{\"visibility\":\"private\"}", &o), -1);
	CHECK_EQ_INT(parse("{\"visibility\":\"public\\u0000x\"}", &o), -1);

	CHECK_EQ_INT(parse("{\"persistent\":false}", &o), 0);
	CHECK(!o.persistent);
	CHECK_EQ_INT(parse("{\"persistent\":true}", &o), 0);
	CHECK(o.persistent);
	CHECK_EQ_INT(parse("{\"persistent\":null}", &o), 0);
	CHECK(o.persistent);
	CHECK_EQ_INT(parse("{\"persistent\":0}", &o), -1);
	CHECK_EQ_INT(parse("{\"persistent\":\"false\"}", &o), -1);
}

/* name holds bytes, not characters: 100 is fine, 101 is not. */
static void test_room_name_length(void)
{
	struct room_opts o;
	char body[160];

	for (int len = 100; len <= 101; len++) {
		int n = snprintf(body, sizeof body, "{\"name\":\"");
		memset(body + n, 'n', (size_t)len);
		snprintf(body + n + len, sizeof body - (size_t)(n + len), "\"}");
		CHECK_EQ_INT(parse(body, &o), len == 100 ? 0 : -1);
	}
	CHECK_EQ_INT(o.capacity, 50);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		CHECK(!"cannot write a test file");
		return;
	}
	fputs(text, f);
	fclose(f);
}

static const char *served(const struct static_files *sf, const char *path)
{
	const struct sf_file *f = sf_lookup(sf, path, strlen(path));
	return f ? f->name : NULL;
}

static void test_static_files(void)
{
	char root[] = "/tmp/test_backend_XXXXXX", dir[600], path[700], target[700];
	struct static_files *sf = NULL;
	const struct sf_file *f;

	if (!mkdtemp(root)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(dir, sizeof dir, "%s/client", root);
	mkdir(dir, 0700);
	put(dir, "index.html", "<!doctype html>");
	put(dir, "app.js", "console.log(1)");
	put(dir, ".env", "SECRET=1");
	put(dir, "notes.txt", "no");
	put(dir, "style.css", "body{}");
	put(root, "outside.js", "secret");
	snprintf(path, sizeof path, "%s/sub", dir);
	mkdir(path, 0700);
	put(path, "deep.js", "deep");
	snprintf(path, sizeof path, "%s/dir.js", dir);
	mkdir(path, 0700);
	snprintf(target, sizeof target, "%s/outside.js", root);
	snprintf(path, sizeof path, "%s/out.js", dir);
	CHECK_EQ_INT(symlink(target, path), 0);
	snprintf(path, sizeof path, "%s/alias.css", dir);
	CHECK_EQ_INT(symlink("style.css", path), 0);

	CHECK_EQ_INT(sf_load(dir, &sf), 0);
	CHECK_EQ_INT(sf_count(sf), 4);  /* index.html app.js style.css alias.css */
	CHECK_EQ_STR(served(sf, "/"), "index.html");
	CHECK_EQ_STR(served(sf, "/index.html"), "index.html");
	CHECK_EQ_STR(served(sf, "/app.js"), "app.js");
	CHECK_EQ_STR(served(sf, "/alias.css"), "alias.css");
	CHECK_EQ_STR(served(sf, "/r/abc123"), "index.html");
	CHECK(served(sf, "/.env") == NULL);
	CHECK(served(sf, "/notes.txt") == NULL);
	CHECK(served(sf, "/out.js") == NULL);
	CHECK(served(sf, "/dir.js") == NULL);
	CHECK(served(sf, "/sub/deep.js") == NULL);
	CHECK(served(sf, "/../outside.js") == NULL);
	CHECK(served(sf, "/x/../app.js") == NULL);
	CHECK(served(sf, "/app.js/") != NULL); /* no dot in the last segment: the app */
	CHECK(served(sf, "/missing.js") == NULL);
	CHECK(served(sf, "") == NULL);
	f = sf_lookup(sf, "/app.js", 7);
	CHECK(f && f->len == 14 && memcmp(f->data, "console.log(1)", 14) == 0);
	CHECK(f && strcmp(f->content_type, "text/javascript; charset=utf-8") == 0);
	sf_free(sf);

	CHECK(sf_load("/nonexistent/stateroom", &sf) < 0);
	sf_free(NULL);
	CHECK(sf_lookup(NULL, "/", 1) == NULL);

	snprintf(path, sizeof path, "rm -rf '%s'", root);
	CHECK_EQ_INT(system(path), 0);
}

static const char *addr_str(const struct ca_addr *a)
{
	static char buf[64];

	ca_format(a, buf, sizeof buf);
	return buf;
}

static struct ca_addr addr(const char *s)
{
	struct ca_addr a;

	memset(&a, 0xee, sizeof a);
	CHECK_EQ_INT(ca_parse(s, strlen(s), &a), 0);
	return a;
}

/* The client of a request from peer with the given X-Forwarded-For lines. */
static const char *client_of(const struct ca_trust *t, const char *peer, const char *const *xff, size_t n)
{
	struct httpd_header h[4];
	struct httpd_req req;
	struct ca_addr a;

	memset(&req, 0, sizeof req);
	for (size_t i = 0; i < n; i++) {
		h[i] = (struct httpd_header){ "X-Forwarded-For", xff[i], 15, strlen(xff[i]) };
	}
	h[n] = (struct httpd_header){ "Host", "x", 4, 1 };
	req.headers = h;
	req.n_headers = n + 1;
	req.peer = peer;
	ca_client(t, &req, &a);
	return addr_str(&a);
}

static void test_client_addr(void)
{
	struct ca_trust *t = NULL;
	struct ca_addr a;
	char err[128];

	CHECK_EQ_STR(addr_str(&(struct ca_addr){ 0 }), "::");
	a = addr("192.0.2.1");
	CHECK_EQ_STR(addr_str(&a), "192.0.2.1");
	a = addr(" 192.0.2.1:8080 ");
	CHECK_EQ_STR(addr_str(&a), "192.0.2.1");
	a = addr("[2001:db8::1]:443");
	CHECK_EQ_STR(addr_str(&a), "2001:db8::1");
	a = addr("::ffff:192.0.2.9");
	CHECK_EQ_STR(addr_str(&a), "192.0.2.9");
	a = addr("2001:db8:1:2:3:4:5:6");
	ca_group(&a);
	CHECK_EQ_STR(addr_str(&a), "2001:db8:1:2::");
	{
		static const char *const bad[] = { "", "unknown", "1.2.3", "1.2.3.4:", "1.2.3.4:x",
						   "[1.2.3.4]", "[::1", "::1]:80", "1.2.3.4:123456", "_hidden" };

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			CHECK(ca_parse(bad[i], strlen(bad[i]), &a) < 0);
	}

	CHECK_EQ_INT(ca_trust_parse(NULL, &t, err, sizeof err), 0);
	CHECK(t == NULL);
	CHECK_EQ_INT(ca_trust_parse(" , ", &t, err, sizeof err), 0);
	CHECK(t == NULL);
	CHECK(ca_trust_parse("10.0.0.0/33", &t, err, sizeof err) < 0);
	CHECK(ca_trust_parse("10.0.0.0/", &t, err, sizeof err) < 0);
	CHECK(ca_trust_parse("10.0.0.0/-1", &t, err, sizeof err) < 0);
	CHECK(ca_trust_parse("proxy.example", &t, err, sizeof err) < 0);
	CHECK(strstr(err, "proxy.example") != NULL);
	CHECK(ca_trust_parse("::/129", &t, err, sizeof err) < 0);

	/* No trusted proxy: the peer, whatever the header says. */
	CHECK_EQ_STR(client_of(NULL, "192.0.2.1:5000", (const char *[]){ "203.0.113.7" }, 1), "192.0.2.1");
	CHECK_EQ_STR(client_of(NULL, "[2001:db8::5]:5000", NULL, 0), "2001:db8::5");
	CHECK_EQ_STR(client_of(NULL, "?:0", NULL, 0), "::");

	CHECK_EQ_INT(ca_trust_parse("127.0.0.1, 10.0.0.0/8 ,fd00::/8", &t, err, sizeof err), 0);
	CHECK(t != NULL);
	a = addr("10.200.3.4");
	CHECK(ca_trusted(t, &a));
	a = addr("11.0.0.1");
	CHECK(!ca_trusted(t, &a));
	a = addr("fd12::1");
	CHECK(ca_trusted(t, &a));
	a = addr("127.0.0.2");
	CHECK(!ca_trusted(t, &a));
	/* An untrusted peer's header is ignored. */
	CHECK_EQ_STR(client_of(t, "192.0.2.1:5000", (const char *[]){ "203.0.113.7" }, 1), "192.0.2.1");
	/* A trusted peer: the right-most untrusted entry. */
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "203.0.113.7" }, 1), "203.0.113.7");
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "1.1.1.1, 203.0.113.7, 10.0.0.2" }, 1),
		     "203.0.113.7");
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "1.1.1.1", "203.0.113.7:80,10.0.0.2" }, 2),
		     "203.0.113.7");
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "1.1.1.1,,  ,10.0.0.2" }, 1), "1.1.1.1");
	/* Every hop trusted: the left-most. No header: the proxy itself. */
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "10.0.0.9, 10.0.0.2" }, 1), "10.0.0.9");
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", NULL, 0), "127.0.0.1");
	/* Garbage ends the walk at the trusted hop right of it. */
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "203.0.113.7, unknown, 10.0.0.2" }, 1),
		     "10.0.0.2");
	CHECK_EQ_STR(client_of(t, "127.0.0.1:5000", (const char *[]){ "[2001:db8::1]:99" }, 1), "2001:db8::1");
	ca_trust_free(t);
}

static void test_throttle(void)
{
	struct thr *t;
	struct ca_addr ip = addr("192.0.2.1"), ip2 = addr("192.0.2.2");
	uint64_t now = 1000000;
	char name[16];

	CHECK_EQ_INT(thr_new(&(struct thr_config){ .account_failures = 3, .ip_failures = 10,
						   .guest_per_minute = 6 }, &t), 0);
	/* Three failures, then backoff of 1 s, 2 s, ... */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(thr_login_begin(t, "alice", &ip, now), 0);
		thr_login_end(t, "alice", &ip, THR_FAILURE, now);
	}
	CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now), 1);
	CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now + 999), 1);
	CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now + 1000), 0);
	thr_login_end(t, "alice", &ip2, THR_FAILURE, now + 1000);
	CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now + 1000), 2);
	/* A success clears the name. */
	CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now + 3000), 0);
	thr_login_end(t, "alice", &ip2, THR_SUCCESS, now + 3000);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(thr_login_begin(t, "alice", &ip2, now + 3000), 0);
		thr_login_end(t, "alice", &ip2, THR_ABORTED, now + 3000);
	}
	/* In flight counts: three begun, the fourth waits for them. */
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(thr_login_begin(t, "bob", &ip2, now), 0);
	CHECK_EQ_INT(thr_login_begin(t, "bob", &ip2, now), 1);
	for (int i = 0; i < 3; i++)
		thr_login_end(t, "bob", &ip2, THR_FAILURE, now);
	CHECK_EQ_INT(thr_login_begin(t, "bob", &ip2, now), 1);
	/* Forgotten an hour after the last failure. */
	CHECK_EQ_INT(thr_login_begin(t, "bob", &ip2, now + 3600 * 1000), 0);
	thr_login_end(t, "bob", &ip2, THR_FAILURE, now + 3600 * 1000);
	CHECK_EQ_INT(thr_login_begin(t, "bob", &ip2, now + 3600 * 1000), 0);
	thr_login_end(t, "bob", &ip2, THR_ABORTED, now + 3600 * 1000);
	/* An address: 10 failures whatever the names (ip has alice's 3). */
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof name, "n%d", i);
		CHECK_EQ_INT(thr_login_begin(t, name, &ip, now), 0);
		thr_login_end(t, name, &ip, THR_FAILURE, now);
	}
	CHECK_EQ_INT(thr_login_begin(t, "someone", &ip, now), 1);
	CHECK_EQ_INT(thr_login_begin(t, "someone", &ip2, now + 3600 * 1000), 0);
	thr_login_end(t, "someone", &ip2, THR_SUCCESS, now + 3600 * 1000);

	/* Guests: 6 a minute, one back every 10 s. */
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(thr_guest(t, &ip, now), 0);
	CHECK_EQ_INT(thr_guest(t, &ip, now), 10);
	CHECK_EQ_INT(thr_guest(t, &ip, now + 5000), 5);
	CHECK_EQ_INT(thr_guest(t, &ip2, now), 0);
	/* Calls every millisecond lose no fraction of a login. */
	for (uint64_t ms = 5001; ms < 10000; ms++)
		CHECK(thr_guest(t, &ip, now + ms) >= 1);
	CHECK_EQ_INT(thr_guest(t, &ip, now + 10000), 0);
	CHECK_EQ_INT(thr_guest(t, &ip, now + 10000), 10);
	thr_free(t);

	/* Bounded: the least recently used make way. */
	CHECK_EQ_INT(thr_new(&(struct thr_config){ .account_failures = 1 }, &t), 0);
	CHECK_EQ_INT(thr_login_begin(t, "first", &ip, now), 0);
	thr_login_end(t, "first", &ip, THR_FAILURE, now);
	CHECK_EQ_INT(thr_login_begin(t, "first", &ip, now), 1);
	for (int i = 0; i < THR_MAX_ENTRIES; i++) {
		snprintf(name, sizeof name, "u%d", i);
		CHECK_EQ_INT(thr_login_begin(t, name, &ip, now), 0);
		thr_login_end(t, name, &ip, THR_ABORTED, now);
	}
	CHECK_EQ_INT(thr_login_begin(t, "first", &ip, now), 0);
	thr_login_end(t, "first", &ip, THR_ABORTED, now);
	thr_free(t);
	thr_free(NULL);

	/* A user's actions: a bucket per action and user. */
	CHECK_EQ_INT(thr_new(&(struct thr_config){ .action_per_minute = { [THR_SEARCH] = 2,
									[THR_DM_START] = 0 } }, &t), 0);
	CHECK_EQ_INT(thr_action(t, THR_SEARCH, "alice", now), 0);
	CHECK_EQ_INT(thr_action(t, THR_SEARCH, "alice", now), 0);
	CHECK_EQ_INT(thr_action(t, THR_SEARCH, "alice", now), 30);
	CHECK_EQ_INT(thr_action(t, THR_SEARCH, "bob", now), 0);
	CHECK_EQ_INT(thr_action(t, THR_SEARCH, "alice", now + 30000), 0);
	for (int i = 0; i < 100; i++)       /* 0: no limit */
		CHECK_EQ_INT(thr_action(t, THR_DM_START, "alice", now), 0);
	thr_free(t);
}

static void test_people(void)
{
	json_t *u = people_user_json("alice", "alice smith jones", NULL), *v;
	const char *color;

	CHECK_EQ_STR(json_string_value(json_object_get(u, "displayName")), "alice smith jones");
	CHECK_EQ_STR(json_string_value(json_object_get(u, "status")), "");
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(u, "avatar"), "initials")), "AS");
	color = json_string_value(json_object_get(json_object_get(u, "avatar"), "color"));
	CHECK(color && strlen(color) == 7 && color[0] == '#');
	json_decref(u);

	/* No display name: the login name; other scripts keep their letters. */
	u = people_user_json("bob", NULL, "away");
	CHECK_EQ_STR(json_string_value(json_object_get(u, "displayName")), "bob");
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(u, "avatar"), "initials")), "B");
	json_decref(u);
	u = people_user_json("li", "  \xe6\x9d\x8e \xe5\xb0\x8f\xe9\xbe\x8d", "");
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(u, "avatar"), "initials")),
		     "\xe6\x9d\x8e\xe5\xb0\x8f");
	/* The colour follows the id, whatever the name. */
	v = people_user_json("li", "other", "");
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(u, "avatar"), "color")),
		     json_string_value(json_object_get(json_object_get(v, "avatar"), "color")));
	json_decref(v);
	json_decref(u);
}

/* --service-tokens: a list or a file, weak tokens refused, and only a
 * configured token matches. */
static void test_service_tokens(void)
{
	const char *a = "aaaaaaaaaaaaaaaa", *b = "bbbbbbbbbbbbbbbbbbbb";
	char path[] = "/tmp/stateroom-st-XXXXXX", err[128];
	struct st_set *s = NULL;
	FILE *f;
	int fd;

	CHECK(st_parse(NULL, &s, err, sizeof err) == 0 && s == NULL && !st_any(s));
	CHECK(st_parse("aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb", &s, err, sizeof err) == 0);
	CHECK(st_any(s));
	CHECK(st_match(s, a, strlen(a)));
	CHECK(st_match(s, b, strlen(b)));
	CHECK(!st_match(s, b, strlen(b) - 1));
	CHECK(!st_match(s, "aaaaaaaaaaaaaaab", 16));
	CHECK(!st_match(s, "", 0));
	st_free(s);
	CHECK(st_parse("short", &s, err, sizeof err) < 0);
	CHECK(st_parse("has a space in it, yes", &s, err, sizeof err) < 0);
	CHECK(st_parse(" , ", &s, err, sizeof err) < 0);
	CHECK(st_parse("@/nonexistent/tokens", &s, err, sizeof err) < 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f) {
		fputs("aaaaaaaaaaaaaaaa\r\n\nbbbbbbbbbbbbbbbbbbbb\n", f);
		fclose(f);
		char spec[64];
		snprintf(spec, sizeof spec, "@%s", path);
		CHECK(st_parse(spec, &s, err, sizeof err) == 0);
		CHECK(st_match(s, a, strlen(a)) && st_match(s, b, strlen(b)));
		st_free(s);
		unlink(path);
	}
}

/* The TURN REST credential, against a vector made with the openssl tool:
 * printf '%s' '1700000000:alice' |
 *   openssl dgst -sha1 -hmac 'turn-secret-0123456789' -binary | base64 */
static void test_ice(void)
{
	char cred[ICE_CREDENTIAL_LEN];
	json_t *j, *turn;

	CHECK_EQ_INT(ice_credential("turn-secret-0123456789", "1700000000:alice", cred), 0);
	CHECK_EQ_STR(cred, "JMPZ2F6ZDZyFSUPM8pV6610U4+w=");

	j = ice_servers("stun:a.example:3478", "turn:127.0.0.1:3478?transport=udp,turns:t.example",
			"turn-secret-0123456789", 3600, "alice", 1700000000 - 3600);
	CHECK(j != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "ttl")), 3600);
	CHECK_EQ_INT(json_array_size(json_object_get(j, "iceServers")), 2);
	CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(json_array_get(
		json_object_get(j, "iceServers"), 0), "urls"), 0)), "stun:a.example:3478");
	turn = json_array_get(json_object_get(j, "iceServers"), 1);
	CHECK_EQ_INT(json_array_size(json_object_get(turn, "urls")), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(turn, "username")), "1700000000:alice");
	CHECK_EQ_STR(json_string_value(json_object_get(turn, "credential")), "JMPZ2F6ZDZyFSUPM8pV6610U4+w=");
	json_decref(j);

	j = ice_servers(NULL, "", NULL, 60, "bob", 0);
	CHECK_EQ_INT(json_array_size(json_object_get(j, "iceServers")), 0);
	json_decref(j);

	CHECK(ice_urls_valid(NULL, true));
	CHECK(ice_urls_valid("stun:x,stuns:y:5349", false));
	CHECK(!ice_urls_valid("turn:x", false));
	CHECK(!ice_urls_valid("stun:x", true));
	CHECK(!ice_urls_valid("turn:x,", true));
	CHECK(!ice_urls_valid("turn:", true));
	CHECK(!ice_urls_valid("turn:\"x", true));
}

int main(void)
{
	test_service_tokens();
	test_new_room_ids();
	test_ice();
	test_room_opts();
	test_room_name_length();
	test_static_files();
	test_client_addr();
	test_throttle();
	test_people();
	return check_done();
}
