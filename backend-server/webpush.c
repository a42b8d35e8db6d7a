/* webpush: see webpush.h. The derivation follows RFC 8291 section 3.4:
 *   ecdh   = ECDH(as_private, ua_public)
 *   IKM    = HKDF(salt = auth, ikm = ecdh, "WebPush: info" 0 ua_public as_public, 32)
 *   CEK    = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0, 16)
 *   NONCE  = HKDF(salt, IKM, "Content-Encoding: nonce" 0, 12)
 * where each HKDF output fits in one HMAC block (extract, then expand's T(1)).
 * The body is one record (RFC 8188): header (salt, rs, keyid = as_public),
 * then AES-128-GCM(plain 0x02) and its tag. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "webpush.h"

#define WP_RS 4096u
#define WP_JWT_TTL_S (12 * 3600)
#define WP_SUBJECT_MAX 256

struct wp_vapid {
	EVP_PKEY *key;
	char public_b64[B64_URL_ENCODED_LEN(WP_POINT_LEN) + 1];
	char subject[WP_SUBJECT_MAX + 1];
};

/* A P-256 key from its uncompressed point and, for a key pair, its scalar.
 * OpenSSL refuses a point that is not on the curve. */
static EVP_PKEY *wp_key(const uint8_t pub[WP_POINT_LEN], const uint8_t *priv)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	BIGNUM *d = priv ? BN_bin2bn(priv, WP_SCALAR_LEN, NULL) : NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *k = NULL;

	if (pub[0] == 0x04 && b && ctx && (!priv || d) &&
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, WP_POINT_LEN) &&
	    (!d || OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d)) &&
	    (params = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &k, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	OSSL_PARAM_free(params);
	BN_clear_free(d);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(b);
	return k;
}

/* pairwise: also that the scalar belongs to the point. */
static bool wp_key_check(EVP_PKEY *k, bool pairwise)
{
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
	bool ok = c && EVP_PKEY_public_check(c) == 1 && (!pairwise || EVP_PKEY_pairwise_check(c) == 1);

	EVP_PKEY_CTX_free(c);
	return ok;
}

bool wp_point_ok(const uint8_t p[WP_POINT_LEN])
{
	EVP_PKEY *k = wp_key(p, NULL);
	bool ok = wp_key_check(k, false);

	EVP_PKEY_free(k);
	return ok;
}

static bool wp_hmac(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
		    uint8_t out[32])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) && n == 32;
}

/* HKDF-Expand's first block: HMAC(prk, info 0x01). info_len < 64. */
static bool wp_expand1(const uint8_t prk[32], const char *info, size_t info_len, uint8_t out[32])
{
	uint8_t buf[64];

	memcpy(buf, info, info_len);
	buf[info_len] = 0x01;
	return wp_hmac(prk, 32, buf, info_len + 1, out);
}

static bool wp_ecdh(EVP_PKEY *as, EVP_PKEY *ua, uint8_t out[32])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, as, NULL);
	size_t n = 32;
	bool ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, ua) == 1 &&
		  EVP_PKEY_derive(c, out, &n) == 1 && n == 32;

	EVP_PKEY_CTX_free(c);
	return ok;
}

static bool wp_gcm(const uint8_t cek[16], const uint8_t nonce[12], const void *plain, size_t len,
		   uint8_t *out)
{
	static const uint8_t delimiter = 0x02;   /* the last (and only) record */
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, f = 0;
	bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, cek, nonce) == 1 &&
		  EVP_EncryptUpdate(c, out, &n, plain, (int)len) == 1 &&
		  EVP_EncryptUpdate(c, out + n, &m, &delimiter, 1) == 1 &&
		  EVP_EncryptFinal_ex(c, out + n + m, &f) == 1 && (size_t)(n + m + f) == len + 1 &&
		  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + len + 1) == 1;

	EVP_CIPHER_CTX_free(c);
	return ok;
}

