/* Agent lifecycle: open -> configure -> load -> fill tracked map -> attach -> scan
 * descendants, with one cleanup path (agent_stop) for every failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agent.h"
#include "bpf_log.h"
#include "proc.h"
#include "route_names.h"
#include "pidbits.h"
#include "pyvitals.skel.h"
#include "runtime.h"
#include "chunks.h"
#include "sqlite_probe.h"
#include "tls_bind.h"
#include "tls_probe.h"
#include "units.h"

#define RINGBUF_BYTES (16u << 20)
#define TLS_SOCKET_CAPTURE 16   /* bytes of a TLS connection's own I/O: a record header */

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Database replies and pipelined batches are parsed message by message: capture more of them;
 * sockets we parse nothing of cost one lookup per I/O from now on. Only a socket the kernel
 * still knows: one closed since (its entry deleted) must not come back, or a new socket at the
 * same address would be taken as known and never send its addresses (its calls were filed
 * under "unknown (state expired)"). */
static void set_socket_capture(void *ctx, uint64_t sk, int service, enum conns_capture what)
{
	struct agent *a = ctx;
	struct pv_conn_info info;

	/* keep what the kernel side knows of it (a unix socket's inode tells its reuse) */
	if (bpf_map__lookup_elem(a->skel->maps.conns, &sk, sizeof(sk), &info, sizeof(info), 0))
		return;
	info.service = service;
	info.capture = what == CAPTURE_HEADERS ? a->opt.capture : what == CAPTURE_TLS ? TLS_SOCKET_CAPTURE
		     : a->opt.db_capture;
	info.skip = what == CAPTURE_NONE;
	bpf_map__update_elem(a->skel->maps.conns, &sk, sizeof(sk), &info, sizeof(info), BPF_EXIST);
}

static void set_tls_capture(void *ctx, uint32_t tgid, uint64_t ssl, enum conns_capture what)
{
	struct agent *a = ctx;

	tls_probe_set_capture(a->tls, tgid, ssl, what == CAPTURE_HEADERS ? a->opt.capture
				  : what == CAPTURE_NONE ? 1 : a->opt.db_capture);
}

static bool tls_covers(void *ctx, uint32_t tgid, bool *late)
{
	struct agent *a = ctx;

	*late = false;
	return a->tls && tls_probe_covers(a->tls, (int)tgid, late);
}

static void tls_feed(void *ctx, uint64_t sk, uint64_t ssl, const struct pv_data_event *e)
{
	struct agent *a = ctx;

	conns_tls_plain(a->conns, sk, ssl, e);
}

static enum tls_sock_state tls_sock_state(void *ctx, uint64_t sk, uint64_t *id)
{
	struct agent *a = ctx;
	int s = conns_tls_state(a->conns, sk, id);

	return s == 0 ? TLS_SOCK_GONE : s == 1 ? TLS_SOCK_PLAIN : TLS_SOCK_OTHER;
}

static uint32_t io_worker(void *ctx, const struct pv_data_event *e)
{
	return units_worker(((struct agent *)ctx)->units, e);
}

/* Interpreter probes are per process; a failure only makes that signal unavailable. */
static void add_process_probes(struct agent *a, int pid, int service)
{
	char err[256];

	if (a->rt && runtime_add_pid(a->rt, pid, service, err, sizeof(err)) && getenv("PYVITALS_DEBUG"))
		fprintf(stderr, "pyvitals: runtime probes for pid %d: %s\n", pid, err);
	if (a->sqlite) {
		int r = sqlite_probe_add_pid(a->sqlite, pid, err, sizeof(err));
		/* Each failure is returned once: say it (from the first snapshot on, so that
		 * the "attached" line stays first; sqlite_probe_blind_spots keeps it for the JSON). */
		if (r && r != -ESRCH && (a->start_ns || getenv("PYVITALS_DEBUG")))
			fprintf(stderr, "pyvitals: sqlite probes for pid %d: %s\n", pid, err);
	}
	if (a->units) {
		const char *why;
		struct service *s = &a->services[service];
		enum py_unit_kind kind = units_add_pid(a->units, pid, &why);

		if (s->attr)
			attr_set_lineage(s->attr, units_lineage, a->units);

		if ((int)kind > s->units_kind)
			s->units_kind = kind;
		/* an event loop we cannot follow, or can follow only in part: why */
		if (kind == PY_UNITS_THREAD ? strstr(why, "event loop") || strstr(why, "uvloop") : why[0] != 0)
			snprintf(s->units_why, sizeof(s->units_why), "%s", why);
	}
	if (a->tls) {
		int r = tls_probe_add_pid(a->tls, pid, err, sizeof(err));
		if (r && r != -ESRCH && (a->start_ns || getenv("PYVITALS_DEBUG")))
			fprintf(stderr, "pyvitals: TLS probes for pid %d: %s\n", pid, err);
	}
}

