/* The running agent: BPF objects loaded and attached for a set of targets, the ring
 * buffer reader, the services' aggregates, and the event loop shared by watch and top. */
#ifndef AGENT_H
#define AGENT_H
#include <stdbool.h>
#include <stdint.h>
#include "conns.h"
#include "kernel_features.h"
#include "options.h"
#include "service.h"

struct pyvitals_bpf;
struct ring_buffer;
struct runtime;
struct sqlite_probe;
struct tls_probe;
struct tls_bind;
struct all_python;

struct agent {
	struct options opt;
	struct features feat;
	enum hooks_choice hooks;
	struct pyvitals_bpf *skel;
	struct ring_buffer *rb;
	struct service services[PV_MAX_SERVICES];
	int nservices;
	struct conn_table *conns;
	struct runtime *rt;           /* interpreter probes; NULL when they could not load */
	char rt_err[256];             /* why not */
	struct sqlite_probe *sqlite;  /* SQLite uprobes; NULL when they could not load */
	char sqlite_err[256];
	struct tls_probe *tls;        /* TLS plaintext uprobes; NULL when off or they could not load */
	char tls_err[256];
	struct tls_bind *tls_bind;    /* ties their records to sockets */
	uint64_t start_ns;            /* CLOCK_MONOTONIC at attach */
	uint64_t last_snap_ns;        /* previous snapshot, for per-interval rates */
	uint64_t unknown_records;     /* ring-buffer records of an unknown type */
	uint64_t lost_chunks;         /* records of a large I/O that could not be joined */
	struct chunks *chunks;
	struct units *units;          /* asyncio/gevent processes: worker ids per task (units.h) */
	struct all_python *ap;        /* --all-python: the discovery's state */
};

/* Load, fill the tracked map, attach. 0, or -1 with a message in err and nothing left attached. */
int agent_start(struct agent *a, const struct options *o, char *err, size_t errlen);
void agent_stop(struct agent *a);
/* agent_stop at the end of a run, done by a child process so that the caller can exit now. */
void agent_finish(struct agent *a);
/* What watch would do for hook set h, without a target: load and attach the socket
 * programs, then unload them. 0, or -1 naming the program and the kernel's reason. */
int agent_check_hooks(const struct options *o, const struct features *f, enum hooks_choice h, char *err,
		      size_t errlen);
/* Drain queued records into the aggregates. */
void agent_drain(struct agent *a);
/* Give every tracked process its per-process probes (idempotent; picks up late-loaded libraries). */
void agent_refresh_probes(struct agent *a);
/* Pids of one service, from the kernel's tracked map (sorted); returns how many. */
int agent_pids(struct agent *a, int service, int *pids, int max);
/* The service a process is tracked in, or -1. */
int agent_service_of(struct agent *a, int pid);
/* True when every -p target and its descendants have exited (never for --comm). */
bool agent_targets_gone(struct agent *a);
uint64_t agent_lost_events(struct agent *a);
/* The part of them that socket and TLS traffic lost (records, processes not tracked): while
 * any, no service's request counts are exact. */
uint64_t agent_socket_losses(struct agent *a);
/* Put pid in service (the kernel follows its forks from now on). */
int agent_track(struct agent *a, int pid, int service);
/* The command line of pid, arguments joined by spaces ("" when unreadable). */
void agent_cmdline(int pid, char *buf, size_t len);
/* A new service for the application whose topmost process is root and command line key: a new
 * slot, or one of a dropped service. Its index, or -1 when every slot is taken. */
int agent_add_service(struct agent *a, int root, const char *key);
/* The service's processes all exited (--all-python): out of every output, its slot reusable. */
void agent_drop_service(struct agent *a, int service);

/* --all-python (all_python.c): find CPython processes not yet watched, drop exited services. */
int all_python_scan(struct agent *a);
/* A watched process exec'd: a CPython program of another command line moves to its own
 * service. Returns the process's service. */
int all_python_exec(struct agent *a, int pid, int service);
uint64_t all_python_unwatched(const struct agent *a); /* left out at the last scan: slots full */
void all_python_free(struct agent *a);
const struct pv_counters *agent_counters(struct agent *a);  /* the kernel side's drop counters */
uint64_t agent_now_ns(void);

/* The event loop: calls snapshot every interval and once more, with final, when the run
 * ends (signal, --duration, targets gone, or key returning non-zero for a keypress). */
struct agent_loop {
	int (*snapshot)(struct agent *a, bool final, void *ctx);
	int (*key)(struct agent *a, int ch, void *ctx);  /* NULL: stdin is not read */
	void *ctx;
};
int agent_run(struct agent *a, const struct agent_loop *loop);
#endif
