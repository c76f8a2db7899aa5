/* Outbound HTTP calls of one service (the service as a client of an upstream), per peer:
 * requests, methods, status classes, errors by reason and latency from the write of a
 * request's first byte to the read of its response's last byte. Paths are not kept: they
 * can carry identifiers. */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "hist.h"
#include "series.h"
#include "http_parse.h"

#define HTTP_CLIENT_MAX_PEERS 64     /* the last slot is "{overflow}", for all peers past it */
#define HTTP_CLIENT_METHODS 8        /* distinct methods per peer; the rest under "{other}" */
#define HTTP_CLIENT_OVERFLOW "{overflow}"

enum http_client_error { HCE_5XX, HCE_NO_RESPONSE, HCE_CUT_SHORT, HCE_REASONS };

struct http_peer {
	char peer[64];                /* host:port or unix:PATH, as the connection table names it */
	char host[64];                /* Host header of the first request that had one */
	uint64_t requests;            /* answered, or failed with the connection */
	uint64_t status[STATUS_CLASSES];
	uint64_t no_status;           /* answered, but the status line could not be read */
	uint64_t errors[HCE_REASONS];
	struct { char method[16]; uint64_t n; } methods[HTTP_CLIENT_METHODS];
	uint64_t other_methods;
	struct hist latency;          /* answered calls only */
	/* Calls missing from the figures above (see http_conn_stats): exact is false when any. */
	uint64_t unread_requests, dropped_requests;
	bool tls;                     /* calls were read from TLS plaintext */
	/* per "METHOD\037STATUS\037ERROR_TYPE" at http_bounds; failed calls (no whole response)
	 * last until the connection ended, their error type says why */
	struct series_set dur;
};

struct http_client_stats {
	struct http_peer *peers[HTTP_CLIENT_MAX_PEERS];
	unsigned npeers;
};

void http_client_free(struct http_client_stats *s);
/* Count one call to peer (a finished or aborted exchange of a client connection). */
void http_client_add(struct http_client_stats *s, const char *peer, const struct http_txn *t);
/* Calls a connection to peer could not count (deltas of its http_conn_stats). */
/* Calls to peer are read from TLS plaintext. */
void http_client_mark_tls(struct http_client_stats *s, const char *peer);
void http_client_lost(struct http_client_stats *s, const char *peer, uint64_t unread, uint64_t dropped);
void http_client_json(const struct http_client_stats *s, FILE *f);
/* The text panel: one line per peer. */
void http_client_text(const struct http_client_stats *s, FILE *f);
#endif