static void on_sqlite_call(void *ctx, int service, const char *peer, const struct db_call *call)
{
	struct agent *a = ctx;

	if (service >= 0 && service < a->nservices)
		service_record_db(&a->services[service], peer, call);
}

void agent_refresh_probes(struct agent *a)
{
	for (int i = 0; i < a->nservices; i++) {
		int pids[1024], n = agent_pids(a, i, pids, 1024);

		for (int j = 0; j < n; j++)
			add_process_probes(a, pids[j], i);
	}
}

static int place_exec(struct agent *a, int pid, int service);
static int tracked_service(struct agent *a, int pid);

static int handle_record(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct pv_data_event *d = data;
	const struct pv_close_event *c = data;

	if (size < sizeof(__u32))
		return 0;
	switch (*(__u32 *)data) {
	case PV_EV_DATA:
		if (size >= PV_DATA_HDR_LEN && size >= PV_DATA_HDR_LEN + (size_t)d->cap_len &&
		    d->service < (unsigned)a->nservices && (d = chunks_add(a->chunks, d, &a->lost_chunks))) {
			conns_data(a->conns, d);
			if (a->tls_bind) /* after: plaintext it releases may need the socket's addresses */
				tls_bind_socket_io(a->tls_bind, d);
		}
		break;
	case PV_EV_TLS:
		if (size >= PV_DATA_HDR_LEN && size >= PV_DATA_HDR_LEN + (size_t)d->cap_len &&
		    d->service < (unsigned)a->nservices && a->tls_bind &&
		    (d = chunks_add(a->chunks, d, &a->lost_chunks)))
			tls_bind_plain(a->tls_bind, d);
		break;
	case PV_EV_UNIT_COPY:
		if (size >= sizeof(struct pv_unit_copy_event))
			units_copy(a->units, data);
		break;
	case PV_EV_CLOSE:
		if (size >= sizeof(*c))
			conns_close(a->conns, c->sk, c->ts_ns);
		break;
	case PV_EV_UNIX:
		if (size >= sizeof(struct pv_unix_event) &&
		    ((const struct pv_unix_event *)data)->service < (unsigned)a->nservices)
			conns_unix(a->conns, data);
		break;
	case PV_EV_PROC:
		/* Membership lives in the tracked map; new processes get the per-process probes at
		 * once (a forked child has none of its parent's), an exited one loses its own. */
		if (size >= sizeof(struct pv_proc_event)) {
			const struct pv_proc_event *pe = data;
			int service = pe->service;

			if (pe->kind == PV_PROC_EXIT) {
				if (a->sqlite)
					sqlite_probe_forget(a->sqlite, pe->pid);
				tls_probe_forget(a->tls, pe->pid);
				break;
			}
			/* A new image: its libraries are looked for afresh. */
			if (pe->kind == PV_PROC_EXEC && a->sqlite)
				sqlite_probe_forget(a->sqlite, pe->pid);
			if (pe->kind == PV_PROC_EXEC)
				tls_probe_forget(a->tls, pe->pid);
			if (pe->kind == PV_PROC_EXEC && service < a->nservices)
				service = a->opt.all_python ? all_python_exec(a, pe->pid, service)
							    : place_exec(a, pe->pid, service);
			add_process_probes(a, pe->pid, service);
		}
		break;
	default:
		a->unknown_records++;
	}
	return 0;
}

