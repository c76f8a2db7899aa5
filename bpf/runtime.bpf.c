// SPDX-License-Identifier: GPL-2.0
/* Interpreter health in the kernel: GIL wait from the scheduler (no uprobe), GC collections
 * and pauses from USDT or uprobes. Everything is summed per service in rt_stats; nothing is
 * sent per event. Userspace (user/runtime.c) fills rt_procs with each process's GIL address
 * range and attaches the GC programs to each interpreter file with pid = -1. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
/* usdt.bpf.h includes <linux/errno.h> -> <asm/errno.h>, which Debian keeps in
 * /usr/include/<triplet>/: BPFFLAGS needs -I/usr/include/$(uname -m)-linux-gnu. Without it the
 * USDT programs are left out and userspace reports GC as unavailable on USDT-only builds. */
#if __has_include(<asm/errno.h>)
#include <bpf/usdt.bpf.h>
#define RT_HAVE_USDT 1
#endif
#include "pyvitals.h"

char LICENSE[] SEC("license") = "GPL";

#include "syscalls.bpf.h"

#include "tracked.bpf.h"
#include "pidbits.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct pv_rt_proc);
} rt_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PV_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct pv_rt_stats);
} rt_stats SEC(".maps");

/* Per thread of a watched process, freed with the thread: when it blocked on the GIL, and its
 * process's GIL range copied from rt_procs. The copy spares the scheduler a hash lookup at
 * every futex wait (the lookup was a third of a watched thread's switch); it is refreshed
 * when rt_gen moves on. */
struct gil_wait {
	__u64 start;
	__u64 gil_lo, gil_mid, gil_hi;  /* gil_hi 0: no GIL known */
	__u32 service;
	__u32 is_switch;
	__u32 gen;                      /* rt_gen when the range was copied; 0: never */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gil_wait);
} gil_wait SEC(".maps");

/* A collection in flight, per thread (a collection never nests). */
struct gc_run {
	__u64 start;
	__u64 collections[3]; /* generation_stats snapshot when the generation is not passed */
	__s32 gen;            /* -1: find it from the snapshot at the end */
	__u32 service;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct gc_run);
} gc_runs SEC(".maps");

struct pv_rt_counters rt_counters = {};

/* Set when userspace created the tracked map itself (standalone use): then nobody else makes
 * it follow fork and exit, so this object does. */
const volatile __u32 rt_own_tracked = 0;

/* tgids that may have an rt_procs entry with a GIL range (userspace and rt_fork set their bit
 * first): every context switch on the host passes through rt_sched_switch, and all but the
 * watched processes' leave after this one load. */
__u64 rt_gil_bits[PV_TRACKED_BITS / 64] = {};
/* Bumped, here and by userspace, whenever an rt_procs GIL range changes; never 0. */
__u32 rt_gen = 1;

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, s;
	s = (v > 0xffffffffULL) << 5; v >>= s; r |= s;
	s = (v > 0xffff) << 4; v >>= s; r |= s;
	s = (v > 0xff) << 3; v >>= s; r |= s;
	s = (v > 0xf) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	return r | (__u32)(v >> 1);
}

