#include "inbox_id.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

int inbox_id(const char *user, char out[INBOX_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, "inbox:", 6) &&
	     EVP_DigestUpdate(ctx, user, strlen(user)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen < INBOX_ID_LEN / 2)
		return -ENOMEM;
	for (int i = 0; i < INBOX_ID_LEN / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[INBOX_ID_LEN] = '\0';
	return 0;
}

bool inbox_id_matches(const char *user, const char *room)
{
	char id[INBOX_ID_LEN + 1];

	return inbox_id(user, id) == 0 && strcmp(id, room) == 0;
}
