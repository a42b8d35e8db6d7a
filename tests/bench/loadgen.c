/* stateroom-loadgen: an open-loop WebSocket load generator for scripts/bench.
 *
 * It opens --conns connections over the rooms in --rooms (connection i joins
 * room i mod R as its own user), each with a join ticket it mints itself from
 * the shared secret, and speaks the native protocol (stateroom.v1) as a
 * client: masked frames, Sec-WebSocket-Key and a checked Accept. Then, for
 * each rate in --rates, it sends `send` frames at that many messages per
 * second in all, spread over the rooms and their senders on a fixed
 * schedule: message j of a step is due at start + j / rate whatever happened
 * before, and every latency is measured from that due time, so a server that
 * stalls is charged for the whole stall (no coordinated omission). Each
 * frame carries its step and due time in its id and its text: an ack gives
 * an ack latency, each `message` frame one delivery and its end-to-end
 * latency. With --change-pct, that share of the frames are changes of a
 * message instead (issue 13's rich messages): by turns an `edit` of the
 * sender's latest acknowledged message (its text tagged as a send's) and a
 * `react` to it (the tag as its emoji); their broadcast `edit` and
 * `reaction` frames count as deliveries like `message` frames.
 *
 * With --server-pid it reads the server's CPU time (/proc/PID/stat, and the
 * finer /proc/PID/task/TID/schedstat) and resident memory (/proc/PID/status)
 * around each step and, with --idle-ms, the memory each idle connection
 * costs. Figures go to stdout as one JSON object, a summary to stderr.
 *
 * --churn-ms measures handshakes instead: connect-concurrency connections at
 * a time each connect, upgrade, wait for the welcome and close, and a new
 * one starts in its place, for that long.
 *
 * Bad clients beside the measured ones (--stall-conns, --flood-conns,
 * --halfopen-conns): extra connections that stop reading once welcomed, send
 * far beyond the rate limit, or never finish their upgrade request. They are
 * not measured; the server may close them (that is what they are for) and
 * how many it closed is reported.
 *
 * Bounds: targets and source addresses only in 127.0.0.0/8, at most
 * LG_MAX_CONNS connections, unsent bytes per connection capped, every phase
 * has a deadline, and --time-limit-s ends the run whatever happens. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "base64.h"
#include "config.h"
#include "container.h"
#include "wire.h"

#define LG_MAX_CONNS 200000
#define LG_MAX_ROOMS 10000
#define LG_MAX_STEPS 32
#define LG_MAX_RATE 10000000L
#define LG_PER_SOURCE 20000          /* per source address; Linux has 28232 ephemeral ports */
#define LG_READ_BUF (64 * 1024)
#define LG_HEAD_MAX 4096             /* the server's 101 answer */
#define LG_REQ_MAX 4096              /* our upgrade request */
#define LG_MSG_MAX (1024 * 1024)     /* largest server message we accept */
#define LG_BACKLOG_MAX (256 * 1024)  /* unsent bytes per connection before sends are skipped */
#define LG_BODY_MAX 4000             /* the protocol's longest text */
#define LG_FRAME_MAX (LG_BODY_MAX + 256)
#define LG_TICK_NS 1000000ull        /* phase checks run at least this often */
#define LG_TALLY 16                  /* distinct close codes, errors, failure reasons kept */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define NS_PER_S 1000000000ull

/* ------------------------------------------------------------ histogram */

/* Log-linear buckets as in HdrHistogram: exact below HIST_SUB ns, then each
 * power of two split into HIST_HALF buckets (under 1.6 % error), up to 2^43
 * ns. Fixed size, so recording a sample never allocates. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_HALF (HIST_SUB / 2)
#define HIST_SHIFTS 37
#define HIST_BUCKETS (HIST_SUB + HIST_SHIFTS * HIST_HALF)

struct hist {
	uint64_t n, max;
	uint64_t b[HIST_BUCKETS];
};

static size_t hist_index(uint64_t v)
{
	unsigned shift;

	if (v < HIST_SUB)
		return (size_t)v;
	shift = (unsigned)(63 - __builtin_clzll(v)) - (HIST_SUB_BITS - 1);
	if (shift > HIST_SHIFTS)
		return HIST_BUCKETS - 1;
	return (size_t)shift * HIST_HALF + (size_t)(v >> shift);
}

/* The largest value that lands in bucket i. */
static uint64_t hist_upper(size_t i)
{
	unsigned shift;
	uint64_t mant;

	if (i < HIST_SUB)
		return i;
	shift = (unsigned)(i / HIST_HALF) - 1;
	mant = i - (uint64_t)shift * HIST_HALF;
	return ((mant + 1) << shift) - 1;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* The value at quantile q (0 < q <= 1), as the top of its bucket (never
 * above the largest sample), like HdrHistogram's "highest equivalent". */
static uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	double want = q * (double)h->n;

	if (!h->n)
		return 0;
	rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t u = hist_upper(i);
			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}

/* ---------------------------------------------------------------- /proc */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Reads a small file into buf (NUL-terminated). Returns its length or a
 * negative errno. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (ssize_t)n;
}

struct proc_sample {
	bool ok;
	uint64_t cpu_ns;    /* utime + stime, /proc/PID/stat (clock-tick resolution) */
	uint64_t sched_ns;  /* on-CPU time of every thread, schedstat (ns); 0 if unavailable */
	long rss_kb;        /* VmRSS */
};

static void proc_sample(long pid, struct proc_sample *out)
{
	char path[64], buf[4096], *p, *end;
	unsigned long long utime, stime;
	long tck = sysconf(_SC_CLK_TCK);
	struct proc_sample s = { 0 };
	struct dirent *de;
	DIR *dir;

	*out = s;
	if (pid <= 0 || tck <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (slurp(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return;
	/* After the command's ")" come field 3 (state) onwards; utime is 14. */
	p++;
	for (int field = 3; field < 14; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return;
	}
	utime = strtoull(p, &end, 10);
	stime = strtoull(end, &end, 10);
	s.cpu_ns = (uint64_t)(utime + stime) * (NS_PER_S / (uint64_t)tck);

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (slurp(path, buf, sizeof(buf)) > 0 && (p = strstr(buf, "\nVmRSS:")))
		s.rss_kb = strtol(p + 7, NULL, 10);

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir))) {
			char tpath[300];

			if (de->d_name[0] == '.')
				continue;
			snprintf(tpath, sizeof(tpath), "/proc/%ld/task/%s/schedstat", pid, de->d_name);
			if (slurp(tpath, buf, sizeof(buf)) > 0)
				s.sched_ns += strtoull(buf, NULL, 10);
		}
		closedir(dir);
	}
	s.ok = true;
	*out = s;
}

/* The whole machine's busy and total time from /proc/stat, in ns. */
static void machine_sample(uint64_t *busy_ns, uint64_t *total_ns)
{
	char buf[1024], *p;
	unsigned long long v[8] = { 0 };
	long tck = sysconf(_SC_CLK_TCK);
	uint64_t total = 0;

	*busy_ns = *total_ns = 0;
	if (tck <= 0 || slurp("/proc/stat", buf, sizeof(buf)) <= 0 || strncmp(buf, "cpu ", 4) != 0)
		return;
	p = buf + 4;
	for (int i = 0; i < 8; i++)
		v[i] = strtoull(p, &p, 10);
	for (int i = 0; i < 8; i++)
		total += v[i];
	/* v[3] idle, v[4] iowait: the rest is work. */
	*total_ns = total * (NS_PER_S / (uint64_t)tck);
	*busy_ns = (total - v[3] - v[4]) * (NS_PER_S / (uint64_t)tck);
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * NS_PER_S +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* ---------------------------------------------------------------- tally */

/* A few named counters (close codes, error codes, failure reasons): the
 * first LG_TALLY distinct names are kept, the rest counted under "other". */
struct tally {
	char key[LG_TALLY][48];
	uint64_t n[LG_TALLY];
	uint64_t other;
};

static void tally_add(struct tally *t, const char *key, size_t len)
{
	size_t i;

	if (len >= sizeof(t->key[0]))
		len = sizeof(t->key[0]) - 1;
	for (i = 0; i < LG_TALLY && t->key[i][0]; i++) {
		if (strlen(t->key[i]) == len && memcmp(t->key[i], key, len) == 0) {
			t->n[i]++;
			return;
		}
	}
	if (i == LG_TALLY || len == 0) {
		t->other++;
		return;
	}
	memcpy(t->key[i], key, len);
	t->key[i][len] = '\0';
	t->n[i] = 1;
}

static json_t *tally_json(const struct tally *t)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < LG_TALLY && t->key[i][0]; i++)
		json_object_set_new(o, t->key[i], json_integer((json_int_t)t->n[i]));
	if (o && t->other)
		json_object_set_new(o, "other", json_integer((json_int_t)t->other));
	return o;
}

/* ------------------------------------------------------------ the state */

struct opts {
	const char *host, *path, *server_id, *boot, *secret, *rooms, *rates, *subprotocol, *user_prefix;
	long port, conns, senders, body, warmup_ms, step_ms, drain_ms, idle_ms, server_pid,
	     source_addrs, connect_concurrency, connect_timeout_ms, stop_p99_ms, time_limit_s,
	     ticket_ttl, retries, churn_ms, stall_conns, flood_conns, flood_rate, halfopen_conns,
	     change_pct;
	bool stop_on_miss;
};

struct room {
	char id[33];
	int64_t epoch;
	uint32_t members;  /* connections assigned to it */
	uint32_t senders;  /* its first members take turns sending */
};

