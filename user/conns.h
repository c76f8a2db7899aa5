/* Live connections of the watched services, keyed by kernel socket, and the protocol
 * each one was classified as from its first bytes. */
#ifndef CONNS_H
#define CONNS_H
#include <stdint.h>
#include "pyvitals.h"

struct service;
struct conn_table;

struct conn_counters {
	uint64_t http_server, db_client, ignored; /* connections classified so */
	uint64_t db_resyncs, db_malformed;      /* from closed database connections */
	uint64_t evicted_idle;           /* forgotten after a long silence */
	uint64_t resyncs, malformed, dropped_requests; /* from closed HTTP connections */
};

/* db_socket is told of every socket classified as a database client (to capture more of it). */
typedef void (*conns_db_socket_fn)(void *ctx, uint64_t sk, int service);
struct conn_table *conns_new(struct service *services, int nservices, conns_db_socket_fn db_socket,
			     void *ctx);
void conns_free(struct conn_table *t);
void conns_data(struct conn_table *t, const struct pv_data_event *e);
void conns_close(struct conn_table *t, uint64_t sk, uint64_t ts_ns);
/* Close every connection idle since before `older_than_ns`, and, with final, all of them. */
void conns_sweep(struct conn_table *t, uint64_t older_than_ns, int final);
void conns_counters(const struct conn_table *t, struct conn_counters *out);
#endif
