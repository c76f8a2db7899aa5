/* Interpreter health: load runtime.bpf.c, place each tracked process's GIL in rt_procs,
 * attach the GC probes once per interpreter file (pid = -1, filtered in BPF by the tracked
 * map, so forked workers count from their first collection), and report per service. */
#include "runtime.h"
#include "series.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "pidbits.h"
#include "pyinfo.h"
#include "pyvitals.h"
#include "runtime.skel.h"
#include "json.h"
#include "proc.h"

#define RT_MAX_FILES 32
#define RT_MAX_LINKS 8
#define RT_WHY 240

struct rt_file {
	dev_t dev;
	ino_t ino;
	enum py_gc_kind kind;
	int nlinks;
	struct bpf_link *links[RT_MAX_LINKS];
	char why[RT_WHY];      /* GC attach failure, empty when attached */
};

struct rt_proc {
	int pid, service;
	unsigned long long start;  /* starttime from /proc/PID/stat: detects pid reuse */
	struct timespec tried;     /* last discovery; an incomplete one is retried every 5 s */
	struct pyinfo *pi;         /* NULL when discovery failed */
	const struct rt_file *file;
	char why[RT_WHY];          /* discovery failure */
};

struct runtime {
	struct runtime_bpf *skel;
	bool own_tracked;
	char why_no_gil[RT_WHY];   /* global: the scheduler hook did not attach */
	struct bpf_link *links[4];
	struct rt_file files[RT_MAX_FILES];
	int nfiles;
	struct rt_proc *procs;
	int nprocs, cap;
	int ncpu;
	struct timespec last_sync;
};

int runtime_open(struct runtime **out, int tracked_map_fd, char *err, size_t errlen)
{
	struct runtime *rt = calloc(1, sizeof(*rt));
	struct bpf_program *progs[4];
	int r;

	*out = NULL;
	if (!rt) {
		snprintf(err, errlen, "runtime: out of memory");
		return -ENOMEM;
	}
	rt->ncpu = libbpf_num_possible_cpus();
	rt->skel = runtime_bpf__open();
	if (!rt->skel || rt->ncpu <= 0) {
		r = rt->skel ? rt->ncpu : -errno;
		snprintf(err, errlen, "opening the runtime BPF object failed: %s", strerror(-r));
		goto fail;
	}
	rt->own_tracked = tracked_map_fd < 0;
	if (!rt->own_tracked && (r = bpf_map__reuse_fd(rt->skel->maps.tracked, tracked_map_fd))) {
		snprintf(err, errlen, "sharing the tracked map (fd %d) with the runtime object failed: %s "
			 "(is it the socket object's 'tracked' hash map?)", tracked_map_fd, strerror(-r));
		goto fail;
	}
	rt->skel->rodata->rt_own_tracked = rt->own_tracked;
	if ((r = runtime_bpf__load(rt->skel))) {
		snprintf(err, errlen, "loading the runtime BPF object failed: %s (needs kernel BTF and "
			 "tp_btf; see the libbpf messages above, or run pyvitals doctor)", strerror(-r));
		goto fail;
	}
	/* The scheduler hooks are global; the GC probes are attached per interpreter file. */
	progs[0] = rt->skel->progs.rt_sched_switch;
	progs[1] = rt->skel->progs.rt_fork;
	progs[2] = rt->skel->progs.rt_exec;
	progs[3] = rt->skel->progs.rt_exit;
	for (int i = 0; i < 4; i++) {
		rt->links[i] = bpf_program__attach(progs[i]);
		if (!rt->links[i]) {
			r = -errno;
			rt->links[i] = NULL;
			snprintf(rt->why_no_gil, sizeof(rt->why_no_gil), "attaching %s failed: %s",
				 bpf_program__section_name(progs[i]), strerror(-r));
		}
	}
	*out = rt;
	return 0;
fail:
	runtime_bpf__destroy(rt->skel);
	free(rt);
	return r;
}

const char *runtime_gil_problem(const struct runtime *rt)
{
	return rt->why_no_gil;
}

