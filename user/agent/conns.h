/* Live connections of the watched services, keyed by kernel socket, and the protocol
 * each one was classified as from its first bytes. */
#ifndef CONNS_H
#define CONNS_H
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
};

/* How much of a socket the kernel side should copy from now on. */
enum conns_capture {
	CAPTURE_MORE,     /* a database client, or requests pipelined past the capture: all */
	CAPTURE_HEADERS,  /* an HTTP client: the --capture prefix (heads, not the bodies it reads) */
	CAPTURE_NONE,     /* nothing we parse: skip it (its close is still reported) */
};
typedef void (*conns_capture_fn)(void *ctx, uint64_t sk, int service, enum conns_capture what);
struct conn_table *conns_new(struct service *services, int nservices, conns_capture_fn capture,
			     void *ctx);
void conns_free(struct conn_table *t);
/* Services were added (--comm found another application): records may name them now. */
void conns_set_nservices(struct conn_table *t, int nservices);
void conns_data(struct conn_table *t, const struct pv_data_event *e);
void conns_close(struct conn_table *t, uint64_t sk, uint64_t ts_ns);
/* A unix stream socket's path (before its first data): the connection is named by it. */
void conns_unix(struct conn_table *t, const struct pv_unix_event *e);
/* Close every connection idle since before `older_than_ns`, and, with final, all of them. */
void conns_sweep(struct conn_table *t, uint64_t older_than_ns, int final);
/* Close the unix connections whose socket is gone: no kernel event says so when our side
 * closes first (its inode left /proc/PID/net/unix). */
void conns_sweep_unix(struct conn_table *t, uint64_t now_ns);
void conns_counters(const struct conn_table *t, struct conn_counters *out);
#endif
