/* Which unit of work a Python process switches between on one thread, and where a BPF program
 * finds the current one (issue #15): the contextvars Context in the thread's PyThreadState,
 * reached from the thread pointer through glibc's pthread_getspecific slot of the interpreter's
 * autoTSSkey. asyncio gives each task its own Context and greenlet swaps it at every switch, so
 * the pointer names the task or greenlet a socket I/O was made for. Read from outside with
 * process_vm_readv and checked against the process's own thread list before use. */
#ifndef PYUNITS_H
#define PYUNITS_H
#include <stdint.h>
#include <stdio.h>

enum py_unit_kind {
	PY_UNITS_THREAD = 0, /* no event loop imported: requests are told apart by thread */
	PY_UNITS_TASK,       /* asyncio (uvicorn, uvloop, aiohttp, hypercorn) */
	PY_UNITS_GREENLET,   /* gevent */
};

struct py_units {
	enum py_unit_kind kind;
	uint32_t tss_off;    /* thread pointer + tss_off holds the thread's PyThreadState * */
	uint32_t ctx_off;    /* PyThreadState.context */
	uint32_t entered_off; /* PY_UNITS_TASK: PyContext.ctx_entered (else 0: not checked) */
	int threads_checked; /* thread states whose slot was found to point back at them */
	char lib[4160];      /* PY_UNITS_TASK: the interpreter file, as reachable from here */
	uint64_t copy_off;   /* its PyContext_CopyCurrent (a file offset, for a uretprobe); 0 if none */
	char why[200];       /* PY_UNITS_THREAD: why (no event loop, or the check that failed) */
};

/* Inspect pid. 0 with u->kind set (THREAD and u->why when the process runs no event loop or
 * its thread states cannot be reached), or -errno when it is not a Python we can read. */
int pyunits_inspect(int pid, struct py_units *u);
/* doctor -p: how this process's requests are told apart, and why not per task when not. */
void pyunits_describe_pid(FILE *out, int pid);
/* The attribution method's name in the JSON: "per-thread", "per-task", "per-greenlet". */
const char *pyunits_method(enum py_unit_kind kind);
#endif