static struct rt_proc *find_proc(struct runtime *rt, int pid)
{
	for (int i = 0; i < rt->nprocs; i++)
		if (rt->procs[i].pid == pid)
			return &rt->procs[i];
	return NULL;
}

static int attach_one(struct rt_file *f, struct bpf_link *link, const char *what)
{
	if (!link) {
		int r = -errno;
		snprintf(f->why, sizeof(f->why), "attaching %s failed: %s", what, strerror(-r));
		return r;
	}
	f->links[f->nlinks++] = link;
	return 0;
}

/* Attach the GC probes of one interpreter file, for every process that maps it. */
static int attach_gc(struct runtime *rt, struct rt_file *f, const struct pyinfo *pi)
{
	const struct pyelf *pe = &pi->elf;
	struct bpf_object *obj = rt->skel->obj;
	struct bpf_program *enter, *exit = rt->skel->progs.rt_gc_exit;
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .retprobe = true);
	int r = 0;

	if (pe->gc_kind == PY_GC_USDT) {
		/* Looked up by name: the USDT programs exist only when usdt.bpf.h could be built. */
		struct bpf_program *s = bpf_object__find_program_by_name(obj, "rt_gc_start_usdt");
		struct bpf_program *d = bpf_object__find_program_by_name(obj, "rt_gc_done_usdt");
		if (!s || !d) {
			snprintf(f->why, sizeof(f->why), "USDT programs not built (BPFFLAGS lacks "
				 "-I/usr/include/$(uname -m)-linux-gnu for <asm/errno.h>)");
			return -ENOTSUP;
		}
		if ((r = attach_one(f, bpf_program__attach_usdt(s, -1, pi->open_path, "python", "gc__start", NULL),
				    "USDT python:gc__start")) ||
		    (r = attach_one(f, bpf_program__attach_usdt(d, -1, pi->open_path, "python", "gc__done", NULL),
				    "USDT python:gc__done")))
			return r;
		return 0;
	}
	if (pe->gc_kind == PY_GC_NONE) {
		snprintf(f->why, sizeof(f->why), "%s", pe->why_no_gc);
		return -ENOTSUP;
	}
	enter = pe->gc_kind == PY_GC_UPROBE_ARG ? rt->skel->progs.rt_gc_enter_arg
						: rt->skel->progs.rt_gc_enter_stats;
	for (int i = 0; i < pe->ngc_funcs && f->nlinks + 2 <= RT_MAX_LINKS; i++) {
		size_t off = (size_t)pe->gc_func_off[i];
		if ((r = attach_one(f, bpf_program__attach_uprobe_opts(enter, -1, pi->open_path, off, NULL),
				    pe->gc_funcs[i])) ||
		    (r = attach_one(f, bpf_program__attach_uprobe_opts(exit, -1, pi->open_path, off, &ret),
				    pe->gc_funcs[i])))
			return r;
	}
	return 0;
}

static const struct rt_file *file_for(struct runtime *rt, const struct pyinfo *pi)
{
	struct rt_file *f;

	for (int i = 0; i < rt->nfiles; i++)
		if (rt->files[i].dev == pi->dev && rt->files[i].ino == pi->ino)
			return &rt->files[i];
	if (rt->nfiles == RT_MAX_FILES)
		return NULL;
	f = &rt->files[rt->nfiles++];
	memset(f, 0, sizeof(*f));
	f->dev = pi->dev;
	f->ino = pi->ino;
	f->kind = pi->elf.gc_kind;
	if (attach_gc(rt, f, pi)) {
		/* Keep the file (no retry per pid) but drop a half-attached pair. */
		for (int i = 0; i < f->nlinks; i++)
			bpf_link__destroy(f->links[i]);
		f->nlinks = 0;
		f->kind = PY_GC_NONE;
	}
	return f;
}