static __always_inline struct pv_rt_stats *stats_of(__u32 service)
{
	if (service >= PV_MAX_SERVICES) {
		__sync_fetch_and_add(&rt_counters.bad_service, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&rt_stats, &service);
}

/* ---- GIL: futex waits on the GIL's condvar/mutex, seen at context switch ---- */

/* The time of a switch: the run queue's clock, which __schedule() updated just before the
 * tracepoint, reached through a task on it (the per-CPU runqueues symbol is not resolvable on
 * kernels without KALLSYMS_ALL). One chain of loads where bpf_ktime_get_ns() cost ~36 ns here,
 * twice per GIL wait. Kernels without group scheduling fall back to the helper. */
static __always_inline __u64 switch_time(struct task_struct *t)
{
	struct cfs_rq *cfs;
	struct rq *rq;

	if (!bpf_core_field_exists(t->se.cfs_rq) || !bpf_core_field_exists(struct cfs_rq, rq))
		return bpf_ktime_get_ns();
	cfs = t->se.cfs_rq;
	rq = cfs ? cfs->rq : NULL;
	return rq ? rq->clock : bpf_ktime_get_ns();
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rt_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct gil_wait *w;
	struct pv_rt_proc *p;
	struct pt_regs *regs;
	__u64 uaddr;
	__u32 tgid, gen;

	/* Switch-in side: a thread that blocked on the GIL runs again. */
	w = pidbits_test(rt_gil_bits, (__u32)next->tgid) ? bpf_task_storage_get(&gil_wait, next, 0, 0) : NULL;
	if (w && w->start) {
		__u64 now = switch_time(next), d = now > w->start ? now - w->start : 0;
		struct pv_rt_stats *s = stats_of(w->service);
		w->start = 0;
		if (s) {
			/* per-CPU, and the scheduler is not reentered on this CPU: plain adds */
			if (w->is_switch) {
				s->gil_switch_ns += d;
				s->gil_switches++;
			} else {
				s->gil_wait_ns += d;
				s->gil_waits++;
			}
		}
	}

	/* Switch-out side: only a thread that really blocks (not preempted) in futex matters.
	 * The register check is cheaper than the map lookup, so it comes first. */
	if (preempt || prev_state == 0)
		return 0;
	tgid = prev->tgid;
	if (!pidbits_test(rt_gil_bits, tgid))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (!regs || SYSCALL_NR(regs) != NR_futex)
		return 0;
	w = bpf_task_storage_get(&gil_wait, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w) {
		__sync_fetch_and_add(&rt_counters.storage_fail, 1);
		return 0;
	}
	gen = rt_gen;
	if (w->gen != gen) {
		p = bpf_map_lookup_elem(&rt_procs, &tgid);
		w->gil_hi = p ? p->gil_hi : 0;
		if (p) {
			w->gil_lo = p->gil_lo;
			w->gil_mid = p->gil_mid;
			w->service = p->service;
		}
		w->gen = gen;
	}
	uaddr = PT_REGS_PARM1_SYSCALL(regs);
	if (uaddr < w->gil_lo || uaddr >= w->gil_hi)
		return 0;
	w->start = switch_time(prev);
	w->is_switch = uaddr >= w->gil_mid;
	return 0;
}

/* A forked child has its parent's address space, so it gets the parent's addresses at once;
 * userspace checks them when it learns about the child. Threads share the tgid entry. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(rt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct pv_rt_proc *p, copy;

	if (ptgid == ctgid)
		return 0;
	if (rt_own_tracked) {
		struct pv_proc_info *info = bpf_map_lookup_elem(&tracked, &ptgid);
		if (info && bpf_map_update_elem(&tracked, &ctgid, info, BPF_ANY))
			__sync_fetch_and_add(&rt_counters.procs_map_full, 1);
	}
	p = bpf_map_lookup_elem(&rt_procs, &ptgid);
	if (!p)
		return 0;
	copy = *p;
	copy.flags |= PV_RT_F_FORKED;
	if (copy.gil_hi)
		pidbits_set(rt_gil_bits, ctgid, true);
	if (bpf_map_update_elem(&rt_procs, &ctgid, &copy, BPF_ANY))
		__sync_fetch_and_add(&rt_counters.procs_map_full, 1);
	return 0;
}

/* After exec the addresses mean nothing: keep the entry (so userspace notices) but clear them. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(rt_exec, struct task_struct *task)
{
	__u32 tgid = task->tgid;
	struct pv_rt_proc *p = bpf_map_lookup_elem(&rt_procs, &tgid);

	if (!p)
		return 0;
	p->gil_lo = p->gil_mid = p->gil_hi = 0;
	p->gc_stats = 0;
	p->flags |= PV_RT_F_EXECED;
	__sync_fetch_and_add(&rt_gen, 1); /* the exec'ing thread keeps its copy of the range */
	return 0;
}

/* The group leader leaving ends the process (in practice); a recycled pid must not inherit. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(rt_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid != task->tgid)
		return 0;
	bpf_map_delete_elem(&rt_procs, &tgid);
	pidbits_set(rt_gil_bits, tgid, false);
	if (rt_own_tracked)
		bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

/* ---- GC: start and end of each collection ---- */

