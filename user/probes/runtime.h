/* Interpreter health per service (issue #4): GIL wait (futex waits on the GIL seen at context
 * switch), GC collections and pauses (USDT or uprobes on the GC entry point), and the live
 * Python thread count. Counters are kept in the kernel per service, cumulative since attach.
 *
 * Order of calls: runtime_open (before or after the socket object is loaded, with its tracked
 * map fd) -> runtime_add_pid for each target pid once it is in the tracked map -> write_json /
 * summary on each snapshot. Forked children that the tracked map picks up are found by the
 * module itself at the next write_json/summary; runtime_add_pid for them is harmless. */
#ifndef RUNTIME_H
#define RUNTIME_H
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct runtime;

/* Load the runtime BPF object, sharing the tracked map (fd < 0: create a private one). 0 or -errno, message in err. */
int runtime_open(struct runtime **out, int tracked_map_fd, char *err, size_t errlen);
/* Discover the interpreter of pid and attach what it needs (idempotent per interpreter file). 0 or -errno (+ err). Never fails the caller's whole run: signals that can't be had go into 'unavailable'. */
int runtime_add_pid(struct runtime *rt, int pid, int service, char *err, size_t errlen);
void runtime_forget_pid(struct runtime *rt, int pid);
/* Write the value of the "runtime" key for one service (a JSON object, cumulative since attach), window_s = seconds since attach. */
void runtime_write_json(struct runtime *rt, int service, FILE *out, double window_s);
/* A service's figures for /metrics and /health, cumulative since attach. */
struct runtime_values {
	bool gil, gc;                /* the signal is available for the service */
	uint64_t gil_wait_ns, gil_waits;
	uint64_t gc_collections[4];  /* generations 0, 1, 2, then unknown */
	uint64_t gc_pause_ns;
	uint64_t gc_pauses_below[24]; /* pauses shorter than 2^(10 + i) ns, i < 24 (cumulative) */
	uint64_t gc_pauses;
	int threads;                 /* -1 when unknown */
	int processes;
};
#define RUNTIME_PAUSE_BOUND_NS(i) (1ull << (10 + (i)))
void runtime_values(struct runtime *rt, int service, struct runtime_values *out);
/* Forget a service's counters (its slot is about to serve another service). */
void runtime_reset_service(struct runtime *rt, int service);
/* For the text/top view: one summary line. */
void runtime_summary(struct runtime *rt, int service, char *buf, size_t len, double window_s);
/* For doctor -p PID: executable, CPython version, which signals are available and via what, and why not. */
void runtime_describe_pid(FILE *out, int pid);
/* Why the scheduler hook (GIL wait) did not attach, or "" when it did. */
const char *runtime_gil_problem(const struct runtime *rt);
void runtime_close(struct runtime *rt);
#endif