/* Tell the kernel side where this process's GIL and GC counters are. */
static int publish(struct runtime *rt, const struct rt_proc *p)
{
	struct pv_rt_proc v = { .service = (__u32)p->service };
	__u32 key = (__u32)p->pid;

	if (p->pi && p->pi->gil && !rt->why_no_gil[0]) {
		v.gil_lo = p->pi->gil + PY_GIL_COND;
		v.gil_mid = p->pi->gil + PY_GIL_SWITCH;
		v.gil_hi = p->pi->gil + PY_GIL_SIZE;
	}
	if (p->pi && p->pi->gc_stats) {
		v.gc_stats = p->pi->gc_stats;
		v.gc_stride = PY_GC_STATS_STRIDE;
	}
	int r;

	if (v.gil_hi)
		pidbits_set(rt->skel->bss->rt_gil_bits, key, true);
	r = bpf_map__update_elem(rt->skel->maps.rt_procs, &key, sizeof(key), &v, sizeof(v), BPF_ANY);
	__atomic_fetch_add(&rt->skel->data->rt_gen, 1, __ATOMIC_SEQ_CST); /* threads copy it anew */
	return r;
}

/* Callers may add every pid at every snapshot: look again only after exec, or every 5 s while
 * the interpreter was not found or its GIL not yet readable (attached during start-up). */
static bool needs_discovery(struct runtime *rt, const struct rt_proc *p)
{
	struct pv_rt_proc v;
	struct timespec now;
	__u32 key = (__u32)p->pid;

	if (bpf_map__lookup_elem(rt->skel->maps.rt_procs, &key, sizeof(key), &v, sizeof(v), 0) ||
	    (v.flags & PV_RT_F_EXECED))
		return true;
	if (p->pi && (p->pi->gil || !p->pi->elf.layout))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - p->tried.tv_sec >= 5;
}

int runtime_add_pid(struct runtime *rt, int pid, int service, char *err, size_t errlen)
{
	struct rt_proc *p = find_proc(rt, pid);
	struct pv_proc_info info = { .service = (__u32)service };
	__u32 key = (__u32)pid;
	int r;

	if (service < 0 || service >= PV_MAX_SERVICES) {
		snprintf(err, errlen, "runtime: service %d out of range (0..%d)", service, PV_MAX_SERVICES - 1);
		return -EINVAL;
	}
	if (!p) {
		if (rt->nprocs == rt->cap) {
			int cap = rt->cap ? rt->cap * 2 : 16;
			struct rt_proc *n = realloc(rt->procs, (size_t)cap * sizeof(*n));
			if (!n) {
				snprintf(err, errlen, "runtime: out of memory adding pid %d", pid);
				return -ENOMEM;
			}
			rt->procs = n;
			rt->cap = cap;
		}
		p = &rt->procs[rt->nprocs++];
		memset(p, 0, sizeof(*p));
		p->pid = pid;
	}
	if (p->start && p->start == proc_start_time(pid) && p->service == service && !needs_discovery(rt, p)) {
		if (p->pi)
			return 0;
		snprintf(err, errlen, "%s", p->why);
		return -ENOENT;
	}
	p->service = service;
	p->start = proc_start_time(pid);
	clock_gettime(CLOCK_MONOTONIC, &p->tried);
	if (rt->own_tracked &&
	    (r = bpf_map__update_elem(rt->skel->maps.tracked, &key, sizeof(key), &info, sizeof(info), BPF_ANY))) {
		snprintf(err, errlen, "runtime: adding pid %d to the private tracked map failed: %s", pid, strerror(-r));
		return r;
	}
	if (!p->pi && !(p->pi = malloc(sizeof(*p->pi)))) {
		snprintf(err, errlen, "runtime: out of memory for pid %d", pid);
		return -ENOMEM;
	}
	r = pyinfo_discover(pid, p->pi, p->why, sizeof(p->why));
	if (r) {
		free(p->pi);
		p->pi = NULL;
		p->file = NULL;
		snprintf(err, errlen, "%s", p->why);
	} else {
		p->why[0] = 0;
		p->file = file_for(rt, p->pi);
	}
	/* An entry even without an interpreter: exec sets its flag, so we look again. */
	if (publish(rt, p) && !r) {
		r = -errno;
		snprintf(err, errlen, "runtime: the rt_procs map is full (pid %d)", pid);
	}
	return r;
}

