/* webpush: the cryptography of Web Push, bytes in and bytes out (OpenSSL).
 *
 * wp_encrypt: a push message body as RFC 8291 requires it (aes128gcm,
 * RFC 8188): ECDH on P-256 between a fresh key of ours and the browser's
 * p256dh, HKDF-SHA-256 with its auth secret, one AES-128-GCM record.
 * wp_vapid_*: RFC 8292, the server's identity towards push services:
 * "Authorization: vapid t=<ES256 JWT>, k=<public key>". */
#ifndef STATEROOM_WEBPUSH_H
#define STATEROOM_WEBPUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WP_POINT_LEN 65        /* an uncompressed P-256 point */
#define WP_SCALAR_LEN 32
#define WP_AUTH_LEN 16
#define WP_SALT_LEN 16
/* salt, rs, idlen, keyid; then the record's delimiter and GCM tag */
#define WP_HEADER_LEN (WP_SALT_LEN + 4 + 1 + WP_POINT_LEN)
#define WP_OVERHEAD (WP_HEADER_LEN + 1 + 16)
/* Push services must take 4096 bytes of body (RFC 8030 7.2): a payload
 * this long fits with room to spare. */
#define WP_PAYLOAD_MAX 3072

/* The sender's one-time key and salt, given by tests (RFC 8291 Appendix A);
 * in use they are random. */
struct wp_fixed {
	uint8_t as_private[WP_SCALAR_LEN];
	uint8_t as_public[WP_POINT_LEN];
	uint8_t salt[WP_SALT_LEN];
};

/* Whether p is a point of P-256 in uncompressed form (a p256dh). */
bool wp_point_ok(const uint8_t p[WP_POINT_LEN]);

/* Encrypts plain[0..len) (len <= WP_PAYLOAD_MAX) for the browser whose keys
 * are ua_public and auth into out, which must hold len + WP_OVERHEAD bytes;
 * *out_len is set. fixed: NULL but in tests. 0, -EINVAL (a bad point, too
 * long), or -EIO. */
int wp_encrypt(const uint8_t ua_public[WP_POINT_LEN], const uint8_t auth[WP_AUTH_LEN],
	       const void *plain, size_t len, const struct wp_fixed *fixed, uint8_t *out,
	       size_t *out_len);

struct wp_vapid;

/* Checks the key pair (base64url: a 65-byte public point and its 32-byte
 * private scalar) and the subject (mailto: or https:, printable). Returns
 * 0 and *out, -EINVAL with a reason in err, or -ENOMEM. */
int wp_vapid_new(const char *public_b64, const char *private_b64, const char *subject,
		 struct wp_vapid **out, char *err, size_t err_len);
void wp_vapid_free(struct wp_vapid *v);

/* The public key as the Push API wants it (applicationServerKey). */
const char *wp_vapid_public(const struct wp_vapid *v);

/* Writes "Authorization: vapid t=<JWT>, k=<key>" for a request to endpoint
 * (aud: its origin; exp: now + 12 hours; sub: the subject) into out.
 * 0, -EINVAL (endpoint not an http(s) URL), -ENAMETOOLONG or -EIO. */
int wp_vapid_header(const struct wp_vapid *v, const char *endpoint, int64_t now, char *out,
		    size_t out_len);

#endif
