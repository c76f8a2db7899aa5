/* pyvitals doctor: what this kernel allows, which hooks auto picks, and what a PID is. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include "agent.h"
#include "bpf_log.h"
#include "commands.h"
#include "privs.h"
#include "version.h"
#include "kernel_features.h"
#include "options.h"
#include "proc.h"
#include "report.h"
#include "runtime.h"
#include "pyunits.h"
#include "sqlite_probe.h"
#include "tls_probe.h"

static void line(const char *what, bool ok, const char *detail)
{
	printf("  %-26s %-4s %s\n", what, ok ? "yes" : "no", detail);
}

static void cap_line(const char *cap, bool held, const char *why, void *ctx)
{
	(void)ctx;
	line(cap, held, why);
}

/* False when there is no such process: then doctor fails, as watch would. */
static int print_look(struct agent *a, bool final, void *ctx)
{
	(void)ctx;
	if (final)
		report_text(a, stdout, true, false);
	return 0;
}

/* Watch the targets for a moment (--duration, 2 s by default) and show what pyvitals reads of
 * their traffic and what it cannot (BLIND lines: TLS, protocols it does not parse). */
static void look_at_traffic(const struct options *o, enum hooks_choice hooks)
{
	static struct agent a;
	struct options lo = *o;
	struct agent_loop loop = { .snapshot = print_look };
	char err[512];

	lo.hooks = hooks;
	lo.duration_s = o->duration_s > 0 ? o->duration_s : 2;
	lo.interval_s = lo.duration_s + 1;
	printf("\nthe targets' traffic for %.0f s (blind spots show only for connections that carry data "
	       "meanwhile):\n", lo.duration_s);
	fflush(stdout);
	if (agent_start(&a, &lo, err, sizeof(err))) {
		printf("  could not watch: %s\n", err);
		return;
	}
	agent_run(&a, &loop);
	agent_finish(&a);
}

static bool describe_pid(int pid)
{
	char exe[512], comm[PV_COMM_LEN], name[160];

	printf("\nprocess %d\n", pid);
	if (!proc_alive(pid)) {
		printf("  no such process\n");
		return false;
	}
	if (proc_exe(pid, exe, sizeof(exe)))
		snprintf(exe, sizeof(exe), "(unreadable)");
	proc_comm(pid, comm, sizeof(comm));
	proc_service_name(pid, name, sizeof(name));
	printf("  executable                 %s\n  comm                       %s\n  service name               %s\n",
	       exe, comm, name);
	runtime_describe_pid(stdout, pid);
	sqlite_probe_describe_pid(stdout, pid);
	tls_probe_describe_pid(stdout, pid);
	pyunits_describe_pid(stdout, pid);
	doctor_routes(pid, false);
	return true;
}

/* doctor -p PID --routes: only the route tables; reading them needs no BPF. */
static int list_routes(const struct options *o)
{
	int rc = 0;

	if (!o->ntargets || !o->targets[0].pid) {
		fprintf(stderr, "pyvitals doctor: --routes needs -p PID (a process that has the framework loaded, "
			"e.g. a gunicorn worker)\n");
		return 2;
	}
	for (int i = 0; i < o->ntargets; i++) {
		if (!o->targets[i].pid)
			continue;
		printf("process %d\n", o->targets[i].pid);
		if (!proc_alive(o->targets[i].pid)) {
			printf("  no such process\n");
			fprintf(stderr, "pyvitals doctor: no process with pid %d: check the pid (e.g. 'pgrep -f "
				"gunicorn')\n", o->targets[i].pid);
			rc = 1;
			continue;
		}
		doctor_routes(o->targets[i].pid, true);
	}
	return rc;
}

/* Load and attach each hook set the kernel offers, as watch would, and unload it. Returns the
 * set watch would use (the cheapest that works, or the one --hooks names), HOOKS_AUTO if none. */
static enum hooks_choice check_socket_hooks(const struct options *o, const struct features *f, char *err,
					    size_t errlen)
{
	const enum hooks_choice *order = hooks_cost_order;
	enum hooks_choice pick = HOOKS_AUTO;
	char why[480], name[32];
	bool named = false;  /* err already names a set that would not load */

	snprintf(err, errlen, "no socket hook set loads here");
	printf("\nBPF programs (each set loaded and attached, then unloaded)\n");
	for (int i = 0; i < HOOKS_SETS; i++) {
		const char *missing = features_hooks_missing(f, order[i]);
		bool ok = !missing && !agent_check_hooks(o, f, order[i], why, sizeof(why));

		snprintf(name, sizeof(name), "sockets, %s set", hooks_name(order[i]));
		line(name, ok, ok ? "loads and attaches" : missing ? missing : why);
		if (ok && pick == HOOKS_AUTO && (o->hooks == HOOKS_AUTO || o->hooks == order[i]))
			pick = order[i];
		if (!ok && o->hooks == order[i])
			snprintf(err, errlen, "--hooks=%s: %s", hooks_name(order[i]), missing ? missing : why);
		/* Auto: name the first set the kernel offers but refused to load, with its reason. */
		if (!ok && !missing && o->hooks == HOOKS_AUTO && !named) {
			snprintf(err, errlen, "no socket hook set loads here; %s", why);
			named = true;
		}
	}
	return pick;
}