void runtime_forget_pid(struct runtime *rt, int pid)
{
	struct rt_proc *p = find_proc(rt, pid);
	__u32 key = (__u32)pid;

	bpf_map__delete_elem(rt->skel->maps.rt_procs, &key, sizeof(key), 0);
	pidbits_set(rt->skel->bss->rt_gil_bits, key, false);
	__atomic_fetch_add(&rt->skel->data->rt_gen, 1, __ATOMIC_SEQ_CST);
	if (rt->own_tracked)
		bpf_map__delete_elem(rt->skel->maps.tracked, &key, sizeof(key), 0);
	if (!p)
		return;
	free(p->pi);
	*p = rt->procs[--rt->nprocs];
}

/* Follow the tracked map: new processes (forked workers) are discovered, dead or exec'd ones
 * dropped or looked at again. At most every 200 ms, whatever the number of services. */
static void sync_procs(struct runtime *rt)
{
	struct timespec now;
	__u32 key, next, *prev = NULL;
	struct pv_proc_info info;
	char err[RT_WHY];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - rt->last_sync.tv_sec) * 1000000000LL + now.tv_nsec - rt->last_sync.tv_nsec < 200000000LL)
		return;
	rt->last_sync = now;
	for (int i = rt->nprocs - 1; i >= 0; i--) {
		struct rt_proc *p = &rt->procs[i];
		if ((kill(p->pid, 0) && errno == ESRCH) || proc_start_time(p->pid) != p->start)
			runtime_forget_pid(rt, p->pid);
		else
			runtime_add_pid(rt, p->pid, p->service, err, sizeof(err));
	}
	while (!bpf_map_get_next_key(bpf_map__fd(rt->skel->maps.tracked), prev, &next)) {
		key = next;
		prev = &key;
		if (find_proc(rt, (int)key) ||
		    bpf_map__lookup_elem(rt->skel->maps.tracked, &key, sizeof(key), &info, sizeof(info), 0) ||
		    info.service >= PV_MAX_SERVICES)
			continue;
		runtime_add_pid(rt, (int)key, (int)info.service, err, sizeof(err));
	}
}

/* Per-service view: summed kernel counters and what its processes offer. */
struct rt_view {
	struct pv_rt_stats s;
	const struct rt_proc *first;
	int nprocs, threads, thread_procs;
	bool gil, gc;
	const char *gc_source;
	char unavailable[8][RT_WHY];
	int nunavail;
};

static void add_unavailable(struct rt_view *v, const char *signal, const char *why)
{
	char line[RT_WHY];

	snprintf(line, sizeof(line), "%s: %.200s", signal, why);
	for (int i = 0; i < v->nunavail; i++)
		if (!strcmp(v->unavailable[i], line))
			return;
	if (v->nunavail < 8)
		snprintf(v->unavailable[v->nunavail++], RT_WHY, "%s", line);
}

