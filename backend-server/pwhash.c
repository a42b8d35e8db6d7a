/* pwhash: see pwhash.h. libsodium rather than a hand-rolled hash: argon2id
 * is memory-hard, and libsodium is small, audited and a Debian package. */
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pwhash.h"

/* OWASP Password Storage Cheat Sheet, argon2id: m = 19456 KiB, t = 2, p = 1
 * (libsodium always uses one lane). */
#define PW_OPSLIMIT 2
#define PW_MEMLIMIT (19456u * 1024u)

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

_Static_assert(PW_HASH_MAX >= crypto_pwhash_STRBYTES, "PW_HASH_MAX holds an argon2id string");

struct pw {
	uv_loop_t *loop;
	unsigned max_inflight, inflight;
	char dummy[PW_HASH_MAX];
};

/* One allocation: the job, then the password copy. */
struct pw_job {
	uv_work_t work;
	struct pw *pw;
	bool verify;
	bool dummy;             /* verify against pw->dummy: never a match */
	int result;             /* libsodium's: 0 or -1 */
	pw_hash_fn hash_cb;
	pw_verify_fn verify_cb;
	void *arg;
	char hash[PW_HASH_MAX]; /* the output (hash) or the input (verify) */
	size_t len;
	char password[];
};

int pw_new(uv_loop_t *loop, unsigned max_inflight, struct pw **out)
{
	unsigned char secret[32];
	struct pw *pw;

	if (sodium_init() < 0 || max_inflight == 0)
		return -1;
	pw = calloc(1, sizeof *pw);
	if (!pw)
		return -1;
	pw->loop = loop;
	pw->max_inflight = max_inflight;
	/* Nobody knows this password, not even us after this function. */
	randombytes_buf(secret, sizeof secret);
	if (crypto_pwhash_str_alg(pw->dummy, (const char *)secret, sizeof secret, PW_OPSLIMIT,
				  PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(secret, sizeof secret);
		free(pw);
		return -1;
	}
	sodium_memzero(secret, sizeof secret);
	*out = pw;
	return 0;
}

void pw_free(struct pw *pw)
{
	free(pw);
}

/* On a pool thread: only the job's own memory is touched. */
static void pw_work(uv_work_t *w)
{
	struct pw_job *j = container_of(w, struct pw_job, work);

	if (j->verify)
		j->result = crypto_pwhash_str_verify(j->hash, j->password, j->len);
	else
		j->result = crypto_pwhash_str_alg(j->hash, j->password, j->len, PW_OPSLIMIT,
						  PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13);
}

static void pw_after_work(uv_work_t *w, int status)
{
	struct pw_job *j = container_of(w, struct pw_job, work);
	int failed = status < 0 || j->result != 0;

	sodium_memzero(j->password, j->len);
	j->pw->inflight--;
	if (j->verify)
		j->verify_cb(!failed && !j->dummy, j->arg);
	else
		j->hash_cb(failed ? -1 : 0, failed ? NULL : j->hash, j->arg);
	free(j);
}

static int pw_start(struct pw *pw, bool verify, const char *hash, const char *password, size_t len,
		    pw_hash_fn hash_cb, pw_verify_fn verify_cb, void *arg)
{
	struct pw_job *j;
	int rc;

	if (pw->inflight >= pw->max_inflight)
		return PW_EBUSY;
	j = calloc(1, sizeof *j + len);
	if (!j)
		return -ENOMEM;
	j->pw = pw;
	j->verify = verify;
	j->hash_cb = hash_cb;
	j->verify_cb = verify_cb;
	j->arg = arg;
	if (verify) {
		const char *h = hash ? hash : pw->dummy;
		size_t hlen = strnlen(h, PW_HASH_MAX);

		j->dummy = !hash;
		/* Too long to be ours: check the dummy instead, so the answer
		 * (no) costs what any other answer costs. */
		if (hlen == PW_HASH_MAX) {
			j->dummy = true;
			h = pw->dummy;
			hlen = strlen(h);
		}
		memcpy(j->hash, h, hlen);
	}
	memcpy(j->password, password, len);
	j->len = len;
	rc = uv_queue_work(pw->loop, &j->work, pw_work, pw_after_work);
	if (rc < 0) {
		sodium_memzero(j->password, len);
		free(j);
		return rc;
	}
	pw->inflight++;
	return 0;
}

int pw_hash(struct pw *pw, const char *password, size_t len, pw_hash_fn cb, void *arg)
{
	return pw_start(pw, false, NULL, password, len, cb, NULL, arg);
}

int pw_verify(struct pw *pw, const char *hash, const char *password, size_t len,
	      pw_verify_fn cb, void *arg)
{
	return pw_start(pw, true, hash, password, len, NULL, cb, arg);
}
