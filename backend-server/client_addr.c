/* client_addr: see client_addr.h. */
#include "client_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ca_net {
	struct ca_addr addr;    /* masked to bits */
	unsigned bits;          /* of the IPv6 form: an IPv4 /8 is 96 + 8 */
};

struct ca_trust {
	size_t n;
	struct ca_net nets[];
};

static const unsigned char ca_v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static bool ca_is_v4(const struct ca_addr *a)
{
	return memcmp(a->b, ca_v4_prefix, sizeof ca_v4_prefix) == 0;
}

static void ca_mask(struct ca_addr *a, unsigned bits)
{
	for (unsigned i = 0; i < CA_LEN; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			a->b[i] &= (unsigned char)(0xff00u >> bits);
			bits = 0;
		}
	}
}

static bool ca_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool ca_blank(const char *s, size_t len)
{
	while (len && ca_space(*s))
		s++, len--;
	return len == 0;
}

/* An address alone, no port or brackets. */
static int ca_parse_bare(const char *s, size_t len, struct ca_addr *out, bool *v4)
{
	char buf[INET6_ADDRSTRLEN];
	struct in_addr a4;

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memcpy(out->b, ca_v4_prefix, sizeof ca_v4_prefix);
		memcpy(out->b + 12, &a4, 4);
		*v4 = true;
		return 0;
	}
	*v4 = false;
	return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
}

static bool ca_port_ok(const char *s, size_t len)
{
	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int ca_parse(const char *s, size_t len, struct ca_addr *out)
{
	const char *colon;
	bool v4;

	while (len && ca_space(*s))
		s++, len--;
	while (len && ca_space(s[len - 1]))
		len--;
	if (len && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		size_t rest;

		if (!end)
			return -1;
		rest = len - (size_t)(end + 1 - s);
		if (rest && (end[1] != ':' || !ca_port_ok(end + 2, rest - 1)))
			return -1;
		if (ca_parse_bare(s + 1, (size_t)(end - s - 1), out, &v4) < 0 || v4)
			return -1;
		return 0;
	}
	/* One colon: IPv4 and a port; more: a bare IPv6 address. */
	colon = memchr(s, ':', len);
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
		if (!ca_port_ok(colon + 1, len - (size_t)(colon + 1 - s)))
			return -1;
		return ca_parse_bare(s, (size_t)(colon - s), out, &v4) == 0 && v4 ? 0 : -1;
	}
	return ca_parse_bare(s, len, out, &v4);
}

int ca_from_sockaddr(const struct sockaddr *sa, struct ca_addr *out)
{
	if (sa->sa_family == AF_INET) {
		memcpy(out->b, ca_v4_prefix, sizeof ca_v4_prefix);
		memcpy(out->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, CA_LEN);
		return 0;
	}
	return -1;
}

/* One entry of the list: "addr" or "addr/bits". */
static int ca_parse_net(const char *s, size_t len, struct ca_net *n)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned long bits;
	bool v4;

	while (alen && ca_space(s[alen - 1]))
		alen--;
	if (ca_parse_bare(s, alen, &n->addr, &v4) < 0)
		return -1;
	n->bits = CA_LEN * 8;
	if (slash) {
		const char *b = slash + 1;
		size_t blen = len - (size_t)(b - s);
		char *end;
		char buf[4];

		while (blen && ca_space(*b))
			b++, blen--;
		if (blen == 0 || blen >= sizeof buf || b[0] < '0' || b[0] > '9')
			return -1;
		memcpy(buf, b, blen);
		buf[blen] = '\0';
		bits = strtoul(buf, &end, 10);
		if (*end || bits > (v4 ? 32u : 128u))
			return -1;
		n->bits = (unsigned)bits + (v4 ? 96 : 0);
	}
	ca_mask(&n->addr, n->bits);
	return 0;
}

int ca_trust_parse(const char *list, struct ca_trust **out, char *err, size_t err_len)
{
	struct ca_trust *t;
	const char *p;
	size_t n = 1;

	*out = NULL;
	if (!list || strspn(list, " \t,") == strlen(list))
		return 0;
	for (p = list; *p; p++)
		n += *p == ',';
	t = calloc(1, sizeof *t + n * sizeof t->nets[0]);
	if (!t) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (p = list; *p;) {
		size_t len = strcspn(p, ",");
		const char *s = p;

		p += len + (p[len] == ',');
		while (len && ca_space(*s))
			s++, len--;
		while (len && ca_space(s[len - 1]))
			len--;
		if (len == 0)
			continue;
		if (ca_parse_net(s, len, &t->nets[t->n]) < 0) {
			snprintf(err, err_len, "not an address or CIDR block: \"%.*s\"", (int)(len > 64 ? 64 : len), s);
			free(t);
			return -1;
		}
		t->n++;
	}
	*out = t;
	return 0;
}

void ca_trust_free(struct ca_trust *t)
{
	free(t);
}

bool ca_trusted(const struct ca_trust *t, const struct ca_addr *a)
{
	if (!t)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		struct ca_addr m = *a;

		ca_mask(&m, t->nets[i].bits);
		if (memcmp(m.b, t->nets[i].addr.b, CA_LEN) == 0)
			return true;
	}
	return false;
}

/* Walks one X-Forwarded-For value right to left from *cur (the hop to its
 * right, trusted). Returns true when the walk ended: *cur is the client. */
static bool ca_walk(const struct ca_trust *t, const char *v, size_t len, struct ca_addr *cur)
{
	size_t end = len;

	for (;;) {
		size_t start = end;
		struct ca_addr a;

		while (start && v[start - 1] != ',')
			start--;
		if (!ca_blank(v + start, end - start)) {   /* an empty entry is skipped */
			if (ca_parse(v + start, end - start, &a) < 0)
				return true;
			*cur = a;
			if (!ca_trusted(t, &a))
				return true;
		}
		if (start == 0)
			return false;
		end = start - 1;
	}
}

void ca_client(const struct ca_trust *t, const struct httpd_req *req, struct ca_addr *out)
{
	memset(out, 0, sizeof *out);
	if (!req->peer || ca_parse(req->peer, strlen(req->peer), out) < 0 || !ca_trusted(t, out))
		return;
	for (size_t i = req->n_headers; i-- > 0;) {
		const struct httpd_header *h = &req->headers[i];

		if (h->name_len == 15 && strncasecmp(h->name, "X-Forwarded-For", 15) == 0 &&
		    ca_walk(t, h->value, h->value_len, out))
			return;
	}
}

void ca_group(struct ca_addr *a)
{
	if (!ca_is_v4(a))
		ca_mask(a, 64);
}

void ca_format(const struct ca_addr *a, char *out, size_t out_len)
{
	if (ca_is_v4(a)) {
		if (!inet_ntop(AF_INET, a->b + 12, out, (socklen_t)out_len))
			snprintf(out, out_len, "?");
	} else if (!inet_ntop(AF_INET6, a->b, out, (socklen_t)out_len)) {
		snprintf(out, out_len, "?");
	}
}