static void disable_other_hooks(struct pyvitals_bpf *s, enum hooks_choice h)
{
	struct bpf_program *tp[] = { s->progs.tp_sock_send, s->progs.tp_sock_recv };
	struct bpf_program *kp[] = { s->progs.kp_tcp_sendmsg, s->progs.kp_unix_sendmsg, s->progs.kp_unix_recvmsg,
				     s->progs.kx_read, s->progs.kx_write, s->progs.kx_readv, s->progs.kx_writev,
				     s->progs.kx_sendto, s->progs.kx_recvfrom, s->progs.kx_sendmsg, s->progs.kx_recvmsg };
	bool recv4 = s->rodata->cfg.recvmsg_params == 4, recv6 = s->rodata->cfg.recvmsg_params == 6;

	for (int i = 0; i < 2; i++)
		bpf_program__set_autoload(tp[i], h == HOOKS_TRACEPOINT);
	bpf_program__set_autoload(s->progs.fexit_tcp_sendmsg, h == HOOKS_FENTRY);
	bpf_program__set_autoload(s->progs.fexit_unix_sendmsg, h == HOOKS_FENTRY);
	bpf_program__set_autoload(s->progs.fexit_unix_recvmsg, h == HOOKS_FENTRY);
	bpf_program__set_autoload(s->progs.fexit_tcp_recvmsg, h == HOOKS_FENTRY && !recv4);
	bpf_program__set_autoload(s->progs.fexit_tcp_recvmsg4, h == HOOKS_FENTRY && recv4);
	for (size_t i = 0; i < sizeof(kp) / sizeof(kp[0]); i++)
		bpf_program__set_autoload(kp[i], h == HOOKS_KPROBE);
	bpf_program__set_autoload(s->progs.kp_tcp_recvmsg, h == HOOKS_KPROBE && !recv6);
	bpf_program__set_autoload(s->progs.kp_tcp_recvmsg6, h == HOOKS_KPROBE && recv6);
}

/* The kernel side skips the tracked map for a process whose bit is clear (any I/O of it would
 * be missed: set before the map gets the process), and trusts a socket's cached owner while the
 * generation stands (bumped for any change here: a service may be another one now). Atomics,
 * because the BPF programs update the same words. */
/* A service's tables, with the --route patterns (checked when the options were parsed). */
static int init_service(struct service *s, int id, int root, const char *comm, const struct options *o)
{
	char err[300];

	if (service_init(s, id, root, comm, o->max_routes, o->max_queries, o->n1_threshold))
		return -1;
	for (unsigned i = 0; i < o->nroutes; i++)
		if (route_namer_add_pattern(s->namer, o->routes[i], err, sizeof(err)))
			return -1;
	s->table_pending = !o->no_route_table; /* until app_tables.c finds the table or gives up */
	if (o->no_route_table)
		snprintf(s->table_why, sizeof(s->table_why), "--no-route-table");
	return 0;
}

static void tracked_changed(struct agent *a, __u32 pid, bool member)
{
	pidbits_set(a->skel->bss->tracked_bits, pid, member);
	__atomic_fetch_add(&a->skel->bss->tracked_gen, 1, __ATOMIC_SEQ_CST);
}

int agent_track(struct agent *a, int pid, int service)
{
	struct pv_proc_info info = { .service = service };
	const char *why;

	/* its tasks are told apart from its first tracked I/O on: a request seen by thread first
	 * would look like two overlapping on the event loop's thread */
	if (a->units)
		units_add_pid(a->units, pid, &why);
	tracked_changed(a, pid, true);
	return bpf_map__update_elem(a->skel->maps.tracked, &pid, sizeof(pid), &info, sizeof(info), BPF_ANY);
}

int agent_service_of(struct agent *a, int pid)
{
	return tracked_service(a, pid);
}

static int tracked_service(struct agent *a, int pid)
{
	struct pv_proc_info info;

	if (bpf_map__lookup_elem(a->skel->maps.tracked, &pid, sizeof(pid), &info, sizeof(info), 0))
		return -1;
	return info.service;
}

void agent_cmdline(int pid, char *buf, size_t len)
{
	char raw[4096], *argv[64];
	int argc = proc_argv(pid, raw, sizeof(raw), argv, 64);
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < argc && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? " " : "", argv[i]);
}

