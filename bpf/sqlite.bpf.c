// SPDX-License-Identifier: GPL-2.0
/* SQLite statement executions of tracked processes, from uprobes on their libsqlite3.
 * user/sqlite_probe.c attaches each libsqlite3 file once for all processes (the kernel
 * inserts the probes into every process that maps the file, so workers forked later and
 * dlopens after attach are covered from their first call), which means other processes
 * using the same file trap too: every program starts with is_tracked() and, for them,
 * does nothing but that one lookup and a count.
 *
 * An execution runs from the first sqlite3_step of a statement to the step that returns
 * SQLITE_DONE or an error; steps returning SQLITE_ROW in between belong to it. A statement
 * reset or finalized before DONE ends its execution there ("abandoned"). One record per
 * execution; the statement text comes once per prepare, the file name once per open, and
 * userspace joins them on (tgid, stmt) and (tgid, db). Records never wake userspace: it
 * drains the ring buffer on a timer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "pyvitals.h"

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_x86)
#define SQ_PARM6(x) ((x)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define SQ_PARM6(x) ((x)->regs[5])
#else
#error "sqlite.bpf.c: say where the sixth argument of a call lives on this architecture"
#endif

#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQ_NEST 4   /* step-inside-step depth followed per thread (user functions, VACUUM) */

#include "tracked.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* ~64k executions per 100 ms drain */
} sq_events SEC(".maps");

/* Executions in flight, per statement. LRU: a process that dies mid-statement leaves its
 * entries behind, and they must not fill the map. */
struct sq_key {
	__u64 stmt;
	__u32 tgid;
	__u32 pad;
};

struct sq_run {
	__u64 start;
	__u64 last_end;  /* return of the latest step (SQLITE_ROW) */
	__u64 db;
	__u32 tid;
	__u32 service;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sq_key);
	__type(value, struct sq_run);
} sq_inflight SEC(".maps");

/* Per-thread state, freed with the thread. A uretprobe gets no arguments, so the entry
 * probes leave here what their return probes need. */
struct sq_thread {
	__u32 depth;            /* sqlite3_step calls active on this thread */
	__u32 prep_depth;       /* prepares active (schema loading prepares and steps inside) */
	__u64 stmt[SQ_NEST];    /* per step level: the statement counted, 0 if not counted */
	__u64 db[SQ_NEST];      /* its connection (0 once the level returned) */
	__u64 start[SQ_NEST];   /* entry time if this step starts an execution, else 0 */
	__u64 p_start, p_sql, p_pp, p_db; /* outermost prepare; p_pp == 0: not the app's */
	__s64 p_n;
	__u64 o_name, o_ppdb;   /* open in progress */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sq_thread);
} sq_threads SEC(".maps");

struct pv_sq_counters sq_counters = {};

/* The one thing a call of an untracked process costs (besides the trap itself). */
static __always_inline struct pv_proc_info *is_tracked(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pv_proc_info *info = bpf_map_lookup_elem(&tracked, &tgid);

	if (!info)
		__sync_fetch_and_add(&sq_counters.untracked, 1);
	return info;
}

static __always_inline struct sq_thread *thread_state(int create)
{
	struct sq_thread *t = bpf_task_storage_get(&sq_threads, bpf_get_current_task_btf(), 0,
						   create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!t && create)
		__sync_fetch_and_add(&sq_counters.storage_fail, 1);
	return t;
}

static __always_inline void emit_exec(const struct sq_key *k, const struct sq_run *r, __u64 end,
				      __s32 rc, __u32 flags)
{
	struct pv_sq_exec e = {
		.type = PV_SQ_EXEC, .service = r->service, .start_ns = r->start, .end_ns = end,
		.stmt = k->stmt, .db = r->db, .tgid = k->tgid, .tid = r->tid, .rc = rc,
		.flags = flags,
	};
	if (bpf_ringbuf_output(&sq_events, &e, sizeof(e), BPF_RB_NO_WAKEUP))
		__sync_fetch_and_add(&sq_counters.ringbuf_full, 1);
}

/* ---- step: the executions ----
 * Most executions are one step (INSERT, UPDATE, a SELECT with no row): their start stays
 * on the thread and they are reported at the step's return without touching sq_inflight.
 * Only an execution that returned a row is parked there until its last step. */

