#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static_files.h"

struct static_files {
	struct sf_file files[SF_MAX_FILES];
	size_t n;
	const struct sf_file *index;
};

static const struct { const char *ext, *type; } sf_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
};

static const char *sf_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return NULL;
	for (size_t i = 0; i < sizeof sf_types / sizeof sf_types[0]; i++)
		if (strcmp(dot, sf_types[i].ext) == 0)
			return sf_types[i].type;
	return NULL;
}

static int sf_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 128 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A symlink is served only if it ends at a regular file directly in the
 * folder itself. */
static int sf_link_ok(const char *dir_real, const char *name)
{
	char path[PATH_MAX], *real, *slash;
	int ok;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir_real, name) >= sizeof path)
		return 0;
	real = realpath(path, NULL);
	if (!real)
		return 0;
	slash = strrchr(real, '/');
	ok = slash && (size_t)(slash - real) == strlen(dir_real) &&
	     strncmp(real, dir_real, (size_t)(slash - real)) == 0;
	free(real);
	return ok;
}

/* Reads one file into f, named prefix + name. Returns 0, or -1 to skip it. */
static int sf_read(int dfd, const char *prefix, const char *name, struct sf_file *f)
{
	struct stat st;
	char *data = NULL;
	size_t off = 0;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > SF_MAX_FILE)
		goto err_close;
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		goto err_close;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, data + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto err_free;
		off += (size_t)n;
	}
	close(fd);
	f->name = malloc(strlen(prefix) + strlen(name) + 1);
	if (f->name)
		strcat(strcpy((char *)f->name, prefix), name);
	if (!f->name) {
		free(data);
		return -1;
	}
	f->data = data;
	f->len = off;
	return 0;

err_free:
	free(data);
err_close:
	close(fd);
	return -1;
}

/* Adds the files of dir_real, named prefix + their name. Returns 0 or a
 * negative errno when the folder cannot be opened. */
static int sf_scan(struct static_files *sf, const char *dir_real, const char *prefix)
{
	struct dirent *de;
	DIR *d;

	d = opendir(dir_real);
	if (!d)
		return -errno;
	while (sf->n < SF_MAX_FILES && (de = readdir(d)) != NULL) {
		struct sf_file *f = &sf->files[sf->n];
		struct stat st;

		if (!sf_name_ok(de->d_name) || !(f->content_type = sf_type_of(de->d_name)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode) ? !sf_link_ok(dir_real, de->d_name) : !S_ISREG(st.st_mode))
			continue;
		if (sf_read(dirfd(d), prefix, de->d_name, f) < 0)
			continue;
		if (strcmp(f->name, "index.html") == 0)
			sf->index = f;
		sf->n++;
	}
	closedir(d);
	return 0;
}

int sf_load(const char *dir, struct static_files **out)
{
	struct static_files *sf;
	char *dir_real, lib[PATH_MAX];
	struct stat st;
	int rc = 0;

	sf = calloc(1, sizeof *sf);
	if (!sf)
		return -ENOMEM;
	dir_real = realpath(dir, NULL);
	if (!dir_real) {
		rc = -errno;
		goto err_free;
	}
	rc = sf_scan(sf, dir_real, "");
	if (rc < 0)
		goto err_free_real;
	/* The client library (client/lib/stateroom.js), for pages of other
	 * origins and apps to import; only a real folder, not a link out. */
	if ((size_t)snprintf(lib, sizeof lib, "%s/" SF_LIB_DIR, dir_real) < sizeof lib &&
	    lstat(lib, &st) == 0 && S_ISDIR(st.st_mode))
		sf_scan(sf, lib, SF_LIB_DIR "/");
	free(dir_real);
	*out = sf;
	return 0;

err_free_real:
	free(dir_real);
err_free:
	free(sf);
	return rc;
}

void sf_free(struct static_files *sf)
{
	if (!sf)
		return;
	for (size_t i = 0; i < sf->n; i++) {
		free((char *)sf->files[i].name);
		free((char *)sf->files[i].data);
	}
	free(sf);
}

size_t sf_count(const struct static_files *sf)
{
	return sf ? sf->n : 0;
}

const struct sf_file *sf_lookup(const struct static_files *sf, const char *path, size_t len)
{
	const char *last;

	if (!sf || len == 0 || path[0] != '/')
		return NULL;
	if (len == 1)
		return sf->index;
	last = path + len;
	while (last > path && last[-1] != '/')
		last--;
	/* Names are only those sf_load found ("app.js", "lib/stateroom.js"):
	 * the path is compared with them, never opened. */
	for (size_t i = 0; i < sf->n; i++)
		if (strlen(sf->files[i].name) == len - 1 && memcmp(sf->files[i].name, path + 1, len - 1) == 0)
			return &sf->files[i];
	if (memchr(last, '.', (size_t)(path + len - last)))
		return NULL;
	return sf->index;
}