static void gather(struct runtime *rt, int service, struct rt_view *v)
{
	struct pv_rt_stats *per = calloc((size_t)rt->ncpu, sizeof(*per));
	__u32 key = (__u32)service;

	memset(v, 0, sizeof(*v));
	sync_procs(rt);
	if (per && service >= 0 && service < PV_MAX_SERVICES &&
	    !bpf_map__lookup_elem(rt->skel->maps.rt_stats, &key, sizeof(key), per,
				  sizeof(*per) * (size_t)rt->ncpu, 0)) {
		for (int c = 0; c < rt->ncpu; c++) {
			__u64 *dst = (__u64 *)&v->s, *src = (__u64 *)&per[c];
			for (size_t i = 0; i < sizeof(v->s) / 8; i++)
				dst[i] += src[i];
		}
		/* Every field sums across CPUs except the maximum. */
		v->s.gc_pause_max_ns = 0;
		for (int c = 0; c < rt->ncpu; c++)
			if (per[c].gc_pause_max_ns > v->s.gc_pause_max_ns)
				v->s.gc_pause_max_ns = per[c].gc_pause_max_ns;
	}
	free(per);
	for (int i = 0; i < rt->nprocs; i++) {
		const struct rt_proc *p = &rt->procs[i];
		char why[RT_WHY];
		int n;
		if (p->service != service)
			continue;
		v->nprocs++;
		if (!p->pi) {
			snprintf(why, sizeof(why), "pid %d: %.200s", p->pid, p->why);
			add_unavailable(v, "runtime", why);
			continue;
		}
		if (!v->first || p->pid < v->first->pid)
			v->first = p;
		if (rt->why_no_gil[0])
			add_unavailable(v, "gil", rt->why_no_gil);
		else if (p->pi->gil)
			v->gil = true;
		else
			add_unavailable(v, "gil", p->pi->why_no_gil);
		if (p->file && p->file->kind != PY_GC_NONE) {
			v->gc = true;
			v->gc_source = p->file->kind == PY_GC_USDT ? "usdt" : "uprobe";
			if (p->pi->elf.why_no_gc[0])
				add_unavailable(v, "gc generation", p->pi->elf.why_no_gc);
		} else {
			add_unavailable(v, "gc", p->file ? p->file->why : "too many interpreter files");
		}
		n = pyinfo_thread_count(p->pi);
		if (n >= 0) {
			v->threads += n;
			v->thread_procs++;
		} else {
			snprintf(why, sizeof(why), "%s", p->pi->why_no_threads[0] ? p->pi->why_no_threads
				 : n == -EPROTO ? "thread list does not match the known layout" : strerror(-n));
			add_unavailable(v, "threads", why);
		}
	}
}

/* Pause at quantile q (0..1) from the log-linear histogram: middle of the bucket, <= max. */
static double pause_quantile_ms(const struct pv_rt_stats *s, double q)
{
	static const struct fine_hist none;
	double ms = fine_quantile_ms((const struct fine_hist *)s->gc_hist, &none, q);

	if (ms < 0)
		return 0;
	return ms > s->gc_pause_max_ns / 1e6 ? s->gc_pause_max_ns / 1e6 : ms;
}

/* Kernel-side drop counters (all services), written only when one is non-zero. */
static void rt_write_drops(struct runtime *rt, FILE *out)
{
	const struct pv_rt_counters *c = &rt->skel->bss->rt_counters;

	if (!(c->procs_map_full | c->gc_map_full | c->gc_unmatched | c->bad_service | c->storage_fail))
		return;
	fprintf(out, ",\"drops\":{\"procs_map_full\":%llu,\"gc_map_full\":%llu,\"gc_unmatched\":%llu,"
		"\"bad_service\":%llu,\"storage_fail\":%llu}", (unsigned long long)c->procs_map_full,
		(unsigned long long)c->gc_map_full, (unsigned long long)c->gc_unmatched,
		(unsigned long long)c->bad_service, (unsigned long long)c->storage_fail);
}

