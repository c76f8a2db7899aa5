/* Ties TLS plaintext records (an SSL * and the thread that called) to the socket that carried
 * them. OpenSSL keeps the socket to itself (or has none: asyncio's SSLObject works over
 * memory BIOs and the event loop moves the ciphertext), so this follows the threads:
 *   1. a socket I/O the same thread made during the SSL call (blocking and non-blocking
 *      sockets: SSL_read/SSL_write do the recv/send themselves);
 *   2. else the socket this SSL was tied to before, while that connection lives;
 *   3. else, for a read, the thread's last receive (the loop reads the ciphertext, then
 *      feeds the SSLObject); for a write, the thread's next send (the loop sends what the
 *      SSLObject produced): the plaintext is held until then.
 * Records arrive in the order the threads made them (one ring buffer), which is what makes
 * "during", "last" and "next" exact for one thread. */
#ifndef TLS_BIND_H
#define TLS_BIND_H
#include <stdbool.h>
#include <stdint.h>
#include "pyvitals.h"

struct tls_bind;

enum tls_sock_state { TLS_SOCK_GONE, TLS_SOCK_PLAIN, TLS_SOCK_OTHER };
struct tls_bind_ops {
	/* the plaintext e belongs to socket sk */
	void (*feed)(void *ctx, uint64_t sk, uint64_t ssl, const struct pv_data_event *e);
	/* GONE: no live connection; PLAIN: one that carries a protocol in clear (not a carrier);
	 * *id: which connection (a later socket at a reused address is another) */
	enum tls_sock_state (*state)(void *ctx, uint64_t sk, uint64_t *id);
	void *ctx;
};

struct tls_bind_counters {
	uint64_t in_call, known, recv_before, send_after; /* records tied, by rule */
	uint64_t unbound;      /* records no socket could be found for (dropped) */
};

struct tls_bind *tls_bind_new(const struct tls_bind_ops *ops);
void tls_bind_free(struct tls_bind *b);
/* A socket record of a tracked thread, after the connection table saw it. */
void tls_bind_socket_io(struct tls_bind *b, const struct pv_data_event *e);
/* A plaintext record (PV_EV_TLS, joined). */
void tls_bind_plain(struct tls_bind *b, const struct pv_data_event *e);
/* Forget threads idle since before older_than_ns (their held plaintext is counted unbound) and
 * the ties of connections that closed; UINT64_MAX forgets everything. */
void tls_bind_sweep(struct tls_bind *b, uint64_t older_than_ns);
void tls_bind_counters(const struct tls_bind *b, struct tls_bind_counters *out);
#endif
