/* Worker ids for Contexts, and publishing processes' py_units entries: see units.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pidbits.h"
#include "proc.h"
#include "units.h"

#define CTX_BUCKETS 65536 /* a busy asyncio service makes thousands of Contexts a second */
#define SWEEP_EVERY_NS 1000000000ull
#define RECHECK_NS 30000000000ull
/* Contexts quiet this long are forgotten: one that did I/O after a minute (a slow request's task
 * may wait on an upstream for a while; attribution keeps its calls as long), one that only
 * existed (most copies are call_soon handles and done-callbacks) after 10 s. */
#define IDLE_IO_NS 60000000000ull
#define IDLE_BARE_NS 10000000000ull

struct ctx_entry {
	uint32_t tgid, id;
	uint64_t ctx, last_ns;
	bool io, current;               /* did I/O; still the Context at ctx (not a reused address) */
	uint8_t nanc;
	uint32_t anc[ATTR_LINEAGE];     /* worker ids of the Contexts it was copied from, nearest first */
	struct ctx_entry *next, *next_id; /* chains by (tgid, ctx) while current, and by id */
};

struct unit_proc {
	int pid;
	unsigned long long start;
	enum py_unit_kind kind;
	uint64_t next_ns;
	struct bpf_link *copy_link;     /* uretprobe on PyContext_CopyCurrent, this process only */
	char why[200];
};

