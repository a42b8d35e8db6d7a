/* service_tokens: see service_tokens.h. Only digests are kept. */
#include "service_tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_FILE_MAX 65536

struct st_set {
	size_t n;
	unsigned char (*digests)[32];
};

static bool st_digest(const char *s, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	return EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

/* Reads @FILE into a malloc'd string, or NULL with err set. */
static char *st_read_file(const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(ST_FILE_MAX + 1);
	n = buf ? fread(buf, 1, ST_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > ST_FILE_MAX) {
		snprintf(err, err_len, "%s: %s", path, buf ? "over 64 KiB" : "out of memory");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int st_parse(const char *spec, struct st_set **out, char *err, size_t err_len)
{
	struct st_set *s;
	char *text, *p, *tok, *save = NULL;
	size_t text_len;
	int rc = -1;

	*out = NULL;
	if (!spec || !spec[0])
		return 0;
	text = spec[0] == '@' ? st_read_file(spec + 1, err, err_len) : strdup(spec);
	if (!text) {
		if (spec[0] != '@')
			snprintf(err, err_len, "out of memory");
		return -1;
	}
	text_len = strlen(text);
	s = calloc(1, sizeof *s);
	if (!s || !(s->digests = calloc(text_len / ST_MIN_LEN + 1, sizeof *s->digests))) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	for (p = text; (tok = strtok_r(p, ",\r\n", &save)); p = NULL) {
		size_t len;
		while (*tok == ' ' || *tok == '\t')
			tok++;
		len = strlen(tok);
		while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
			len--;
		if (len == 0)
			continue;
		for (size_t i = 0; i < len; i++) {
			if (tok[i] <= ' ' || tok[i] > '~') {
				snprintf(err, err_len, "a token holds a space or a character that is not printable ASCII");
				goto out;
			}
		}
		if (len < ST_MIN_LEN || len > ST_MAX_LEN) {
			snprintf(err, err_len, "each token must be %d to %d bytes", ST_MIN_LEN, ST_MAX_LEN);
			goto out;
		}
		if (!st_digest(tok, len, s->digests[s->n++])) {
			snprintf(err, err_len, "no SHA-256");
			goto out;
		}
	}
	if (s->n == 0) {
		snprintf(err, err_len, "no token given");
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(text, text_len);
	free(text);
	st_free(s);
	return rc;
}

bool st_any(const struct st_set *s)
{
	return s && s->n > 0;
}

bool st_match(const struct st_set *s, const char *tok, size_t len)
{
	unsigned char d[32];
	int hit = 0;

	if (!s || len > ST_MAX_LEN || !st_digest(tok, len, d))
		return false;
	for (size_t i = 0; i < s->n; i++)
		hit |= CRYPTO_memcmp(d, s->digests[i], 32) == 0;
	return hit;
}

void st_free(struct st_set *s)
{
	if (!s)
		return;
	free(s->digests);
	free(s);
}
