/* Kernel feature probes. Each answers from the kernel itself (BTF, sysfs, a test load),
 * never from the version number, because distributions backport and disable freely. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kernel_features.h"

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static bool has_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {};

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	/* CAP_BPF = 39, CAP_PERFMON = 38, both in the second word */
	return (data[1].effective & (1u << (39 - 32))) && (data[1].effective & (1u << (38 - 32)));
}

/* Mounted for the tools people use beside pyvitals; the programs pyvitals loads do not need
 * it (BTF tracepoints, and kprobes/uprobes through their perf PMUs). */
static void probe_tracefs(struct features *f)
{
	if (path_exists("/sys/kernel/tracing/events")) {
		f->tracefs = true;
		return;
	}
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
		f->tracefs = true;
		return;
	}
	snprintf(f->tracefs_err, sizeof(f->tracefs_err), "%s",
		 errno == EBUSY ? "mounted, but its events cannot be read (lockdown=confidentiality?)"
				: "mount -t tracefs on /sys/kernel/tracing failed");
	if (errno != EBUSY)
		snprintf(f->tracefs_err + strlen(f->tracefs_err), sizeof(f->tracefs_err) - strlen(f->tracefs_err),
			 ": %s", strerror(errno));
}

/* Load and attach a do-nothing fexit program on tcp_sendmsg: the kernel's own answer. */
static void probe_fentry(struct features *f, const struct btf *vmlinux)
{
	struct bpf_insn prog[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },                         /* exit */
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT);
	int id, prog_fd, link_fd;

	id = vmlinux ? btf__find_by_name_kind(vmlinux, "tcp_sendmsg", BTF_KIND_FUNC) : -1;
	if (id < 0) {
		snprintf(f->fentry_err, sizeof(f->fentry_err), "no BTF for tcp_sendmsg");
		return;
	}
	opts.attach_btf_id = id;
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "pv_probe", "GPL", prog, 2, &opts);
	if (prog_fd < 0) {
		snprintf(f->fentry_err, sizeof(f->fentry_err), "load: %s", strerror(errno));
		return;
	}
	link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	if (link_fd < 0) {
		snprintf(f->fentry_err, sizeof(f->fentry_err), "attach: %s", strerror(errno));
	} else {
		f->fentry = true;
		close(link_fd);
	}
	close(prog_fd);
}

/* The fexit programs take tcp_recvmsg's return value after its parameters and the kprobe
 * reads flags by position, so both need the prototype: 6 parameters before 5.19 (with
 * 'nonblock'), 5 since, 4 on recent kernels (no 'addr_len'). */
static void probe_tcp_recvmsg(struct features *f, const struct btf *vmlinux)
{
	int id = vmlinux ? btf__find_by_name_kind(vmlinux, "tcp_recvmsg", BTF_KIND_FUNC) : -1;
	const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type) : NULL;

	f->tcp_recvmsg_params = t && btf_is_func_proto(t) ? btf_vlen(t) : 0;
	if (!f->tcp_recvmsg_params)
		snprintf(f->tcp_recvmsg_err, sizeof(f->tcp_recvmsg_err), "no BTF for tcp_recvmsg");
	else if (f->tcp_recvmsg_params < 4 || f->tcp_recvmsg_params > 6)
		snprintf(f->tcp_recvmsg_err, sizeof(f->tcp_recvmsg_err),
			 "tcp_recvmsg has %d parameters; pyvitals knows 4, 5 and 6", f->tcp_recvmsg_params);
	else if (f->tcp_recvmsg_params == 6)
		snprintf(f->tcp_recvmsg_err, sizeof(f->tcp_recvmsg_err),
			 "tcp_recvmsg has the 6-parameter prototype of kernels before 5.19 (kprobes only)");
}

static void probe_lockdown(struct features *f)
{
	FILE *fp = fopen("/sys/kernel/security/lockdown", "r");
	char line[128], *l, *r;

	snprintf(f->lockdown, sizeof(f->lockdown), "unknown");
	/* Like tracefs, securityfs is often not mounted; mounting it has no side effect. */
	if (!fp && mount("securityfs", "/sys/kernel/security", "securityfs", 0, NULL) == 0)
		fp = fopen("/sys/kernel/security/lockdown", "r");
	if (!fp)
		return;
	/* "none [integrity] confidentiality": the bracketed word is in force */
	if (fgets(line, sizeof(line), fp) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = 0;
		snprintf(f->lockdown, sizeof(f->lockdown), "%s", l + 1);
	}
	fclose(fp);
}

