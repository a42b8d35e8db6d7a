/* http_client: libcurl's multi-socket API on a libuv loop.
 *
 * curl tells us which sockets to watch (hc_on_socket) and when to wake it
 * (hc_on_curl_timer); we watch with one uv_poll_t per socket and one
 * uv_timer_t, and hand every event back with curl_multi_socket_action().
 * Finished transfers are collected with curl_multi_info_read() after each
 * action, outside any curl callback, so a done callback may start a new
 * request or close the client. */
#include "http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "container.h"
#include "dlist.h"

#define HC_DEFAULT_TIMEOUT_MS 10000
#define HC_BEARER_PREFIX "Authorization: Bearer "

struct hc_sock {                  /* one socket curl asked us to watch */
	struct hc *c;
	uv_poll_t poll;
	curl_socket_t fd;
	bool closing;
	struct dlist_node node;       /* in c->socks */
};

struct hc_req {                   /* one transfer; freed right after its done callback */
	struct hc *c;
	CURL *easy;
	struct curl_slist *headers;   /* HTTP headers, or a mail's one recipient */
	char *body;
	size_t body_len, body_sent;   /* a mail's upload */
	bool mail;
	char *resp;
	size_t resp_len, resp_cap;
	bool too_big;
	bool blocked;                 /* public_only refused the address it resolved to */
	hc_done_fn done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	struct dlist_node node;       /* in c->reqs */
};

struct hc {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct dlist reqs;            /* in flight */
	struct dlist socks;           /* watched or closing */
	unsigned handles;             /* the timer and polls not yet closed */
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static bool hc_curl_ready;

/* ---- transfers ---------------------------------------------------------- */

static void hc_req_free(struct hc_req *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

static void hc_unlink(struct hc_req *r)
{
	dlist_remove(&r->c->reqs, &r->node);
}

static int hc_errno(CURLcode rc, bool too_big)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_WRITE_ERROR:
		return too_big ? -EMSGSIZE : -EIO;
	default:
		return -EIO;
	}
}

/* Calls the request's done callback and frees it. The easy handle is already
 * out of the multi handle. */
static void hc_finish(struct hc_req *r, int err, const char *why)
{
	struct hc_response res;
	long status = 0;
	curl_off_t retry_after = 0;

	memset(&res, 0, sizeof res);
	res.err = err;
	/* A relay's refusal has a reply code worth telling (4xx: try later). */
	if (err == 0 || r->mail) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
	}
	res.status = status;
	res.retry_after_s = retry_after > 0 ? (int64_t)retry_after : 0;
	res.body = r->resp ? r->resp : "";
	res.body_len = r->resp_len;
	res.error = err == 0 ? "" : why;
	hc_unlink(r);
	r->done(&res, r->arg);
	hc_req_free(r);
}