int wp_encrypt(const uint8_t ua_public[WP_POINT_LEN], const uint8_t auth[WP_AUTH_LEN],
	       const void *plain, size_t len, const struct wp_fixed *fixed, uint8_t *out,
	       size_t *out_len)
{
	static const char key_label[] = "WebPush: info";
	static const char cek_info[] = "Content-Encoding: aes128gcm";
	static const char nonce_info[] = "Content-Encoding: nonce";
	uint8_t key_info[sizeof key_label + 2 * WP_POINT_LEN + 1];
	uint8_t as_public[WP_POINT_LEN], salt[WP_SALT_LEN];
	uint8_t ecdh[32], prk_key[32], ikm[32], prk[32], cek[32], nonce[32];
	EVP_PKEY *ua = NULL, *as = NULL;
	size_t n = 0;
	int rc = -EIO;

	if (len > WP_PAYLOAD_MAX || !(ua = wp_key(ua_public, NULL)) || !wp_key_check(ua, false)) {
		EVP_PKEY_free(ua);
		return -EINVAL;
	}
	if (fixed) {
		memcpy(as_public, fixed->as_public, WP_POINT_LEN);
		memcpy(salt, fixed->salt, WP_SALT_LEN);
		as = wp_key(as_public, fixed->as_private);
	} else if (RAND_bytes(salt, WP_SALT_LEN) == 1) {
		as = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (as && (EVP_PKEY_get_octet_string_param(as, OSSL_PKEY_PARAM_PUB_KEY, as_public,
							   WP_POINT_LEN, &n) != 1 ||
			   n != WP_POINT_LEN || as_public[0] != 0x04)) {
			EVP_PKEY_free(as);
			as = NULL;
		}
	}
	/* "WebPush: info" 0x00 ua_public as_public */
	memcpy(key_info, key_label, sizeof key_label);
	memcpy(key_info + sizeof key_label, ua_public, WP_POINT_LEN);
	memcpy(key_info + sizeof key_label + WP_POINT_LEN, as_public, WP_POINT_LEN);
	key_info[sizeof key_info - 1] = 0x01;
	if (as && wp_ecdh(as, ua, ecdh) && wp_hmac(auth, WP_AUTH_LEN, ecdh, 32, prk_key) &&
	    wp_hmac(prk_key, 32, key_info, sizeof key_info, ikm) &&
	    wp_hmac(salt, WP_SALT_LEN, ikm, 32, prk) &&
	    wp_expand1(prk, cek_info, sizeof cek_info, cek) &&
	    wp_expand1(prk, nonce_info, sizeof nonce_info, nonce)) {
		memcpy(out, salt, WP_SALT_LEN);
		out[16] = (uint8_t)(WP_RS >> 24);
		out[17] = (uint8_t)(WP_RS >> 16);
		out[18] = (uint8_t)(WP_RS >> 8);
		out[19] = (uint8_t)WP_RS;
		out[20] = WP_POINT_LEN;
		memcpy(out + 21, as_public, WP_POINT_LEN);
		if (wp_gcm(cek, nonce, plain, len, out + WP_HEADER_LEN)) {
			*out_len = len + WP_OVERHEAD;
			rc = 0;
		}
	}
	OPENSSL_cleanse(ecdh, sizeof ecdh);
	OPENSSL_cleanse(prk_key, sizeof prk_key);
	OPENSSL_cleanse(ikm, sizeof ikm);
	OPENSSL_cleanse(prk, sizeof prk);
	OPENSSL_cleanse(cek, sizeof cek);
	EVP_PKEY_free(as);
	EVP_PKEY_free(ua);
	return rc;
}

/* ---- VAPID -------------------------------------------------------------- */

static bool wp_subject_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > WP_SUBJECT_MAX ||
	    !((n > 7 && strncmp(s, "mailto:", 7) == 0) || (n > 8 && strncmp(s, "https://", 8) == 0)))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

int wp_vapid_new(const char *public_b64, const char *private_b64, const char *subject,
		 struct wp_vapid **out, char *err, size_t err_len)
{
	uint8_t pub[B64_DECODED_MAX(128)], priv[B64_DECODED_MAX(128)];
	size_t pl = public_b64 ? strlen(public_b64) : 0, sl = private_b64 ? strlen(private_b64) : 0;
	struct wp_vapid *v;

