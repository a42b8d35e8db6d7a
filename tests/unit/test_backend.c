/* The backend's pure parts: identifiers, room options, the static file
 * whitelist. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ids.h"
#include "room_opts.h"
#include "static_files.h"

static void test_user_ids(void)
{
	CHECK(ids_user_valid("alice", 5));
	CHECK(ids_user_valid("A-z_0.9", 7));
	CHECK(ids_user_valid("abcdefghijklmnopqrstuvwxyz012345", 32));
	CHECK(!ids_user_valid("abcdefghijklmnopqrstuvwxyz0123456", 33));
	CHECK(!ids_user_valid("", 0));
	CHECK(!ids_user_valid("al ice", 6));
	CHECK(!ids_user_valid("al\0ce", 5));
	CHECK(!ids_user_valid("<script>", 8));
	CHECK(!ids_user_valid("é", strlen("é")));
	CHECK(!ids_user_valid("a/b", 3));
}

static void test_room_ids(void)
{
	char id[IDS_ROOM_LEN + 1], other[IDS_ROOM_LEN + 1];

	CHECK(ids_room_valid("abc123", 6));
	CHECK(!ids_room_valid("ABC", 3));
	CHECK(!ids_room_valid("a-b", 3));
	CHECK(!ids_room_valid("", 0));
	CHECK(!ids_room_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 33));

	CHECK_EQ_INT(ids_room_new(id), 0);
	CHECK_EQ_INT(strlen(id), IDS_ROOM_LEN);
	CHECK(ids_room_valid(id, strlen(id)));
	CHECK_EQ_INT(ids_room_new(other), 0);
	CHECK(strcmp(id, other) != 0);
}

static void test_jti(void)
{
	char a[IDS_JTI_LEN + 1], b[IDS_JTI_LEN + 1];

	CHECK_EQ_INT(ids_jti_new(a), 0);
	CHECK_EQ_INT(ids_jti_new(b), 0);
	CHECK_EQ_INT(strlen(a), 22);
	CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 22);
	CHECK(strcmp(a, b) != 0);
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

int main(void)
{
	test_user_ids();
	test_room_ids();
	test_jti();
	test_room_opts();
	test_room_name_length();
	test_static_files();
	return check_done();
}