/* The service of a process found by --comm (service tmpl names the comm). Each application is
 * a service of its own: processes whose topmost ancestor of that name (a gunicorn master) runs
 * the same command line. The first application takes tmpl, the others get new services,
 * named as -p would name them; past PV_MAX_SERVICES they share tmpl. */
static int comm_service(struct agent *a, int tmpl, int pid)
{
	const char *comm = a->services[tmpl].comm;
	char key[sizeof(a->services[0].cmdline)], pcomm[PV_COMM_LEN];
	int root = pid, i;

	for (int depth = 0; depth < 64; depth++) {
		int p = proc_ppid(root);

		if (p <= 1 || proc_comm(p, pcomm, sizeof(pcomm)) || strcmp(pcomm, comm))
			break;
		root = p;
	}
	agent_cmdline(root, key, sizeof(key));
	for (i = 0; i < a->nservices; i++)
		if (!strcmp(a->services[i].comm, comm) && a->services[i].cmdline[0] &&
		    !strcmp(a->services[i].cmdline, key))
			return i;
	if (a->services[tmpl].cmdline[0]) {
		i = agent_add_service(a, 0, key);
		if (i < 0)
			return tmpl;
		memcpy(a->services[i].comm, a->services[tmpl].comm, PV_COMM_LEN);
		proc_service_name(root, a->services[i].name, sizeof(a->services[i].name));
		return i;
	}
	snprintf(a->services[tmpl].cmdline, sizeof(a->services[tmpl].cmdline), "%s", key);
	proc_service_name(root, a->services[tmpl].name, sizeof(a->services[tmpl].name));
	return tmpl;
}

int agent_add_service(struct agent *a, int root, const char *key)
{
	int i = a->nservices;

	if (i == PV_MAX_SERVICES)
		for (i = 0; i < a->nservices && !a->services[i].gone; i++)
			;
	if (i == PV_MAX_SERVICES)
		return -1;
	if (i < a->nservices) { /* a dropped service's slot: nothing of it may show */
		service_free(&a->services[i]);
		if (a->rt)
			runtime_reset_service(a->rt, i);
	}
	if (init_service(&a->services[i], i, root, NULL, &a->opt))
		return -1;
	a->services[i].since_ns = agent_now_ns();
	snprintf(a->services[i].cmdline, sizeof(a->services[i].cmdline), "%s", key);
	if (root)
		proc_service_name(root, a->services[i].name, sizeof(a->services[i].name));
	if (i == a->nservices) {
		a->nservices++;
		if (a->conns)
			conns_set_nservices(a->conns, a->nservices);
	}
	return i;
}

void agent_drop_service(struct agent *a, int service)
{
	struct service *s = &a->services[service];

	service_free(s);
	init_service(s, service, 0, NULL, &a->opt);
	s->gone = true;
}

/* A process exec'd into a watched comm was tracked by the kernel side under the comm's first
 * service: move it to its application's. */
static int place_exec(struct agent *a, int pid, int service)
{
	int s = comm_service(a, service, pid);

	if (s != service)
		agent_track(a, pid, s);
	return s;
}

/* Add every process whose ancestor is tracked, and every process with a watched comm. */
static int scan_one(int pid, void *ctx)
{
	struct agent *a = ctx;
	char comm[PV_COMM_LEN];
	int p = pid, service = -1;

	if (pid == getpid() || tracked_service(a, pid) >= 0)
		return 0;
	for (int depth = 0; depth < 64 && p > 1 && service < 0; depth++) {
		p = proc_ppid(p);
		service = p > 0 ? tracked_service(a, p) : -1;
	}
	if (service < 0 && !proc_comm(pid, comm, sizeof(comm)))
		for (int i = 0; i < a->nservices && service < 0; i++)
			if (a->services[i].comm[0] && !strcmp(comm, a->services[i].comm))
				service = comm_service(a, i, pid);
	if (service >= 0)
		agent_track(a, pid, service);
	return 0;
}