/* Measured connections, and the bad clients beside them. */
enum conn_kind { K_NORMAL, K_STALL, K_FLOOD, K_HALFOPEN, K_KINDS };

static const char *const kind_names[K_KINDS] = { "normal", "stall", "flood", "halfopen" };

enum conn_state { CONN_NEW, CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING, CONN_CLOSED };

struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect;
	struct lg *lg;
	uint32_t index;
	uint8_t kind;            /* enum conn_kind */
	enum conn_state state;
	bool settled;            /* counted as joined or failed */
	bool joined;             /* welcome received */
	wslay_frame_context_ptr rx;
	char *head;              /* the 101 answer so far; NULL once open */
	size_t head_len;
	char accept[32];         /* the Sec-WebSocket-Accept we expect */
	const uint8_t *in;       /* the read being handed to wslay */
	size_t in_len;
	uint64_t frame_off;      /* payload bytes of the current frame seen so far */
	uint8_t ctl[125];        /* a control frame's payload */
	size_t ctl_len;
	uint8_t *msg;            /* a message split over chunks or frames; NULL otherwise */
	size_t msg_len, msg_cap;
	uint8_t msg_op;
	bool in_msg;             /* a fragmented message has begun */
	size_t backlog;          /* bytes in pending uv_write requests */
	uint64_t last_seq;       /* its latest acknowledged message (--change-pct) */
	uint64_t frames;         /* sends and changes it made (--change-pct) */
	uint64_t t_start, t_open;
};

/* A write the kernel did not take at once; carries its bytes, freed in the
 * write callback. */
struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

struct step {
	long rate;               /* messages per second, all rooms together */
	bool warmup;             /* not reported */
	unsigned attempt;        /* 0, or how many times this rate missed before */
	uint64_t start_ns, end_ns, drained_ns;
	uint64_t scheduled, skipped, sent, acked, refused, delivered, expected;
	struct proc_sample srv0, srv1;
	uint64_t self0, self1, busy0, busy1, total0, total1;
	bool kept;
	bool done;               /* figures final; later arrivals only count as late */
	uint64_t late;
	struct hist ack, e2e, lag;
};

enum phase { PH_PRIME, PH_CONNECT, PH_IDLE, PH_SEND, PH_DRAIN, PH_CHURN, PH_CLOSE };

struct lg {
	uv_loop_t loop;
	struct opts o;
	struct sockaddr_in dst;
	struct room *rooms;
	size_t n_rooms;
	struct conn *conns;
	size_t n_conns, n_total, per_source, n_sources;  /* measured connections; with the bad ones */

	enum phase phase;
	uint64_t t0, phase_deadline;
	size_t next_conn, target, in_flight, n_joined, n_failed, n_dropped, n_closed;
	uint64_t connect_start, connect_end;  /* of the PH_CONNECT phase */

	struct step *steps;
	size_t n_steps, cap_steps, cur, n_run;
	uint64_t j;              /* next message of the current step */
	uint64_t flood_j;        /* next flood message of the current step */
	uint64_t flood_sent, bad_frames;
	uint64_t bad_closed[K_KINDS];  /* bad connections the server closed or refused */

	uint64_t churn_next, churn_done;   /* handshake loops started, completed in time */
	uint64_t churn_end;
	struct proc_sample churn0, churn1;
	uint64_t churn_self0, churn_self1, churn_busy0, churn_busy1, churn_total0, churn_total1;
	uint64_t now;            /* time of the read being handled */

	uv_poll_t tick;          /* a timerfd: sends at their due times, phase checks */
	int tfd;
	uv_signal_t sigint, sigterm;
	unsigned open_handles;   /* tick + signals not yet closed */

	wslay_frame_context_ptr tx;  /* encodes every outgoing frame (each completes in one call) */
	uint8_t txbuf[LG_FRAME_MAX];
	size_t tx_len;
	uint64_t rng;

	uint8_t rbuf[LG_READ_BUF];   /* every read lands here and is consumed at once */

	struct hist handshake, welcome;
	struct proc_sample srv_start, srv_primed, srv_connected, srv_idle;
	struct tally closes, errors, failures;
	uint64_t foreign, binary, other_frames;
	bool aborted;
	const char *abort_reason;
};

static void conn_close(struct conn *c);
static void conn_fail(struct conn *c, const char *reason);
static void churn_start(struct lg *lg, struct conn *c);
static void phase_next(struct lg *lg, uint64_t now);
static void arm_tick(struct lg *lg, uint64_t now);

/* --------------------------------------------------------------- output */

static int conn_write(struct conn *c, const void *data, size_t len);

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = container_of(req, struct wreq, req);
	struct conn *c = w->c;

	c->backlog -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		conn_fail(c, "write failed");
}

/* Writes at once what the kernel takes and queues the rest (after which
 * uv_try_write answers UV_EAGAIN until the queue drains, so order holds). */
static int conn_write(struct conn *c, const void *data, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
	struct wreq *w;
	size_t done = 0;
	int r;

	r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	if (r >= 0)
		done = (size_t)r;
	else if (r != UV_EAGAIN)
		return r;
	if (done == len)
		return 0;
	w = malloc(sizeof(*w) + len - done);
	if (!w)
		return UV_ENOMEM;
	w->c = c;
	w->len = len - done;
	memcpy(w->data, (const char *)data + done, w->len);
	buf = uv_buf_init(w->data, (unsigned)w->len);
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
	if (r) {
		free(w);
		return r;
	}
	c->backlog += w->len;
	return 0;
}

static ssize_t tx_send_cb(const uint8_t *data, size_t len, int flags, void *ud)
{
	struct lg *lg = ud;

	(void)flags;
	if (len > sizeof(lg->txbuf) - lg->tx_len)
		return -1;
	memcpy(lg->txbuf + lg->tx_len, data, len);
	lg->tx_len += len;
	return (ssize_t)len;
}

/* Masking keys only need to be unpredictable to intermediaries (RFC 6455
 * 10.3), and there are none on loopback: xorshift64*, seeded from the
 * OpenSSL RNG, keeps the per-frame cost low. */
static int tx_genmask_cb(uint8_t *buf, size_t len, void *ud)
{
	struct lg *lg = ud;

	while (len) {
		uint64_t x;
		size_t n = len < 8 ? len : 8;

		lg->rng ^= lg->rng >> 12;
		lg->rng ^= lg->rng << 25;
		lg->rng ^= lg->rng >> 27;
		x = lg->rng * 0x2545F4914F6CDD1Dull;
		memcpy(buf, &x, n);
		buf += n;
		len -= n;
	}
	return 0;
}

/* Sends one complete masked frame. */
static int conn_send_frame(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	struct lg *lg = c->lg;
	struct wslay_frame_iocb io = {
		.fin = 1, .opcode = opcode, .mask = 1, .payload_length = len,
		.data = data, .data_length = len,
	};
	ssize_t r;

	/* Sized first: the shared encoder must never stop half way. */
	if (len + 14 > sizeof(lg->txbuf))
		return UV_EMSGSIZE;
	lg->tx_len = 0;
	r = wslay_frame_send(lg->tx, &io);
	if (r < 0 || (size_t)r != len)
		return UV_EPROTO;
	return conn_write(c, lg->txbuf, lg->tx_len);
}

static void conn_send_close(struct conn *c, uint16_t code)
{
	uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

	conn_send_frame(c, WSLAY_CONNECTION_CLOSE, p, sizeof(p));
}

/* ---------------------------------------------------- frames from server */

/* The value of a string field: after pattern (say "\"id\":\"") up to the
 * closing quote. Only the server's own frames are parsed, but any bytes are
 * handled without reading out of bounds. */
static bool str_field(const uint8_t *p, size_t n, const char *pattern, const uint8_t **val,
		      size_t *len)
{
	size_t pl = strlen(pattern);
	const uint8_t *s = memmem(p, n, pattern, pl), *e, *end = p + n;

	if (!s)
		return false;
	s += pl;
	for (e = s; e < end && *e != '"'; e++)
		if (*e == '\\' && e + 1 < end)
			e++;
	if (e >= end)
		return false;
	*val = s;
	*len = (size_t)(e - s);
	return true;
}

