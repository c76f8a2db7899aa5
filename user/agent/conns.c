/* Connection table. A connection is classified by the first bytes seen on it, whichever
 * way they flow: a read that starts an HTTP request makes it a server connection, a write
 * that starts one an HTTP client connection (an outbound call), bytes of a database or
 * cache protocol a database client one (the port is only a hint); bytes that look like
 * nothing we parse leave it unknown for a while (a keep-alive connection picked up
 * mid-message is classified at its next message), then ignored. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conns.h"
#include "db_parse.h"
#include "http_parse.h"
#include "listening.h"
#include "service.h"
#include "uwsgi_parse.h"

#define CONN_BUCKETS 65536
#define CLASSIFY_ATTEMPTS 64   /* I/Os on an unknown connection before giving up on it */
#define PENDING_MAX 16         /* bytes held while a request might be starting */
/* A TLS connection with this many I/Os and this long since it started, and no plaintext, is a
 * blind spot. Not fewer: OpenSSL reads a record's header and body apart, so a handshake alone
 * is a dozen or more I/Os, and it took over a second under QEMU's emulation (kernel matrix). */
#define TLS_BLIND_AFTER 64
#define TLS_BLIND_AFTER_NS 5000000000ull
/* The largest TLS record that is only an alert (close_notify): 31 bytes with TLS 1.2 AES-GCM,
 * 24 with TLS 1.3. Any request or response is larger. */
#define TLS_ALERT_MAX 31

enum conn_proto { PROTO_UNKNOWN, PROTO_HTTP_SERVER, PROTO_HTTP_CLIENT, PROTO_DB_CLIENT, PROTO_IGNORED };

struct conn {
	uint64_t sk;
	int service;
	enum conn_proto proto;
	uint64_t id;                   /* unique: a later socket at the same address is another */
	uint64_t first_ns, last_ns;   /* its first and latest I/O */
	uint16_t attempts;
	uint8_t npending;
	uint8_t pending[PENDING_MAX];  /* a request's first bytes split off by a short read */
	uint64_t pending_ns;
	uint32_t pending_tid;
	/* The last send that might be a database request (a memcached "get" to a port other than
	 * 11211): replayed when the reply decides, so the call that classified it is counted. */
	uint8_t *held;
	uint32_t nheld, held_len, held_tid, held_room;
	uint64_t held_ns;
	struct http_server_conn *http;
	struct db_conn *db;
	struct http_conn_stats http_seen;  /* stats already added to the table and the service */
	struct db_conn_stats db_seen;
	struct service *svc;
	char peer[64];                 /* host:port of the other end */
	char local[64];                /* host:port of our end */
	bool spoke_first;              /* our side's first I/O was a send: we are the client */
	bool blind;                    /* listed as a blind spot */
	uint16_t rport;
	bool captures_all;             /* the kernel side was asked to copy all of it */
	uint64_t unix_ino;             /* a unix socket's inode (0: TCP) */
	uint32_t tgid;                 /* the process that first moved data on it */
	enum db_system db_sys;
	bool tls;                      /* carries TLS: its own bytes are not parsed, its plaintext is */
	bool tls_plain;                /* plaintext was tied to it */
	uint32_t tls_ios;              /* its TLS I/Os while no plaintext came */
	uint32_t tls_sized_ios;        /* of them, those larger than a TLS alert */
	uint64_t tls_start_ns;
	uint64_t ssl;                  /* the SSL * of its plaintext (of process tgid) */
	enum conns_capture tls_want;   /* capture its plaintext needs (told per SSL) */
	struct conn *next;
};

struct conn_table {
	struct service *services;
	struct listening listening;   /* tells a client first seen receiving (first_sight) */
	int nservices;
	struct conns_ops ops;
	struct conn *buckets[CONN_BUCKETS];
	struct conn_counters counters;
	uint64_t next_id;
};

struct conn_table *conns_new(struct service *services, int nservices, const struct conns_ops *ops)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (t) {
		t->services = services;
		t->nservices = nservices;
		if (ops)
			t->ops = *ops;
	}
	return t;
}

void conns_set_nservices(struct conn_table *t, int nservices)
{
	if (t)
		t->nservices = nservices;
}