static int configure(struct agent *a, char *err, size_t errlen)
{
	struct pv_config *cfg = (struct pv_config *)&a->skel->rodata->cfg;
	int ncomm = 0, ncpus = libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1;

	cfg->capture_len = a->opt.capture;
	cfg->client_capture = a->opt.db_capture;
	cfg->wakeup_bytes = RINGBUF_BYTES / 4 / ncpus;
	cfg->self_tgid = getpid();
	cfg->recvmsg_params = a->feat.tcp_recvmsg_params;
	cfg->close_at_destroy = a->feat.destroy_tracepoint;
	bpf_program__set_autoload(a->skel->progs.tp_sock_destroy, a->feat.destroy_tracepoint);
	for (int i = 0; i < a->nservices; i++) {
		if (!a->services[i].comm[0])
			continue;
		if (ncomm == PV_MAX_COMMS) {
			snprintf(err, errlen, "at most %d --comm targets in one run", PV_MAX_COMMS);
			return -1;
		}
		memcpy(cfg->comms[ncomm], a->services[i].comm, PV_COMM_LEN);
		cfg->comm_service[ncomm++] = i;
	}
	cfg->comm_count = ncomm;
	cfg->exec_events = a->opt.all_python;
	disable_other_hooks(a->skel, a->hooks);
	if (bpf_map__set_max_entries(a->skel->maps.iov_scratch, ncpus))
		return -1;
	return bpf_map__set_max_entries(a->skel->maps.events, RINGBUF_BYTES);
}

static void name_services(struct agent *a)
{
	for (int i = 0; i < a->nservices; i++) {
		struct service *s = &a->services[i];
		int pids[1];

		if (s->cmdline[0]) /* named when found (comm_service) */
			continue;
		if (s->root_pid)
			proc_service_name(s->root_pid, s->name, sizeof(s->name));
		else if (agent_pids(a, i, pids, 1) == 1)
			proc_service_name(pids[0], s->name, sizeof(s->name));
		else
			snprintf(s->name, sizeof(s->name), "%s", s->comm);
	}
}

/* Open, configure, load and attach the socket object with hook set h. Attaching before any
 * pid is tracked is harmless: the programs ignore untracked processes. */
static int open_sockets(struct agent *a, enum hooks_choice h, char *err, size_t errlen)
{
	const char *why, *step = "loading";
	int ret;

	bpf_log_reset();
	a->hooks = h;
	a->skel = pyvitals_bpf__open();
	if (!a->skel) {
		snprintf(err, errlen, "opening the BPF object failed: %s", strerror(errno));
		return -1;
	}
	if (configure(a, err, errlen))
		goto fail;
	ret = pyvitals_bpf__load(a->skel);
	if (!ret) {
		step = "attaching";
		ret = pyvitals_bpf__attach(a->skel);
	}
	if (ret) {
		why = bpf_log_failure();
		snprintf(err, errlen, "hooks=%s: %s the socket programs failed: %s%s%s", hooks_name(h), step,
			 strerror(-ret), *why ? "; " : "", why);
		goto fail;
	}
	return 0;
fail:
	pyvitals_bpf__destroy(a->skel);
	a->skel = NULL;
	return -1;
}

/* The first candidate hook set that really loads and attaches here (cheapest first). */
static int start_sockets(struct agent *a, char *err, size_t errlen)
{
	enum hooks_choice cand[HOOKS_SETS];
	int n = features_hook_candidates(&a->feat, a->opt.hooks, cand, err, errlen);
	size_t used = 0;
	char one[512];

	for (int i = 0; i < n; i++) {
		if (!open_sockets(a, cand[i], one, sizeof(one)))
			return 0;
		used += snprintf(err + used, used < errlen ? errlen - used : 0, "%s%s", i ? "; " : "", one);
	}
	if (n > 0 && used < errlen)
		snprintf(err + used, errlen - used, "; run 'pyvitals doctor' for what this kernel allows");
	return -1;
}

int agent_check_hooks(const struct options *o, const struct features *f, enum hooks_choice h, char *err,
		      size_t errlen)
{
	struct agent *a = calloc(1, sizeof(*a));
	int ret;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->opt = *o;
	a->opt.ntargets = 0;
	a->feat = *f;
	ret = open_sockets(a, h, err, errlen);
	pyvitals_bpf__destroy(a->skel);
	free(a);
	return ret;
}

/* TLS plaintext probes; without them (--no-tls, or they could not load) TLS connections are
 * blind spots. */
