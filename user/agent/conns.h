/* Live connections of the watched services, keyed by kernel socket, and the protocol
 * each one was classified as from its first bytes. */
#ifndef CONNS_H
#define CONNS_H
#include <stdbool.h>
#include <stdint.h>
#include "db_parse.h"
#include "pyvitals.h"

struct service;
struct conn_table;

struct conn_counters {
	uint64_t http_server, db_client, ignored; /* connections classified so */
	uint64_t db_resyncs, db_malformed;      /* of database connections, up to their last I/O */
	uint64_t db_unparsed_ios[DB_LOSS_REASONS], db_dropped_requests;
	uint64_t evicted_idle;           /* forgotten after a long silence */
	uint64_t resyncs, malformed, dropped_requests, unread_requests; /* of HTTP connections */
	uint64_t tls, tls_decrypted;     /* connections that carried TLS; of them, read as plaintext */
	uint64_t ring_gaps;              /* times a connection's parser started over: records lost */
	uint64_t open;                   /* a gauge: connections in the table now */
};

/* How much of a socket the kernel side should copy from now on. */
enum conns_capture {
	CAPTURE_MORE,     /* a database client, or requests pipelined past the capture: all */
	CAPTURE_HEADERS,  /* an HTTP client: the --capture prefix (heads, not the bodies it reads) */
	CAPTURE_NONE,     /* nothing we parse: skip it (its close is still reported) */
	CAPTURE_TLS,      /* a TLS carrier: a record header per I/O, enough to tie its plaintext */
};
struct conns_ops {
	/* how much of socket sk the kernel side copies */
	void (*capture)(void *ctx, uint64_t sk, int service, enum conns_capture what);
	/* the same for the plaintext of one SSL of tgid */
	void (*tls_capture)(void *ctx, uint32_t tgid, uint64_t ssl, enum conns_capture what);
	/* can tgid's TLS be read (a probed libssl)? Else its TLS connections are blind spots. *late:
	 * its libssl was probed only now, so the connection's first calls may have been missed. */
	bool (*tls_covers)(void *ctx, uint32_t tgid, bool *late);
	/* who made the I/O, for attribution: its thread, or its task on an event loop (units.h) */
	uint32_t (*worker)(void *ctx, const struct pv_data_event *e);
	void *ctx;
};
struct conn_table *conns_new(struct service *services, int nservices, const struct conns_ops *ops);
void conns_free(struct conn_table *t);
/* Services were added (--comm found another application): records may name them now. */
void conns_set_nservices(struct conn_table *t, int nservices);
void conns_data(struct conn_table *t, const struct pv_data_event *e);
void conns_close(struct conn_table *t, uint64_t sk, uint64_t ts_ns);
/* Plaintext of SSL ssl that tls_bind tied to socket sk: parsed as that connection's bytes. */
void conns_tls_plain(struct conn_table *t, uint64_t sk, uint64_t ssl, const struct pv_data_event *e);
/* For tls_bind: 0 no such connection, 1 one carrying a protocol in clear, 2 anything else; *id
 * names the connection (a socket at a reused address is another one). */
int conns_tls_state(struct conn_table *t, uint64_t sk, uint64_t *id);
/* A unix stream socket's path (before its first data): the connection is named by it. */
void conns_unix(struct conn_table *t, const struct pv_unix_event *e);
/* Close every connection idle since before `older_than_ns`, and, with final, all of them. */
void conns_sweep(struct conn_table *t, uint64_t older_than_ns, int final);
/* Report the responses of unknown end (framing lost) whose side is quiet since quiet_since_ns:
 * a keep-alive connection left idle would hold them back from the figures. */
void conns_settle(struct conn_table *t, uint64_t quiet_since_ns);
/* Close the unix connections whose socket is gone: no kernel event says so when our side
 * closes first (its inode left /proc/PID/net/unix). */
struct unix_alive;
/* Read which of the unix sockets we follow are alive (now_ns: the time, taken before). */
struct unix_alive *conns_unix_alive(struct conn_table *t, uint64_t now_ns);
/* Then, once every record made before that read is drained (the last write of a socket that
 * closed just before it may still be queued), close those that were not alive; frees alive. */
void conns_sweep_unix(struct conn_table *t, struct unix_alive *alive, uint64_t now_ns);
void conns_counters(const struct conn_table *t, struct conn_counters *out);
#endif