static unsigned bucket_of(uint64_t sk)
{
	sk ^= sk >> 33;
	sk *= 0xff51afd7ed558ccdULL;
	sk ^= sk >> 33;
	return sk % CONN_BUCKETS;
}

static void on_txn(void *ctx, const struct http_txn *txn)
{
	service_record_http(ctx, txn);
}

static void on_client_txn(void *ctx, const struct http_txn *txn)
{
	struct conn *c = ctx;

	service_record_http_client(c->svc, c->peer, txn);
	if (c->tls)
		http_client_mark_tls(&c->svc->http_client, c->peer);
}

static void on_db_call(void *ctx, const struct db_call *call)
{
	struct conn *c = ctx;
	struct query_stats *q = service_record_db(c->svc, c->peer, call);

	if (q && c->tls)
		q->peer->tls = true;
}

static void format_addr(char *buf, size_t len, int family, const uint8_t *addr, unsigned port)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family == AF_INET ? AF_INET : AF_INET6, addr, a, sizeof(a));
	snprintf(buf, len, family == AF_INET ? "%s:%u" : "[%s]:%u", a, port);
}

static void format_peer(struct conn *c, const struct pv_data_event *e)
{
	format_addr(c->peer, sizeof(c->peer), e->family, e->raddr, e->rport);
	format_addr(c->local, sizeof(c->local), e->family, e->laddr, e->lport);
	c->rport = e->rport;
}

/* The port a unix socket's path stands for: the usual socket names of the servers we parse,
 * so that the port hints of classification apply. 0 when the path says nothing. */
static uint16_t unix_port_hint(const char *path)
{
	static const struct { const char *part; uint16_t port; } hints[] = {
		{ ".s.PGSQL.", 5432 }, { "mysql", 3306 }, { "mariadb", 3306 }, { "redis", 6379 },
		{ "memcached", 11211 },
	};

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strstr(path, hints[i].part))
			return hints[i].port;
	return 0;
}

/* What a connection we cannot parse probably carries, from the well-known port of its server. */
static const char *port_guess(unsigned port)
{
	switch (port) {
	case 5432: return "postgresql";
	case 3306: return "mysql";
	case 6379: return "redis";
	case 11211: return "memcached";
	case 27017: return "mongodb";
	case 9092: return "kafka";
	case 5672: return "amqp";
	case 9200: return "elasticsearch";
	case 443: return "https";
	case 80: return "http";
	default: return "unknown";
	}
}

/* A TLS record: content type 20-23 (handshake, alert, application data...), version 3.x and
 * a length a record can have. Seen first on a connection opened before attach, too. */
static bool tls_record(const uint8_t *p, size_t n)
{
	return n >= 5 && p[0] >= 20 && p[0] <= 23 && p[1] == 3 && p[2] <= 4 &&
	       ((unsigned)p[3] << 8 | p[4]) <= (1u << 14) + 2048;
}

/* On a TLS connection the socket keeps a small capture (its records tie the plaintext) and the
 * request is for the plaintext of its SSL. */
static void set_capture(struct conn_table *t, struct conn *c, enum conns_capture what)
{
	if (c->tls) {
		c->tls_want = what;
		if (c->ssl && t->ops.tls_capture)
			t->ops.tls_capture(t->ops.ctx, c->tgid, c->ssl, what);
		return;
	}
	if (t->ops.capture)
		t->ops.capture(t->ops.ctx, c->sk, c->service, what);
}

/* Add what a connection's parser lost since the last look to the table and its service, so
 * that losses show while the connection lives. Returns whether request framing was lost. */
