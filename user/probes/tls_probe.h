/* TLS plaintext (issue #10): uprobes on OpenSSL's SSL_read/SSL_write(_ex) in every libssl the
 * watched processes map. bpf/tls.bpf.c sends the plaintext into the socket object's ring
 * buffer as PV_EV_TLS records; user/agent/tls_bind.c ties them to their sockets.
 *
 * Files, not processes, are probed (pid -1, as the SQLite probes): the system libssl.so.3 that
 * Python's _ssl and libpq load, a wheel's private copy (*.libs/libssl-*.so*), or any mapped
 * file whose name says ssl and that defines SSL_write (OpenSSL linked statically into an
 * extension or interpreter). The host's libssl.so.3 is probed at start, so an `import ssl` or
 * a worker forked later is seen from its first call; a process that maps no probed copy is
 * looked at again every second. Other processes using a probed file take the trap too (a few
 * us per call) while pyvitals runs; their calls are ignored after one map lookup. */
#ifndef TLS_PROBE_H
#define TLS_PROBE_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "pyvitals.h"

struct tls_probe;

/* The socket object's maps the TLS object writes into, and its capture settings. */
struct tls_probe_maps {
	int tracked_fd, events_fd, unwoken_fd, units_fd;
	struct pv_tls_config cfg;
};

/* Load the BPF object and probe the host's libssl. 0 or -errno + err. */
int tls_probe_open(struct tls_probe **out, const struct tls_probe_maps *m, char *err, size_t errlen);
/* Look at pid's maps (when a look is due) and probe the copies of libssl it maps. 0, or
 * -errno + err for a new failure (each told once). */
int tls_probe_add_pid(struct tls_probe *tp, int pid, char *err, size_t errlen);
void tls_probe_forget(struct tls_probe *tp, int pid);
/* Plaintext bytes to copy per call on one SSL of tgid (its protocol is known now). */
void tls_probe_set_capture(struct tls_probe *tp, uint32_t tgid, uint64_t ssl, uint32_t capture);
/* Does pid map a libssl that is probed? (Else its TLS connections cannot be read.) A process
 * not covered yet is looked at now: *late says its probes went in only now (it loaded a
 * private libssl since its last look), so calls it made with it until now were missed. */
bool tls_probe_covers(struct tls_probe *tp, int pid, bool *late);
const struct pv_tls_counters *tls_probe_counters(struct tls_probe *tp);
void tls_probe_close(struct tls_probe *tp);

/* The TLS libraries the processes pids[0..n) map, for the JSON: fn once per library. */
typedef void (*tls_lib_fn)(void *ctx, const char *path, bool probed, const char *why);
void tls_probe_libraries(struct tls_probe *tp, const int *pids, int n, tls_lib_fn fn, void *ctx);

/* For doctor: the files pid maps that look like TLS libraries and whether they define the
 * functions probed (no BPF needed). */
void tls_probe_describe_pid(FILE *out, int pid);

/* ---- exported for the unit tests ---- */
/* Is this mapped file a TLS library candidate by its name ("libssl.so.3", "libssl-1b2c.so.3",
 * "_ssl.cpython-311-x86_64-linux-gnu.so")? */
bool tls_lib_name(const char *path);
/* One line of /proc/PID/maps: its file, if it may hold OpenSSL: named like an SSL library, or the
 * executable exe or a libpython (OpenSSL linked in statically; their symbols decide). */
struct tls_mapped {
	unsigned long long start, end, ino;
	unsigned int maj, min;
	char path[512];
	bool deleted;
};
bool tls_maps_line(const char *line, const char *exe, struct tls_mapped *m);
#endif