/* The interpreter and SQLite objects are optional: a failure only disables their signals. */
static void check_optional_programs(void)
{
	struct runtime *rt;
	struct sqlite_probe *sp;
	char err[512];

	if (runtime_open(&rt, -1, err, sizeof(err))) {
		line("GIL/GC programs", false, err);
	} else {
		line("GIL/GC programs", !*runtime_gil_problem(rt),
		     *runtime_gil_problem(rt) ? runtime_gil_problem(rt) : "load; GIL hook attaches");
		runtime_close(rt);
	}
	if (sqlite_probe_open(&sp, -1, err, sizeof(err))) {
		line("SQLite programs", false, err);
	} else {
		line("SQLite programs", true, "load");
		sqlite_probe_close(sp);
	}
}

int cmd_doctor(int argc, char **argv)
{
	struct options o;
	struct features f;
	struct utsname u;
	enum hooks_choice pick = HOOKS_AUTO;
	char err[768], hooks[800];
	int missing_pid = 0;

	if (options_parse(&o, "doctor", argc, argv))
		return 2;
	if (o.list_routes)
		return list_routes(&o);
	bpf_log_install();
	features_probe(&f);
	uname(&u);
	version_print(stdout);
	printf("kernel %s %s\n", u.release, u.machine);
	line("privileges (root/CAP_BPF)", f.root, f.root ? "" : "run as root");
	privs_each_needed(cap_line, NULL);
	line("BTF", f.btf, "/sys/kernel/btf/vmlinux");
	snprintf(err, sizeof(err), "%s (not needed by pyvitals' programs)", f.tracefs ? "/sys/kernel/tracing" : f.tracefs_err);
	line("tracefs", f.tracefs, err);
	line("sock_*_length tracepoints", f.sock_tracepoints, "socket I/O only, no syscall tax");
	line("sched tracepoints", f.sched_tracepoints, "follow fork/exec/exit");
	line("fentry/fexit", f.fentry, f.fentry ? "" : f.fentry_err);
	line("kprobes", f.kprobes, f.kprobes ? "" : "kprobe PMU missing (CONFIG_KPROBES off?)");
	snprintf(err, sizeof(err), "%d parameters%s%s", f.tcp_recvmsg_params, *f.tcp_recvmsg_err ? ": " : "",
		 f.tcp_recvmsg_err);
	line("tcp_recvmsg prototype", f.tcp_recvmsg_params >= 4 && f.tcp_recvmsg_params <= 5, err);
	line("uprobes", f.uprobes, "");
	line("USDT semaphores", f.usdt_semaphores, "uprobe ref_ctr_offset");
	printf("  %-26s      %s\n", "lockdown", f.lockdown);
	if (!f.root)
		snprintf(err, sizeof(err), "loading BPF programs needs root (or CAP_BPF and CAP_PERFMON): run with sudo");
	else if (!f.btf || !f.sched_tracepoints)
		features_hook_candidates(&f, HOOKS_AUTO, (enum hooks_choice[HOOKS_SETS]){ 0 }, err, sizeof(err));
	else {
		pick = check_socket_hooks(&o, &f, err, sizeof(err));
		check_optional_programs();
	}
	if (pick != HOOKS_AUTO)
		snprintf(hooks, sizeof(hooks), "%s (%s)", hooks_name(pick),
			 o.hooks == HOOKS_AUTO ? "cheapest that loads: tracepoint > fentry > kprobe" : "as --hooks asks");
	else
		snprintf(hooks, sizeof(hooks), "none: %s", err);
	printf("  %-26s      %s\n", o.hooks == HOOKS_AUTO ? "socket hooks (auto)" : "socket hooks (--hooks)", hooks);
	for (int i = 0; i < o.ntargets; i++)
		if (o.targets[i].pid && !describe_pid(o.targets[i].pid) && missing_pid == 0)
			missing_pid = o.targets[i].pid;
	if (pick != HOOKS_AUTO && !missing_pid && o.ntargets)
		look_at_traffic(&o, pick);
	if (pick == HOOKS_AUTO)
		printf("\npyvitals cannot run here: %s\n", err);
	else
		printf("\npyvitals can run here\n");
	if (missing_pid)
		fprintf(stderr, "pyvitals doctor: no process with pid %d: check the pid (e.g. 'pgrep -f gunicorn')\n",
			missing_pid);
	return pick != HOOKS_AUTO && !missing_pid ? 0 : 1;
}