static bool account(struct conn_table *t, struct conn *c)
{
	struct conn_counters *k = &t->counters;
	bool lost = false;

	if (c->http) {
		struct http_conn_stats st, *old = &c->http_seen;

		http_server_conn_stats(c->http, &st);
		lost = st.resyncs > old->resyncs;
		k->resyncs += st.resyncs - old->resyncs;
		k->malformed += st.malformed - old->malformed;
		if (c->proto == PROTO_HTTP_CLIENT) {
			/* an outbound call's losses belong to its peer, not to the requests served */
			http_client_lost(&c->svc->http_client, c->peer, st.unread_requests - old->unread_requests,
					 st.dropped_requests - old->dropped_requests);
		} else {
			k->dropped_requests += st.dropped_requests - old->dropped_requests;
			k->unread_requests += st.unread_requests - old->unread_requests;
			c->svc->http.dropped_requests += st.dropped_requests - old->dropped_requests;
			c->svc->http.unread_requests += st.unread_requests - old->unread_requests;
		}
		*old = st;
	}
	if (c->db) {
		struct db_conn_stats st, d, *old = &c->db_seen;
		bool any = false;

		db_conn_stats(c->db, &st);
		for (int i = 0; i < DB_LOSS_REASONS; i++) {
			d.unparsed_ios[i] = st.unparsed_ios[i] - old->unparsed_ios[i];
			k->db_unparsed_ios[i] += d.unparsed_ios[i];
			any |= i != DB_LOSS_NONE && d.unparsed_ios[i];
		}
		d.dropped = st.dropped - old->dropped;
		k->db_dropped_requests += d.dropped;
		k->db_resyncs += st.resyncs - old->resyncs;
		k->db_malformed += st.malformed - old->malformed;
		if (any || d.dropped)
			db_stats_lost(&c->svc->db, c->db_sys, c->peer, &d);
		*old = st;
	}
	return lost;
}

static void release(struct conn_table *t, struct conn *c, uint64_t ts_ns)
{
	if (c->http && c->proto == PROTO_HTTP_CLIENT)
		http_server_conn_close(c->http, ts_ns, on_client_txn, c);
	else if (c->http)
		http_server_conn_close(c->http, ts_ns, on_txn, &t->services[c->service]);
	if (c->db)
		db_conn_close(c->db, ts_ns, on_db_call, c);
	/* a pooled connection opened before we attached that only closed while watched (its
	 * close_notify): nothing was there to read, so it is no unread connection */
	if (c->tls && !c->tls_plain && !c->tls_sized_ios && c->svc)
		c->svc->tls_closed_idle++;
	account(t, c);
	http_server_conn_free(c->http);
	db_conn_free(c->db);
	free(c->held);
	free(c);
	t->counters.open--;
}

void conns_free(struct conn_table *t)
{
	if (!t)
		return;
	conns_sweep(t, 0, 1);
	free(t);
}

static struct conn *lookup(struct conn_table *t, uint64_t sk, int create, int service)
{
	unsigned b = bucket_of(sk);
	struct conn *c;

	for (c = t->buckets[b]; c; c = c->next)
		if (c->sk == sk)
			return c;
	if (!create || service < 0 || service >= t->nservices || !(c = calloc(1, sizeof(*c))))
		return NULL;
	c->sk = sk;
	c->id = ++t->next_id;
	c->service = service;
	c->svc = &t->services[service];
	snprintf(c->peer, sizeof(c->peer), "unknown (state expired)");
	c->next = t->buckets[b];
	t->buckets[b] = c;
	t->counters.open++;
	return c;
}

/* Room for a held send of n bytes (a joined I/O can be larger than one record). */
static bool hold(struct conn *c, uint32_t n)
{
	uint8_t *p;

	if (c->held && c->held_room >= n)
		return true;
	if (!(p = realloc(c->held, n)))
		return false;
	c->held = p;
	c->held_room = n;
	return true;
}

/* List a connection we cannot parse as a blind spot of its service (once). Client ones may
 * hide database calls, except plain outgoing HTTP and socketpairs. */
static void blind(struct conn *c, const char *protocol, const char *why)
{
	char guess[32];
	bool http_out = !strcmp(protocol, "http (outgoing)");

	if (c->blind)
		return;
	c->blind = true;
	/* a unix socket with no name at either end is a socketpair (asyncio's self-pipe, which a
	 * worker thread writes to wake the loop): it reaches no server, so it hides no calls */
	if (!protocol[0] && !strcmp(c->peer, "unix:(unnamed)"))
		protocol = "socketpair";
	if (!protocol[0]) {
		snprintf(guess, sizeof(guess), "%s", c->spoke_first ? port_guess(c->rport) : "unknown");
		protocol = guess;
	}
	blind_spots_add(&c->svc->blind, !c->spoke_first, c->spoke_first ? c->peer : c->local,
			c->spoke_first ? c->local : c->peer, protocol, why,
			c->spoke_first && !http_out && strcmp(protocol, "socketpair"));
}