	if (pl > 128 || sl > 128 || b64_url_decode(pub, public_b64, pl) != WP_POINT_LEN) {
		snprintf(err, err_len, "--vapid-public-key: expected a P-256 point, uncompressed "
			 "(65 bytes), base64url");
		return -EINVAL;
	}
	if (b64_url_decode(priv, private_b64, sl) != WP_SCALAR_LEN) {
		OPENSSL_cleanse(priv, sizeof priv);
		snprintf(err, err_len, "--vapid-private-key: expected a P-256 private key (32 bytes), "
			 "base64url");
		return -EINVAL;
	}
	if (!subject || !wp_subject_ok(subject)) {
		OPENSSL_cleanse(priv, sizeof priv);
		snprintf(err, err_len, "--vapid-subject: expected a mailto: or https: URL "
			 "(at most %d printable bytes)", WP_SUBJECT_MAX);
		return -EINVAL;
	}
	if (!(v = calloc(1, sizeof *v))) {
		OPENSSL_cleanse(priv, sizeof priv);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	v->key = wp_key(pub, priv);
	OPENSSL_cleanse(priv, sizeof priv);
	if (!wp_key_check(v->key, true)) {
		wp_vapid_free(v);
		snprintf(err, err_len, "--vapid-public-key and --vapid-private-key: not a P-256 key pair");
		return -EINVAL;
	}
	b64_url_encode(v->public_b64, pub, WP_POINT_LEN);
	snprintf(v->subject, sizeof v->subject, "%s", subject);
	*out = v;
	return 0;
}

void wp_vapid_free(struct wp_vapid *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->key);
	free(v);
}

const char *wp_vapid_public(const struct wp_vapid *v)
{
	return v->public_b64;
}

/* The origin of an http(s) URL: scheme "://" host [":" port], where the
 * host is a name, an IPv4 or a bracketed IPv6 address (no user info). */
static int wp_origin(const char *url, char *out, size_t out_len)
{
	size_t s = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
	size_t e = s;

	if (!s)
		return -EINVAL;
	while (url[e] && url[e] != '/' && url[e] != '?' && url[e] != '#') {
		char c = url[e];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return -EINVAL;
		e++;
	}
	if (e == s)
		return -EINVAL;
	if (e + 1 > out_len)
		return -ENAMETOOLONG;
	memcpy(out, url, e);
	out[e] = '\0';
	return 0;
}

/* ES256 (RFC 7518 3.4): the signature is r and s, 32 bytes each, not DER. */
static int wp_sign(EVP_PKEY *key, const char *data, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	size_t n = sizeof der;
	ECDSA_SIG *es = NULL;
	int rc = -EIO;

	if (c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(c, der, &n, (const unsigned char *)data, len) == 1 &&
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)n)) &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
		rc = 0;
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(c);
	return rc;
}

int wp_vapid_header(const struct wp_vapid *v, const char *endpoint, int64_t now, char *out,
		    size_t out_len)
{
	/* base64url of {"typ":"JWT","alg":"ES256"} */
	static const char jwt_header[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";
	char origin[2100], claims[2600], sig64[B64_URL_ENCODED_LEN(64) + 1];
	uint8_t sig[64];
	char *signing;
	int cl, n, rc;
	size_t hl = sizeof jwt_header - 1;

	if ((rc = wp_origin(endpoint, origin, sizeof origin)) < 0)
		return rc;
	cl = snprintf(claims, sizeof claims, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", origin,
		      (long long)(now + WP_JWT_TTL_S), v->subject);
	if (cl < 0 || (size_t)cl >= sizeof claims)
		return -ENAMETOOLONG;
	if (!(signing = malloc(hl + 1 + B64_URL_ENCODED_LEN((size_t)cl) + 1)))
		return -ENOMEM;
	memcpy(signing, jwt_header, hl);
	signing[hl] = '.';
	n = (int)(hl + 1 + b64_url_encode(signing + hl + 1, claims, (size_t)cl));
	if ((rc = wp_sign(v->key, signing, (size_t)n, sig)) == 0) {
		b64_url_encode(sig64, sig, sizeof sig);
		n = snprintf(out, out_len, "Authorization: vapid t=%s.%s, k=%s", signing, sig64,
			     v->public_b64);
		rc = n < 0 || (size_t)n >= out_len ? -ENAMETOOLONG : 0;
	}
	free(signing);
	return rc;
}
