/* pwhash: password hashing and checking off the event loop.
 *
 * Hashes are libsodium argon2id strings (they carry their own parameters and
 * salt) with OWASP's current argon2id guidance: 19 MiB of memory, 2 passes,
 * 1 lane. Each hash runs on libuv's thread pool (uv_queue_work) so the loop
 * never waits for one; at most max_inflight run at once, so that a flood of
 * logins cannot take max_inflight × 19 MiB and more.
 *
 * Jobs beyond that wait in a fair queue: each carries a key (the client's
 * address), each key has its own FIFO, and a free slot goes to the keys in
 * turn, so a client that sends many jobs delays each other client by at
 * most one of its jobs per slot, however many it sends. At most per_key
 * jobs of one key wait (then PW_EQUOTA) and max_waiting in all (then
 * PW_EBUSY): each waiting job holds its password, up to PW_MAX_LEN bytes.
 *
 * One struct pw per process, made before the loop runs and freed after it
 * ends (every job has then called back). */
#ifndef STATEROOM_PWHASH_H
#define STATEROOM_PWHASH_H

#include <errno.h>
#include <stddef.h>
#include <uv.h>

#define PW_MIN_LEN 8       /* bytes */
#define PW_MAX_LEN 1024
#define PW_HASH_MAX 128    /* crypto_pwhash_STRBYTES, including the NUL */

#define PW_KEY_LEN 16      /* a struct ca_addr */

#define PW_EBUSY (-EBUSY)  /* max_waiting jobs wait already */
#define PW_EQUOTA (-EDQUOT) /* per_key jobs of this key wait already */

struct pw;

/* Initialises libsodium and makes the dummy hash that pw_verify() checks
 * unknown users against (one hash: about 50 ms, before the loop runs).
 * Returns 0 and *out, or -1 (libsodium unusable, no memory). */
int pw_new(uv_loop_t *loop, unsigned max_inflight, unsigned max_waiting, unsigned per_key,
	   struct pw **out);

/* NULL-safe. Only when no job is running (after the loop ended). */
void pw_free(struct pw *pw);

/* hash: a NUL-terminated argon2id string on success (valid during the call
 * only); err 0, or negative when hashing failed. */
typedef void (*pw_hash_fn)(int err, const char *hash, void *arg);

/* ok: 1 when password matches, 0 when not (or the stored hash is unusable). */
typedef void (*pw_verify_fn)(int ok, void *arg);

/* Hashes password[0..len) (copied; the copy is wiped when done) in key's
 * turn. Returns 0, after which cb runs once, later, from the loop; or
 * PW_EQUOTA / PW_EBUSY / -ENOMEM, and cb never runs. */
int pw_hash(struct pw *pw, const unsigned char key[PW_KEY_LEN], const char *password, size_t len,
	    pw_hash_fn cb, void *arg);

/* Checks password[0..len) against hash (a NUL-terminated string from
 * pw_hash, copied), in constant time. hash NULL checks against the dummy
 * hash, so that an unknown user costs exactly what a wrong password costs,
 * and then always gives ok = 0. Same return contract as pw_hash(). */
int pw_verify(struct pw *pw, const unsigned char key[PW_KEY_LEN], const char *hash,
	      const char *password, size_t len, pw_verify_fn cb, void *arg);

#endif