void features_probe(struct features *f)
{
	struct btf *vmlinux;

	memset(f, 0, sizeof(*f));
	f->root = has_caps();
	f->btf = path_exists("/sys/kernel/btf/vmlinux");
	probe_tracefs(f);
	vmlinux = f->btf ? btf__load_vmlinux_btf() : NULL;
	if (vmlinux && libbpf_get_error(vmlinux))
		vmlinux = NULL;
	if (vmlinux) {
		f->sock_tracepoints =
			btf__find_by_name_kind(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) > 0 &&
			btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) > 0;
		f->sched_tracepoints =
			btf__find_by_name_kind(vmlinux, "btf_trace_sched_process_fork", BTF_KIND_TYPEDEF) > 0;
		f->destroy_tracepoint =
			btf__find_by_name_kind(vmlinux, "btf_trace_tcp_destroy_sock", BTF_KIND_TYPEDEF) > 0;
	}
	probe_tcp_recvmsg(f, vmlinux);
	f->kprobes = path_exists("/sys/bus/event_source/devices/kprobe/type");
	f->uprobes = path_exists("/sys/bus/event_source/devices/uprobe/type");
	f->usdt_semaphores = path_exists("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset");
	if (f->root)
		probe_fentry(f, vmlinux);
	else
		snprintf(f->fentry_err, sizeof(f->fentry_err), "not probed without privileges");
	probe_lockdown(f);
	btf__free(vmlinux);
}

const char *features_hooks_missing(const struct features *f, enum hooks_choice h)
{
	switch (h) {
	case HOOKS_TRACEPOINT:
		return f->sock_tracepoints ? NULL : "no sock_send_length/sock_recv_length tracepoints (added in 6.3)";
	case HOOKS_FENTRY:
		if (!f->fentry)
			return f->fentry_err;
		return f->tcp_recvmsg_params == 4 || f->tcp_recvmsg_params == 5 ? NULL : f->tcp_recvmsg_err;
	case HOOKS_KPROBE:
		if (!f->kprobes)
			return "no kprobe PMU (CONFIG_KPROBES off?)";
		return f->tcp_recvmsg_params >= 4 && f->tcp_recvmsg_params <= 6 ? NULL : f->tcp_recvmsg_err;
	default:
		return "unknown hook set";
	}
}

/* Cheapest first, from per-hit costs: raw tracepoint ~5 ns and fires for socket I/O only;
 * fexit ~15 ns; kretprobe ~45 ns (shared/reference/performance.md). */
const enum hooks_choice hooks_cost_order[HOOKS_SETS] = { HOOKS_TRACEPOINT, HOOKS_FENTRY, HOOKS_KPROBE };

int features_hook_candidates(const struct features *f, enum hooks_choice want, enum hooks_choice out[HOOKS_SETS],
			     char *err, size_t errlen)
{
	const char *why;
	int n = 0;

	if (!f->btf || !f->sched_tracepoints) {
		snprintf(err, errlen, "this kernel has no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is "
			 "needed to follow processes); use a kernel built with BTF");
		return -1;
	}
	if (want != HOOKS_AUTO) {
		if (!(why = features_hooks_missing(f, want))) {
			out[0] = want;
			return 1;
		}
		snprintf(err, errlen, "--hooks=%s is not available on this kernel (%s); run 'pyvitals doctor' "
			 "to see which hooks are, or use --hooks=auto", hooks_name(want), why);
		return -1;
	}
	for (int i = 0; i < HOOKS_SETS; i++)
		if (!features_hooks_missing(f, hooks_cost_order[i]))
			out[n++] = hooks_cost_order[i];
	if (!n)
		snprintf(err, errlen, "no socket hook works on this kernel: it needs the sock_send_length tracepoints "
			 "(6.3+), fentry or kprobes; run 'pyvitals doctor' for details");
	return n ? n : -1;
}