static bool parse_u64(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	const uint8_t *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

/* Our ids are "STEP.DUE.J", our texts "STEP DUE x...": the step and the due
 * time (CLOCK_MONOTONIC ns) of the send. */
static struct step *tagged_step(struct lg *lg, const uint8_t *s, size_t n, char sep,
				uint64_t *due)
{
	const uint8_t *end = s + n;
	uint64_t idx;

	if (!parse_u64(&s, end, &idx) || s >= end || *s != sep)
		return NULL;
	s++;
	if (!parse_u64(&s, end, due) || idx >= lg->n_steps)
		return NULL;
	return &lg->steps[idx];
}

static uint64_t since(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

static void on_welcome(struct conn *c)
{
	struct lg *lg = c->lg;

	if (c->joined)
		return;
	c->joined = true;
	if (!c->settled) {
		c->settled = true;
		lg->in_flight--;
		lg->n_joined++;
		hist_add(&lg->welcome, since(lg->now, c->t_start));
	}
	if (lg->phase == PH_CHURN) {
		if (lg->now < lg->churn_end)
			lg->churn_done++;
		conn_close(c);
	} else if (c->kind == K_STALL) {
		/* From here on the server's frames pile up: in our small receive
		 * buffer, then in its send buffer, then in its own queue. */
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
}

static void on_text(struct conn *c, const uint8_t *p, size_t n)
{
	struct lg *lg = c->lg;
	const uint8_t *type, *v;
	size_t type_len, vl;
	struct step *st;
	uint64_t due;

	if (!str_field(p, n, "\"type\":\"", &type, &type_len)) {
		lg->other_frames++;
		return;
	}
#define IS(lit) (type_len == sizeof(lit) - 1 && memcmp(type, lit, type_len) == 0)
	if (c->kind != K_NORMAL && !IS("welcome")) {
		/* The bad clients' errors (rate limit) are counted apart. */
		lg->bad_frames++;
		return;
	}
	if (IS("message") || IS("edit") || IS("reaction")) {
		if (str_field(p, n, IS("reaction") ? "\"emoji\":\"" : "\"text\":\"", &v, &vl) && (st = tagged_step(lg, v, vl, ' ', &due))) {
			if (st->done) {
				st->late++;
			} else {
				st->delivered++;
				hist_add(&st->e2e, since(lg->now, due));
			}
		} else {
			lg->foreign++;
		}
	} else if (IS("ack")) {
		if (str_field(p, n, "\"id\":\"", &v, &vl) && (st = tagged_step(lg, v, vl, '.', &due))) {
			if (st->done) {
				st->late++;
			} else {
				st->acked++;
				hist_add(&st->ack, since(lg->now, due));
			}
			/* A send's (a change's id ends in ".c"): what changes target. */
			if (!(vl > 2 && v[vl - 2] == '.' && v[vl - 1] == 'c')) {
				const uint8_t *q = memmem(p, n, "\"seq\":", 6);
				uint64_t seq;
				if (q && (q += 6, parse_u64(&q, p + n, &seq)) && seq > c->last_seq)
					c->last_seq = seq;
			}
		} else {
			lg->foreign++;
		}
	} else if (IS("welcome")) {
		on_welcome(c);
	} else if (IS("error")) {
		if (str_field(p, n, "\"code\":\"", &v, &vl))
			tally_add(&lg->errors, (const char *)v, vl);
		else
			tally_add(&lg->errors, "(no code)", 9);
		if (str_field(p, n, "\"id\":\"", &v, &vl) && (st = tagged_step(lg, v, vl, '.', &due)))
			st->refused++;
	} else {
		lg->other_frames++;
	}
#undef IS
}

static void on_control(struct conn *c, uint8_t opcode)
{
	char code[8];

	switch (opcode) {
	case WSLAY_CONNECTION_CLOSE:
		snprintf(code, sizeof(code), "%u",
			 c->ctl_len >= 2 ? (unsigned)(c->ctl[0] << 8 | c->ctl[1]) : 1005u);
		tally_add(&c->lg->closes, code, strlen(code));
		if (c->ctl_len >= 2)
			conn_send_close(c, (uint16_t)(c->ctl[0] << 8 | c->ctl[1]));
		if (!c->joined) {
			char why[40];

			snprintf(why, sizeof(why), "closed %s before welcome", code);
			conn_fail(c, why);
		} else {
			conn_close(c);
		}
		break;
	case WSLAY_PING:
		if (conn_send_frame(c, WSLAY_PONG, c->ctl, c->ctl_len) != 0)
			conn_fail(c, "write failed");
		break;
	default:
		break;
	}
}

/* One chunk of a frame from wslay (a frame may come in several). */
static void on_chunk(struct conn *c, const struct wslay_frame_iocb *io)
{
	bool first = c->frame_off == 0, frame_done;

	c->frame_off += io->data_length;
	frame_done = c->frame_off == io->payload_length;
	if (frame_done)
		c->frame_off = 0;

	if (io->opcode >= 8) {
		if (first)
			c->ctl_len = 0;
		/* wslay refuses control frames over 125 bytes. */
		memcpy(c->ctl + c->ctl_len, io->data, io->data_length);
		c->ctl_len += io->data_length;
		if (frame_done)
			on_control(c, io->opcode);
		return;
	}
	if (first) {
		if ((io->opcode == WSLAY_CONTINUATION_FRAME) != c->in_msg) {
			conn_fail(c, "bad fragmentation");
			return;
		}
		if (io->opcode != WSLAY_CONTINUATION_FRAME) {
			c->in_msg = true;
			c->msg_op = io->opcode;
			c->msg_len = 0;
			/* The common case: a whole message in one chunk, parsed in place. */
			if (frame_done && io->fin) {
				c->in_msg = false;
				if (io->opcode == WSLAY_TEXT_FRAME)
					on_text(c, io->data, io->data_length);
				else
					c->lg->binary++;
				return;
			}
		}
	}
	if (c->msg_len + io->data_length > LG_MSG_MAX) {
		conn_fail(c, "message too large");
		return;
	}
	if (c->msg_len + io->data_length > c->msg_cap) {
		size_t cap = c->msg_cap ? c->msg_cap : 4096;
		uint8_t *m;

		while (cap < c->msg_len + io->data_length)
			cap *= 2;
		m = realloc(c->msg, cap);
		if (!m) {
			conn_fail(c, "out of memory");
			return;
		}
		c->msg = m;
		c->msg_cap = cap;
	}
	memcpy(c->msg + c->msg_len, io->data, io->data_length);
	c->msg_len += io->data_length;
	if (frame_done && io->fin) {
		c->in_msg = false;
		if (c->msg_op == WSLAY_TEXT_FRAME)
			on_text(c, c->msg, c->msg_len);
		else
			c->lg->binary++;
		/* Split messages are rare: idle connections keep no buffer. */
		free(c->msg);
		c->msg = NULL;
		c->msg_len = c->msg_cap = 0;
	}
}

static ssize_t rx_recv_cb(uint8_t *buf, size_t len, int flags, void *ud)
{
	struct conn *c = ud;
	size_t n = len < c->in_len ? len : c->in_len;

	(void)flags;
	memcpy(buf, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (ssize_t)n;
}

static ssize_t rx_send_cb(const uint8_t *data, size_t len, int flags, void *ud)
{
	(void)data;
	(void)len;
	(void)flags;
	(void)ud;
	return -1;
}

static int rx_genmask_cb(uint8_t *buf, size_t len, void *ud)
{
	(void)buf;
	(void)len;
	(void)ud;
	return -1;
}

static void ws_feed(struct conn *c, const uint8_t *data, size_t len)
{
	struct wslay_frame_iocb io;
	ssize_t r;

	c->in = data;
	c->in_len = len;
	while (c->state == CONN_OPEN) {
		r = wslay_frame_recv(c->rx, &io);
		if (r == WSLAY_ERR_WANT_READ)
			break;
		/* Server frames are never masked and use no extension. */
		if (r < 0 || io.mask || io.rsv) {
			conn_fail(c, "protocol error");
			break;
		}
		on_chunk(c, &io);
	}
	c->in = NULL;
	c->in_len = 0;
}

/* ------------------------------------------------------------ handshake */

static const struct wslay_frame_callbacks rx_callbacks = { rx_send_cb, rx_recv_cb, rx_genmask_cb };

/* Mints the join ticket for connection c (claims as docs/protocol.md). */
static char *mint_ticket(struct lg *lg, const struct conn *c)
{
	const struct room *rm = &lg->rooms[c->index % lg->n_rooms];
	struct wire_ticket t = { .epoch = rm->epoch };

	snprintf(t.sub, sizeof t.sub, "%s%" PRIu32, lg->o.user_prefix, c->index);
	memcpy(t.name, t.sub, sizeof t.sub);
	snprintf(t.room, sizeof t.room, "%s", rm->id);
	return wire_ticket_mint(&t, lg->o.server_id, lg->o.boot, (int64_t)time(NULL), lg->o.ticket_ttl,
				(const unsigned char *)lg->o.secret, strlen(lg->o.secret));
}

static int send_upgrade(struct conn *c)
{
	struct lg *lg = c->lg;
	unsigned char raw[16], md[EVP_MAX_MD_SIZE];
	char key[B64_STD_ENCODED_LEN(16) + 1], both[64], req[LG_REQ_MAX];
	unsigned md_len = 0;
	char *ticket;
	int n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return UV_EIO;
	b64_std_encode(key, raw, sizeof(raw));
	snprintf(both, sizeof(both), "%s%s", key, WS_GUID);
	if (EVP_Digest(both, strlen(both), md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
		return UV_EIO;
	b64_std_encode(c->accept, md, md_len);

	ticket = mint_ticket(lg, c);
	if (!ticket)
		return UV_ENOMEM;
	n = snprintf(req, sizeof(req),
		     "GET %s%stoken=%s HTTP/1.1\r\n"
		     "Host: %s:%ld\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "%s%s%s"
		     "\r\n",
		     lg->o.path, strchr(lg->o.path, '?') ? "&" : "?", ticket, lg->o.host, lg->o.port, key,
		     lg->o.subprotocol[0] ? "Sec-WebSocket-Protocol: " : "", lg->o.subprotocol,
		     lg->o.subprotocol[0] ? "\r\n" : "");
	free(ticket);
	if (n < 0 || (size_t)n >= sizeof(req))
		return UV_EMSGSIZE;
	return conn_write(c, req, (size_t)n);
}

static bool token_in(const char *value, size_t len, const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i + tl <= len; i++)
		if (strncasecmp(value + i, token, tl) == 0)
			return true;
	return false;
}

/* Checks the server's answer head[0..len) (ending in the blank line).
 * Returns NULL if it accepts the upgrade as we asked, else why not. */
static const char *check_answer(struct conn *c, const char *head, size_t len)
{
	const char *p = head, *end = head + len, *eol;
	bool upgrade = false, connection = false, accept = false, proto = false;
	const char *sub = c->lg->o.subprotocol;

	if (len < 13 || memcmp(head, "HTTP/1.1 ", 9) != 0)
		return "not HTTP/1.1";
	if (memcmp(head + 9, "101", 3) != 0) {
		static char why[24];

		snprintf(why, sizeof(why), "HTTP %.3s", head + 9);
		return why;
	}
	eol = memmem(p, len, "\r\n", 2);
	p = eol + 2;
	for (; p < end && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) && eol > p; p = eol + 2) {
		const char *colon = memchr(p, ':', (size_t)(eol - p)), *v;
		size_t nl, vl;

		if (!colon)
			return "malformed header";
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		vl = (size_t)(eol - v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
#define NAME(lit) (nl == sizeof(lit) - 1 && strncasecmp(p, lit, nl) == 0)
		if (NAME("upgrade"))
			upgrade = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
		else if (NAME("connection"))
			connection = token_in(v, vl, "upgrade");
		else if (NAME("sec-websocket-accept"))
			accept = vl == strlen(c->accept) && memcmp(v, c->accept, vl) == 0;
		else if (NAME("sec-websocket-protocol"))
			proto = vl == strlen(sub) && memcmp(v, sub, vl) == 0;
#undef NAME
	}
	if (!upgrade || !connection)
		return "no Upgrade/Connection";
	if (!accept)
		return "wrong Sec-WebSocket-Accept";
	if (sub[0] && !proto)
		return "subprotocol not chosen";
	return NULL;
}

/* Bytes during the handshake: collect the head; what follows it is frames. */
static void on_head_bytes(struct conn *c, const uint8_t *data, size_t len)
{
	struct lg *lg = c->lg;
	size_t old = c->head_len, take = len < LG_HEAD_MAX - old ? len : LG_HEAD_MAX - old;
	size_t from = old > 3 ? old - 3 : 0, used;
	const char *end, *why;

	memcpy(c->head + old, data, take);
	c->head_len += take;
	end = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
	if (!end) {
		if (c->head_len == LG_HEAD_MAX)
			conn_fail(c, "answer head too large");
		return;
	}
	used = (size_t)(end + 4 - c->head) - old;
	why = check_answer(c, c->head, (size_t)(end + 4 - c->head));
	if (why) {
		conn_fail(c, why);
		return;
	}
	free(c->head);
	c->head = NULL;
	if (wslay_frame_context_init(&c->rx, &rx_callbacks, c) != 0) {
		conn_fail(c, "out of memory");
		return;
	}
	c->t_open = lg->now;
	hist_add(&lg->handshake, since(lg->now, c->t_start));
	c->state = CONN_OPEN;
	if (len > used)
		ws_feed(c, data + used, len - used);
}

/* ---------------------------------------------------------- connections */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = container_of(h, struct conn, tcp);

	(void)suggested;
	*buf = uv_buf_init((char *)c->lg->rbuf, sizeof(c->lg->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = container_of(s, struct conn, tcp);

	if (nread == 0)
		return;
	if (nread < 0) {
		conn_fail(c, c->state == CONN_HANDSHAKE ? "closed during handshake"
							: "closed before welcome");
		return;
	}
	c->lg->now = now_ns();
	if (c->state == CONN_HANDSHAKE)
		on_head_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
	else if (c->state == CONN_OPEN)
		ws_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = container_of(req, struct conn, connect);
	int r;

	if (c->state != CONN_CONNECTING)
		return;
	if (status < 0) {
		conn_fail(c, uv_err_name(status));
		return;
	}
	c->head = malloc(LG_HEAD_MAX);
	if (!c->head) {
		conn_fail(c, "out of memory");
		return;
	}
	c->state = CONN_HANDSHAKE;
	if (c->kind == K_HALFOPEN) {
		static const char part[] = "GET /?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";

		/* Settled at once: it never goes further, and nothing waits for it. */
		c->settled = true;
		c->lg->in_flight--;
		c->lg->n_joined++;
		r = conn_write(c, part, sizeof(part) - 1);
		if (r == 0)
			r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		if (r)
			conn_fail(c, uv_err_name(r));
		return;
	}
	r = send_upgrade(c);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (r)
		conn_fail(c, uv_err_name(r));
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = container_of(h, struct conn, tcp);

	wslay_frame_context_free(c->rx);
	c->rx = NULL;
	free(c->head);
	c->head = NULL;
	free(c->msg);
	c->msg = NULL;
	c->state = CONN_CLOSED;
	c->lg->n_closed++;
	if (c->lg->phase == PH_CHURN && now_ns() < c->lg->churn_end)
		churn_start(c->lg, c);
}

/* Closes c (once). A joined connection lost before the run ends is a
 * dropped one: the figures after it are not to be trusted. */
static void conn_close(struct conn *c)
{
	struct lg *lg = c->lg;

	if (c->state == CONN_NEW || c->state == CONN_CLOSING || c->state == CONN_CLOSED)
		return;
	if (c->kind != K_NORMAL) {
		if (lg->phase != PH_CLOSE)
			lg->bad_closed[c->kind]++;
	} else if (c->joined && lg->phase != PH_CLOSE && lg->phase != PH_CHURN) {
		lg->n_dropped++;
	}
	c->state = CONN_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void conn_fail(struct conn *c, const char *reason)
{
	struct lg *lg = c->lg;

	if (!c->settled && c->kind != K_NORMAL) {
		/* A bad client refused is one the server bounded. */
		c->settled = true;
		lg->in_flight--;
		lg->n_joined++;
	} else if (!c->settled) {
		c->settled = true;
		lg->in_flight--;
		lg->n_failed++;
		tally_add(&lg->failures, reason, strlen(reason));
		if (lg->n_failed <= 5)
			fprintf(stderr, "loadgen: connection %" PRIu32 ": %s\n", c->index, reason);
	}
	conn_close(c);
}

static void conn_start(struct lg *lg, struct conn *c)
{
	struct sockaddr_in src;
	char src_ip[20];
	uv_os_fd_t fd;
	int one = 1, r;

	c->lg = lg;
	c->t_start = now_ns();
	lg->in_flight++;
	r = uv_tcp_init_ex(&lg->loop, &c->tcp, AF_INET);
	if (r) {
		c->settled = true;
		lg->in_flight--;
		lg->n_failed++;
		tally_add(&lg->failures, uv_err_name(r), strlen(uv_err_name(r)));
		c->state = CONN_CLOSED;
		lg->n_closed++;
		return;
	}
	c->state = CONN_CONNECTING;
	/* Port chosen at connect time, per source address and destination, so
	 * each 127.0.0.x has its own ephemeral range. */
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	snprintf(src_ip, sizeof(src_ip), "127.0.0.%zu", 1 + (c->index / lg->per_source) % lg->n_sources);
	/* A client that stops reading stops sooner with a small window. */
	if (c->kind == K_STALL && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
		int small = 4096;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	r = uv_ip4_addr(src_ip, 0, &src);
	if (r == 0)
		r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
	if (r == 0)
		r = uv_tcp_nodelay(&c->tcp, 1);
	if (r == 0)
		r = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&lg->dst, on_connect);
	if (r)
		conn_fail(c, uv_err_name(r));
}

static enum conn_kind kind_of(const struct lg *lg, size_t i)
{
	if (i < lg->n_conns)
		return K_NORMAL;
	i -= lg->n_conns;
	if (i < (size_t)lg->o.stall_conns)
		return K_STALL;
	i -= (size_t)lg->o.stall_conns;
	return i < (size_t)lg->o.flood_conns ? K_FLOOD : K_HALFOPEN;
}

/* Starts connections up to the target, at most connect_concurrency at once. */
static void connect_more(struct lg *lg)
{
	while (lg->in_flight < (size_t)lg->o.connect_concurrency && lg->next_conn < lg->target) {
		struct conn *c = &lg->conns[lg->next_conn];

		c->kind = (uint8_t)kind_of(lg, lg->next_conn);
		c->index = (uint32_t)lg->next_conn++;
		conn_start(lg, c);
	}
}

/* One more connect, upgrade, welcome and close, in slot c; each has its own
 * user and ticket. */
static void churn_start(struct lg *lg, struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->index = (uint32_t)lg->churn_next++;
	conn_start(lg, c);
}

/* --------------------------------------------------------------- phases */

static void send_one(struct lg *lg, struct step *st, uint64_t j, uint64_t due, uint64_t now)
{
	struct room *rm = &lg->rooms[j % lg->n_rooms];
	size_t r = (size_t)(j % lg->n_rooms), m = (size_t)((j / lg->n_rooms) % rm->senders);
	struct conn *c = &lg->conns[m * lg->n_rooms + r];
	char text[LG_BODY_MAX + 64], frame[LG_BODY_MAX + 192];
	uint64_t k;
	int tl, fl;

	st->scheduled++;
	st->expected += rm->members;
	if (c->state != CONN_OPEN || c->backlog > LG_BACKLOG_MAX) {
		st->skipped++;
		return;
	}
	tl = snprintf(text, sizeof(text), "%zu %" PRIu64 " ", lg->cur, due);
	if (tl < lg->o.body) {
		memset(text + tl, 'x', (size_t)(lg->o.body - tl));
		tl = (int)lg->o.body;
	}
	/* Counted per sender (a room's senders take turns, so j alone would
	 * make some senders change and never send): 7 k mod 100 takes every
	 * value once in any 100 frames in a row, so the changes are spread,
	 * half of them edits (even k) and half reactions. */
	k = c->frames++;
	if (c->last_seq == 0 || (long)(k * 7 % 100) >= lg->o.change_pct)
		fl = snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"id\":\"%zu.%" PRIu64 ".%" PRIu64
			      "\",\"text\":\"%.*s\"}", lg->cur, due, j, tl, text);
	else if (k % 2 == 0)
		fl = snprintf(frame, sizeof(frame), "{\"type\":\"edit\",\"id\":\"%zu.%" PRIu64 ".%" PRIu64
			      ".c\",\"seq\":%" PRIu64 ",\"text\":\"%.*s\"}", lg->cur, due, j, c->last_seq,
			      tl, text);
	else
		fl = snprintf(frame, sizeof(frame), "{\"type\":\"react\",\"id\":\"%zu.%" PRIu64 ".%" PRIu64
			      ".c\",\"seq\":%" PRIu64 ",\"emoji\":\"%zu %" PRIu64 "\",\"on\":true}",
			      lg->cur, due, j, c->last_seq, lg->cur, due);
	if (fl < 0 || (size_t)fl >= sizeof(frame) ||
	    conn_send_frame(c, WSLAY_TEXT_FRAME, frame, (size_t)fl) != 0) {
		st->skipped++;
		conn_fail(c, "write failed");
		return;
	}
	st->sent++;
	hist_add(&st->lag, since(now, due));
}

static uint64_t due_of(const struct step *st, uint64_t j)
{
	return st->start_ns + (uint64_t)((double)j * 1e9 / (double)st->rate);
}

static uint64_t flood_due(const struct lg *lg, const struct step *st)
{
	return st->start_ns + (uint64_t)((double)lg->flood_j * 1e9 / (double)lg->o.flood_rate);
}

/* The flooding clients share --flood-rate, in turn; their texts carry no tag,
 * so what the room relays of them is not counted as a delivery. */
static void flood_due_sends(struct lg *lg, const struct step *st, uint64_t now)
{
	size_t first = lg->n_conns + (size_t)lg->o.stall_conns;
	char frame[160];
	int fl;

	for (;;) {
		uint64_t due = flood_due(lg, st);
		struct conn *c = &lg->conns[first + lg->flood_j % (uint64_t)lg->o.flood_conns];

		if (due > now || due >= st->end_ns)
			break;
		lg->flood_j++;
		if (c->state != CONN_OPEN || c->backlog > LG_BACKLOG_MAX)
			continue;
		fl = snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"id\":\"f%" PRIu64 "\",\"text\":"
			      "\"flood xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", lg->flood_j);
		if (fl > 0 && (size_t)fl < sizeof(frame) &&
		    conn_send_frame(c, WSLAY_TEXT_FRAME, frame, (size_t)fl) == 0)
			lg->flood_sent++;
	}
}

static void send_due(struct lg *lg, uint64_t now)
{
	struct step *st = &lg->steps[lg->cur];

	if (lg->o.flood_conns > 0)
		flood_due_sends(lg, st, now);
	for (;;) {
		uint64_t due = due_of(st, lg->j);

		if (due > now || due >= st->end_ns)
			break;
		send_one(lg, st, lg->j, due, now);
		lg->j++;
	}
}

static void sample_into(struct lg *lg, struct proc_sample *srv, uint64_t *self, uint64_t *busy,
			uint64_t *total)
{
	proc_sample(lg->o.server_pid, srv);
	*self = self_cpu_ns();
	machine_sample(busy, total);
}

static void step_begin(struct lg *lg, uint64_t now)
{
	struct step *st = &lg->steps[lg->cur];

	sample_into(lg, &st->srv0, &st->self0, &st->busy0, &st->total0);
	st->start_ns = now;
	st->end_ns = now + (uint64_t)(st->warmup ? lg->o.warmup_ms : lg->o.step_ms) * 1000000u;
	lg->j = 0;
	lg->flood_j = 0;
	lg->phase = PH_SEND;
}

static void step_end(struct lg *lg, uint64_t now)
{
	struct step *st = &lg->steps[lg->cur];

	st->drained_ns = now;
	st->done = true;
	sample_into(lg, &st->srv1, &st->self1, &st->busy1, &st->total1);
	st->kept = st->scheduled > 0 && st->delivered == st->expected && st->acked == st->scheduled &&
		   hist_quantile(&st->ack, 0.99) <= (uint64_t)lg->o.stop_p99_ms * 1000000u;
	if (!st->warmup) {
		fprintf(stderr, "loadgen: step %zu: %ld msg/s, delivered %" PRIu64 "/%" PRIu64
			", acked %" PRIu64 "/%" PRIu64 ", ack p99 %.2f ms, e2e p99 %.2f ms%s\n",
			lg->cur, st->rate, st->delivered, st->expected, st->acked, st->scheduled,
			(double)hist_quantile(&st->ack, 0.99) / 1e6,
			(double)hist_quantile(&st->e2e, 0.99) / 1e6, st->kept ? "" : "  (missed)");
	}
	lg->n_run = lg->cur + 1;
	/* A miss may be the machine's other work rather than the server's: the
	 * rate is tried again next, up to --retries times. */
	if (!st->warmup && !st->kept && st->attempt < (unsigned)lg->o.retries &&
	    lg->n_steps < lg->cap_steps) {
		struct step *next = st + 1;

		memmove(next + 1, next, (lg->n_steps - lg->cur - 1) * sizeof(*next));
		memset(next, 0, sizeof(*next));
		next->rate = st->rate;
		next->attempt = st->attempt + 1;
		lg->n_steps++;
		lg->cur++;
		return;
	}
	if (!st->warmup && !st->kept && lg->o.stop_on_miss)
		lg->cur = lg->n_steps;
	else
		lg->cur++;
}

static bool step_drained(const struct step *st)
{
	return st->delivered >= st->expected && st->acked + st->refused >= st->sent &&
	       st->skipped == 0;
}

static void begin_close(struct lg *lg)
{
	lg->phase = PH_CLOSE;
	for (size_t i = 0; i < lg->n_total; i++) {
		struct conn *c = &lg->conns[i];

		if (c->state == CONN_OPEN)
			conn_send_close(c, 1000);
		conn_close(c);
	}
	uv_close((uv_handle_t *)&lg->tick, NULL);
	uv_close((uv_handle_t *)&lg->sigint, NULL);
	uv_close((uv_handle_t *)&lg->sigterm, NULL);
}

static void abort_run(struct lg *lg, const char *why)
{
	if (lg->phase == PH_CLOSE)
		return;
	lg->aborted = true;
	lg->abort_reason = why;
	fprintf(stderr, "loadgen: stopping: %s\n", why);
	begin_close(lg);
}

/* Moves on from a finished phase. */
static void phase_next(struct lg *lg, uint64_t now)
{
	switch (lg->phase) {
	case PH_PRIME:
		proc_sample(lg->o.server_pid, &lg->srv_primed);
		lg->phase = PH_CONNECT;
		lg->target = lg->n_total;
		lg->connect_start = now;
		lg->phase_deadline = now + (uint64_t)lg->o.connect_timeout_ms * 1000000u;
		connect_more(lg);
		return;
	case PH_CONNECT:
		lg->connect_end = now;
		proc_sample(lg->o.server_pid, &lg->srv_connected);
		if (lg->o.idle_ms > 0) {
			lg->phase = PH_IDLE;
			lg->phase_deadline = now + (uint64_t)lg->o.idle_ms * 1000000u;
			return;
		}
		break;
	case PH_IDLE:
		proc_sample(lg->o.server_pid, &lg->srv_idle);
		break;
	case PH_SEND:
		lg->phase = PH_DRAIN;
		lg->phase_deadline = lg->steps[lg->cur].end_ns + (uint64_t)lg->o.drain_ms * 1000000u;
		return;
	case PH_DRAIN:
		step_end(lg, now);
		break;
	case PH_CHURN:
	case PH_CLOSE:
		return;
	}
	if (lg->cur < lg->n_steps)
		step_begin(lg, now);
	else
		begin_close(lg);
}

static void check_phase(struct lg *lg, uint64_t now)
{
	if (now - lg->t0 > (uint64_t)lg->o.time_limit_s * NS_PER_S) {
		abort_run(lg, "time limit reached");
		return;
	}
	switch (lg->phase) {
	case PH_PRIME:
	case PH_CONNECT:
		if (lg->n_failed) {
			abort_run(lg, "a connection failed to join");
		} else if (lg->n_joined == lg->target) {
			phase_next(lg, now);
		} else if (now >= lg->phase_deadline) {
			abort_run(lg, "connections not welcomed before --connect-timeout-ms");
		}
		break;
	case PH_CHURN:
		if (now >= lg->churn_end) {
			lg->connect_end = now;
			sample_into(lg, &lg->churn1, &lg->churn_self1, &lg->churn_busy1, &lg->churn_total1);
			begin_close(lg);
		}
		break;
	case PH_IDLE:
		if (now >= lg->phase_deadline)
			phase_next(lg, now);
		break;
	case PH_SEND:
		send_due(lg, now);
		if (now >= lg->steps[lg->cur].end_ns)
			phase_next(lg, now);
		break;
	case PH_DRAIN:
		if (step_drained(&lg->steps[lg->cur]) || now >= lg->phase_deadline)
			phase_next(lg, now);
		break;
	case PH_CLOSE:
		break;
	}
	if (lg->n_dropped && lg->phase != PH_CLOSE)
		abort_run(lg, "a connection was closed during the run");
}

/* The next wake-up: the next send's due time, or a phase check within
 * LG_TICK_NS. A timerfd has ns resolution where libuv timers have ms. */
static void arm_tick(struct lg *lg, uint64_t now)
{
	uint64_t at = now + LG_TICK_NS;
	struct itimerspec its = { 0 };

	if (lg->phase == PH_SEND) {
		uint64_t due = due_of(&lg->steps[lg->cur], lg->j);

		if (due < at)
			at = due;
		if (lg->o.flood_conns > 0 && (due = flood_due(lg, &lg->steps[lg->cur])) < at)
			at = due;
	}
	if (at <= now)
		at = now + 1;
	its.it_value.tv_sec = (time_t)(at / NS_PER_S);
	its.it_value.tv_nsec = (long)(at % NS_PER_S);
	timerfd_settime(lg->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_tick(uv_poll_t *p, int status, int events)
{
	struct lg *lg = container_of(p, struct lg, tick);
	uint64_t expirations, now;

	(void)status;
	(void)events;
	if (read(lg->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		abort_run(lg, "timerfd read failed");
	now = now_ns();
	lg->now = now;
	if (lg->phase == PH_PRIME || lg->phase == PH_CONNECT)
		connect_more(lg);
	check_phase(lg, now);
	if (lg->phase != PH_CLOSE)
		arm_tick(lg, now_ns());
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct lg *lg = s->data;

	(void)signum;
	abort_run(lg, "interrupted");
}

/* --------------------------------------------------------------- report */

static double ms(uint64_t ns)
{
	return (double)(ns / 1000) / 1000.0;
}

static json_t *lat_json(const struct hist *h)
{
	return json_pack("{s:I,s:f,s:f,s:f,s:f}", "n", (json_int_t)h->n,
			 "p50", ms(hist_quantile(h, 0.50)), "p99", ms(hist_quantile(h, 0.99)),
			 "p999", ms(hist_quantile(h, 0.999)), "max", ms(h->max));
}

static json_t *rss_json(const struct proc_sample *s)
{
	return s->ok ? json_integer(s->rss_kb) : json_null();
}

static json_t *step_json(const struct step *st)
{
	double secs = (double)(st->end_ns - st->start_ns) / 1e9;
	double window = (double)(st->drained_ns - st->start_ns) / 1e9;
	uint64_t srv_cpu = 0, self = st->self1 - st->self0, busy = st->busy1 - st->busy0;
	json_t *o;

	o = json_pack("{s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:o,s:o,s:o,s:b}",
		      "rate", (json_int_t)st->rate, "seconds", secs,
		      "scheduled", (json_int_t)st->scheduled, "sent", (json_int_t)st->sent,
		      "skipped", (json_int_t)st->skipped, "acked", (json_int_t)st->acked,
		      "refused", (json_int_t)st->refused, "delivered", (json_int_t)st->delivered,
		      "expected", (json_int_t)st->expected,
		      "delivered_ratio", st->expected ? (double)st->delivered / (double)st->expected : 0.0,
		      "deliveries_per_sec", secs > 0 ? (double)st->delivered / secs : 0.0,
		      "ack_ms", lat_json(&st->ack), "e2e_ms", lat_json(&st->e2e),
		      "send_lag_ms", lat_json(&st->lag), "kept", st->kept);
	if (!o)
		return NULL;
	if (st->srv0.ok && st->srv1.ok) {
		/* schedstat counts in ns; stat only in clock ticks. */
		srv_cpu = st->srv1.sched_ns && st->srv0.sched_ns ? st->srv1.sched_ns - st->srv0.sched_ns
								 : st->srv1.cpu_ns - st->srv0.cpu_ns;
		json_object_set_new(o, "server_cpu_us_per_delivery",
				    st->delivered ? json_real((double)srv_cpu / 1e3 / (double)st->delivered)
						  : json_null());
		json_object_set_new(o, "server_cpu_pct", json_real(window > 0 ? (double)srv_cpu / 1e7 / window : 0));
		json_object_set_new(o, "server_rss_kb", json_integer(st->srv1.rss_kb));
	} else {
		json_object_set_new(o, "server_cpu_us_per_delivery", json_null());
		json_object_set_new(o, "server_cpu_pct", json_null());
		json_object_set_new(o, "server_rss_kb", json_null());
	}
	json_object_set_new(o, "generator_cpu_pct", json_real(window > 0 ? (double)self / 1e7 / window : 0));
	/* Everything else the machine did meanwhile (PostgreSQL, the backend,
	 * other programs), in % of one core. */
	json_object_set_new(o, "other_cpu_pct",
			    json_real(window > 0 && busy > srv_cpu + self
					      ? (double)(busy - srv_cpu - self) / 1e7 / window : 0));
	json_object_set_new(o, "late", json_integer((json_int_t)st->late));
	json_object_set_new(o, "attempt", json_integer(st->attempt));
	return o;
}

/* The handshake loops: how many completed in the window, and what each
 * cost the server. */
static json_t *churn_json(const struct lg *lg)
{
	double secs = (double)(lg->churn_end - lg->connect_start) / 1e9;
	double window = (double)(lg->connect_end - lg->connect_start) / 1e9;
	uint64_t srv = 0, self = lg->churn_self1 - lg->churn_self0, busy = lg->churn_busy1 - lg->churn_busy0;
	json_t *o;

	if (lg->churn0.ok && lg->churn1.ok)
		srv = lg->churn1.sched_ns && lg->churn0.sched_ns ? lg->churn1.sched_ns - lg->churn0.sched_ns
								  : lg->churn1.cpu_ns - lg->churn0.cpu_ns;
	o = json_pack("{s:f,s:I,s:I,s:f,s:I,s:o}", "seconds", secs, "concurrency",
		      (json_int_t)lg->n_total, "handshakes", (json_int_t)lg->churn_done,
		      "handshakes_per_sec", secs > 0 ? (double)lg->churn_done / secs : 0.0,
		      "failed", (json_int_t)lg->n_failed, "welcome_ms", lat_json(&lg->welcome));
	if (!o)
		return NULL;
	json_object_set_new(o, "server_cpu_us_per_handshake",
			    lg->churn0.ok && lg->churn_done ? json_real((double)srv / 1e3 / (double)lg->churn_done)
							    : json_null());
	json_object_set_new(o, "server_cpu_pct",
			    lg->churn0.ok && window > 0 ? json_real((double)srv / 1e7 / window) : json_null());
	json_object_set_new(o, "generator_cpu_pct", json_real(window > 0 ? (double)self / 1e7 / window : 0));
	json_object_set_new(o, "other_cpu_pct",
			    json_real(window > 0 && busy > srv + self ? (double)(busy - srv - self) / 1e7 / window : 0));
	return o;
}

static json_t *report(const struct lg *lg)
{
	json_t *steps = json_array(), *o, *idle = json_null();
	double csecs = lg->connect_end > lg->connect_start
			       ? (double)(lg->connect_end - lg->connect_start) / 1e9 : 0;
	size_t rest = lg->n_conns - (lg->n_conns < lg->n_rooms ? lg->n_conns : lg->n_rooms);
	long max_kept = -1;

	for (size_t i = 0; steps && i < lg->n_run; i++) {
		const struct step *st = &lg->steps[i];

		if (st->warmup)
			continue;
		json_array_append_new(steps, step_json(st));
		if (st->kept && st->rate > max_kept)
			max_kept = st->rate;
	}
	if (lg->o.idle_ms > 0 && lg->srv_primed.ok && lg->srv_idle.ok && rest > 0)
		idle = json_pack("{s:I,s:I,s:I,s:f}", "conns", (json_int_t)rest,
				 "rss_before_kb", (json_int_t)lg->srv_primed.rss_kb,
				 "rss_after_kb", (json_int_t)lg->srv_idle.rss_kb,
				 "rss_per_conn_bytes",
				 (double)(lg->srv_idle.rss_kb - lg->srv_primed.rss_kb) * 1024.0 / (double)rest);
	o = json_pack("{s:{s:s,s:I,s:s,s:I},"
		      "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
		      "s:{s:I,s:I,s:f,s:f,s:o,s:o,s:o},"
		      "s:{s:o,s:o,s:o,s:o},"
		      "s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:b,s:s?}",
		      "target", "host", lg->o.host, "port", (json_int_t)lg->o.port,
		      "server_id", lg->o.server_id, "server_pid", (json_int_t)lg->o.server_pid,
		      "config", "conns", (json_int_t)lg->n_conns, "rooms", (json_int_t)lg->n_rooms,
		      "senders_per_room", (json_int_t)lg->rooms[0].senders,
		      "body_bytes", (json_int_t)lg->o.body, "warmup_ms", (json_int_t)lg->o.warmup_ms,
		      "step_ms", (json_int_t)lg->o.step_ms, "drain_ms", (json_int_t)lg->o.drain_ms,
		      "idle_ms", (json_int_t)lg->o.idle_ms,
		      "source_addresses", (json_int_t)lg->n_sources,
		      "stop_p99_ms", (json_int_t)lg->o.stop_p99_ms,
		      "connect", "ok", (json_int_t)lg->n_joined, "failed", (json_int_t)lg->n_failed,
		      "seconds", csecs, "handshakes_per_sec", csecs > 0 ? (double)rest / csecs : 0.0,
		      "handshake_ms", lat_json(&lg->handshake), "welcome_ms", lat_json(&lg->welcome),
		      "failures", tally_json(&lg->failures),
		      "server_rss_kb", "start", rss_json(&lg->srv_start), "primed", rss_json(&lg->srv_primed),
		      "connected", rss_json(&lg->srv_connected), "idle", rss_json(&lg->srv_idle),
		      "idle", idle, "steps", steps,
		      "max_rate_kept", max_kept >= 0 ? json_integer(max_kept) : json_null(),
		      "closes", tally_json(&lg->closes), "errors", tally_json(&lg->errors),
		      "dropped", (json_int_t)lg->n_dropped, "foreign_frames", (json_int_t)lg->foreign,
		      "binary_frames", (json_int_t)lg->binary, "other_frames", (json_int_t)lg->other_frames,
		      "aborted", lg->aborted, "abort_reason", lg->abort_reason);
	if (o)
		json_object_set_new(json_object_get(o, "config"), "retries",
				    json_integer(lg->o.retries));
	if (o && lg->o.churn_ms > 0)
		json_object_set_new(o, "churn", churn_json(lg));
	if (o && lg->n_total > lg->n_conns && lg->o.churn_ms == 0) {
		json_t *closed = json_object();

		for (int k = K_STALL; closed && k < K_KINDS; k++)
			json_object_set_new(closed, kind_names[k], json_integer((json_int_t)lg->bad_closed[k]));
		json_object_set_new(o, "bad", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
			"stall_conns", (json_int_t)lg->o.stall_conns, "flood_conns", (json_int_t)lg->o.flood_conns,
			"flood_rate", (json_int_t)lg->o.flood_rate, "halfopen_conns", (json_int_t)lg->o.halfopen_conns,
			"flood_sent", (json_int_t)lg->flood_sent, "frames_received", (json_int_t)lg->bad_frames,
			"closed_by_server", closed));
	}
	return o;
}

/* ---------------------------------------------------------------- setup */

static int parse_rooms(struct lg *lg, const char *spec)
{
	size_t n = 1;
	const char *p = spec;

	for (const char *q = spec; *q; q++)
		n += *q == ',';
	if (n > LG_MAX_ROOMS)
		return -1;
	lg->rooms = calloc(n, sizeof(*lg->rooms));
	if (!lg->rooms)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : 0;
		char *end;
		long long epoch;

		if (!colon || len < 1 || len > 32 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789") != len)
			return -1;
		memcpy(lg->rooms[i].id, p, len);
		errno = 0;
		epoch = strtoll(colon + 1, &end, 10);
		if (errno || end == colon + 1 || epoch < 0 || (*end != ',' && *end != '\0'))
			return -1;
		lg->rooms[i].epoch = epoch;
		p = end + (*end == ',');
	}
	lg->n_rooms = n;
	return 0;
}

static int parse_rates(struct lg *lg, const char *spec)
{
	long rates[LG_MAX_STEPS];
	size_t n = 0, k = 0;
	const char *p = spec;

	while (*p) {
		char *end;
		long v;

		if (n == LG_MAX_STEPS)
			return -1;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || v < 1 || v > LG_MAX_RATE || (*end != ',' && *end != '\0'))
			return -1;
		rates[n++] = v;
		p = end + (*end == ',');
	}
	lg->n_steps = n ? n + (lg->o.warmup_ms > 0) : 0;
	lg->cap_steps = lg->n_steps + n * (size_t)lg->o.retries;
	lg->steps = lg->cap_steps ? calloc(lg->cap_steps, sizeof(*lg->steps)) : NULL;
	if (lg->cap_steps && !lg->steps)
		return -1;
	if (n && lg->o.warmup_ms > 0) {
		lg->steps[k].rate = rates[0];
		lg->steps[k++].warmup = true;
	}
	for (size_t i = 0; i < n; i++)
		lg->steps[k++].rate = rates[i];
	return 0;
}

static int setup(struct lg *lg, char *err, size_t err_len)
{
	struct opts *o = &lg->o;
	struct rlimit rl;
	size_t sources;

	if (uv_ip4_addr(o->host, (int)o->port, &lg->dst) != 0 ||
	    (ntohl(lg->dst.sin_addr.s_addr) >> 24) != 127) {
		snprintf(err, err_len, "--host must be an IPv4 address in 127.0.0.0/8");
		return -1;
	}
	if (!o->secret || strlen(o->secret) < 32) {
		snprintf(err, err_len, "STATEROOM_SECRET (or --secret) of 32 bytes or more is required");
		return -1;
	}
	if (!o->server_id || !o->server_id[0]) {
		snprintf(err, err_len, "--server-id is required (the tickets' audience)");
		return -1;
	}
	if (o->path[0] != '/' || strpbrk(o->path, " \r\n")) {
		snprintf(err, err_len, "--path must start with / and hold no blanks");
		return -1;
	}
	if (strpbrk(o->subprotocol, " \r\n,") || strlen(o->user_prefix) > 24 ||
	    (o->user_prefix[0] && !wire_user_id_valid(o->user_prefix, strlen(o->user_prefix)))) {
		snprintf(err, err_len, "--subprotocol or --user-prefix holds a character it may not");
		return -1;
	}
	if (!o->rooms || parse_rooms(lg, o->rooms) != 0) {
		snprintf(err, err_len, "--rooms must be ROOM:EPOCH[,ROOM:EPOCH...], at most %d", LG_MAX_ROOMS);
		return -1;
	}
	if (parse_rates(lg, o->rates) != 0) {
		snprintf(err, err_len, "--rates must be up to %d comma-separated integers from 1 to %ld",
			 LG_MAX_STEPS, LG_MAX_RATE);
		return -1;
	}
	lg->n_conns = (size_t)o->conns;
	if (lg->n_conns < lg->n_rooms) {
		snprintf(err, err_len, "--conns (%zu) must be at least the number of rooms (%zu)",
			 lg->n_conns, lg->n_rooms);
		return -1;
	}
	for (size_t i = 0; i < lg->n_rooms; i++) {
		struct room *rm = &lg->rooms[i];

		rm->members = (uint32_t)(lg->n_conns / lg->n_rooms + (i < lg->n_conns % lg->n_rooms));
		rm->senders = o->senders > 0 && (uint32_t)o->senders < rm->members ? (uint32_t)o->senders
										   : rm->members;
	}
	if (o->churn_ms > 0 && (o->stall_conns || o->flood_conns || o->halfopen_conns || lg->n_steps ||
				o->idle_ms)) {
		snprintf(err, err_len, "--churn-ms measures handshakes alone: no --rates, --idle-ms or bad clients");
		return -1;
	}
	if (o->flood_conns > 0 && o->flood_rate < 1) {
		snprintf(err, err_len, "--flood-conns needs --flood-rate");
		return -1;
	}
	lg->n_total = o->churn_ms > 0 ? (size_t)o->connect_concurrency
				      : lg->n_conns + (size_t)(o->stall_conns + o->flood_conns + o->halfopen_conns);
	if (lg->n_total > LG_MAX_CONNS) {
		snprintf(err, err_len, "at most %d connections in all", LG_MAX_CONNS);
		return -1;
	}
	sources = o->source_addrs > 0 ? (size_t)o->source_addrs
				      : (lg->n_total + LG_PER_SOURCE - 1) / LG_PER_SOURCE;
	/* Handshake loops leave a TIME_WAIT behind each: spread over addresses. */
	if (o->churn_ms > 0 && o->source_addrs == 0)
		sources = 16;
	lg->n_sources = sources;
	lg->per_source = o->churn_ms > 0 ? 1 : (lg->n_total + sources - 1) / sources;
	if (lg->per_source > 28000) {
		snprintf(err, err_len, "%zu connections per source address is more than the ephemeral "
			 "port range holds: raise --source-addrs", lg->per_source);
		return -1;
	}
	/* One descriptor per connection, plus a few of our own. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < lg->n_total + 64) {
		if (rl.rlim_max < lg->n_total + 64) {
			snprintf(err, err_len, "%zu connections need more open files than the hard limit (%llu)",
				 lg->n_total, (unsigned long long)rl.rlim_max);
			return -1;
		}
		rl.rlim_cur = lg->n_total + 64;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			snprintf(err, err_len, "setrlimit: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void summary(const struct lg *lg)
{
	fprintf(stderr, "loadgen: %zu/%zu connections welcomed (%zu failed), welcome p50 %.2f ms, "
		"p99 %.2f ms\n", lg->n_joined, lg->n_total, lg->n_failed,
		ms(hist_quantile(&lg->welcome, 0.5)), ms(hist_quantile(&lg->welcome, 0.99)));
	for (size_t i = 0; i < lg->n_run; i++) {
		const struct step *st = &lg->steps[i];
		double secs = (double)(st->end_ns - st->start_ns) / 1e9;

		if (st->warmup)
			continue;
		fprintf(stderr, "loadgen: %7ld msg/s  %9.0f deliveries/s  ratio %.4f  ack p50 %7.2f p99 %7.2f"
			"  e2e p50 %7.2f p99 %7.2f p99.9 %7.2f ms%s\n", st->rate,
			secs > 0 ? (double)st->delivered / secs : 0.0,
			st->expected ? (double)st->delivered / (double)st->expected : 0.0,
			ms(hist_quantile(&st->ack, 0.5)), ms(hist_quantile(&st->ack, 0.99)),
			ms(hist_quantile(&st->e2e, 0.5)), ms(hist_quantile(&st->e2e, 0.99)),
			ms(hist_quantile(&st->e2e, 0.999)), st->kept ? "" : "  missed");
	}
	if (lg->aborted)
		fprintf(stderr, "loadgen: aborted: %s\n", lg->abort_reason);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(int argc, char **argv)
{
	static struct lg lg_storage;
	struct lg *lg = &lg_storage;
	struct opts *o = &lg->o;
	static const struct wslay_frame_callbacks tx_callbacks = { tx_send_cb, NULL, tx_genmask_cb };
	const struct cfg_opt opts[] = {
		{ "host", NULL, CFG_STR, &o->host, "127.0.0.1", 0, 0, "server address (127.0.0.0/8 only)" },
		{ "port", NULL, CFG_INT, &o->port, "9001", 1, 65535, "server port" },
		{ "path", NULL, CFG_STR, &o->path, "/", 0, 0, "request path; the ticket is added as ?token=" },
		{ "server-id", NULL, CFG_STR, &o->server_id, NULL, 0, 0, "the session server's id (the tickets' aud)" },
		{ "boot", NULL, CFG_STR, &o->boot, "", 0, 0,
		  "the session server's boot id (session_servers.boot; the tickets' boot)" },
		{ "secret", "STATEROOM_SECRET", CFG_STR, &o->secret, NULL, 0, 0, "token key (32 bytes or more)" },
		{ "rooms", NULL, CFG_STR, &o->rooms, NULL, 0, 0, "ROOM:EPOCH[,ROOM:EPOCH...]; connection i joins room i mod R" },
		{ "conns", NULL, CFG_INT, &o->conns, "10", 1, LG_MAX_CONNS, "connections, each its own user" },
		{ "senders", NULL, CFG_INT, &o->senders, "0", 0, LG_MAX_CONNS, "members of each room that send, in turn (0: all)" },
		{ "rates", NULL, CFG_STR, &o->rates, "", 0, 0, "messages per second in all, one step per rate, comma-separated (empty: connect only)" },
		{ "body", NULL, CFG_INT, &o->body, "64", 32, LG_BODY_MAX, "bytes of text per message" },
		{ "change-pct", NULL, CFG_INT, &o->change_pct, "0", 0, 100,
		  "percent of the frames that are edits and reactions (by turns) of the sender's latest message" },
		{ "warmup-ms", NULL, CFG_INT, &o->warmup_ms, "1000", 0, 600000, "unreported sending at the first rate before the steps" },
		{ "step-ms", NULL, CFG_INT, &o->step_ms, "5000", 100, 600000, "sending time of each step" },
		{ "drain-ms", NULL, CFG_INT, &o->drain_ms, "3000", 0, 600000, "longest wait after a step for its acks and deliveries" },
		{ "idle-ms", NULL, CFG_INT, &o->idle_ms, "0", 0, 600000, "once connected, wait this long and measure the server's memory per idle connection" },
		{ "server-pid", NULL, CFG_INT, &o->server_pid, "0", 0, 2147483647, "read this process's CPU and memory from /proc (0: none)" },
		{ "source-addrs", NULL, CFG_INT, &o->source_addrs, "0", 0, 254, "connect from 127.0.0.1..N (0: one per 20000 connections)" },
		{ "connect-concurrency", NULL, CFG_INT, &o->connect_concurrency, "256", 1, 100000, "handshakes in flight at once" },
		{ "connect-timeout-ms", NULL, CFG_INT, &o->connect_timeout_ms, "60000", 100, 3600000, "deadline for every connection to be welcomed" },
		{ "stop-p99-ms", NULL, CFG_INT, &o->stop_p99_ms, "100", 1, 600000, "a step is missed when its p99 ack latency passes this" },
		{ "retries", NULL, CFG_INT, &o->retries, "0", 0, 5, "run a missed step again up to this many times" },
		{ "stop-on-miss", NULL, CFG_BOOL, &o->stop_on_miss, "false", 0, 0, "run no further step after a missed one (and its retries)" },
		{ "time-limit-s", NULL, CFG_INT, &o->time_limit_s, "900", 1, 86400, "hard limit on the whole run" },
		{ "subprotocol", NULL, CFG_STR, &o->subprotocol, "stateroom.v1", 0, 0, "Sec-WebSocket-Protocol to ask for (empty: none)" },
		{ "user-prefix", NULL, CFG_STR, &o->user_prefix, "lg", 0, 0, "user ids are this plus the connection's number" },
		{ "churn-ms", NULL, CFG_INT, &o->churn_ms, "0", 0, 600000, "measure handshakes instead: connect-concurrency loops of connect, upgrade, welcome, close for this long" },
		{ "stall-conns", NULL, CFG_INT, &o->stall_conns, "0", 0, 10000, "bad clients: connections that stop reading once welcomed" },
		{ "flood-conns", NULL, CFG_INT, &o->flood_conns, "0", 0, 10000, "bad clients: connections that send --flood-rate messages per second between them during the steps" },
		{ "flood-rate", NULL, CFG_INT, &o->flood_rate, "0", 0, LG_MAX_RATE, "messages per second the flooding clients send in all" },
		{ "halfopen-conns", NULL, CFG_INT, &o->halfopen_conns, "0", 0, LG_MAX_CONNS, "bad clients: connections that send part of an upgrade request and nothing more" },
		{ "ticket-ttl", NULL, CFG_INT, &o->ticket_ttl, WIRE_TICKET_TTL_DEFAULT, 1, WIRE_TICKET_TTL_MAX,
		  "seconds the minted tickets live (the backend's default); each is minted just before use" },
	};
	char err[256];
	json_t *out;
	int r, rc = 1;

	r = cfg_parse(opts, sizeof(opts) / sizeof(opts[0]), argc, argv,
		      "Usage: stateroom-loadgen --server-id ID --rooms ROOM:EPOCH[,...] [options]\n"
		      "Opens connections to a Stateroom session server, sends at fixed rates and prints "
		      "the figures as JSON on stdout.", err, sizeof(err));
	if (r == CFG_HELP)
		return 0;
	if (r != 0 || setup(lg, err, sizeof(err)) != 0) {
		fprintf(stderr, "stateroom-loadgen: %s\n", err);
		rc = 2;
		goto out_free;
	}
	signal(SIGPIPE, SIG_IGN);

	lg->conns = calloc(lg->n_total, sizeof(*lg->conns));
	if (!lg->conns) {
		fprintf(stderr, "stateroom-loadgen: out of memory\n");
		goto out_free;
	}
	if (RAND_bytes((unsigned char *)&lg->rng, sizeof(lg->rng)) != 1 || !lg->rng)
		lg->rng = 0x9E3779B97F4A7C15ull;
	if (wslay_frame_context_init(&lg->tx, &tx_callbacks, lg) != 0) {
		fprintf(stderr, "stateroom-loadgen: out of memory\n");
		goto out_free;
	}
	lg->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lg->tfd < 0) {
		fprintf(stderr, "stateroom-loadgen: timerfd: %s\n", strerror(errno));
		goto out_tx;
	}
	if (uv_loop_init(&lg->loop) != 0) {
		fprintf(stderr, "stateroom-loadgen: uv_loop_init failed\n");
		goto out_tfd;
	}
	if ((r = uv_poll_init(&lg->loop, &lg->tick, lg->tfd)) != 0 ||
	    (r = uv_poll_start(&lg->tick, UV_READABLE, on_tick)) != 0 ||
	    (r = uv_signal_init(&lg->loop, &lg->sigint)) != 0 ||
	    (r = uv_signal_init(&lg->loop, &lg->sigterm)) != 0 ||
	    (r = uv_signal_start(&lg->sigint, on_signal, SIGINT)) != 0 ||
	    (r = uv_signal_start(&lg->sigterm, on_signal, SIGTERM)) != 0) {
		fprintf(stderr, "stateroom-loadgen: %s\n", uv_strerror(r));
		uv_walk(&lg->loop, close_handle, NULL);
		uv_run(&lg->loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	lg->sigint.data = lg;
	lg->sigterm.data = lg;

	lg->t0 = now_ns();
	proc_sample(o->server_pid, &lg->srv_start);
	if (o->server_pid > 0 && !lg->srv_start.ok)
		fprintf(stderr, "stateroom-loadgen: cannot read /proc/%ld: server figures will be null\n",
			o->server_pid);
	if (o->churn_ms > 0) {
		lg->phase = PH_CHURN;
		lg->connect_start = lg->t0;
		lg->churn_end = lg->t0 + (uint64_t)o->churn_ms * 1000000u;
		sample_into(lg, &lg->churn0, &lg->churn_self0, &lg->churn_busy0, &lg->churn_total0);
		for (size_t i = 0; i < lg->n_total; i++)
			churn_start(lg, &lg->conns[i]);
	} else {
		/* One connection per room first, so that the idle memory figure
		 * counts connections and not the rooms they load. */
		lg->phase = PH_PRIME;
		lg->target = lg->n_rooms;
		lg->phase_deadline = lg->t0 + (uint64_t)o->connect_timeout_ms * 1000000u;
		connect_more(lg);
	}
	arm_tick(lg, lg->t0);
	uv_run(&lg->loop, UV_RUN_DEFAULT);

	summary(lg);
	out = report(lg);
	if (!out || json_dumpf(out, stdout, JSON_COMPACT) != 0) {
		fprintf(stderr, "stateroom-loadgen: could not write the report\n");
	} else {
		fputc('\n', stdout);
		rc = lg->aborted || lg->n_failed || lg->n_dropped ? 1 : 0;
	}
	json_decref(out);
out_loop:
	if (uv_loop_close(&lg->loop) != 0)
		fprintf(stderr, "stateroom-loadgen: handles left open\n");
out_tfd:
	close(lg->tfd);
out_tx:
	wslay_frame_context_free(lg->tx);
out_free:
	free(lg->conns);
	free(lg->steps);
	free(lg->rooms);
	return rc;
}
