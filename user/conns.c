/* Connection table. A connection is classified by the first bytes seen on it, whichever
 * way they flow: a read that starts an HTTP request makes it a server connection, bytes of
 * a database or cache protocol a client one (the port is only a hint); bytes that look like
 * nothing we parse leave it unknown for a while (a keep-alive connection picked up
 * mid-message is classified at its next message), then ignored. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conns.h"
#include "db_parse.h"
#include "http_parse.h"
#include "service.h"

#define CONN_BUCKETS 65536
#define CLASSIFY_ATTEMPTS 64   /* I/Os on an unknown connection before giving up on it */
#define PENDING_MAX 16         /* bytes held while a request might be starting */

enum conn_proto { PROTO_UNKNOWN, PROTO_HTTP_SERVER, PROTO_DB_CLIENT, PROTO_IGNORED };

struct conn {
	uint64_t sk;
	int service;
	enum conn_proto proto;
	uint64_t last_ns;
	uint16_t attempts;
	uint8_t npending;
	uint8_t pending[PENDING_MAX];  /* a request's first bytes split off by a short read */
	uint64_t pending_ns;
	uint32_t pending_tid;
	/* The last send that might be a database request (a memcached "get" to a port other than
	 * 11211): replayed when the reply decides, so the call that classified it is counted. */
	uint8_t *held;
	uint32_t nheld, held_len, held_tid;
	uint64_t held_ns;
	struct http_server_conn *http;
	struct db_conn *db;
	struct service *svc;
	char peer[64];                 /* host:port of the other end */
	uint16_t rport;
	struct conn *next;
};

struct conn_table {
	struct service *services;
	int nservices;
	conns_db_socket_fn db_socket;
	void *db_socket_ctx;
	struct conn *buckets[CONN_BUCKETS];
	struct conn_counters counters;
};

struct conn_table *conns_new(struct service *services, int nservices, conns_db_socket_fn db_socket,
			     void *ctx)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (t) {
		t->services = services;
		t->nservices = nservices;
		t->db_socket = db_socket;
		t->db_socket_ctx = ctx;
	}
	return t;
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

static void on_db_call(void *ctx, const struct db_call *call)
{
	struct conn *c = ctx;

	service_record_db(c->svc, c->peer, call);
}

static void format_peer(struct conn *c, const struct pv_data_event *e)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (e->family == AF_INET)
		inet_ntop(AF_INET, e->raddr, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, e->raddr, addr, sizeof(addr));
	snprintf(c->peer, sizeof(c->peer), e->family == AF_INET ? "%s:%u" : "[%s]:%u", addr, e->rport);
	c->rport = e->rport;
}

static void release(struct conn_table *t, struct conn *c, uint64_t ts_ns)
{
	if (c->http) {
		struct http_conn_stats st;

		http_server_conn_close(c->http, ts_ns, on_txn, &t->services[c->service]);
		http_server_conn_stats(c->http, &st);
		t->counters.resyncs += st.resyncs;
		t->counters.malformed += st.malformed;
		t->counters.dropped_requests += st.dropped_requests;
		http_server_conn_free(c->http);
	}
	if (c->db) {
		struct db_conn_stats st;

		db_conn_close(c->db, ts_ns, on_db_call, c);
		db_conn_stats(c->db, &st);
		t->counters.db_resyncs += st.resyncs;
		t->counters.db_malformed += st.malformed;
		db_conn_free(c->db);
	}
	free(c->held);
	free(c);
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
	c->service = service;
	c->svc = &t->services[service];
	snprintf(c->peer, sizeof(c->peer), "unknown (state expired)");
	c->next = t->buckets[b];
	t->buckets[b] = c;
	return c;
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
				c->pending_tid = e->tid;
			}
			memcpy(c->pending, buf, n);
			c->npending = n;
			return;
		}
	}
	c->npending = 0;
	if (e->dir == PV_DIR_SEND && http_guess_request(e->data, e->cap_len) == HTTP_YES) {
		c->proto = PROTO_IGNORED;  /* an outgoing HTTP call: not a server connection */
		t->counters.ignored++;
		return;
	}
	guess = db_classify(e->data, e->cap_len, e->dir == PV_DIR_SEND, c->rport, &sys);
	if (guess == DB_GUESS_YES && (c->db = db_conn_new(sys))) {
		c->proto = PROTO_DB_CLIENT;
		t->counters.db_client++;
		if (t->db_socket)
			t->db_socket(t->db_socket_ctx, c->sk, c->service);
		if (c->held && e->dir == PV_DIR_RECV)
			db_conn_feed(c->db, 1, c->held, c->nheld, c->held_len, c->held_ns, c->held_tid, on_db_call, c);
		free(c->held);
		c->held = NULL;
		return;
	}
	if (guess == DB_GUESS_MAYBE && e->dir == PV_DIR_SEND && e->cap_len &&
	    (c->held || (c->held = malloc(PV_CAPTURE_MAX)))) {
		memcpy(c->held, e->data, e->cap_len);
		c->nheld = e->cap_len;
		c->held_len = e->len;
		c->held_ns = e->ts_ns;
		c->held_tid = e->tid;
	}
	if (++c->attempts >= CLASSIFY_ATTEMPTS) {
		c->proto = PROTO_IGNORED;
		t->counters.ignored++;
	}
}

void conns_data(struct conn_table *t, const struct pv_data_event *e)
{
	struct conn *c = lookup(t, e->sk, 1, e->service);
	struct service *s;

	if (!c)
		return;
	c->last_ns = e->ts_ns;
	if (e->flags & PV_DATA_F_ADDR)
		format_peer(c, e);
	if (c->proto == PROTO_UNKNOWN)
		classify(t, c, e);
	if (c->proto == PROTO_DB_CLIENT) {
		db_conn_feed(c->db, e->dir == PV_DIR_SEND, e->data, e->cap_len, e->len, e->ts_ns, e->tid,
			     on_db_call, c);
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
	http_server_conn_feed(c->http, e->dir == PV_DIR_RECV, e->data, e->cap_len, e->len, e->ts_ns, e->tid,
			      on_txn, s);
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

void conns_counters(const struct conn_table *t, struct conn_counters *out)
{
	*out = t->counters;
}
