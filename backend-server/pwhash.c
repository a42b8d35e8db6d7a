/* pwhash: see pwhash.h. libsodium rather than a hand-rolled hash: argon2id
 * is memory-hard, and libsodium is small, audited and a Debian package. */
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "pwhash.h"

/* OWASP Password Storage Cheat Sheet, argon2id: m = 19456 KiB, t = 2, p = 1
 * (libsodium always uses one lane). */
#define PW_OPSLIMIT 2
#define PW_MEMLIMIT (19456u * 1024u)

_Static_assert(PW_HASH_MAX >= crypto_pwhash_STRBYTES, "PW_HASH_MAX holds an argon2id string");

struct pw_client {              /* one key's waiting jobs, oldest first */
	struct pw_client *next;     /* the key served after this one */
	struct pw_job *head, *tail;
	unsigned n;
	unsigned char key[PW_KEY_LEN];
};

struct pw {
	uv_loop_t *loop;
	unsigned max_inflight, inflight;
	unsigned max_waiting, waiting, per_key;
	struct pw_client *first, *last; /* keys with waiting jobs: first's turn is next */
	char dummy[PW_HASH_MAX];
};

/* One allocation: the job, then the password copy. */
struct pw_job {
	uv_work_t work;
	struct pw *pw;
	struct pw_job *next;        /* in its key's queue */
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

int pw_new(uv_loop_t *loop, unsigned max_inflight, unsigned max_waiting, unsigned per_key,
	   struct pw **out)
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
	pw->max_waiting = max_waiting;
	pw->per_key = per_key;
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

static void pw_after_work(uv_work_t *w, int status);

static int pw_run(struct pw_job *j)
{
	int rc = uv_queue_work(j->pw->loop, &j->work, pw_work, pw_after_work);

	if (rc == 0)
		j->pw->inflight++;
	return rc;
}

static void pw_finish(struct pw_job *j, bool failed)
{
	sodium_memzero(j->password, j->len);
	if (j->verify)
		j->verify_cb(!failed && !j->dummy, j->arg);
	else
		j->hash_cb(failed ? -1 : 0, failed ? NULL : j->hash, j->arg);
	free(j);
}

/* Gives free slots to the waiting keys in turn: a key that still has jobs
 * goes to the back of the line. */
static void pw_next(struct pw *pw)
{
	while (pw->inflight < pw->max_inflight && pw->first) {
		struct pw_client *c = pw->first;
		struct pw_job *j = c->head;

		c->head = j->next;
		c->n--;
		pw->waiting--;
		pw->first = c->next;
		if (!pw->first)
			pw->last = NULL;
		if (c->n) {
			c->next = NULL;
			if (pw->last)
				pw->last->next = c;
			else
				pw->first = c;
			pw->last = c;
		} else {
			free(c);
		}
		if (pw_run(j) < 0)
			pw_finish(j, true);
	}
}

static void pw_after_work(uv_work_t *w, int status)
{
	struct pw_job *j = container_of(w, struct pw_job, work);

	j->pw->inflight--;
	pw_next(j->pw);
	pw_finish(j, status < 0 || j->result != 0);
}

/* Queues j behind the other jobs of its key. */
static int pw_wait(struct pw *pw, struct pw_job *j, const unsigned char key[PW_KEY_LEN])
{
	struct pw_client *c;

	for (c = pw->first; c && memcmp(c->key, key, PW_KEY_LEN) != 0; c = c->next)
		;
	if (c && c->n >= pw->per_key)
		return PW_EQUOTA;
	if (pw->waiting >= pw->max_waiting)
		return PW_EBUSY;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return -ENOMEM;
		memcpy(c->key, key, PW_KEY_LEN);
		if (pw->last)
			pw->last->next = c;
		else
			pw->first = c;
		pw->last = c;
	}
	j->next = NULL;
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	c->n++;
	pw->waiting++;
	return 0;
}

static int pw_start(struct pw *pw, const unsigned char key[PW_KEY_LEN], bool verify, const char *hash,
		    const char *password, size_t len, pw_hash_fn hash_cb, pw_verify_fn verify_cb, void *arg)
{
	struct pw_job *j;
	int rc;

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
	/* A free slot means nobody waits: the queue is served whenever one
	 * frees. */
	rc = pw->inflight < pw->max_inflight ? pw_run(j) : pw_wait(pw, j, key);
	if (rc < 0) {
		sodium_memzero(j->password, len);
		free(j);
	}
	return rc;
}

int pw_hash(struct pw *pw, const unsigned char key[PW_KEY_LEN], const char *password, size_t len,
	    pw_hash_fn cb, void *arg)
{
	return pw_start(pw, key, false, NULL, password, len, cb, NULL, arg);
}

int pw_verify(struct pw *pw, const unsigned char key[PW_KEY_LEN], const char *hash,
	      const char *password, size_t len, pw_verify_fn cb, void *arg)
{
	return pw_start(pw, key, true, hash, password, len, NULL, cb, arg);
}