/* Nothing more to parse on this connection: the kernel side skips it from now on. */
static void ignore(struct conn_table *t, struct conn *c, const char *protocol, const char *why)
{
	c->proto = PROTO_IGNORED;
	t->counters.ignored++;
	blind(c, protocol, why);
	set_capture(t, c, CAPTURE_NONE);
}

/* A TLS connection whose plaintext cannot be read (no probed libssl in its process, or none
 * came): a blind spot, never a silent zero. */
static void blind_tls(struct conn *c, const char *why)
{
	char proto[32];

	if (c->db)
		snprintf(proto, sizeof(proto), "%s (tls)", db_system_name(c->db_sys));
	else
		snprintf(proto, sizeof(proto), "%s (tls)", c->spoke_first ? port_guess(c->rport) : "https");
	blind(c, proto, why);
}

/* The connection carries TLS from here on (a TLS record, a driver's negotiation, or plaintext
 * tied to it): its bytes are not parsed; its plaintext is, from a fresh start. */
static void start_tls(struct conn_table *t, struct conn *c, bool readable, const char *why)
{
	bool late = false;

	if (c->tls)
		return;
	if (!readable && (!t->ops.tls_covers || !t->ops.tls_covers(t->ops.ctx, c->tgid, &late))) {
		blind_tls(c, why);
		c->proto = PROTO_IGNORED;
		t->counters.ignored++;
		set_capture(t, c, CAPTURE_NONE);
		return;
	}
	/* read from now on, but its first calls may have gone by before the probes went in */
	if (late)
		blind_tls(c, "encrypted (TLS): libssl probed late, first calls may be missed");
	if (c->http && c->proto == PROTO_HTTP_CLIENT)
		http_server_conn_close(c->http, c->last_ns, on_client_txn, c);
	account(t, c);
	http_server_conn_free(c->http);
	db_conn_free(c->db);
	c->http = NULL;
	c->db = NULL;
	memset(&c->http_seen, 0, sizeof(c->http_seen));
	memset(&c->db_seen, 0, sizeof(c->db_seen));
	c->proto = PROTO_UNKNOWN;
	c->attempts = 0;
	c->npending = 0;
	c->nheld = 0;
	c->tls = true;
	c->tls_start_ns = c->last_ns;
	c->tls_want = c->spoke_first ? CAPTURE_MORE : CAPTURE_HEADERS;
	t->counters.tls++;
	c->svc->tls_connections++;
	if (t->ops.capture)
		t->ops.capture(t->ops.ctx, c->sk, c->service, CAPTURE_TLS);
}

static uint32_t worker(struct conn_table *t, const struct pv_data_event *e)
{
	return t->ops.worker ? t->ops.worker(t->ops.ctx, e) : e->tid;
}

/* Decide what an unknown connection carries (sets c->proto), holding a short read that may
 * be the start of a request until the next one arrives. */
