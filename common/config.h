/* config: options from command-line flags and the environment.
 *
 * A program describes its options in a table; cfg_parse() fills each
 * option's destination from, in order of precedence, the flag
 * (--name=value or --name value), the environment variable, then the
 * default. Every value is checked (integer syntax and range, boolean
 * spelling); an unknown flag is an error. --help prints the usage and the
 * table (flag, variable, default, help) to stdout.
 *
 * Destinations: CFG_STR → const char * (points into argv, environ or the
 * table's default; never freed), CFG_INT → long, CFG_BOOL → bool. */
#ifndef STATEROOM_CONFIG_H
#define STATEROOM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

struct cfg_opt {
	const char *name;  /* flag without dashes: "port" for --port */
	const char *env;   /* environment variable, or NULL */
	enum cfg_type type;
	void *dest;
	const char *def;   /* default as text; NULL: string NULL / int 0 / false */
	long min, max;     /* CFG_INT only; both 0 means no range check */
	const char *help;
};

#define CFG_HELP 1

/* Returns 0 on success, CFG_HELP after printing --help (the caller exits 0),
 * or -1 with a one-line reason in err (err always NUL-terminated). */
int cfg_parse(const struct cfg_opt *opts, size_t n_opts, int argc, char **argv,
	      const char *usage, char *err, size_t err_len);

#endif