SEC("uprobe")
int BPF_KPROBE(sq_step_enter, void *stmt)
{
	struct sq_key k = { .stmt = (__u64)stmt, .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct sq_thread *t;
	__u64 db = 0;
	__u32 d;

	if (!is_tracked() || !(t = thread_state(1)))
		return 0;
	d = t->depth++;
	if (d >= SQ_NEST) {
		__sync_fetch_and_add(&sq_counters.deep_nesting, 1);
		return 0;
	}
	/* sqlite3_stmt is a Vdbe whose first field is its connection (stable since 3.0). */
	if (bpf_probe_read_user(&db, sizeof(db), stmt))
		db = 0;
	t->db[d] = db;
	t->stmt[d] = 0;
	t->start[d] = 0;
	/* Steps run by SQLite itself are not the app's: schema loading inside a prepare, and
	 * statements a step runs on its own connection (VACUUM, ALTER). */
	if (t->prep_depth)
		return 0;
	for (__u32 i = 0; i < SQ_NEST; i++)
		if (i < d && t->db[i] == db)
			return 0;
	t->stmt[d] = k.stmt;
	/* No entry in flight: this step starts an execution. */
	if (!bpf_map_lookup_elem(&sq_inflight, &k))
		t->start[d] = bpf_ktime_get_ns();
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sq_step_exit, long ret)
{
	struct pv_proc_info *info = is_tracked();
	__u64 id = bpf_get_current_pid_tgid(), now, start, db;
	struct sq_key k = { .tgid = id >> 32 };
	struct sq_run r = {}, *cur;
	struct sq_thread *t;
	__u32 d;
	__s32 rc = (__s32)ret;

	if (!info || !(t = thread_state(0)) || !t->depth)
		return 0;
	now = bpf_ktime_get_ns();
	d = --t->depth;
	if (d >= SQ_NEST)
		return 0;
	k.stmt = t->stmt[d];
	start = t->start[d];
	db = t->db[d];
	t->stmt[d] = 0;
	t->db[d] = 0;
	if (!k.stmt)
		return 0;
	if (start) {
		/* The first step of an execution. */
		r.service = info->service;
		r.start = start;
		r.last_end = now;
		r.db = db;
		r.tid = (__u32)id;
		/* Extended result codes keep the primary code in the low byte. */
		if ((rc & 0xff) != SQLITE_ROW) {
			emit_exec(&k, &r, now, rc, 0);
		} else if (bpf_map_update_elem(&sq_inflight, &k, &r, BPF_ANY)) {
			__sync_fetch_and_add(&sq_counters.inflight_full, 1);
		}
		return 0;
	}
	if (!(cur = bpf_map_lookup_elem(&sq_inflight, &k)))
		return 0;
	if ((rc & 0xff) == SQLITE_ROW) {
		cur->last_end = now;
		return 0;
	}
	emit_exec(&k, cur, now, rc, 0);
	bpf_map_delete_elem(&sq_inflight, &k);
	return 0;
}

/* sqlite3_reset and sqlite3_finalize: an execution still in flight was abandoned after
 * some rows (a fetchone, a break out of a loop). It ends at its last step's return. */
SEC("uprobe")
int BPF_KPROBE(sq_reset_enter, void *stmt)
{
	struct sq_key k = { .stmt = (__u64)stmt, .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct sq_run *r;

	if (!is_tracked() || !stmt || !(r = bpf_map_lookup_elem(&sq_inflight, &k)))
		return 0;
	emit_exec(&k, r, r->last_end ? r->last_end : bpf_ktime_get_ns(), SQLITE_ROW,
		  PV_SQ_F_ABANDONED);
	bpf_map_delete_elem(&sq_inflight, &k);
	return 0;
}

/* ---- prepare: the statement text ---- */

static __always_inline int prep_enter(struct pt_regs *ctx, __u64 db, __u64 sql, __s64 n, __u64 pp,
				      __u64 old)
{
	struct sq_thread *t;

	if (!is_tracked() || !(t = thread_state(1)))
		return 0;
	if (t->prep_depth++)
		return 0;
	t->p_start = bpf_ktime_get_ns();
	t->p_db = db;
	t->p_sql = sql;
	t->p_n = n;
	/* A re-prepare after a schema change (old statement given) or a prepare run by a step
	 * on its own connection is SQLite's, not the app's: no record. */
	t->p_pp = pp;
	if (old)
		t->p_pp = 0;
	for (__u32 i = 0; i < SQ_NEST; i++)
		if (i < t->depth && t->db[i] == db)
			t->p_pp = 0;
	return 0;
}

/* The library's internal prepare (sqlite3LockAndPrepare), found by userspace: one probe
 * for prepare, _v2 and _v3, at a push the kernel emulates:
 * (db, zSql, nBytes, prepFlags, pOld, ppStmt, pzTail). */
SEC("uprobe")
int BPF_KPROBE(sq_prep_enter_internal, void *db, const char *sql, int n, __u32 flags, void *old)
{
	return prep_enter(ctx, (__u64)db, (__u64)sql, n, SQ_PARM6(ctx), (__u64)old);
}

/* Fallback on the exported functions (their first instruction is single-stepped: dearer). */
SEC("uprobe")
int BPF_KPROBE(sq_prep_enter_v2, void *db, const char *sql, int n, void **pp)
{
	return prep_enter(ctx, (__u64)db, (__u64)sql, n, (__u64)pp, 0);
}

SEC("uprobe")
int BPF_KPROBE(sq_prep_enter_v3, void *db, const char *sql, int n, __u32 flags, void **pp)
{
	return prep_enter(ctx, (__u64)db, (__u64)sql, n, (__u64)pp, 0);
}

static __always_inline void copy_text(struct pv_sq_prep *p, __u64 sql, __s64 n)
{
	long got;

	/* nByte >= 0 bounds the text (it may lack a NUL); < 0 means NUL-terminated. */
	if (n >= 0) {
		__u32 len = n > PV_SQ_TEXT_MAX ? PV_SQ_TEXT_MAX : (__u32)n;
		if (!bpf_probe_read_user(p->text, len, (void *)sql)) {
			p->len = len;
			return;
		}
	}
	got = bpf_probe_read_user_str(p->text, sizeof(p->text), (void *)sql);
	if (got <= 0) {
		__sync_fetch_and_add(&sq_counters.unreadable, 1);
		p->len = 0;
		return;
	}
	p->len = (__u32)got - 1;
}

SEC("uretprobe")
int BPF_KRETPROBE(sq_prep_exit, long ret)
{
	struct pv_proc_info *info = is_tracked();
	struct sq_thread *t;
	struct pv_sq_prep *p;
	__u64 stmt = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__s32 rc = (__s32)ret;

	if (!info || !(t = thread_state(0)) || !t->prep_depth || --t->prep_depth || !t->p_pp)
		return 0;
	if (rc == SQLITE_OK) {
		if (bpf_probe_read_user(&stmt, sizeof(stmt), (void *)t->p_pp)) {
			__sync_fetch_and_add(&sq_counters.unreadable, 1);
			return 0;
		}
		/* An empty statement (only blanks or a comment) prepares to NULL: nothing runs. */
		if (!stmt)
			return 0;
	}
	p = bpf_ringbuf_reserve(&sq_events, sizeof(*p), 0);
	if (!p) {
		__sync_fetch_and_add(&sq_counters.ringbuf_full, 1);
		return 0;
	}
	p->type = PV_SQ_PREP;
	p->service = info->service;
	p->start_ns = t->p_start;
	p->end_ns = bpf_ktime_get_ns();
	p->stmt = stmt;
	p->db = t->p_db;
	p->tgid = tgid;
	p->tid = (__u32)bpf_get_current_pid_tgid();
	p->rc = rc;
	copy_text(p, t->p_sql, t->p_n);
	bpf_ringbuf_submit(p, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- open: the database file ---- */

/* sqlite3_open, sqlite3_open_v2 and the internal openDatabase all take (filename, ppDb). */
SEC("uprobe")
int BPF_KPROBE(sq_open_enter, const char *name, void **ppdb)
{
	struct sq_thread *t;

	if (is_tracked() && (t = thread_state(1))) {
		t->o_name = (__u64)name;
		t->o_ppdb = (__u64)ppdb;
	}
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sq_open_exit, long ret)
{
	struct sq_thread *t;
	struct pv_sq_open *o;
	__u64 db = 0;

	if (!is_tracked() || !(t = thread_state(0)) || !t->o_ppdb)
		return 0;
	if (bpf_probe_read_user(&db, sizeof(db), (void *)t->o_ppdb) || !db) {
		t->o_ppdb = 0;
		return 0;
	}
	o = bpf_ringbuf_reserve(&sq_events, sizeof(*o), 0);
	if (!o) {
		__sync_fetch_and_add(&sq_counters.ringbuf_full, 1);
		t->o_ppdb = 0;
		return 0;
	}
	o->type = PV_SQ_OPEN;
	o->tgid = bpf_get_current_pid_tgid() >> 32;
	o->db = db;
	o->rc = (__s32)ret;
	o->pad = 0;
	/* A NULL or empty name is a private temporary database. */
	if (!t->o_name || bpf_probe_read_user_str(o->path, sizeof(o->path), (void *)t->o_name) < 0)
		o->path[0] = 0;
	t->o_ppdb = 0;
	bpf_ringbuf_submit(o, BPF_RB_NO_WAKEUP);
	return 0;
}
