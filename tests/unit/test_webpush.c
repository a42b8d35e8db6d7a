/* webpush: RFC 8291's example, encryption with fresh keys, and a VAPID
 * header whose JWT OpenSSL verifies with the public key it names. */
#include <errno.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "webpush.h"

static size_t unb64(void *dst, const char *s)
{
	ssize_t n = b64_url_decode(dst, s, strlen(s));

	CHECK(n >= 0);
	return n < 0 ? 0 : (size_t)n;
}

/* RFC 8291, Appendix A. */
static void test_rfc8291_example(void)
{
	static const char plain[] = "When I grow up, I want to be a watermelon";
	uint8_t ua_public[WP_POINT_LEN], auth[WP_AUTH_LEN], out[sizeof plain + WP_OVERHEAD];
	char got[B64_URL_ENCODED_LEN(sizeof out) + 1];
	struct wp_fixed f;
	size_t n = 0;

	CHECK_EQ_INT(unb64(ua_public, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyP"
				      "js7Vd8pZGH6SRpkNtoIAiw4"), WP_POINT_LEN);
	CHECK_EQ_INT(unb64(auth, "BTBZMqHH6r4Tts7J_aSIgg"), WP_AUTH_LEN);
	CHECK_EQ_INT(unb64(f.as_private, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"), WP_SCALAR_LEN);
	CHECK_EQ_INT(unb64(f.as_public, "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
					"WAmS6TlzAC8wEqKK6PBru3jl7A8"), WP_POINT_LEN);
	CHECK_EQ_INT(unb64(f.salt, "DGv6ra1nlYgDCS1FRnbzlw"), WP_SALT_LEN);
	CHECK(wp_point_ok(ua_public));
	CHECK_EQ_INT(wp_encrypt(ua_public, auth, plain, sizeof plain - 1, &f, out, &n), 0);
	CHECK_EQ_INT(n, sizeof plain - 1 + WP_OVERHEAD);
	b64_url_encode(got, out, n);
	CHECK_EQ_STR(got, "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
			  "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
			  "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
}

/* In use: a new key and salt each time, and a point the browser can use. */
static void test_fresh_keys(void)
{
	uint8_t ua_public[WP_POINT_LEN], auth[WP_AUTH_LEN] = { 1 };
	uint8_t a[10 + WP_OVERHEAD], b[10 + WP_OVERHEAD], big[WP_PAYLOAD_MAX + 1 + WP_OVERHEAD];
	size_t na = 0, nb = 0;

	unb64(ua_public, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyP"
			 "js7Vd8pZGH6SRpkNtoIAiw4");
	CHECK_EQ_INT(wp_encrypt(ua_public, auth, "0123456789", 10, NULL, a, &na), 0);
	CHECK_EQ_INT(wp_encrypt(ua_public, auth, "0123456789", 10, NULL, b, &nb), 0);
	CHECK_EQ_INT(na, 10 + WP_OVERHEAD);
	CHECK_EQ_INT(nb, na);
	CHECK(memcmp(a, b, WP_SALT_LEN) != 0);                          /* salt */
	CHECK(memcmp(a + 21, b + 21, WP_POINT_LEN) != 0);              /* keyid */
	CHECK_EQ_INT(a[16] << 24 | a[17] << 16 | a[18] << 8 | a[19], 4096);
	CHECK_EQ_INT(a[20], WP_POINT_LEN);
	CHECK(wp_point_ok(a + 21));
	/* too long, and not a point of the curve */
	memset(big, 'x', sizeof big);
	CHECK_EQ_INT(wp_encrypt(ua_public, auth, big, WP_PAYLOAD_MAX + 1, NULL, big, &na), -EINVAL);
	ua_public[64] ^= 1;
	CHECK(!wp_point_ok(ua_public));
	CHECK_EQ_INT(wp_encrypt(ua_public, auth, "x", 1, NULL, a, &na), -EINVAL);
	ua_public[64] ^= 1;
	ua_public[0] = 0x02;   /* compressed form: not what p256dh is */
	CHECK(!wp_point_ok(ua_public));
}

/* A key pair as scripts/run makes one: base64url point and scalar. */
static EVP_PKEY *make_pair(char pub[B64_URL_ENCODED_LEN(WP_POINT_LEN) + 1],
			   char priv[B64_URL_ENCODED_LEN(WP_SCALAR_LEN) + 1])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t p[WP_POINT_LEN], d[WP_SCALAR_LEN];
	BIGNUM *bn = NULL;
	size_t n = 0;

	CHECK(k != NULL);
	CHECK(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, p, sizeof p, &n) == 1);
	CHECK_EQ_INT(n, WP_POINT_LEN);
	CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1);
	CHECK(BN_bn2binpad(bn, d, sizeof d) == WP_SCALAR_LEN);
	BN_free(bn);
	b64_url_encode(pub, p, sizeof p);
	b64_url_encode(priv, d, sizeof d);
	return k;
}

