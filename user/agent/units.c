/* Worker ids for Contexts, and publishing processes' py_units entries: see units.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "pidbits.h"
#include "proc.h"
#include "units.h"

#define CTX_BUCKETS 4096
#define RECHECK_NS 30000000000ull

struct ctx_entry {
	uint32_t tgid, id;
	uint64_t ctx, last_ns;
	struct ctx_entry *next;
};

struct unit_proc {
	int pid;
	unsigned long long start;
	enum py_unit_kind kind;
	uint64_t next_ns;
	char why[200];
};

struct units {
	int map_fd;
	__u64 *bits;
	struct ctx_entry *buckets[CTX_BUCKETS];
	uint32_t next_id;
	struct unit_proc *procs;
	int nprocs, cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct units *units_new(int map_fd, __u64 *bits)
{
	struct units *u = calloc(1, sizeof(*u));

	if (u) {
		u->map_fd = map_fd;
		u->bits = bits;
		u->next_id = UNIT_WORKER_BASE;
	}
	return u;
}

void units_free(struct units *u)
{
	if (!u)
		return;
	units_sweep(u, UINT64_MAX);
	free(u->procs);
	free(u);
}

static struct unit_proc *proc_of(struct units *u, int pid)
{
	for (int i = 0; i < u->nprocs; i++)
		if (u->procs[i].pid == pid)
			return &u->procs[i];
	if (u->nprocs == u->cap) {
		int cap = u->cap ? u->cap * 2 : 16;
		struct unit_proc *n = realloc(u->procs, (size_t)cap * sizeof(*n));

		if (!n)
			return NULL;
		u->procs = n;
		u->cap = cap;
	}
	memset(&u->procs[u->nprocs], 0, sizeof(u->procs[0]));
	u->procs[u->nprocs].pid = pid;
	return &u->procs[u->nprocs++];
}

/* The bit first, as for the tracked map: an I/O must never find the entry without its bit. */
static void publish(struct units *u, int pid, const struct py_units *pu)
{
	struct pv_unit_cfg cfg = { .tss_off = pu->tss_off, .ctx_off = pu->ctx_off };
	__u32 key = (__u32)pid;

	if (pu->kind == PY_UNITS_THREAD) {
		bpf_map_delete_elem(u->map_fd, &key);
		pidbits_set(u->bits, key, false);
		return;
	}
	pidbits_set(u->bits, key, true);
	if (bpf_map_update_elem(u->map_fd, &key, &cfg, BPF_ANY))
		pidbits_set(u->bits, key, false);
}

enum py_unit_kind units_add_pid(struct units *u, int pid, const char **why)
{
	struct unit_proc *p = proc_of(u, pid);
	unsigned long long start = proc_start_time(pid);
	uint64_t now = now_ns();
	struct py_units pu;

	*why = "";
	if (!p)
		return PY_UNITS_THREAD;
	if (p->start == start && now < p->next_ns) {
		*why = p->why;
		return p->kind;
	}
	p->start = start;
	if (pyunits_inspect(pid, &pu)) {
		pu.kind = PY_UNITS_THREAD;
		pu.why[0] = 0; /* not Python, or gone: not ours to explain here */
	}
	p->kind = pu.kind;
	snprintf(p->why, sizeof(p->why), "%s", pu.why);
	/* an event loop stays; a process without one may import asyncio later */
	p->next_ns = pu.kind == PY_UNITS_THREAD ? now + RECHECK_NS : UINT64_MAX;
	publish(u, pid, &pu);
	*why = p->why;
	return p->kind;
}

uint32_t units_worker(struct units *u, const struct pv_data_event *e)
{
	struct ctx_entry **b, *c;

	if (!e->unit || !u)
		return e->tid;
	b = &u->buckets[(e->unit >> 4 ^ e->tgid * 2654435761u) % CTX_BUCKETS];
	for (c = *b; c; c = c->next)
		if (c->ctx == e->unit && c->tgid == e->tgid)
			break;
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return e->tid;
		c->tgid = e->tgid;
		c->ctx = e->unit;
		c->id = u->next_id++;
		if (u->next_id < UNIT_WORKER_BASE) /* wrapped after 2^31 Contexts */
			u->next_id = UNIT_WORKER_BASE;
		c->next = *b;
		*b = c;
	}
	c->last_ns = e->ts_ns;
	return c->id;
}

void units_sweep(struct units *u, uint64_t older_than_ns)
{
	for (unsigned b = 0; b < CTX_BUCKETS; b++)
		for (struct ctx_entry **pp = &u->buckets[b]; *pp;) {
			struct ctx_entry *c = *pp;

			if (c->last_ns < older_than_ns) {
				*pp = c->next;
				free(c);
			} else {
				pp = &c->next;
			}
		}
	for (int i = u->nprocs - 1; i >= 0; i--)
		if (older_than_ns == UINT64_MAX || !proc_alive(u->procs[i].pid))
			u->procs[i] = u->procs[--u->nprocs];
}
