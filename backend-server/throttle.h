/* throttle: how fast one client may log in (docs/protocol.md, "Login
 * limits").
 *
 * Failed password logins back off per account and per client address:
 * after `account_failures` failures for one user name (or `ip_failures`
 * from one address) each further failure blocks that name (address) for
 * 1 s, then 2 s, 4 s, ... up to 15 min; failures are forgotten an hour
 * after the last one, and a success clears the account's (not the
 * address's). Whether the name exists plays no part, so an unknown name is
 * answered exactly as a known one. A login counts as in flight from its
 * start to its result: failures plus logins in flight may not pass the
 * limit, so a burst of parallel guesses gets no further than one at a time.
 *
 * Guest logins take a token from a bucket per address that holds
 * `guest_per_minute` and refills at that rate; a user's people searches,
 * message searches, friend requests and DM starts each take one from a bucket of that user's, in the
 * same way (enum thr_action).
 *
 * Each table (accounts, addresses, guest addresses, one per action) holds at most
 * THR_MAX_ENTRIES entries of THR_ENTRY_BYTES, and forgets the least
 * recently used past that: the memory is bounded whatever clients send.
 * Keys are hashed with a random SipHash key (libsodium), so nobody can aim
 * names at one hash chain. One loop, no locks. */
#ifndef STATEROOM_THROTTLE_H
#define STATEROOM_THROTTLE_H

#include <stdint.h>

#include "client_addr.h"

#define THR_MAX_ENTRIES 65536
#define THR_ENTRY_BYTES 112     /* at most, with malloc's overhead */

struct thr_config {
	unsigned account_failures;  /* 0: no limit per account */
	unsigned ip_failures;       /* 0: no limit per address */
	unsigned guest_per_minute;  /* 0: no limit */
	unsigned action_per_minute[4];  /* by enum thr_action; 0: no limit */
};

/* What a user does that costs others something: each has its own limit. */
enum thr_action { THR_SEARCH, THR_FRIEND_REQUEST, THR_DM_START, THR_MESSAGE_SEARCH };

enum thr_outcome { THR_SUCCESS, THR_FAILURE, THR_ABORTED /* no answer: the database, say */ };

struct thr;

/* Returns 0 and *out, or -1 (no memory, libsodium unusable). */
int thr_new(const struct thr_config *cfg, struct thr **out);

/* NULL-safe. */
void thr_free(struct thr *t);

/* A password login for user from ip (grouped, see ca_group()) is about to
 * be checked. Returns 0: go ahead, and call thr_login_end() with the
 * result; else the seconds to wait (Retry-After), and nothing is counted. */
unsigned thr_login_begin(struct thr *t, const char *user, const struct ca_addr *ip, uint64_t now_ms);

void thr_login_end(struct thr *t, const char *user, const struct ca_addr *ip, enum thr_outcome o,
		   uint64_t now_ms);

/* A guest login from ip: 0 when it may go ahead (counted), else the seconds
 * to wait. */
unsigned thr_guest(struct thr *t, const struct ca_addr *ip, uint64_t now_ms);

/* user (a subject) is about to do a: 0 when it may (counted), else the
 * seconds to wait. */
unsigned thr_action(struct thr *t, enum thr_action a, const char *user, uint64_t now_ms);

#endif