struct units {
	int map_fd;
	__u64 *bits;
	struct bpf_program *copy_prog;
	struct ctx_entry *buckets[CTX_BUCKETS], *by_id[CTX_BUCKETS];
	uint32_t next_id;
	uint64_t next_sweep;
	struct unit_proc *procs;
	int nprocs, cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct units *units_new(int map_fd, __u64 *bits, struct bpf_program *copy_prog)
{
	struct units *u = calloc(1, sizeof(*u));

	if (u) {
		u->map_fd = map_fd;
		u->bits = bits;
		u->copy_prog = copy_prog;
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

static struct unit_proc *find_proc(const struct units *u, int pid)
{
	for (int i = 0; i < u->nprocs; i++)
		if (u->procs[i].pid == pid)
			return &u->procs[i];
	return NULL;
}

static struct unit_proc *proc_of(struct units *u, int pid)
{
	struct unit_proc *p = find_proc(u, pid);

	if (p)
		return p;
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
	struct pv_unit_cfg cfg = { .tss_off = pu->tss_off, .ctx_off = pu->ctx_off, .entered_off = pu->entered_off };
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

/* Sub-tasks and thread hand-offs are tied through the copies of their Context: without the
 * probe their calls stay untied (and are counted as such). */
static void attach_copies(struct units *u, struct unit_proc *p, const struct py_units *pu)
{
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .retprobe = true);

	bpf_link__destroy(p->copy_link);
	p->copy_link = NULL;
	if (pu->kind != PY_UNITS_TASK || !u->copy_prog)
		return;
	if (!pu->copy_off) {
		snprintf(p->why, sizeof(p->why), "PyContext_CopyCurrent not found in %.100s: sub-tasks and "
			 "thread hand-offs are not followed", pu->lib);
		return;
	}
	p->copy_link = bpf_program__attach_uprobe_opts(u->copy_prog, p->pid, pu->lib, pu->copy_off, &ret);
	if (!p->copy_link)
		snprintf(p->why, sizeof(p->why), "attaching a uretprobe to PyContext_CopyCurrent failed (%s): "
			 "sub-tasks and thread hand-offs are not followed", strerror(errno));
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
	attach_copies(u, p, &pu);
	*why = p->why;
	return p->kind;
}

static unsigned ctx_bucket(uint32_t tgid, uint64_t ctx)
{
	return (unsigned)((ctx >> 4 ^ tgid * 2654435761u) % CTX_BUCKETS);
}

static struct ctx_entry *by_ctx(struct units *u, uint32_t tgid, uint64_t ctx)
{
	for (struct ctx_entry *c = u->buckets[ctx_bucket(tgid, ctx)]; c; c = c->next)
		if (c->ctx == ctx && c->tgid == tgid)
			return c;
	return NULL;
}

static struct ctx_entry *by_id(const struct units *u, uint32_t id)
{
	for (struct ctx_entry *c = u->by_id[id % CTX_BUCKETS]; c; c = c->next_id)
		if (c->id == id)
			return c;
	return NULL;
}

/* The Context at ctx is no longer what its entry describes (a new one was made at the same
 * address): lookups by ctx stop finding it; its id still answers for calls made under it. */
static void retire(struct units *u, struct ctx_entry *c)
{
	for (struct ctx_entry **pp = &u->buckets[ctx_bucket(c->tgid, c->ctx)]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->current = false;
}

static struct ctx_entry *add_ctx(struct units *u, uint32_t tgid, uint64_t ctx, uint64_t now)
{
	struct ctx_entry *c = calloc(1, sizeof(*c));
	unsigned b = ctx_bucket(tgid, ctx);

	if (!c)
		return NULL;
	c->tgid = tgid;
	c->ctx = ctx;
	c->last_ns = now;
	c->current = true;
	c->id = u->next_id++;
	if (u->next_id < UNIT_WORKER_BASE) /* wrapped after 2^31 Contexts */
		u->next_id = UNIT_WORKER_BASE;
	c->next = u->buckets[b];
	u->buckets[b] = c;
	c->next_id = u->by_id[c->id % CTX_BUCKETS];
	u->by_id[c->id % CTX_BUCKETS] = c;
	return c;
}

uint32_t units_worker(struct units *u, const struct pv_data_event *e)
{
	struct ctx_entry *c;

	if (!e->unit || !u)
		return e->tid;
	if (!(c = by_ctx(u, e->tgid, e->unit)) && !(c = add_ctx(u, e->tgid, e->unit, e->ts_ns)))
		return e->tid;
	c->last_ns = e->ts_ns;
	c->io = true;
	/* the tasks it was made for are busy too, even if they only wait for it */
	for (unsigned i = 0; i < c->nanc; i++) {
		struct ctx_entry *a = by_id(u, c->anc[i]);

		if (a && a->last_ns < e->ts_ns)
			a->last_ns = e->ts_ns;
	}
	return c->id;
}

void units_copy(struct units *u, const struct pv_unit_copy_event *e)
{
	struct ctx_entry *p, *c;

	if (!u || !e->parent || !e->child || e->parent == e->child)
		return;
	if (!(p = by_ctx(u, e->tgid, e->parent)) && !(p = add_ctx(u, e->tgid, e->parent, e->ts_ns)))
		return;
	p->last_ns = e->ts_ns;
	if ((c = by_ctx(u, e->tgid, e->child)))
		retire(u, c);
	if (!(c = add_ctx(u, e->tgid, e->child, e->ts_ns)))
		return;
	c->anc[0] = p->id;
	c->nanc = 1;
	for (unsigned i = 0; i < p->nanc && c->nanc < ATTR_LINEAGE; i++)
		c->anc[c->nanc++] = p->anc[i];
}

int units_lineage(void *units, uint32_t worker, uint32_t *anc, bool *lone)
{
	struct units *u = units;
	const struct ctx_entry *c;
	const struct unit_proc *p;

	*lone = !units_is_context(worker);
	if (*lone || !(c = by_id(u, worker)))
		return 0;
	memcpy(anc, c->anc, c->nanc * sizeof(*anc));
	/* asyncio copies a Context for every task: one that is nobody's copy is a thread's own
	 * (greenlets' are never copies, and each answers its own requests) */
	if (!c->nanc && (p = find_proc(u, (int)c->tgid)))
		*lone = p->kind == PY_UNITS_TASK;
	return c->nanc;
}

void units_sweep(struct units *u, uint64_t now)
{
	if (!u || (now != UINT64_MAX && now < u->next_sweep))
		return;
	u->next_sweep = now + SWEEP_EVERY_NS;
	for (unsigned b = 0; b < CTX_BUCKETS; b++)
		for (struct ctx_entry **pp = &u->by_id[b]; *pp;) {
			struct ctx_entry *c = *pp;
			uint64_t idle = c->io ? IDLE_IO_NS : IDLE_BARE_NS;

			if (now == UINT64_MAX || c->last_ns + idle < now) {
				*pp = c->next_id;
				if (c->current)
					retire(u, c);
				free(c);
			} else {
				pp = &c->next_id;
			}
		}
	for (int i = u->nprocs - 1; i >= 0; i--)
		if (now == UINT64_MAX || !proc_alive(u->procs[i].pid)) {
			bpf_link__destroy(u->procs[i].copy_link);
			u->procs[i] = u->procs[--u->nprocs];
		}
}
