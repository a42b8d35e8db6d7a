/* Configuration: a flag wins over the environment, the environment over the
 * default, and every bad value is refused with a message naming it. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

struct conf {
	const char *host;
	long port;
	bool verbose;
	const char *secret;
};

static struct conf c;

static const struct cfg_opt opts[] = {
	{ "host", "TEST_HOST", CFG_STR, &c.host, "127.0.0.1", 0, 0, "listen address" },
	{ "port", "TEST_PORT", CFG_INT, &c.port, "9001", 1, 65535, "listen port" },
	{ "verbose", "TEST_VERBOSE", CFG_BOOL, &c.verbose, "false", 0, 0, "say more" },
	{ "secret", "TEST_SECRET", CFG_STR, &c.secret, NULL, 0, 0, "token key" },
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static char err[256];

static int parse(int argc, const char *const *argv)
{
	memset(&c, 0, sizeof c);
	return cfg_parse(opts, N_OPTS, argc, (char **)argv, "usage: test [options]", err, sizeof err);
}

static void clear_env(void)
{
	unsetenv("TEST_HOST");
	unsetenv("TEST_PORT");
	unsetenv("TEST_VERBOSE");
	unsetenv("TEST_SECRET");
}

static void test_defaults(void)
{
	const char *argv[] = { "prog" };

	clear_env();
	CHECK_EQ_INT(parse(1, argv), 0);
	CHECK_EQ_STR(c.host, "127.0.0.1");
	CHECK_EQ_INT(c.port, 9001);
	CHECK(!c.verbose);
	CHECK(c.secret == NULL);
	CHECK_EQ_STR(err, "");
}

static void test_env_beats_default(void)
{
	const char *argv[] = { "prog" };

	clear_env();
	setenv("TEST_HOST", "0.0.0.0", 1);
	setenv("TEST_PORT", "8080", 1);
	setenv("TEST_VERBOSE", "yes", 1);
	CHECK_EQ_INT(parse(1, argv), 0);
	CHECK_EQ_STR(c.host, "0.0.0.0");
	CHECK_EQ_INT(c.port, 8080);
	CHECK(c.verbose);
	clear_env();
}

static void test_flag_beats_env(void)
{
	const char *argv[] = { "prog", "--port=7000", "--host", "10.0.0.1" };

	clear_env();
	setenv("TEST_HOST", "0.0.0.0", 1);
	setenv("TEST_PORT", "8080", 1);
	CHECK_EQ_INT(parse(4, argv), 0);
	CHECK_EQ_STR(c.host, "10.0.0.1");
	CHECK_EQ_INT(c.port, 7000);
	clear_env();
}

static void test_both_flag_forms(void)
{
	const char *eq[] = { "prog", "--secret=s3cret=x", "--port=1" };
	const char *sep[] = { "prog", "--secret", "s3cret=x", "--port", "65535" };
	const char *empty[] = { "prog", "--secret=" };

	clear_env();
	CHECK_EQ_INT(parse(3, eq), 0);
	CHECK_EQ_STR(c.secret, "s3cret=x");
	CHECK_EQ_INT(c.port, 1);
	CHECK_EQ_INT(parse(5, sep), 0);
	CHECK_EQ_STR(c.secret, "s3cret=x");
	CHECK_EQ_INT(c.port, 65535);
	CHECK_EQ_INT(parse(2, empty), 0);
	CHECK_EQ_STR(c.secret, "");
}

static void test_missing_value(void)
{
	const char *end[] = { "prog", "--port" };
	const char *next_flag[] = { "prog", "--host", "--port=1" };

	clear_env();
	CHECK_EQ_INT(parse(2, end), -1);
	CHECK(strstr(err, "--port") != NULL);
	CHECK_EQ_INT(parse(3, next_flag), -1);
	CHECK(strstr(err, "--host") != NULL);
}

static void test_int_rejected(void)
{
	static const char *const bad[] = {
		"--port=0", "--port=65536", "--port=-1", "--port=abc", "--port=12ab", "--port=",
		"--port= 80", "--port=99999999999999999999999", "--port=0x50",
	};

	clear_env();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *argv[] = { "prog", bad[i] };

		c.port = 42;
		CHECK_EQ_INT(cfg_parse(opts, N_OPTS, 2, (char **)argv, NULL, err, sizeof err), -1);
		CHECK(strstr(err, "--port") != NULL);
		CHECK_EQ_INT(c.port, 42); /* untouched on failure */
	}
	const char *argv[] = { "prog" };
	setenv("TEST_PORT", "http", 1);
	CHECK_EQ_INT(parse(1, argv), -1);
	CHECK(strstr(err, "TEST_PORT") != NULL);
	clear_env();
}

static void test_unknown_flag(void)
{
	const char *unknown[] = { "prog", "--prot=80" };
	const char *positional[] = { "prog", "serve" };
	const char *single_dash[] = { "prog", "-port=80" };

	clear_env();
	CHECK_EQ_INT(parse(2, unknown), -1);
	CHECK(strstr(err, "--prot") != NULL);
	CHECK_EQ_INT(parse(2, positional), -1);
	CHECK(strstr(err, "serve") != NULL);
	CHECK_EQ_INT(parse(2, single_dash), -1);
}

static void test_bool(void)
{
	static const struct { const char *arg; bool want; } ok[] = {
		{ "--verbose", true }, { "--verbose=true", true }, { "--verbose=1", true },
		{ "--verbose=yes", true }, { "--verbose=false", false }, { "--verbose=0", false },
		{ "--verbose=no", false },
	};
	const char *sep[] = { "prog", "--verbose", "no", "--port=5" };
	const char *bare_then_flag[] = { "prog", "--verbose", "--port=5" };
	const char *bad[] = { "prog", "--verbose=maybe" };

	clear_env();
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		const char *argv[] = { "prog", ok[i].arg };

		CHECK_EQ_INT(parse(2, argv), 0);
		CHECK_EQ_INT(c.verbose, ok[i].want);
	}
	CHECK_EQ_INT(parse(4, sep), 0);
	CHECK(!c.verbose);
	CHECK_EQ_INT(c.port, 5);
	CHECK_EQ_INT(parse(3, bare_then_flag), 0);
	CHECK(c.verbose);
	CHECK_EQ_INT(c.port, 5);
	CHECK_EQ_INT(parse(2, bad), -1);
	CHECK(strstr(err, "maybe") != NULL);
	setenv("TEST_VERBOSE", "TRUE!", 1);
	CHECK_EQ_INT(parse(1, bad), -1);
	clear_env();
}

static void test_help(void)
{
	const char *argv[] = { "prog", "--port=80", "--help", "--bogus" };
	char out[4096] = "";
	FILE *tmp = tmpfile();
	int saved = dup(STDOUT_FILENO);
	size_t n;

	clear_env();
	fflush(stdout);
	dup2(fileno(tmp), STDOUT_FILENO);
	CHECK_EQ_INT(parse(4, argv), CFG_HELP);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof out - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	CHECK(strstr(out, "usage: test [options]") != NULL);
	CHECK(strstr(out, "--port") != NULL);
	CHECK(strstr(out, "TEST_PORT") != NULL);
	CHECK(strstr(out, "9001") != NULL);
	CHECK(strstr(out, "listen port") != NULL);
}

int main(void)
{
	test_defaults();
	test_env_beats_default();
	test_flag_beats_env();
	test_both_flag_forms();
	test_missing_value();
	test_int_rejected();
	test_unknown_flag();
	test_bool();
	test_help();
	return check_done();
}
