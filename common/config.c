#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

union cfg_value {
	const char *s;
	long i;
	bool b;
};

static void cfg_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

static const struct cfg_opt *cfg_find(const struct cfg_opt *opts, size_t n, const char *name,
				      size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int cfg_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes" }, *const no[] = { "false", "0", "no" };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Converts text for opt; where names the source for the error message. */
static int cfg_convert(const struct cfg_opt *opt, const char *text, const char *where,
		       union cfg_value *out, char *err, size_t err_len)
{
	char *end;
	long v;

	switch (opt->type) {
	case CFG_STR:
		out->s = text;
		return 0;
	case CFG_BOOL:
		if (!text) {
			out->b = false;
			return 0;
		}
		if (cfg_bool(text, &out->b) < 0) {
			cfg_err(err, err_len, "%s: \"%s\" is not a boolean (true/false/1/0/yes/no)",
				where, text);
			return -1;
		}
		return 0;
	case CFG_INT:
		if (!text) {
			out->i = 0;
			return 0;
		}
		/* strtol alone would accept leading blanks and an empty string. */
		errno = 0;
		v = strtol(text, &end, 10);
		if (!(text[0] == '-' || text[0] == '+' || (text[0] >= '0' && text[0] <= '9')) ||
		    *end != '\0' || end == text || errno == ERANGE) {
			cfg_err(err, err_len, "%s: \"%s\" is not an integer", where, text);
			return -1;
		}
		if ((opt->min || opt->max) && (v < opt->min || v > opt->max)) {
			cfg_err(err, err_len, "%s: %ld is out of range [%ld, %ld]", where, v, opt->min,
				opt->max);
			return -1;
		}
		out->i = v;
		return 0;
	}
	cfg_err(err, err_len, "%s: bad option type", where);
	return -1;
}

static void cfg_store(const struct cfg_opt *opt, const union cfg_value *v)
{
	switch (opt->type) {
	case CFG_STR:
		*(const char **)opt->dest = v->s;
		break;
	case CFG_INT:
		*(long *)opt->dest = v->i;
		break;
	case CFG_BOOL:
		*(bool *)opt->dest = v->b;
		break;
	}
}

static int cfg_width(const char *s, int min)
{
	int n = s ? (int)strlen(s) : 0;
	return n > min ? n : min;
}

static void cfg_help(const struct cfg_opt *opts, size_t n, const char *usage)
{
	int wf = 4, we = 8, wd = 7;

	for (size_t i = 0; i < n; i++) {
		wf = cfg_width(opts[i].name, wf - 2) + 2;
		we = cfg_width(opts[i].env, we);
		wd = cfg_width(opts[i].def, wd);
	}
	if (usage)
		printf("%s\n\n", usage);
	printf("A flag wins over its environment variable, which wins over the default.\n\n");
	printf("  %-*s  %-*s  %-*s  %s\n", wf, "flag", we, "variable", wd, "default", "meaning");
	for (size_t i = 0; i < n; i++) {
		char flag[128];

		snprintf(flag, sizeof flag, "--%s", opts[i].name);
		printf("  %-*s  %-*s  %-*s  %s\n", wf, flag, we, opts[i].env ? opts[i].env : "-", wd,
		       opts[i].def ? opts[i].def : "-", opts[i].help ? opts[i].help : "");
	}
	printf("  %-*s  %-*s  %-*s  %s\n", wf, "--help", we, "-", wd, "-", "print this and exit");
	fflush(stdout);
}

/* Splits argv[*i] into a known option and its value text (NULL for a bare
 * boolean), advancing *i past a separate value. */
static int cfg_flag(const struct cfg_opt *opts, size_t n, int argc, char **argv, int *i,
		    const struct cfg_opt **opt, const char **value, char *err, size_t err_len)
{
	const char *arg = argv[*i], *name, *eq;
	size_t len;

	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		cfg_err(err, err_len, "unexpected argument \"%s\" (options are --name=value)", arg);
		return -1;
	}
	name = arg + 2;
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	*opt = cfg_find(opts, n, name, len);
	if (!*opt) {
		cfg_err(err, err_len, "unknown option --%.*s (see --help)", (int)len, name);
		return -1;
	}
	if (eq) {
		*value = eq + 1;
		return 0;
	}
	/* A separate value is the next argument unless that is another option;
	 * only a boolean may go without one. */
	if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
		*value = argv[++*i];
		return 0;
	}
	if ((*opt)->type == CFG_BOOL) {
		*value = "true";
		return 0;
	}
	cfg_err(err, err_len, "option --%s needs a value", (*opt)->name);
	return -1;
}

int cfg_parse(const struct cfg_opt *opts, size_t n_opts, int argc, char **argv,
	      const char *usage, char *err, size_t err_len)
{
	const struct cfg_opt *opt;
	const char *value;
	char where[160];

	if (err_len)
		err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			cfg_help(opts, n_opts, usage);
			return CFG_HELP;
		}
	}
	/* Two passes: every value is checked before any destination is
	 * written, so a failed parse leaves them all untouched. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < n_opts; k++) {
			union cfg_value v;
			const char *text = NULL, *env = opts[k].env ? getenv(opts[k].env) : NULL;

			if (env) {
				text = env;
				snprintf(where, sizeof where, "%s", opts[k].env);
			} else {
				text = opts[k].def;
				snprintf(where, sizeof where, "default of --%s", opts[k].name);
			}
			for (int i = 1; i < argc; i++) {
				if (cfg_flag(opts, n_opts, argc, argv, &i, &opt, &value, err, err_len) < 0)
					return -1;
				if (opt == &opts[k]) {
					text = value;
					snprintf(where, sizeof where, "--%s", opt->name);
				}
			}
			if (cfg_convert(&opts[k], text, where, &v, err, err_len) < 0)
				return -1;
			if (pass == 1)
				cfg_store(&opts[k], &v);
		}
		/* With no options at all, argv still has to be checked. */
		for (int i = 1; n_opts == 0 && i < argc; i++)
			if (cfg_flag(opts, n_opts, argc, argv, &i, &opt, &value, err, err_len) < 0)
				return -1;
	}
	return 0;
}