static __always_inline int read_collections(__u32 tgid, __u64 out[3])
{
	struct pv_rt_proc *p = bpf_map_lookup_elem(&rt_procs, &tgid);

	if (!p || !p->gc_stats)
		return -1;
	for (int i = 0; i < 3; i++)
		if (bpf_probe_read_user(&out[i], sizeof(out[i]), (void *)(p->gc_stats + i * p->gc_stride)))
			return -1;
	return 0;
}

static __always_inline int gc_begin(int gen)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct pv_proc_info *info = bpf_map_lookup_elem(&tracked, &tgid);
	struct gc_run run = {};

	if (!info)
		return 0;
	run.gen = gen;
	run.service = info->service;
	if (gen < 0 && read_collections(tgid, run.collections))
		run.gen = PV_RT_GEN_UNKNOWN;
	run.start = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&gc_runs, &tid, &run, BPF_ANY))
		__sync_fetch_and_add(&rt_counters.gc_map_full, 1);
	return 0;
}

static __always_inline int gc_end(void)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns(), d, after[3];
	__u32 tgid = id >> 32, tid = (__u32)id, gen, idx;
	struct gc_run *run = bpf_map_lookup_elem(&gc_runs, &tid);
	struct pv_rt_stats *s;

	if (!run) {
		/* Untracked processes never have a run; count only tracked ones. */
		if (bpf_map_lookup_elem(&tracked, &tgid))
			__sync_fetch_and_add(&rt_counters.gc_unmatched, 1);
		return 0;
	}
	d = now - run->start;
	gen = run->gen >= 0 ? run->gen : PV_RT_GEN_UNKNOWN;
	if (run->gen < 0 && !read_collections(tgid, after)) {
		/* The collected generation's counter is the one that moved; none moved: the call
		 * decided not to collect (3.13 GENERATION_AUTO), so there is nothing to count. */
		gen = 4;
		for (int i = 2; i >= 0; i--)
			if (after[i] != run->collections[i]) {
				gen = i;
				break;
			}
		if (gen == 4) {
			bpf_map_delete_elem(&gc_runs, &tid);
			return 0;
		}
	}
	if (gen > PV_RT_GEN_UNKNOWN)
		gen = PV_RT_GEN_UNKNOWN;
	/* The verifier needs the bound on the register that indexes; a mask survives clang. */
	barrier_var(gen);
	gen &= 3;
	s = stats_of(run->service);
	bpf_map_delete_elem(&gc_runs, &tid);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->gc_collections[gen], 1);
	__sync_fetch_and_add(&s->gc_pause_ns, d);
	if (d > s->gc_pause_max_ns)
		s->gc_pause_max_ns = d;
	idx = pv_rt_bucket(d, log2_u64(d));
	/* Keep the bound check on the register used for the access (clang may copy it). */
	barrier_var(idx);
	if (idx < PV_RT_HIST_BUCKETS)
		__sync_fetch_and_add(&s->gc_hist[idx], 1);
	return 0;
}

#ifdef RT_HAVE_USDT
SEC("usdt")
int BPF_USDT(rt_gc_start_usdt, int gen)
{
	return gc_begin(gen >= 0 && gen <= 2 ? gen : -1);
}

SEC("usdt")
int BPF_USDT(rt_gc_done_usdt, long collected)
{
	return gc_end();
}
#endif

/* gc_collect_main(tstate, int generation, ...) (3.10+) and collect(tstate, int generation, ...)
 * (3.9): the generation is the second argument, except 3.13's automatic collections, which
 * pass -1 (GENERATION_AUTO) and choose inside: then the counters tell. */
SEC("uprobe")
int BPF_KPROBE(rt_gc_enter_arg, void *tstate, int gen)
{
	return gc_begin(gen >= 0 && gen <= 2 ? gen : -1);
}

/* Compiler clones (3.8 collect.constprop.N) may take their arguments anywhere: snapshot the
 * per-generation collection counters instead and see which one the collection moved. */
SEC("uprobe")
int BPF_KPROBE(rt_gc_enter_stats)
{
	return gc_begin(-1);
}

SEC("uretprobe")
int BPF_KRETPROBE(rt_gc_exit)
{
	return gc_end();
}