void runtime_write_json(struct runtime *rt, int service, FILE *out, double window_s)
{
	struct rt_view v;
	const struct pv_rt_stats *s = &v.s;

	gather(rt, service, &v);
	fputs("{\"python\":", out);
	v.first ? json_str(out, v.first->pi->elf.version) : (void)fputs("null", out);
	fputs(",\"executable\":", out);
	v.first ? json_str(out, v.first->pi->exe) : (void)fputs("null", out);
	fprintf(out, ",\"processes\":%d,\"gil\":", v.nprocs);
	if (v.gil) {
		fputs("{\"wait_ms\":", out);
		json_num(out, (double)s->gil_wait_ns / 1e6);
		fputs(",\"wait_ratio\":", out);
		json_num(out, window_s > 0 ? (double)s->gil_wait_ns / 1e9 / window_s : 0);
		fprintf(out, ",\"waits\":%llu,\"handoff_ms\":", (unsigned long long)s->gil_waits);
		json_num(out, (double)s->gil_switch_ns / 1e6);
		fprintf(out, ",\"handoffs\":%llu,\"source\":\"futex\"}", (unsigned long long)s->gil_switches);
	} else {
		fputs("null", out);
	}
	fputs(",\"gc\":", out);
	if (v.gc) {
		fprintf(out, "{\"collections\":[%llu,%llu,%llu],\"unknown_generation\":%llu,\"pause_ms\":{\"p50\":",
			(unsigned long long)s->gc_collections[0], (unsigned long long)s->gc_collections[1],
			(unsigned long long)s->gc_collections[2], (unsigned long long)s->gc_collections[3]);
		json_num(out, pause_quantile_ms(s, 0.5));
		fputs(",\"p99\":", out);
		json_num(out, pause_quantile_ms(s, 0.99));
		fputs(",\"max\":", out);
		json_num(out, (double)s->gc_pause_max_ns / 1e6);
		fputs("},\"total_pause_ms\":", out);
		json_num(out, (double)s->gc_pause_ns / 1e6);
		fputs(",\"source\":", out);
		json_str(out, v.gc_source);
		fputc('}', out);
	} else {
		fputs("null", out);
	}
	fputs(",\"threads\":", out);
	v.thread_procs ? (void)fprintf(out, "%d", v.threads) : (void)fputs("null", out);
	rt_write_drops(rt, out);
	fputs(",\"unavailable\":[", out);
	for (int i = 0; i < v.nunavail; i++) {
		if (i)
			fputc(',', out);
		json_str(out, v.unavailable[i]);
	}
	fputs("]}", out);
}

void runtime_values(struct runtime *rt, int service, struct runtime_values *out)
{
	struct rt_view v;

	gather(rt, service, &v);
	memset(out, 0, sizeof(*out));
	out->gil = v.gil;
	out->gc = v.gc;
	out->gil_wait_ns = v.s.gil_wait_ns;
	out->gil_waits = v.s.gil_waits;
	memcpy(out->gc_collections, v.s.gc_collections, sizeof(out->gc_collections));
	out->gc_pause_ns = v.s.gc_pause_ns;
	for (__u32 i = 0; i < PV_RT_HIST_BUCKETS; i++) {
		__u64 lo = pv_rt_bucket_lo(i);

		out->gc_pauses += v.s.gc_hist[i];
		/* a bucket's values lie in [lo, next lo): below 2^k ns when next lo <= 2^k */
		for (int b = 0; b < 24; b++)
			if (i + 1 < PV_RT_HIST_BUCKETS && pv_rt_bucket_lo(i + 1) <= RUNTIME_PAUSE_BOUND_NS(b) &&
			    lo < RUNTIME_PAUSE_BOUND_NS(b))
				out->gc_pauses_below[b] += v.s.gc_hist[i];
	}
	out->threads = v.thread_procs ? v.threads : -1;
	out->processes = v.nprocs;
}

void runtime_reset_service(struct runtime *rt, int service)
{
	struct pv_rt_stats *zero = calloc((size_t)rt->ncpu, sizeof(*zero));
	__u32 key = (__u32)service;

	if (zero && service >= 0 && service < PV_MAX_SERVICES)
		bpf_map__update_elem(rt->skel->maps.rt_stats, &key, sizeof(key), zero,
				     sizeof(*zero) * (size_t)rt->ncpu, 0);
	free(zero);
}

void runtime_summary(struct runtime *rt, int service, char *buf, size_t len, double window_s)
{
	struct rt_view v;
	size_t n;

	gather(rt, service, &v);
	if (!v.first) {
		snprintf(buf, len, "python: %s", v.nunavail ? v.unavailable[0] : "no interpreter found");
		return;
	}
	n = (size_t)snprintf(buf, len, "python %s", v.first->pi->elf.version);
	if (v.gil && n < len)
		n += (size_t)snprintf(buf + n, len - n, "  GIL wait %.0f ms (%.0f%%)", v.s.gil_wait_ns / 1e6,
				      window_s > 0 ? v.s.gil_wait_ns / 1e7 / window_s : 0.0);
	if (v.gc && n < len)
		n += (size_t)snprintf(buf + n, len - n, "  GC %llu/%llu/%llu p99 %.1f ms",
				      (unsigned long long)v.s.gc_collections[0], (unsigned long long)v.s.gc_collections[1],
				      (unsigned long long)v.s.gc_collections[2], pause_quantile_ms(&v.s, 0.99));
	if (v.thread_procs && n < len)
		n += (size_t)snprintf(buf + n, len - n, "  %d threads", v.threads);
	if (v.nunavail && n < len)
		snprintf(buf + n, len - n, "  (%d unavailable)", v.nunavail);
}