static size_t hc_on_write(char *data, size_t size, size_t n, void *userp)
{
	struct hc_req *r = userp;
	size_t len = size * n;

	if (len > HC_MAX_BODY - r->resp_len) {
		r->too_big = true;
		return 0;
	}
	if (r->resp_len + len + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		char *p;

		while (cap < r->resp_len + len + 1)
			cap *= 2;
		p = realloc(r->resp, cap);
		if (!p)
			return 0;
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

static size_t hc_on_read(char *buf, size_t size, size_t n, void *userp)
{
	struct hc_req *r = userp;
	size_t len = size * n, left = r->body_len - r->body_sent;

	if (len > left)
		len = left;
	memcpy(buf, r->body + r->body_sent, len);
	r->body_sent += len;
	return len;
}

/* Collects finished transfers; stops early if a callback closed the client. */
static void hc_check(struct hc *c)
{
	CURLMsg *msg;
	int left;

	while (!c->closing && (msg = curl_multi_info_read(c->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;   /* msg is invalid once removed */
		struct hc_req *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(c->multi, easy);
		if (result == CURLE_OK)
			hc_finish(r, 0, "");
		else if (r->blocked)
			hc_finish(r, -EACCES, "the address is not a public one");
		else
			hc_finish(r, hc_errno(result, r->too_big),
				  r->too_big ? "response body too large"
				  : r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
	}
}

/* ---- sockets and the timer ---------------------------------------------- */

static void hc_maybe_free(struct hc *c)
{
	if (!c->closing || c->handles > 0)
		return;
	if (c->closed)
		c->closed(c->closed_arg);
	free(c);
}

static void hc_on_sock_closed(uv_handle_t *h)
{
	struct hc_sock *sk = container_of((uv_poll_t *)h, struct hc_sock, poll);
	struct hc *c = sk->c;

	dlist_remove(&c->socks, &sk->node);
	free(sk);
	c->handles--;
	hc_maybe_free(c);
}

static void hc_sock_close(struct hc_sock *sk)
{
	if (sk->closing)
		return;
	sk->closing = true;
	uv_close((uv_handle_t *)&sk->poll, hc_on_sock_closed);
}

static void hc_on_poll(uv_poll_t *p, int status, int events)
{
	struct hc_sock *sk = container_of(p, struct hc_sock, poll);
	struct hc *c = sk->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, sk->fd, flags, &running);
	hc_check(c);
}

static int hc_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct hc *c = userp;
	struct hc_sock *sk = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sk) {
			curl_multi_assign(c->multi, fd, NULL);
			hc_sock_close(sk);
		}
		return 0;
	}
	if (!sk) {
		sk = calloc(1, sizeof *sk);
		if (!sk)
			return -1;
		if (uv_poll_init_socket(c->loop, &sk->poll, fd) != 0) {
			free(sk);
			return -1;
		}
		sk->c = c;
		sk->fd = fd;
		dlist_push_front(&c->socks, &sk->node);
		c->handles++;
		curl_multi_assign(c->multi, fd, sk);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&sk->poll, events, hc_on_poll) == 0 ? 0 : -1;
}

static void hc_on_timer(uv_timer_t *t)
{
	struct hc *c = container_of(t, struct hc, timer);
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	hc_check(c);
}

/* curl asks to be woken after timeout_ms (-1: never). Even 0 goes through
 * the timer, so that curl is never re-entered from its own callback. */
static int hc_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct hc *c = userp;

	(void)multi;
	if (timeout_ms < 0)
		return uv_timer_stop(&c->timer) == 0 ? 0 : -1;
	return uv_timer_start(&c->timer, hc_on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static void hc_on_timer_closed(uv_handle_t *h)
{
	struct hc *c = container_of((uv_timer_t *)h, struct hc, timer);

	c->handles--;
	hc_maybe_free(c);
}

/* ---- public ------------------------------------------------------------- */

int hc_new(uv_loop_t *loop, struct hc **out)
{
	struct hc *c;
	int rc;

	if (!hc_curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		hc_curl_ready = true;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->multi = curl_multi_init();
	if (!c->multi) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = uv_timer_init(loop, &c->timer);
	if (rc < 0)
		goto out_multi;
	c->handles = 1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, hc_on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, hc_on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	*out = c;
	return 0;

out_multi:
	curl_multi_cleanup(c->multi);
out_free:
	free(c);
	return rc;
}

static bool hc_has_line_break(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

static bool hc_method_ok(const char *m)
{
	if (!m || !*m)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

static int hc_add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

/* Builds the header list: the caller's, the bearer token, and an empty
 * Expect so that curl never waits for "100 Continue". */
static int hc_build_headers(struct hc_req *r, const struct hc_request *req)
{
	int rc;

	for (const char *const *h = req->headers; h && *h; h++) {
		if (hc_has_line_break(*h))
			return -EINVAL;
		if ((rc = hc_add_header(&r->headers, *h)) < 0)
			return rc;
	}
	if (req->bearer && *req->bearer) {
		size_t n = strlen(HC_BEARER_PREFIX) + strlen(req->bearer) + 1;
		char *line;

		if (hc_has_line_break(req->bearer))
			return -EINVAL;
		line = malloc(n);
		if (!line)
			return -ENOMEM;
		strcpy(line, HC_BEARER_PREFIX);
		strcat(line, req->bearer);
		rc = hc_add_header(&r->headers, line);
		free(line);
		if (rc < 0)
			return rc;
	}
	return hc_add_header(&r->headers, "Expect:");
}

/* Whether addr is one anybody on the Internet could reach: the ranges of RFC
 * 6890 that are not (this host, private, shared, link-local, loopback,
 * benchmarking, documentation, multicast, reserved; IPv6 unique-local and
 * link-local, and IPv4 mapped into IPv6 by the same rules). */
static bool hc_public_v4(uint32_t a)
{
	static const struct { uint32_t net, mask; } no[] = {
		{ 0x00000000, 0xff000000 }, { 0x0a000000, 0xff000000 }, { 0x64400000, 0xffc00000 },
		{ 0x7f000000, 0xff000000 }, { 0xa9fe0000, 0xffff0000 }, { 0xac100000, 0xfff00000 },
		{ 0xc0000000, 0xffffff00 }, { 0xc0000200, 0xffffff00 }, { 0xc0a80000, 0xffff0000 },
		{ 0xc6120000, 0xfffe0000 }, { 0xc6336400, 0xffffff00 }, { 0xcb007100, 0xffffff00 },
		{ 0xe0000000, 0xe0000000 },
	};

	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if ((a & no[i].mask) == no[i].net)
			return false;
	return true;
}

static bool hc_public(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return hc_public_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(b, mapped, 12) == 0)
			return hc_public_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
					    (uint32_t)b[14] << 8 | b[15]);
		/* Only global unicast (2000::/3) reaches the Internet. */
		return (b[0] & 0xe0) == 0x20;
	}
	return false;
}

/* curl's socket, opened only toward a public address: the check is on the
 * address curl resolved, so that a name pointing into our own network is
 * refused as surely as an address in the URL. */
static curl_socket_t hc_open_public(void *clientp, curlsocktype purpose,
				    struct curl_sockaddr *address)
{
	struct hc_req *r = clientp;

	(void)purpose;
	if (!hc_public(&address->addr)) {
		r->blocked = true;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* And before each request, on the connection it goes out on: a connection
 * kept alive from another request (one without public_only) to the same
 * host and port is checked too. */
static int hc_prereq_public(void *clientp, char *conn_primary_ip, char *conn_local_ip,
			    int conn_primary_port, int conn_local_port)
{
	struct hc_req *r = clientp;
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	bool ok;

	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	if (inet_pton(AF_INET, conn_primary_ip, &v4.sin_addr) == 1)
		ok = hc_public((const struct sockaddr *)&v4);
	else
		ok = inet_pton(AF_INET6, conn_primary_ip, &v6.sin6_addr) == 1 &&
		     hc_public((const struct sockaddr *)&v6);
	if (ok)
		return CURL_PREREQFUNC_OK;
	r->blocked = true;
	return CURL_PREREQFUNC_ABORT;
}

static int hc_setup(struct hc_req *r, const struct hc_request *req)
{
	CURL *e = r->easy;
	uint64_t timeout = req->timeout_ms ? req->timeout_ms : HC_DEFAULT_TIMEOUT_MS;
	CURLcode cc = CURLE_OK;

#define HC_SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
	HC_SET(CURLOPT_URL, req->url);
	HC_SET(CURLOPT_PROTOCOLS_STR, "http,https");
	HC_SET(CURLOPT_NOSIGNAL, 1L);
	HC_SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	HC_SET(CURLOPT_PRIVATE, (char *)r);
	HC_SET(CURLOPT_ERRORBUFFER, r->errbuf);
	HC_SET(CURLOPT_WRITEFUNCTION, hc_on_write);
	HC_SET(CURLOPT_WRITEDATA, r);
	HC_SET(CURLOPT_HTTPHEADER, r->headers);
	if (req->ca_file && *req->ca_file)
		HC_SET(CURLOPT_CAINFO, req->ca_file);
	if (req->public_only) {
		HC_SET(CURLOPT_OPENSOCKETFUNCTION, hc_open_public);
		HC_SET(CURLOPT_OPENSOCKETDATA, r);
		HC_SET(CURLOPT_PREREQFUNCTION, hc_prereq_public);
		HC_SET(CURLOPT_PREREQDATA, r);
		/* A proxy would be the address checked, not the destination. */
		HC_SET(CURLOPT_PROXY, "");
	}
	if (r->body || strcmp(req->method, "GET") != 0) {
		/* Methods other than GET always send a (possibly empty) body. */
		HC_SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
		HC_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? req->body_len : 0));
		if (strcmp(req->method, "POST") != 0)
			HC_SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef HC_SET
	if (cc == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	return cc == CURLE_OK ? 0 : -EINVAL;
}

/* A transfer with a copy of body (may be NULL) and its easy handle. */
static struct hc_req *hc_req_new(struct hc *c, const char *body, size_t body_len, hc_done_fn done,
				 void *arg)
{
	struct hc_req *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->c = c;
	r->done = done;
	r->arg = arg;
	if (body) {
		r->body = malloc(body_len + 1);
		if (!r->body)
			goto fail;
		memcpy(r->body, body, body_len);
		r->body[body_len] = '\0';
		r->body_len = body_len;
	}
	r->easy = curl_easy_init();
	if (r->easy)
		return r;
fail:
	hc_req_free(r);
	return NULL;
}

static int hc_start(struct hc *c, struct hc_req *r)
{
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		hc_req_free(r);
		return -ENOMEM;
	}
	dlist_push_front(&c->reqs, &r->node);
	return 0;
}

int hc_request(struct hc *c, const struct hc_request *req, hc_done_fn done, void *arg)
{
	struct hc_req *r;
	int rc;

	if (!c || !req || !done)
		return -EINVAL;
	if (c->closing)
		return -ESHUTDOWN;
	if (!hc_method_ok(req->method) || !req->url || hc_has_line_break(req->url) ||
	    (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0))
		return -EINVAL;
	r = hc_req_new(c, req->body, req->body_len, done, arg);
	if (!r)
		return -ENOMEM;
	if ((rc = hc_build_headers(r, req)) < 0 || (rc = hc_setup(r, req)) < 0) {
		hc_req_free(r);
		return rc;
	}
	return hc_start(c, r);
}

/* A bare address for the envelope: curl puts it between < and > itself. */
static bool hc_mail_addr_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 254)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '<' || *s == '>')
			return false;
	return true;
}