static void classify(struct conn_table *t, struct conn *c, const struct pv_data_event *e)
{
	uint8_t buf[PENDING_MAX + 64];
	size_t n = 0, take = e->cap_len < 64 ? e->cap_len : 64;
	enum db_guess guess;
	enum db_system sys;
	enum http_guess g;

	if (e->dir == PV_DIR_RECV) {
		memcpy(buf, c->pending, c->npending);
		n = c->npending;
		memcpy(buf + n, e->data, take);
		n += take;
		g = http_guess_request(buf, n);
		if (g == HTTP_YES) {
			c->proto = PROTO_HTTP_SERVER;
			t->counters.http_server++;
			return;
		}
		/* A short read ("GE") may be the start of a request: hold it for the next one. */
		if (g == HTTP_MAYBE && e->len == e->cap_len && n <= PENDING_MAX) {
			if (!c->npending) {
				c->pending_ns = e->ts_ns;
				c->pending_tid = worker(t, e);
			}
			memcpy(c->pending, buf, n);
			c->npending = n;
			return;
		}
	}
	c->npending = 0;
	/* nginx uwsgi_pass: the uwsgi protocol in, HTTP out; one HTTP session with uwsgi request framing. */
	if (e->dir == PV_DIR_RECV && uwsgi_guess_request(e->data, e->cap_len) == HTTP_YES &&
	    (c->http = http_server_conn_new_framed(HTTP_REQ_UWSGI))) {
		c->proto = PROTO_HTTP_SERVER;
		t->counters.http_server++;
		return;
	}
	/* The service sends a request: it calls an upstream (the same session machine, client role). */
	if (e->dir == PV_DIR_SEND && http_guess_request(e->data, e->cap_len) == HTTP_YES) {
		if ((c->http = http_client_conn_new())) {
			/* it spoke first, so it got the whole-batch capture: its bodies need no copy */
			c->proto = PROTO_HTTP_CLIENT;
			set_capture(t, c, CAPTURE_HEADERS);
		} else
			ignore(t, c, "http (outgoing)", "out of memory");
		return;
	}

	guess = db_classify(e->data, e->cap_len, e->dir == PV_DIR_SEND, c->rport, &sys);
	/* after the database protocols: a MySQL packet header can look like a TLS record's */
	if (guess == DB_GUESS_NO && tls_record(e->data, e->cap_len)) {
		start_tls(t, c, false, "encrypted (TLS)");
		if (e->len > TLS_ALERT_MAX)
			c->tls_sized_ios++;
		return;
	}
	if (guess == DB_GUESS_YES && (c->db = db_conn_new(sys))) {
		c->proto = PROTO_DB_CLIENT;
		c->db_sys = sys;
		t->counters.db_client++;
		set_capture(t, c, CAPTURE_MORE);
		if (c->held && e->dir == PV_DIR_RECV)
			db_conn_feed(c->db, 1, c->held, c->nheld, c->held_len, c->held_ns, c->held_tid, on_db_call, c);
		free(c->held);
		c->held = NULL;
		c->held_room = 0;
		return;
	}
	if (guess == DB_GUESS_MAYBE && e->dir == PV_DIR_SEND && e->cap_len && hold(c, e->cap_len)) {
		memcpy(c->held, e->data, e->cap_len);
		c->nheld = e->cap_len;
		c->held_len = e->len;
		c->held_ns = e->ts_ns;
		c->held_tid = worker(t, e);
	}
	if (++c->attempts >= CLASSIFY_ATTEMPTS)
		ignore(t, c, "", "protocol not parsed");
}

void conns_unix(struct conn_table *t, const struct pv_unix_event *e)
{
	struct conn *c = lookup(t, e->sk, 1, e->service);
	char path[PV_UNIX_PATH_MAX + 1];
	size_t n = e->len < PV_UNIX_PATH_MAX ? e->len : PV_UNIX_PATH_MAX;

	if (!c)
		return;
	memcpy(path, e->path, n);
	path[n] = 0;
	if (n && !path[0]) /* an abstract name: shown with a leading @, as ss does */
		path[0] = '@';
	path[strnlen(path, n)] = 0;
	snprintf(c->peer, sizeof(c->peer), "unix:%s", n ? path : "(unnamed)");
	c->unix_ino = e->ino;
	snprintf(c->local, sizeof(c->local), "%s", c->peer);
	c->rport = n ? unix_port_hint(path) : 0;
}

/* Parse one I/O of a connection: its own bytes, or the plaintext of its TLS. */
static void parse(struct conn_table *t, struct conn *c, const struct pv_data_event *e)
{
	struct service *s;

	if (c->proto == PROTO_UNKNOWN)
		classify(t, c, e);
	if (c->proto == PROTO_DB_CLIENT) {
		db_conn_feed(c->db, e->dir == PV_DIR_SEND, e->data, e->cap_len, e->len, e->ts_ns, worker(t, e),
			     on_db_call, c);
		account(t, c);
		if (db_conn_encrypted(c->db) && !c->tls && !c->blind)
			start_tls(t, c, false, "encrypted (TLS, negotiated by the driver)");
		return;
	}
	if (c->proto == PROTO_HTTP_CLIENT) {
		http_server_conn_feed(c->http, e->dir == PV_DIR_RECV, e->data, e->cap_len, e->len, e->ts_ns, worker(t, e),
				      on_client_txn, c);
		/* framing lost in bytes past the capture (pipelined calls): capture it all from now on */
		if (account(t, c) && e->cap_len < e->len && !c->captures_all) {
			c->captures_all = true;
			set_capture(t, c, CAPTURE_MORE);
		}
		return;
	}
	if (c->proto != PROTO_HTTP_SERVER)
		return;
	s = &t->services[c->service];
	if (!c->http) {
		c->http = http_server_conn_new();
		if (!c->http) {
			c->proto = PROTO_IGNORED;
			return;
		}
		if (c->npending)
			http_server_conn_feed(c->http, 1, c->pending, c->npending, c->npending, c->pending_ns,
					      c->pending_tid, on_txn, s);
		c->npending = 0;
	}
	http_server_conn_feed(c->http, e->dir == PV_DIR_RECV, e->data, e->cap_len, e->len, e->ts_ns, worker(t, e),
			      on_txn, s);
	/* Requests pipelined past the capture were lost (their responses are counted as unread):
	 * capture all of this connection from now on. */
	if (account(t, c) && e->dir == PV_DIR_RECV && e->cap_len < e->len && !c->captures_all) {
		c->captures_all = true;
		set_capture(t, c, CAPTURE_MORE);
	}
}