void runtime_describe_pid(FILE *out, int pid)
{
	struct pyinfo *pi = malloc(sizeof(*pi));
	const struct pyelf *pe;
	char err[512];
	int n;

	if (!pi || pyinfo_discover(pid, pi, err, sizeof(err))) {
		fprintf(out, "runtime: %s\n", pi ? err : "out of memory");
		free(pi);
		return;
	}
	pe = &pi->elf;
	fprintf(out, "runtime: executable %s\n", pi->exe);
	fprintf(out, "runtime: interpreter %s (%s, %s, load bias 0x%lx)\n", pi->file,
		pe->is_exec ? "executable" : "shared object", pe->has_symtab ? ".symtab" : ".dynsym only",
		(unsigned long)pi->bias);
	fprintf(out, "runtime: CPython %s (from %s)\n", pe->version[0] ? pe->version : "?",
		pe->version_source ? pe->version_source : "nowhere");
	if (pi->gil)
		fprintf(out, "runtime: gil: futex waits on 0x%lx-0x%lx (sched_switch, no uprobe)\n",
			(unsigned long)(pi->gil + PY_GIL_COND), (unsigned long)(pi->gil + PY_GIL_SIZE));
	else
		fprintf(out, "runtime: gil: unavailable: %s\n", pi->why_no_gil);
	switch (pe->gc_kind) {
	case PY_GC_USDT:
		fprintf(out, "runtime: gc: USDT python:gc__start/gc__done%s\n",
			pe->usdt_semaphore ? " (semaphores set through the kernel's ref_ctr_offset)" : "");
		break;
	case PY_GC_UPROBE_ARG:
	case PY_GC_UPROBE_STATS:
		for (int i = 0; i < pe->ngc_funcs; i++) {
			const char *what;
			bool ok = py_insn_emulated(pe->gc_insn[i], &what);
			fprintf(out, "runtime: gc: uprobe+uretprobe %s (file offset 0x%lx, first instruction %s%s), "
				"generation from %s\n", pe->gc_funcs[i], (unsigned long)pe->gc_func_off[i], what,
				ok ? "" : ": ~15 us per collection", pe->gc_kind == PY_GC_UPROBE_ARG
				? "its argument" : "the per-generation counters");
		}
		if (pe->why_no_gc[0])
			fprintf(out, "runtime: gc: %s\n", pe->why_no_gc);
		break;
	default:
		fprintf(out, "runtime: gc: unavailable: %s\n", pe->why_no_gc);
	}
	n = pyinfo_thread_count(pi);
	if (n >= 0)
		fprintf(out, "runtime: threads: %d (thread list read with process_vm_readv)\n", n);
	else
		fprintf(out, "runtime: threads: unavailable: %s\n",
			pi->why_no_threads[0] ? pi->why_no_threads : strerror(-n));
	free(pi);
}

void runtime_close(struct runtime *rt)
{
	if (!rt)
		return;
	for (int i = 0; i < rt->nfiles; i++)
		for (int j = 0; j < rt->files[i].nlinks; j++)
			bpf_link__destroy(rt->files[i].links[j]);
	for (int i = 0; i < 4; i++)
		bpf_link__destroy(rt->links[i]);
	for (int i = 0; i < rt->nprocs; i++)
		free(rt->procs[i].pi);
	free(rt->procs);
	runtime_bpf__destroy(rt->skel);
	free(rt);
}
