/* What this kernel allows, probed at start-up, and the socket hook set chosen from it. */
#ifndef KERNEL_FEATURES_H
#define KERNEL_FEATURES_H
#include <stdbool.h>
#include <stddef.h>
#include "options.h"

struct features {
	bool root;            /* euid 0 or CAP_BPF+CAP_PERFMON */
	bool btf;             /* /sys/kernel/btf/vmlinux */
	bool tracefs;         /* mounted (after trying to mount it) */
	char tracefs_err[128];
	bool sock_tracepoints;/* sock:sock_{send,recv}_length exist */
	bool sched_tracepoints;
	bool destroy_tracepoint; /* tcp:tcp_destroy_sock: where a reset connection really ends */
	bool kprobes;         /* kprobe PMU present */
	bool fentry;          /* an fexit program loaded and attached */
	char fentry_err[64];
	int tcp_recvmsg_params; /* its parameter count in BTF (0: unknown): picks the fexit/kprobe variant */
	char tcp_recvmsg_err[96];
	bool uprobes;
	bool usdt_semaphores; /* uprobe ref_ctr_offset support */
	char lockdown[32];
};

/* Probe everything; mount tracefs when it is missing. */
void features_probe(struct features *f);
#define HOOKS_SETS 3
/* The socket hook sets, cheapest first. */
extern const enum hooks_choice hooks_cost_order[HOOKS_SETS];
/* The hook sets --hooks allows here, cheapest first (auto: every available one; otherwise the
 * one asked for). Returns how many, or -1 with a message when none. Whether a set really
 * loads is known only by loading it (agent_check_hooks). */
int features_hook_candidates(const struct features *f, enum hooks_choice want, enum hooks_choice out[HOOKS_SETS],
			     char *err, size_t errlen);
/* Why hook set h is not offered by this kernel, or NULL when it is. */
const char *features_hooks_missing(const struct features *f, enum hooks_choice h);
#endif