static bool verify_es256(EVP_PKEY *k, const char *data, size_t len, const uint8_t raw[64])
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int dl;
	bool ok;

	ECDSA_SIG_set0(s, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
	dl = i2d_ECDSA_SIG(s, &der);
	ok = dl > 0 && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(c, der, (size_t)dl, (const unsigned char *)data, len) == 1;
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(c);
	return ok;
}

static void test_vapid(void)
{
	char pub[B64_URL_ENCODED_LEN(WP_POINT_LEN) + 1], priv[B64_URL_ENCODED_LEN(WP_SCALAR_LEN) + 1];
	char pub2[sizeof pub], priv2[sizeof priv], line[4096], err[256], buf[1024];
	EVP_PKEY *k = make_pair(pub, priv), *k2 = make_pair(pub2, priv2);
	struct wp_vapid *v = NULL;
	const char *t, *dot1, *dot2, *comma;
	uint8_t sig[80];
	json_t *claims, *hdr;
	ssize_t n;

	CHECK_EQ_INT(wp_vapid_new(pub, priv, "mailto:ops@example.org", &v, err, sizeof err), 0);
	CHECK_EQ_STR(wp_vapid_public(v), pub);
	CHECK_EQ_INT(wp_vapid_header(v, "https://push.example.net:8443/wpush/v2/abc?x=1", 1700000000,
				     line, sizeof line), 0);
	/* Authorization: vapid t=HEADER.CLAIMS.SIG, k=PUB */
	CHECK(strncmp(line, "Authorization: vapid t=", 23) == 0);
	t = line + 23;
	comma = strstr(t, ", k=");
	CHECK(comma != NULL);
	if (!comma)
		goto out;
	CHECK_EQ_STR(comma + 4, pub);
	dot1 = strchr(t, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	CHECK(dot1 && dot2 && dot2 < comma);
	if (!dot1 || !dot2 || dot2 > comma)
		goto out;
	n = b64_url_decode(buf, t, (size_t)(dot1 - t));
	CHECK(n > 0);
	hdr = json_loadb(buf, n > 0 ? (size_t)n : 0, 0, NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
	CHECK_EQ_STR(json_string_value(json_object_get(hdr, "typ")), "JWT");
	json_decref(hdr);
	n = b64_url_decode(buf, dot1 + 1, (size_t)(dot2 - dot1 - 1));
	CHECK(n > 0);
	claims = json_loadb(buf, n > 0 ? (size_t)n : 0, 0, NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(claims, "aud")), "https://push.example.net:8443");
	CHECK_EQ_STR(json_string_value(json_object_get(claims, "sub")), "mailto:ops@example.org");
	CHECK_EQ_INT(json_integer_value(json_object_get(claims, "exp")), 1700000000 + 12 * 3600);
	json_decref(claims);
	CHECK_EQ_INT(b64_url_decode(sig, dot2 + 1, (size_t)(comma - dot2 - 1)), 64);
	CHECK(verify_es256(k, t, (size_t)(dot2 - t), sig));
	CHECK(!verify_es256(k2, t, (size_t)(dot2 - t), sig));   /* the check can fail */

	/* endpoints that have no origin a JWT could name */
	CHECK_EQ_INT(wp_vapid_header(v, "ftp://x/y", 0, line, sizeof line), -EINVAL);
	CHECK_EQ_INT(wp_vapid_header(v, "https://user@host/y", 0, line, sizeof line), -EINVAL);
	CHECK_EQ_INT(wp_vapid_header(v, "https:///y", 0, line, sizeof line), -EINVAL);
	CHECK_EQ_INT(wp_vapid_header(v, "https://h\"/y", 0, line, sizeof line), -EINVAL);
	CHECK_EQ_INT(wp_vapid_header(v, "http://127.0.0.1:9/p", 0, line, 20), -ENAMETOOLONG);
out:
	wp_vapid_free(v);
	v = NULL;
	/* keys that do not belong together, malformed ones, a bad subject */
	CHECK_EQ_INT(wp_vapid_new(pub, priv2, "mailto:a@b", &v, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "key pair") != NULL);
	CHECK_EQ_INT(wp_vapid_new(priv, priv, "mailto:a@b", &v, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(wp_vapid_new(pub, pub, "mailto:a@b", &v, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(wp_vapid_new(pub, priv, "http://example.org", &v, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(wp_vapid_new(pub, priv, "mailto:a\"b", &v, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(wp_vapid_new(pub, priv, NULL, &v, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(wp_vapid_new(NULL, priv, "mailto:a@b", &v, err, sizeof err), -EINVAL);
	CHECK(v == NULL);
	CHECK_EQ_INT(wp_vapid_new(pub, priv, "https://example.org/contact", &v, err, sizeof err), 0);
	wp_vapid_free(v);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

int main(void)
{
	test_rfc8291_example();
	test_fresh_keys();
	test_vapid();
	return check_done();
}
