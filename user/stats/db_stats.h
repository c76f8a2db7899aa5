/* Database and cache calls of one service: per peer (system + address) totals, operations,
 * cache hits and misses, and a bounded table of normalized statements. */
#ifndef DB_STATS_H
#define DB_STATS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "db_parse.h"
#include "hist.h"
#include "series.h"

#define DB_MAX_OPS 24
#define DB_MAX_PEERS 64
#define QUERY_BUCKETS 1024
#define OVERFLOW_QUERY "{overflow}"

struct query_stats {
	char text[512];
	uint64_t calls, errors;
	struct hist latency;
	struct query_stats *next;     /* hash chain */
	struct db_peer *peer;
};

struct db_peer {
	enum db_system system;
	char peer[64];                /* host:port, or the database file for SQLite */
	uint64_t calls, errors;
	struct hist latency;
	struct { char op[24]; uint64_t n; } ops[DB_MAX_OPS];
	uint64_t other_ops;           /* operations past DB_MAX_OPS distinct ones */
	uint64_t cache_hits, cache_misses;
	bool tls;                     /* calls were read from TLS plaintext */
	struct series_set dur;        /* per "OP\037ERROR_TYPE" (error type "" when none), at db_bounds */
	/* What its connections could not parse (enum db_loss) and requests they could not track:
	 * calls may be missing from the figures above when any is non-zero. */
	uint64_t unparsed_ios[DB_LOSS_REASONS];
	uint64_t dropped_requests;
	struct query_stats **queries; /* in order of first sight */
	unsigned nqueries;
	struct query_stats *overflow;
};

struct db_stats {
	struct db_peer *peers[DB_MAX_PEERS];
	unsigned npeers;
	uint64_t dropped_peers;       /* calls to peers past DB_MAX_PEERS */
	struct query_stats *buckets[QUERY_BUCKETS];
	unsigned nqueries, max_queries;
};

void db_stats_init(struct db_stats *d, unsigned max_queries);
void db_stats_free(struct db_stats *d);
/* Count one call; returns its statement entry (stable while d lives) or NULL. */
struct query_stats *db_stats_add(struct db_stats *d, const char *peer, const struct db_call *call);
/* Add a connection's new parse losses (a delta of its db_conn_stats) to its peer. */
void db_stats_lost(struct db_stats *d, enum db_system sys, const char *peer,
		   const struct db_conn_stats *delta);
void db_stats_json(const struct db_stats *d, FILE *f);
/* The text panel: one line per peer, then the max_statements slowest statements by total time. */
void db_stats_text(const struct db_stats *d, FILE *f, unsigned max_statements);
#endif
