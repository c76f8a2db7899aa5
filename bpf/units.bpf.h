/* Which unit of work did an I/O: the contextvars Context current in the calling thread's
 * PyThreadState. asyncio gives every task its own copy of the context and greenlet swaps it at
 * each switch, so on an event loop it tells the requests apart where the thread cannot
 * (issue #15). Two user-memory reads per I/O, paid only by processes userspace published in
 * py_units (those running asyncio or gevent), so thread-per-request services pay nothing. */
#ifndef UNITS_BPF_H
#define UNITS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);                 /* tgid */
	__type(value, struct pv_unit_cfg);
} py_units SEC(".maps");

/* The current Context of the calling thread, or 0 (no entry, no thread state, unreadable, or
 * one that was not entered). */
static __always_inline __u64 py_unit(__u32 tgid)
{
#if defined(__TARGET_ARCH_x86)
	struct pv_unit_cfg *u = bpf_map_lookup_elem(&py_units, &tgid);
	struct task_struct *task;
	__u64 tstate = 0, ctx = 0;

	if (!u)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	/* the thread pointer is glibc's struct pthread, whose specific_1stblock holds the
	 * thread's PyThreadState under the interpreter's autoTSSkey */
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)(BPF_CORE_READ(task, thread.fsbase) + u->tss_off)) || !tstate)
		return 0;
	if (bpf_probe_read_user(&ctx, sizeof(ctx), (void *)(tstate + u->ctx_off)) || !ctx)
		return 0;
	if (u->entered_off) {
		int entered = 0;

		if (bpf_probe_read_user(&entered, sizeof(entered), (void *)(ctx + u->entered_off)) || !entered)
			return 0; /* the thread's own Context: its I/O is the thread's */
	}
	return ctx;
#else
	return 0; /* userspace publishes no entries off x86_64 */
#endif
}
#endif
