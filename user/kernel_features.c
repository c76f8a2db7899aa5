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
	snprintf(f->tracefs_err, sizeof(f->tracefs_err), "mount -t tracefs on /sys/kernel/tracing: %s",
		 strerror(errno));
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

static void probe_lockdown(struct features *f)
{
	FILE *fp = fopen("/sys/kernel/security/lockdown", "r");
	char line[128], *l, *r;

	snprintf(f->lockdown, sizeof(f->lockdown), "unknown");
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
	}
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

int features_pick_hooks(const struct features *f, enum hooks_choice want, enum hooks_choice *got,
			char *err, size_t errlen)
{
	bool ok[] = { false, f->sock_tracepoints, f->kprobes, f->fentry };
	/* Cheapest first, from per-hit costs: raw tracepoint ~5 ns and fires for socket I/O
	 * only; fexit ~15 ns; kretprobe ~45 ns (shared/reference/performance.md). */
	static const enum hooks_choice order[] = { HOOKS_TRACEPOINT, HOOKS_FENTRY, HOOKS_KPROBE };

	if (!f->btf || !f->sched_tracepoints) {
		snprintf(err, errlen, "this kernel has no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is "
			 "needed to follow processes); use a kernel built with BTF");
		return -1;
	}
	if (want != HOOKS_AUTO) {
		if (ok[want]) {
			*got = want;
			return 0;
		}
		snprintf(err, errlen, "--hooks=%s is not available on this kernel (%s); run 'pyvitals doctor' "
			 "to see which hooks are, or use --hooks=auto", hooks_name(want),
			 want == HOOKS_FENTRY ? f->fentry_err :
			 want == HOOKS_KPROBE ? "no kprobe PMU" : "no sock_send_length/sock_recv_length tracepoints");
		return -1;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (ok[order[i]]) {
			*got = order[i];
			return 0;
		}
	snprintf(err, errlen, "no socket hook works on this kernel: it needs the sock_send_length tracepoints "
		 "(recent kernels), fentry or kprobes; run 'pyvitals doctor' for details");
	return -1;
}