static void open_tls(struct agent *a)
{
	int ncpus = libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1;
	struct tls_probe_maps m = {
		.tracked_fd = bpf_map__fd(a->skel->maps.tracked),
		.events_fd = bpf_map__fd(a->skel->maps.events),
		.unwoken_fd = bpf_map__fd(a->skel->maps.unwoken),
		.units_fd = bpf_map__fd(a->skel->maps.py_units),
		.cfg = { .capture_len = a->opt.capture, .client_capture = a->opt.db_capture,
			 .wakeup_bytes = RINGBUF_BYTES / 4 / ncpus },
	};

	if (a->opt.no_tls) {
		snprintf(a->tls_err, sizeof(a->tls_err), "turned off (--no-tls)");
		return;
	}
	if (tls_probe_open(&a->tls, &m, a->tls_err, sizeof(a->tls_err))) {
		a->tls = NULL;
		fprintf(stderr, "pyvitals: TLS plaintext unavailable, TLS connections will be blind spots: %s\n",
			a->tls_err);
	}
}

int agent_start(struct agent *a, const struct options *o, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->opt = *o;
	if (!o->ntargets && !o->all_python) {
		snprintf(err, errlen, "no target: name the service with -p PID, --comm NAME or --all-python");
		return -1;
	}
	for (int i = 0; i < o->ntargets; i++) {
		const struct target *t = &o->targets[i];

		if (t->pid && !proc_alive(t->pid)) {
			snprintf(err, errlen, "no process with pid %d: check the pid (e.g. 'pgrep -f gunicorn')", t->pid);
			return -1;
		}
		if (init_service(&a->services[i], i, t->pid, t->comm, o)) {
			snprintf(err, errlen, "out of memory setting up service %d", i);
			return -1;
		}
	}
	a->nservices = o->ntargets;
	bpf_log_install();
	features_probe(&a->feat);
	if (!a->feat.root) {
		snprintf(err, errlen, "loading BPF programs needs root (or CAP_BPF and CAP_PERFMON): run with sudo");
		goto fail;
	}
	if (start_sockets(a, err, errlen))
		goto fail;
	/* PYVITALS_TASKS=off: requests told apart by thread only (make bench measures the difference) */
	if (!getenv("PYVITALS_TASKS") || strcmp(getenv("PYVITALS_TASKS"), "off"))
		a->units = units_new(bpf_map__fd(a->skel->maps.py_units), a->skel->bss->unit_bits,
				     a->skel->progs.unit_copy_exit);
	for (int i = 0; i < a->nservices; i++)
		if (a->services[i].root_pid && agent_track(a, a->services[i].root_pid, i)) {
			snprintf(err, errlen, "adding pid %d to the tracked map failed: %s", a->services[i].root_pid,
				 strerror(errno));
			goto fail;
		}
	if (o->all_python && all_python_scan(a)) {
		snprintf(err, errlen, "scanning /proc for CPython processes failed: %s", strerror(errno));
		goto fail;
	}
	/* Forks from now on are followed in the kernel; two passes catch those made during the scan. */
	proc_each(scan_one, a);
	proc_each(scan_one, a);
	for (int i = 0; i < a->nservices; i++)
		if (a->services[i].root_pid && !proc_alive(a->services[i].root_pid)) {
			snprintf(err, errlen, "process %d exited while pyvitals was attaching; start it again and retry",
				 a->services[i].root_pid);
			goto fail;
		}
	if (runtime_open(&a->rt, bpf_map__fd(a->skel->maps.tracked), a->rt_err, sizeof(a->rt_err)))
		a->rt = NULL;
	if (sqlite_probe_open(&a->sqlite, bpf_map__fd(a->skel->maps.tracked), a->sqlite_err,
			      sizeof(a->sqlite_err)))
		a->sqlite = NULL;
	open_tls(a);
	agent_refresh_probes(a);
	a->conns = conns_new(a->services, a->nservices, &(struct conns_ops){
		.capture = set_socket_capture, .tls_capture = set_tls_capture, .tls_covers = tls_covers,
		.worker = io_worker, .ctx = a });
	a->tls_bind = a->tls ? tls_bind_new(&(struct tls_bind_ops){ .feed = tls_feed, .state = tls_sock_state,
								     .ctx = a }) : NULL;
	a->chunks = chunks_new();
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.events), handle_record, a, NULL);
	if (!a->conns || !a->chunks || !a->rb || (a->tls && !a->tls_bind)) {
		snprintf(err, errlen, "setting up the event reader failed: %s", strerror(errno));
		goto fail;
	}
	name_services(a);
	a->start_ns = a->last_snap_ns = agent_now_ns();
	for (int i = 0; i < a->nservices; i++)
		a->services[i].since_ns = a->start_ns;
	return 0;
