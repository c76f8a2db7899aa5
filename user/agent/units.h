/* Units of work for per-request attribution (issue #15). Each process running asyncio or gevent
 * is inspected once (user/probes/pyunits.c) and published to the kernel side, whose records then
 * carry the Context their I/O was made in. Here each (process, Context) becomes a worker id above
 * every real thread id, so attribution keyed by "thread" follows tasks and greenlets with no
 * change to the parsers; records without a Context keep their thread id. */
#ifndef UNITS_H
#define UNITS_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "pyvitals.h"
#include "pyunits.h"
#include "attribution.h"

#define UNIT_WORKER_BASE 0x80000000u /* worker ids from here on name a Context, not a thread */

struct units;
struct bpf_program;

/* map_fd: the socket object's py_units map; bits: its unit_bits; copy_prog: the uretprobe
 * program for PyContext_CopyCurrent (NULL: copies are not followed). NULL on out of memory. */
struct units *units_new(int map_fd, __u64 *bits, struct bpf_program *copy_prog);
void units_free(struct units *u);
/* Look at pid (of service) once, then again every 30 s while it runs no event loop (asyncio may
 * be imported late). The kind it found, for the service's attribution method. */
enum py_unit_kind units_add_pid(struct units *u, int pid, const char **why);
/* Who made this I/O, for attribution: a worker id for its Context, else its thread id. */
uint32_t units_worker(struct units *u, const struct pv_data_event *e);
static inline bool units_is_context(uint32_t worker) { return worker >= UNIT_WORKER_BASE; }
/* A Context was copied (a task created, a call handed to a thread): the copy is a new worker
 * that descends from the Context it was copied from, and from that one's ancestors. */
void units_copy(struct units *u, const struct pv_unit_copy_event *e);
/* attribution's lineage callback (attr_set_lineage): the worker ids worker's Context was copied
 * from, nearest first (ATTR_LINEAGE at most), and whether it is lone. */
int units_lineage(void *u, uint32_t worker, uint32_t *anc, bool *lone);
/* Forget Contexts quiet for a while (their tasks ended) and processes that exited; all when
 * now is UINT64_MAX. */
void units_sweep(struct units *u, uint64_t now);
#endif
