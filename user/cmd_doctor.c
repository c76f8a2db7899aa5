/* pyvitals doctor: what this kernel allows, which hooks auto picks, and what a PID is. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include "commands.h"
#include "kernel_features.h"
#include "options.h"
#include "proc.h"
#include "runtime.h"
#include "sqlite_probe.h"

static void line(const char *what, bool ok, const char *detail)
{
	printf("  %-26s %-4s %s\n", what, ok ? "yes" : "no", detail);
}

static void describe_pid(int pid)
{
	char exe[512], comm[PV_COMM_LEN], name[160];

	printf("\nprocess %d\n", pid);
	if (!proc_alive(pid)) {
		printf("  no such process\n");
		return;
	}
	if (proc_exe(pid, exe, sizeof(exe)))
		snprintf(exe, sizeof(exe), "(unreadable)");
	proc_comm(pid, comm, sizeof(comm));
	proc_service_name(pid, name, sizeof(name));
	printf("  executable                 %s\n  comm                       %s\n  service name               %s\n",
	       exe, comm, name);
	runtime_describe_pid(stdout, pid);
	sqlite_probe_describe_pid(stdout, pid);
}

int cmd_doctor(int argc, char **argv)
{
	struct options o;
	struct features f;
	struct utsname u;
	enum hooks_choice pick;
	char err[256], hooks[320];
	bool can_run;

	if (options_parse(&o, "doctor", argc, argv))
		return 2;
	features_probe(&f);
	uname(&u);
	can_run = f.root && f.tracefs && !features_pick_hooks(&f, HOOKS_AUTO, &pick, err, sizeof(err));
	printf("kernel %s %s\n", u.release, u.machine);
	line("privileges (root/CAP_BPF)", f.root, f.root ? "" : "run as root");
	line("BTF", f.btf, "/sys/kernel/btf/vmlinux");
	line("tracefs", f.tracefs, f.tracefs ? "/sys/kernel/tracing" : f.tracefs_err);
	line("sock_*_length tracepoints", f.sock_tracepoints, "socket I/O only, no syscall tax");
	line("sched tracepoints", f.sched_tracepoints, "follow fork/exec/exit");
	line("fentry/fexit", f.fentry, f.fentry ? "" : f.fentry_err);
	line("kprobes", f.kprobes, f.kprobes ? "" : "kprobe PMU missing (CONFIG_KPROBES off?)");
	line("uprobes", f.uprobes, "");
	line("USDT semaphores", f.usdt_semaphores, "uprobe ref_ctr_offset");
	printf("  %-26s      %s\n", "lockdown", f.lockdown);
	if (can_run)
		snprintf(hooks, sizeof(hooks), "%s (cheapest available: tracepoint > fentry > kprobe)", hooks_name(pick));
	else
		snprintf(hooks, sizeof(hooks), "none: %s", f.root ? (f.tracefs ? err : f.tracefs_err) : "needs root");
	printf("  %-26s      %s\n", "socket hooks (auto)", hooks);
	for (int i = 0; i < o.ntargets; i++)
		if (o.targets[i].pid)
			describe_pid(o.targets[i].pid);
	printf("\npyvitals %s run here\n", can_run ? "can" : "cannot");
	return can_run ? 0 : 1;
}