static void first_sight(struct conn_table *t, struct conn *c, const struct pv_data_event *e)
{
	if (!c->last_ns) {
		c->spoke_first = e->dir == PV_DIR_SEND;
		/* A receive first is a server's, or a client's whose connection predates us and whose
		 * request went out before we attached: whether the process listens on the local port
		 * says which. */
		if (!c->spoke_first && (e->flags & PV_DATA_F_ADDR) && !c->unix_ino &&
		    listening_has(&t->listening, e->tgid, e->lport, e->ts_ns) == 0)
			c->spoke_first = true;
		c->tgid = e->tgid;
		c->first_ns = e->ts_ns;
	}
	c->last_ns = e->ts_ns;
}

/* Records of the connection were lost before e (the ring buffer was full): its parser drops
 * what it waits for (counted) and looks for the next message. */
static void gap(struct conn_table *t, struct conn *c)
{
	t->counters.ring_gaps++;
	http_server_conn_gap(c->http);
	db_conn_gap(c->db);
	account(t, c);
	c->npending = 0;
	c->nheld = 0;
}

void conns_data(struct conn_table *t, const struct pv_data_event *e)
{
	struct conn *c = lookup(t, e->sk, 1, e->service);

	if (!c)
		return;
	first_sight(t, c, e);
	if ((e->flags & PV_DATA_F_GAP) && !c->tls) /* a TLS one's plaintext has its own */
		gap(t, c);
	if (e->flags & PV_DATA_F_ADDR)
		format_peer(c, e);
	if (c->tls) {
		/* ciphertext: only its plaintext is parsed. None coming is a blind spot. */
		if (!c->tls_plain && e->len > TLS_ALERT_MAX)
			c->tls_sized_ios++;
		if (!c->tls_plain && ++c->tls_ios >= TLS_BLIND_AFTER && !c->blind &&
		    e->ts_ns - c->tls_start_ns > TLS_BLIND_AFTER_NS)
			blind_tls(c, "encrypted (TLS): no plaintext came from the OpenSSL probes");
		return;
	}
	parse(t, c, e);
}

void conns_tls_plain(struct conn_table *t, uint64_t sk, uint64_t ssl, const struct pv_data_event *e)
{
	struct conn *c = lookup(t, sk, 1, e->service);

	if (!c)
		return;
	first_sight(t, c, e);
	if (e->flags & PV_DATA_F_GAP)
		gap(t, c);
	start_tls(t, c, true, NULL);
	if (!c->tls_plain) {
		c->tls_plain = true;
		t->counters.tls_decrypted++;
		c->svc->tls_decrypted++;
	}
	if (c->ssl != ssl || c->tgid != e->tgid) {
		c->ssl = ssl;
		c->tgid = e->tgid;
		set_capture(t, c, c->tls_want);
	}
	parse(t, c, e);
}

int conns_tls_state(struct conn_table *t, uint64_t sk, uint64_t *id)
{
	struct conn *c = lookup(t, sk, 0, -1);

	*id = c ? c->id : 0;
	if (!c)
		return 0;
	return !c->tls && (c->proto == PROTO_HTTP_SERVER || c->proto == PROTO_HTTP_CLIENT ||
			   c->proto == PROTO_DB_CLIENT) ? 1 : 2;
}