fail:
	agent_stop(a);
	return -1;
}

/* The end of a run. Removing a uprobe waits for a grace period (~0.1 s on recent kernels,
 * under a global lock, one link at a time: seconds for a service of many processes), so a
 * child process does the teardown: the prompt comes back at once and the probes go within
 * seconds, doing nothing meanwhile but count into maps nobody reads. */
void agent_finish(struct agent *a)
{
	pid_t child;

	fflush(NULL);
	child = fork();
	if (child > 0)
		return; /* our copies of the descriptors go when we exit */
	if (child == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) { /* hold no terminal or pipe of the caller */
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setsid();
	}
	agent_stop(a);
	if (child == 0)
		_exit(0);
}

void agent_stop(struct agent *a)
{
	ring_buffer__free(a->rb);
	a->rb = NULL;
	runtime_close(a->rt);
	a->rt = NULL;
	sqlite_probe_close(a->sqlite);
	a->sqlite = NULL;
	tls_probe_close(a->tls);
	a->tls = NULL;
	tls_bind_free(a->tls_bind);
	a->tls_bind = NULL;
	pyvitals_bpf__destroy(a->skel);
	a->skel = NULL;
	conns_free(a->conns);
	units_free(a->units);
	a->units = NULL;
	a->conns = NULL;
	chunks_free(a->chunks);
	a->chunks = NULL;
	for (int i = 0; i < a->nservices; i++)
		service_free(&a->services[i]);
	all_python_free(a);
}

void agent_drain(struct agent *a)
{
	/* Sockets first: a request's SQLite calls were committed before its response was
	 * written, so once both are drained every call of every finished request is in. */
	if (a->rb)
		ring_buffer__consume(a->rb);
	if (a->sqlite)
		sqlite_probe_drain(a->sqlite, on_sqlite_call, a);
	for (int i = 0; i < a->nservices; i++)
		service_settle(&a->services[i]);
}

static int cmp_int(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

int agent_pids(struct agent *a, int service, int *pids, int max)
{
	struct bpf_map *m = a->skel->maps.tracked;
	__u32 key, next, *prev = NULL;
	int n = 0;

	while (n < max && !bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		if (!proc_alive(key)) { /* exited before its exit could be seen, or a zombie's leftover */
			bpf_map__delete_elem(m, &key, sizeof(key), 0);
			tracked_changed(a, key, false);
			prev = NULL;    /* the iteration restarts; deleted keys are not seen again */
			n = 0;
			continue;
		}
		if (tracked_service(a, key) == service)
			pids[n++] = key;
	}
	qsort(pids, n, sizeof(*pids), cmp_int);
	return n;
}

bool agent_targets_gone(struct agent *a)
{
	int pid;

	if (a->opt.all_python)
		return false;
	for (int i = 0; i < a->nservices; i++)
		if (a->services[i].comm[0] || agent_pids(a, i, &pid, 1) > 0)
			return false;
	return true;
}

const struct pv_counters *agent_counters(struct agent *a)
{
	return &a->skel->bss->counters;
}

uint64_t agent_socket_losses(struct agent *a)
{
	const struct pv_counters *c = agent_counters(a);

	return c->ringbuf_full + c->conn_map_full + c->proc_map_full + a->unknown_records + a->lost_chunks +
	       (a->tls ? tls_probe_counters(a->tls)->ringbuf_full + tls_probe_counters(a->tls)->calls_full : 0);
}

uint64_t agent_lost_events(struct agent *a)
{
	return agent_socket_losses(a) + (a->sqlite ? sqlite_probe_lost(a->sqlite) : 0);
}
