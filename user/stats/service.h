/* A watched service (a -p root and its descendants, or a --comm) and its exact aggregates. */
#ifndef SERVICE_H
#define SERVICE_H
#include <stdbool.h>
#include <stdint.h>
#include "attribution.h"
#include "blind_spots.h"
#include "db_stats.h"
#include "hist.h"
#include "http_client.h"
#include "http_parse.h"
#include "pyvitals.h"
#include "route_table.h"
#include "series.h"

#define ROUTE_BUCKETS 1024
#define OVERFLOW_ROUTE "{overflow}"

/* Figures over the last snapshot interval. */
struct interval {
	uint64_t requests, errors;    /* errors: 5xx */
	double p50_ms, p99_ms;        /* within ~9% (fine_hist); -1 without requests */
	struct fine_hist seen;        /* cumulative at the previous snapshot */
	uint64_t errors_seen;
};

struct route_stats {
	char method[16];
	char route[192];
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];
	struct hist latency;
	uint64_t seen_requests;       /* requests at the previous snapshot */
	double rate;                  /* requests per second over the last interval */
	uint64_t db_calls, db_calls_max; /* database/cache calls made while serving these requests */
	uint64_t http_calls;          /* outbound HTTP calls made while serving them */
	struct dur_hist dur;          /* every request, at http_bounds (health) */
	struct fine_hist fine;        /* every request, finer (interval percentiles) */
	struct series_set by_status;  /* per status code ("" when none could be read), for /metrics */
	struct interval last;         /* the last snapshot interval */
	struct route_stats *next;     /* hash chain */
};

struct http_totals {
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];
	uint64_t no_status;           /* responses whose status line could not be read */
	uint64_t unread_requests;     /* answered, but the request could not be read (see conns.c) */
	uint64_t dropped_requests;    /* read, but no response could be tied to them */
	struct hist latency;
	uint64_t seen_requests;
	double rate;
	struct dur_hist dur;
	struct fine_hist fine;
	struct interval last;
};

#define MAX_FINDINGS 64

/* One request ran the same statement at least n1_threshold times. */
struct finding {
	char route[16 + 192];         /* "GET /n1/{id}" */
	struct query_stats *statement;
	unsigned count;               /* most repetitions seen in one request */
	uint64_t requests;            /* requests that crossed the threshold */
};

struct service {
	int id;
	char name[160];
	int root_pid;                 /* 0 for a --comm service */
	char comm[PV_COMM_LEN];
	char cmdline[256];            /* --comm: the command line of the application's topmost
	                               * process of that name, which tells it from the others */
	struct http_totals http;
	struct route_stats *buckets[ROUTE_BUCKETS];
	struct route_stats **routes;  /* in order of first sight, for output */
	unsigned nroutes, max_routes;
	struct route_stats *overflow; /* the rest once max_routes is reached */
	struct db_stats db;
	struct http_client_stats http_client; /* its outbound HTTP calls, per peer */
	struct blind_spots blind;     /* connections whose traffic could not be parsed */
	uint64_t tls_connections;     /* connections that carried TLS */
	uint64_t tls_decrypted;       /* of them, read as plaintext */
	uint64_t tls_closed_idle;     /* of them, closed carrying nothing larger than a TLS alert */
	struct attribution *attr;
	int units_kind;               /* enum py_unit_kind: how its requests are told apart (per-task, ...) */
	char units_why[200];          /* an event loop whose tasks cannot be followed: why */
	unsigned n1_threshold;
	struct finding findings[MAX_FINDINGS];
	unsigned nfindings;
	/* Requests whose db calls are tied to them once every event source was drained
	 * (SQLite calls come through another ring buffer than the request's last write);
	 * route is NULL for a request still waiting for its route name (unnamed). */
	struct pending_txn { struct route_stats *route; struct unnamed_txn *unnamed; struct http_txn txn; } *settle;
	unsigned nsettle, settle_cap;
	/* Route names without a framework table, and the requests waiting for one because their
	 * path's prefix still collects values (route_names.h), in arrival order. */
	struct route_namer *namer;
	/* The framework's own route table, read from the application (route_table.h): names every
	 * request once set. While table_pending, requests wait for it rather than take a fallback
	 * name they would have to drop later; once a request was named by the fallback
	 * (fallback_named), a table found later is not used, so that no route is renamed. */
	struct route_table *table;
	uint64_t table_fingerprint;
	bool table_pending, fallback_named;
	uint64_t table_next_read_ns;   /* agent: when to read the table again */
	char table_source[320];        /* "Flask 2.2.2, app blog:app, 12 templates" */
	char table_why[300];           /* why there is no table (or why it is not used) */
	struct unnamed_txn {
		struct http_txn txn;
		struct request_calls calls;
		bool has_calls;
		bool in_settle;        /* still in the settle queue, which points to it */
	} **unnamed;
	unsigned nunnamed, unnamed_cap;
	uint64_t since_ns;            /* first watched (CLOCK_MONOTONIC); 0: since attach */
	bool gone;                    /* --all-python: its processes exited; left out of every output */
	int health;                   /* serve: the last verdict (enum health_status) */
};

int service_init(struct service *s, int id, int root_pid, const char *comm, unsigned max_routes,
		 unsigned max_queries, unsigned n1_threshold);
void service_free(struct service *s);
void service_record_http(struct service *s, const struct http_txn *t);
/* Returns the call's statement entry (NULL when not counted: peers full). */
struct query_stats *service_record_db(struct service *s, const char *peer, const struct db_call *call);
/* An outbound HTTP call to peer finished (answered, or failed with its connection). */
void service_record_http_client(struct service *s, const char *peer, const struct http_txn *t);
/* Attribute db calls to the requests completed since the last call; run after each drain. */
void service_settle(struct service *s);
/* Name the requests whose route prefixes settled by now (all of them when final), before the
 * figures are read. */
void service_name_routes(struct service *s, uint64_t now_ns, bool final);
/* Name requests from now on by the framework's table t (the service owns it from here; NULL
 * stops waiting for one). source says where it came from. */
void service_set_route_table(struct service *s, struct route_table *t, uint64_t fingerprint, const char *source);
/* The service stops waiting for a table: why says why there is none. */
void service_no_route_table(struct service *s, const char *why);
/* Requests waiting for a route name (counted in the service's totals, not yet in a route's). */
unsigned service_unnamed(const struct service *s);
/* Per-interval request rates, over the dt seconds since the previous call. */
void service_roll_rates(struct service *s, double dt);
int status_class(int status);     /* STATUS_* or -1 */
#endif