void conns_close(struct conn_table *t, uint64_t sk, uint64_t ts_ns)
{
	unsigned b = bucket_of(sk);

	for (struct conn **pp = &t->buckets[b]; *pp; pp = &(*pp)->next) {
		struct conn *c = *pp;

		if (c->sk != sk)
			continue;
		*pp = c->next;
		release(t, c, ts_ns);
		return;
	}
}

void conns_sweep(struct conn_table *t, uint64_t older_than_ns, int final)
{
	for (unsigned b = 0; b < CONN_BUCKETS; b++) {
		struct conn **pp = &t->buckets[b];

		while (*pp) {
			struct conn *c = *pp;

			if (final || c->last_ns < older_than_ns) {
				*pp = c->next;
				if (!final)
					t->counters.evicted_idle++;
				release(t, c, c->last_ns);
			} else {
				pp = &c->next;
			}
		}
	}
}

void conns_settle(struct conn_table *t, uint64_t quiet_since_ns)
{
	for (unsigned b = 0; b < CONN_BUCKETS; b++)
		for (struct conn *c = t->buckets[b]; c; c = c->next)
			if (c->http && c->proto == PROTO_HTTP_CLIENT)
				http_server_conn_settle(c->http, quiet_since_ns, on_client_txn, c);
			else if (c->http)
				http_server_conn_settle(c->http, quiet_since_ns, on_txn, &t->services[c->service]);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The inodes of the unix sockets alive in pid's network namespace (sorted), or NULL when its
 * /proc/PID/net/unix cannot be read (the process is gone). */
static uint64_t *unix_inodes(uint32_t pid, size_t *n)
{
	char path[64], line[512];
	uint64_t *v = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/net/unix", pid);
	if (!(f = fopen(path, "re")))
		return NULL;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long ino;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %llu", &ino) != 1)
			continue;
		if (*n == cap) {
			uint64_t *g = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
			if (!g)
				break;
			v = g;
		}
		v[(*n)++] = ino;
	}
	fclose(f);
	if (!v)
		v = calloc(1, sizeof(*v));
	if (v)
		qsort(v, *n, sizeof(*v), cmp_u64);
	return v;
}

#define UNIX_LISTS 16

/* The unix sockets alive when they were read, per process that has unix connections (most
 * often they share a namespace; reading per process keeps a process in another one right). */
struct unix_alive {
	uint64_t read_ns;
	int n;
	struct { uint32_t pid; uint64_t *ino; size_t n; } lists[UNIX_LISTS];
};

struct unix_alive *conns_unix_alive(struct conn_table *t, uint64_t now_ns)
{
	struct unix_alive *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->read_ns = now_ns;
	for (unsigned b = 0; b < CONN_BUCKETS; b++)
		for (struct conn *c = t->buckets[b]; c; c = c->next) {
			int i;

			if (!c->unix_ino)
				continue;
			for (i = 0; i < a->n && a->lists[i].pid != c->tgid; i++)
				;
			if (i < a->n || a->n == UNIX_LISTS) /* more processes than slots: looked at next time */
				continue;
			a->lists[i].pid = c->tgid;
			a->lists[i].ino = unix_inodes(c->tgid, &a->lists[i].n);
			a->n++;
		}
	return a;
}

void conns_sweep_unix(struct conn_table *t, struct unix_alive *a, uint64_t now_ns)
{
	if (!a)
		return;
	for (unsigned b = 0; b < CONN_BUCKETS; b++) {
		struct conn **pp = &t->buckets[b];

		while (*pp) {
			struct conn *c = *pp;
			int i;

			for (i = 0; i < a->n && a->lists[i].pid != c->tgid; i++)
				;
			/* only a connection seen before the list was read can be missing from it */
			if (!c->unix_ino || c->first_ns >= a->read_ns || i == a->n || !a->lists[i].ino ||
			    bsearch(&c->unix_ino, a->lists[i].ino, a->lists[i].n, sizeof(uint64_t), cmp_u64)) {
				pp = &c->next;
				continue;
			}
			*pp = c->next;
			release(t, c, now_ns);
		}
	}
	for (int i = 0; i < a->n; i++)
		free(a->lists[i].ino);
	free(a);
}

void conns_counters(const struct conn_table *t, struct conn_counters *out)
{
	*out = t->counters;
}
