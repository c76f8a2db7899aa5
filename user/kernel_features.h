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
	bool kprobes;         /* kprobe PMU present */
	bool fentry;          /* an fexit program loaded and attached */
	char fentry_err[64];
	bool uprobes;
	bool usdt_semaphores; /* uprobe ref_ctr_offset support */
	char lockdown[32];
};

/* Probe everything; mount tracefs when it is missing. */
void features_probe(struct features *f);
/* Resolve --hooks (auto picks the cheapest complete set); -1 with a message when impossible. */
int features_pick_hooks(const struct features *f, enum hooks_choice want, enum hooks_choice *got,
			char *err, size_t errlen);
#endif