static int hc_setup_mail(struct hc_req *r, const struct hc_mail *m)
{
	CURL *e = r->easy;
	uint64_t timeout = m->timeout_ms ? m->timeout_ms : HC_DEFAULT_TIMEOUT_MS;
	bool auth = m->user && *m->user;
	bool smtps = strncasecmp(m->url, "smtps://", 8) == 0;
	CURLcode cc = CURLE_OK;

	if (hc_add_header(&r->headers, m->to) < 0)
		return -ENOMEM;
#define HC_SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
	HC_SET(CURLOPT_URL, m->url);
	HC_SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	HC_SET(CURLOPT_NOSIGNAL, 1L);
	HC_SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	HC_SET(CURLOPT_PRIVATE, (char *)r);
	HC_SET(CURLOPT_ERRORBUFFER, r->errbuf);
	HC_SET(CURLOPT_MAIL_FROM, m->from);
	HC_SET(CURLOPT_MAIL_RCPT, r->headers);
	HC_SET(CURLOPT_UPLOAD, 1L);
	HC_SET(CURLOPT_READFUNCTION, hc_on_read);
	HC_SET(CURLOPT_READDATA, r);
	HC_SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	if (!smtps)
		HC_SET(CURLOPT_USE_SSL, (long)(auth ? CURLUSESSL_ALL : CURLUSESSL_TRY));
	if (auth) {
		HC_SET(CURLOPT_USERNAME, m->user);
		HC_SET(CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	if (m->ca_file && *m->ca_file)
		HC_SET(CURLOPT_CAINFO, m->ca_file);
#undef HC_SET
	if (cc == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	return cc == CURLE_OK ? 0 : -EINVAL;
}

int hc_mail(struct hc *c, const struct hc_mail *m, hc_done_fn done, void *arg)
{
	struct hc_req *r;
	int rc;

	if (!c || !m || !done)
		return -EINVAL;
	if (c->closing)
		return -ESHUTDOWN;
	if (!m->url || hc_has_line_break(m->url) || !m->message ||
	    (strncasecmp(m->url, "smtp://", 7) != 0 && strncasecmp(m->url, "smtps://", 8) != 0) ||
	    !hc_mail_addr_ok(m->from) || !hc_mail_addr_ok(m->to) ||
	    hc_has_line_break(m->user) || hc_has_line_break(m->password))
		return -EINVAL;
	r = hc_req_new(c, m->message, m->message_len, done, arg);
	if (!r)
		return -ENOMEM;
	r->mail = true;
	if ((rc = hc_setup_mail(r, m)) < 0) {
		hc_req_free(r);
		return rc;
	}
	return hc_start(c, r);
}

void hc_close(struct hc *c, void (*closed)(void *arg), void *arg)
{
	struct hc_sock *sk;

	if (!c || c->closing)
		return;
	c->closing = true;
	c->closed = closed;
	c->closed_arg = arg;
	while (!dlist_empty(&c->reqs)) {
		struct hc_req *r = dlist_first(&c->reqs, struct hc_req, node);

		curl_multi_remove_handle(c->multi, r->easy);
		hc_finish(r, -ECANCELED, "client closed");
	}
	/* Cleanup closes curl's cached connections and may still call
	 * hc_on_socket to drop them; whatever it leaves we close ourselves. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	dlist_for_each(sk, &c->socks, node)
		hc_sock_close(sk);
	uv_close((uv_handle_t *)&c->timer, hc_on_timer_closed);
}
