/* Which local TCP ports a process's network namespace listens on, asked of sock_diag (our own
 * namespace) or read from /proc/PID/net, and kept per process: a connection first seen receiving is a server's when its local port is one
 * of them, else a client's whose request went out before we attached. */
#ifndef LISTENING_H
#define LISTENING_H
#include <stdint.h>

#define LISTENING_SLOTS 16
#define LISTENING_PORTS 64

struct listening_slot {
	uint32_t tgid;
	int n;                         /* ports listed, -1: unreadable */
	uint64_t read_ns;
	uint16_t ports[LISTENING_PORTS];
};

struct listening {
	struct listening_slot slots[LISTENING_SLOTS];
};

/* 1 if a socket listens on TCP port in tgid's network namespace, 0 if not, -1 if unknown. */
int listening_has(struct listening *l, uint32_t tgid, uint16_t port, uint64_t now_ns);

#endif
