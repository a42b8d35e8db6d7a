/* files: the local store. dir/<id> and dir/<id>.thumb hold the bytes;
 * dir/spool/ the bodies being received (same file system, so that a put
 * is a rename). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct files_store {
	char dir[FILES_PATH_MAX / 2];
};

static const char files_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

static int files_mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0750) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int files_open(const char *dir, struct files_store **out)
{
	struct files_store *fs;
	char spool[FILES_PATH_MAX];
	int rc;

	if (!dir || !*dir || strlen(dir) >= sizeof fs->dir)
		return -EINVAL;
	fs = calloc(1, sizeof *fs);
	if (!fs)
		return -ENOMEM;
	strcpy(fs->dir, dir);
	snprintf(spool, sizeof spool, "%s/spool", dir);
	rc = files_mkdirs(spool);
	if (rc < 0) {
		free(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

void files_close(struct files_store *fs)
{
	free(fs);
}

int files_new_id(char out[FILES_ID_LEN + 1])
{
	unsigned char rnd[48];
	size_t n = 0;

	/* 36 does not divide 256: bytes from 252 up are dropped (ids.c). */
	while (n < FILES_ID_LEN) {
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return -1;
		for (size_t i = 0; i < sizeof rnd && n < FILES_ID_LEN; i++)
			if (rnd[i] < 252)
				out[n++] = files_alphabet[rnd[i] % 36];
	}
	out[FILES_ID_LEN] = '\0';
	return 0;
}

bool files_id_valid(const char *id, size_t len)
{
	if (len != FILES_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
			return false;
	return true;
}

static int files_path(const struct files_store *fs, const char *id, enum files_kind kind, char *out)
{
	if (!files_id_valid(id, strlen(id)))
		return -EINVAL;
	snprintf(out, FILES_PATH_MAX, "%s/%s%s", fs->dir, id, kind == FILES_THUMB ? ".thumb" : "");
	return 0;
}

int files_spool(struct files_store *fs, char *path)
{
	char id[FILES_ID_LEN + 1];
	int fd;

	if (files_new_id(id) < 0)
		return -EIO;
	snprintf(path, FILES_PATH_MAX, "%s/spool/%s", fs->dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int files_put(struct files_store *fs, const char *id, enum files_kind kind, const char *src)
{
	char dst[FILES_PATH_MAX];
	int rc = files_path(fs, id, kind, dst);

	if (rc == 0 && rename(src, dst) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(src);
	return rc;
}

int files_get(struct files_store *fs, const char *id, enum files_kind kind, size_t max,
	      char **data, size_t *len)
{
	char path[FILES_PATH_MAX];
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc = files_path(fs, id, kind, path);

	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			free(buf);
			goto out;
		}
		got += (size_t)n;
	}
	*data = buf;
	*len = got;
out:
	close(fd);
	return rc;
}

int files_delete(struct files_store *fs, const char *id)
{
	char path[FILES_PATH_MAX];
	int rc = 0;

	for (int k = FILES_ORIGINAL; k <= FILES_THUMB; k++) {
		if (files_path(fs, id, (enum files_kind)k, path) < 0)
			return -EINVAL;
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
	}
	return rc;
}
