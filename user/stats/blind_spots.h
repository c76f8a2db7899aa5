/* Connections of a service whose traffic pyvitals cannot parse (encrypted, or a protocol it
 * does not know): listed so that no figure looks complete while traffic went by unseen. */
#ifndef BLIND_SPOTS_H
#define BLIND_SPOTS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BLIND_SPOTS_MAX 32

struct blind_spot {
	bool server;           /* we accepted it (else we connected out) */
	char endpoint[64];     /* a client's peer, or a server's own address: the grouping key */
	char last_peer[64];    /* the other end of the latest such connection */
	char protocol[32];     /* best guess: "postgresql", "tls", "http (outgoing)", "unknown" */
	char why[64];          /* "encrypted (TLS)", "protocol not parsed" */
	uint64_t connections;
	bool hides_db_calls;   /* could carry database or cache calls pyvitals would not count */
};

struct blind_spots {
	struct blind_spot e[BLIND_SPOTS_MAX];
	unsigned n;
	uint64_t overflow;     /* connections in groups past BLIND_SPOTS_MAX */
};

void blind_spots_add(struct blind_spots *b, bool server, const char *endpoint, const char *peer,
		     const char *protocol, const char *why, bool hides_db_calls);
/* Is any database or cache traffic possibly unseen? (db_calls_per_request cannot be exact) */
bool blind_spots_hide_db_calls(const struct blind_spots *b);
/* Does a server-side connection go unread? (requests may be missing) */
bool blind_spots_server(const struct blind_spots *b);
void blind_spots_json(const struct blind_spots *b, FILE *f);
void blind_spots_text(const struct blind_spots *b, FILE *f);
#endif
