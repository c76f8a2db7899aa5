/* TLS library probes: which files to probe, attaching them once for all processes, and the
 * per-SSL capture. See tls_probe.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "proc.h"
#include "pyinfo.h"
#include "sqlite_probe.h"
#include "tls_probe.h"
#include "tls.skel.h"

#define TLS_MAX_FILES 32
#define TLS_WHY 200
#define TLS_FUNCS 4
#define TLS_MAX_POINTS (2 * TLS_FUNCS)
#define TLS_LOOK_EVERY_NS 1000000000ull   /* maps of a process with no probed libssl mapped */
#define TLS_RETRY_EVERY_NS 10000000000ull /* attaching a file that failed */

static const char *const FUNCS[TLS_FUNCS] = { "SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex" };

/* A mapped file (device + inode) that may hold OpenSSL, and its probes. */
struct tls_file {
	unsigned int maj, min;
	unsigned long long ino;
	char path[600];           /* where it was opened: through the root of a process */
	char name[256];           /* as the process maps it, for people */
	bool is_ssl;              /* defines SSL_read and SSL_write */
	bool probed;
	int err;                  /* last failure (-errno); with why */
	char why[TLS_WHY];
	uint64_t retry_ns;
	int nlinks;
	struct bpf_link *links[TLS_MAX_POINTS];
};

struct tls_proc {
	int pid;
	unsigned long long start;  /* /proc/PID/stat starttime: tells a reused pid */
	uint64_t look_ns;          /* next look at its maps */
	uint32_t files;            /* bit i: it maps files[i] */
	char told[TLS_WHY];
};

struct tls_probe {
	struct tls_bpf *skel;
	struct tls_file files[TLS_MAX_FILES];
	int nfiles;
	struct tls_proc *procs;
	int nprocs, cap;
};

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool tls_lib_basename_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	return !strncmp(base ? base + 1 : path, "libssl", 6);
}

bool tls_lib_name(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* libssl.so.3, a wheel's libssl-5f0b7c1e.so.3, an extension built with OpenSSL inside */
	return strstr(base, ".so") && (!strncmp(base, "libssl", 6) || strstr(base, "ssl"));
}

/* Read the file's symbols once: is it OpenSSL? */
static void inspect(struct tls_file *f)
{
	uint64_t off[TLS_FUNCS];
	int n = pyelf_func_offsets(f->path, FUNCS, TLS_FUNCS, off, f->why, sizeof(f->why));

	if (n < 0) {
		f->err = n;
		return;
	}
	/* SSL_read and SSL_write are the minimum; the _ex pair came with OpenSSL 1.1.1 */
	f->is_ssl = off[0] && off[2];
	if (!f->is_ssl)
		snprintf(f->why, sizeof(f->why), "no SSL_read/SSL_write symbols (not OpenSSL, or stripped)");
}

/* Shown to people: OpenSSL copies, and files named libssl that could not be used. An extension
 * such as _ssl that only links to a libssl is not. */
static bool is_listed(const struct tls_file *f)
{
	return f->is_ssl || tls_lib_basename_libssl(f->name);
}

static struct tls_file *file_for(struct tls_probe *tp, unsigned int maj, unsigned int min,
				 unsigned long long ino, const char *path, const char *name)
{
	struct tls_file *f;

	for (int i = 0; i < tp->nfiles; i++)
		if (tp->files[i].maj == maj && tp->files[i].min == min && tp->files[i].ino == ino)
			return &tp->files[i];
	if (tp->nfiles == TLS_MAX_FILES)
		return NULL;
	f = &tp->files[tp->nfiles++];
	memset(f, 0, sizeof(*f));
	f->maj = maj;
	f->min = min;
	f->ino = ino;
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(f->name, sizeof(f->name), "%s", name);
	inspect(f);
	return f;
}

static void drop_links(struct tls_file *f)
{
	while (f->nlinks)
		bpf_link__destroy(f->links[--f->nlinks]);
}

/* One probe point: an entry (kind: the FUNCS index whose arguments it sees) or a return. */
struct tls_point {
	int kind;
	bool ret;
	uint64_t off;
	char what[64];
};
#define TLS_SCAN 48   /* bytes of a wrapper searched for its call to the internal function */

/* The function both wrappers of one direction call first, if its first instruction is one the
 * kernel emulates: its file offset, else 0. */
static uint64_t internal_of(int fd, uint64_t plain, uint64_t ex)
{
	unsigned char a[TLS_SCAN], b[TLS_SCAN], t[16];
	uint64_t target;

#if !defined(__x86_64__)
	/* the call decoding is x86's; a wrong guess elsewhere would put a return probe mid-function */
	return 0;
#endif
	if (!plain || !ex || pread(fd, a, sizeof(a), (off_t)plain) != sizeof(a) ||
	    pread(fd, b, sizeof(b), (off_t)ex) != sizeof(b))
		return 0;
	/* file offsets stand in for addresses: a call's target is at the same distance in both */
	target = sqlite_common_target(a, plain, b, ex, sizeof(a));
	if (!target || pread(fd, t, sizeof(t), (off_t)target) != sizeof(t) || !sqlite_insn_emulated(t, sizeof(t)))
		return 0;
	return target;
}

/* The probe points of one OpenSSL file. OpenSSL 3's SSL_read and SSL_read_ex both call one
 * internal function with SSL_read_ex's arguments (ssl_read_internal: SSL_read_ex passes its own
 * straight through), and SSL_write/SSL_write_ex likewise. The wrappers start with `sub $n,%rsp`,
 * which the kernel single-steps (~19 us a call here), the internal functions with a push, which
 * it emulates (~2 us): those are probed when both wrappers are seen calling the same one, else
 * the exported functions. Returns how many points, or -errno + err. */
static int points_of(const char *path, struct tls_point *pt, char *err, size_t errlen)
{
	uint64_t off[TLS_FUNCS], in[2] = { 0, 0 };
	int n = 0, fd;

	if ((n = pyelf_func_offsets(path, FUNCS, TLS_FUNCS, off, err, errlen)) < 0)
		return n;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		in[0] = internal_of(fd, off[0], off[1]);
		in[1] = internal_of(fd, off[2], off[3]);
		close(fd);
	}
	n = 0;
	for (int dir = 0; dir < 2; dir++) {
		if (in[dir]) {
			for (int ret = 0; ret < 2; ret++) {
				pt[n] = (struct tls_point){ .kind = 2 * dir + 1, .ret = ret, .off = in[dir] };
				snprintf(pt[n++].what, sizeof(pt[0].what), "%s's internal function at +0x%llx%s (emulated)",
					 FUNCS[2 * dir + 1], (unsigned long long)in[dir], ret ? " (return)" : "");
			}
			continue;
		}
		for (int k = 2 * dir; k < 2 * dir + 2; k++) {
			if (!off[k])
				continue; /* an OpenSSL before 1.1.1 has no _ex calls */
			for (int ret = 0; ret < 2; ret++) {
				pt[n] = (struct tls_point){ .kind = k, .ret = ret, .off = off[k] };
				snprintf(pt[n++].what, sizeof(pt[0].what), "%s%s", FUNCS[k], ret ? " (return)" : "");
			}
		}
	}
	return n;
}

/* Probe an OpenSSL file for all processes. 0 or -errno (f->why); retried after a while. */
static int probe_file(struct tls_probe *tp, struct tls_file *f)
{
	struct bpf_program *enter[TLS_FUNCS] = { tp->skel->progs.tls_write_enter, tp->skel->progs.tls_write_ex_enter,
						 tp->skel->progs.tls_read_enter, tp->skel->progs.tls_read_ex_enter };
	struct tls_point pt[TLS_MAX_POINTS];
	int n;

	if (f->probed || !f->is_ssl || (f->err && boot_ns() < f->retry_ns))
		return f->err;
	if ((n = points_of(f->path, pt, f->why, sizeof(f->why))) < 0)
		return f->err = n;
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = pt[i].ret);
		struct bpf_link *l = bpf_program__attach_uprobe_opts(pt[i].ret ? tp->skel->progs.tls_exit : enter[pt[i].kind],
								     -1, f->path, pt[i].off, &o);
		if (!l) {
			f->err = -errno;
			snprintf(f->why, sizeof(f->why), "attaching a uprobe to %s in %.100s failed: %s", pt[i].what,
				 f->name, strerror(-f->err));
			f->retry_ns = boot_ns() + TLS_RETRY_EVERY_NS;
			drop_links(f);
			return f->err;
		}
		f->links[f->nlinks++] = l;
	}
	f->err = 0;
	f->why[0] = 0;
	f->probed = true;
	if (getenv("PYVITALS_DEBUG"))
		fprintf(stderr, "pyvitals: tls: probes on %s (%d links, %s) for all processes\n", f->path, f->nlinks,
			pt[0].what);
	return 0;
}

/* The libssl.so.3 a process under root would most likely load ("" for ours). */
static void probe_likely(struct tls_probe *tp, const char *root)
{
	static const char *const dirs[] = { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
					    "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib64",
					    "/lib64", "/usr/lib", "/lib" };
	char path[600], name[256];
	struct stat st;
	struct tls_file *f;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(name, sizeof(name), "%s/libssl.so.3", dirs[i]);
		snprintf(path, sizeof(path), "%s%s", root, name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if ((f = file_for(tp, major(st.st_dev), minor(st.st_dev), st.st_ino, path, name)))
			probe_file(tp, f);
		return;
	}
}

int tls_probe_open(struct tls_probe **out, const struct tls_probe_maps *m, char *err, size_t errlen)
{
	struct tls_probe *tp = calloc(1, sizeof(*tp));
	int r;

	*out = NULL;
	if (!tp) {
		snprintf(err, errlen, "tls: out of memory");
		return -ENOMEM;
	}
	if (!(tp->skel = tls_bpf__open())) {
		r = -errno;
		snprintf(err, errlen, "opening the TLS BPF object failed: %s", strerror(-r));
		goto fail;
	}
	tp->skel->rodata->tls_cfg = m->cfg;
	if ((r = bpf_map__reuse_fd(tp->skel->maps.tracked, m->tracked_fd)) ||
	    (r = bpf_map__reuse_fd(tp->skel->maps.events, m->events_fd)) ||
	    (r = bpf_map__reuse_fd(tp->skel->maps.unwoken, m->unwoken_fd)) ||
	    (r = bpf_map__reuse_fd(tp->skel->maps.py_units, m->units_fd))) {
		snprintf(err, errlen, "sharing the socket object's maps with the TLS object failed: %s", strerror(-r));
		goto fail;
	}
	if ((r = tls_bpf__load(tp->skel))) {
		snprintf(err, errlen, "loading the TLS BPF object failed: %s (see the libbpf messages above, or "
			 "run pyvitals doctor)", strerror(-r));
		goto fail;
	}
	probe_likely(tp, "");
	*out = tp;
	return 0;
fail:
	tls_bpf__destroy(tp->skel);
	free(tp);
	return r;
}

static struct tls_proc *proc_find(struct tls_probe *tp, int pid)
{
	for (int i = 0; i < tp->nprocs; i++)
		if (tp->procs[i].pid == pid)
			return &tp->procs[i];
	return NULL;
}

static struct tls_proc *proc_slot(struct tls_probe *tp, int pid)
{
	struct tls_proc *p = proc_find(tp, pid);

	if (p)
		return p;
	if (tp->nprocs == tp->cap) {
		int cap = tp->cap ? 2 * tp->cap : 16;
		struct tls_proc *n = realloc(tp->procs, cap * sizeof(*n));
		if (!n)
			return NULL;
		tp->procs = n;
		tp->cap = cap;
	}
	p = &tp->procs[tp->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

bool tls_maps_line(const char *line, const char *exe, struct tls_mapped *m)
{
	const char *base;
	const char *p;
	size_t n;
	int pos = 0;

	if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu %n", &m->start, &m->end, &m->maj, &m->min, &m->ino,
		   &pos) < 5 || !pos || !m->ino)
		return false;
	p = line + pos;
	n = strcspn(p, "\n");
	if (n >= sizeof(m->path))
		return false;
	memcpy(m->path, p, n);
	m->path[n] = 0;
	m->deleted = n > 10 && !strcmp(m->path + n - 10, " (deleted)");
	if (m->deleted)
		m->path[n - 10] = 0;
	base = strrchr(m->path, '/');
	return m->path[0] == '/' && (tls_lib_name(m->path) || !strcmp(m->path, exe) || strstr(base, "python"));
}

/* The executable as the process's maps name it ("" if unknown). */
static void exe_of(int pid, char *buf, size_t len)
{
	size_t n;

	if (proc_exe(pid, buf, len)) {
		buf[0] = 0;
		return;
	}
	n = strlen(buf);
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		buf[n - 10] = 0;
}

/* Where to open pid's copy: through its root (containers), or map_files once replaced on disk. */
static void open_path(int pid, const struct tls_mapped *m, char *buf, size_t len)
{
	if (m->deleted)
		snprintf(buf, len, "/proc/%d/map_files/%llx-%llx", pid, m->start, m->end);
	else
		snprintf(buf, len, "/proc/%d/root%s", pid, m->path);
}

/* Read p's maps and probe the OpenSSL copies it maps. The first failure, or 0. */
static int look(struct tls_probe *tp, struct tls_proc *p, char *err, size_t errlen)
{
	char maps[64], line[1024], path[600], exe[512];
	struct tls_mapped m;
	int r = 0;
	FILE *f;

	p->look_ns = boot_ns() + TLS_LOOK_EVERY_NS;
	exe_of(p->pid, exe, sizeof(exe));
	snprintf(maps, sizeof(maps), "/proc/%d/maps", p->pid);
	if (!(f = fopen(maps, "re"))) {
		r = -errno;
		snprintf(err, errlen, "tls: reading %s failed: %s", maps, strerror(-r));
		return r;
	}
	while (fgets(line, sizeof(line), f)) {
		struct tls_file *t;

		if (!tls_maps_line(line, exe, &m))
			continue;
		open_path(p->pid, &m, path, sizeof(path));
		if (!(t = file_for(tp, m.maj, m.min, m.ino, path, m.path)))
			continue;
		p->files |= 1u << (t - tp->files);
		if (t->is_ssl && !t->probed && probe_file(tp, t) && !r) {
			r = t->err;
			snprintf(err, errlen, "tls: %s", t->why);
		}
	}
	fclose(f);
	return r;
}

static bool covered(const struct tls_probe *tp, const struct tls_proc *p)
{
	for (int i = 0; i < tp->nfiles; i++)
		if ((p->files & (1u << i)) && tp->files[i].probed)
			return true;
	return false;
}

/* Asked when a TLS connection starts: a process not covered yet is looked at now (it may have
 * imported ssl since its last look). */
bool tls_probe_covers(struct tls_probe *tp, int pid, bool *late)
{
	struct tls_proc *p = tp ? proc_find(tp, pid) : NULL;
	char err[TLS_WHY];

	*late = false;
	if (!p)
		return false;
	if (covered(tp, p))
		return true;
	look(tp, p, err, sizeof(err));
	*late = covered(tp, p);
	return *late;
}

int tls_probe_add_pid(struct tls_probe *tp, int pid, char *err, size_t errlen)
{
	unsigned long long start = proc_start_time(pid);
	struct tls_proc *p;
	int r;

	if (!start) {
		snprintf(err, errlen, "tls: process %d is gone", pid);
		return -ESRCH;
	}
	if (!(p = proc_slot(tp, pid))) {
		snprintf(err, errlen, "tls: out of memory");
		return -ENOMEM;
	}
	if (p->start != start) { /* new, or the pid was reused */
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		p->start = start;
	}
	/* once it maps a probed copy, a private copy loaded later is not looked for */
	if (covered(tp, p) || boot_ns() < p->look_ns)
		return 0;
	if (!(r = look(tp, p, err, errlen)) || !strncmp(p->told, err, sizeof(p->told)))
		return 0;
	snprintf(p->told, sizeof(p->told), "%s", err);
	return r;
}

void tls_probe_forget(struct tls_probe *tp, int pid)
{
	struct tls_proc *p = tp ? proc_find(tp, pid) : NULL;

	if (p)
		*p = tp->procs[--tp->nprocs];
}

void tls_probe_set_capture(struct tls_probe *tp, uint32_t tgid, uint64_t ssl, uint32_t capture)
{
	struct pv_tls_key key = { .ssl = ssl, .tgid = tgid };
	struct pv_tls_info info = { .capture = capture };

	if (tp)
		bpf_map__update_elem(tp->skel->maps.tls_ssl, &key, sizeof(key), &info, sizeof(info), BPF_ANY);
}

const struct pv_tls_counters *tls_probe_counters(struct tls_probe *tp)
{
	return &tp->skel->bss->tls_counters;
}

void tls_probe_libraries(struct tls_probe *tp, const int *pids, int n, tls_lib_fn fn, void *ctx)
{
	uint32_t mask = 0;

	for (int i = 0; i < n; i++) {
		struct tls_proc *p = proc_find(tp, pids[i]);
		if (p)
			mask |= p->files;
	}
	for (int i = 0; i < tp->nfiles; i++)
		if ((mask & (1u << i)) && is_listed(&tp->files[i]))
			fn(ctx, tp->files[i].name, tp->files[i].probed, tp->files[i].why);
}

void tls_probe_close(struct tls_probe *tp)
{
	if (!tp)
		return;
	for (int i = 0; i < tp->nfiles; i++)
		drop_links(&tp->files[i]);
	tls_bpf__destroy(tp->skel);
	free(tp->procs);
	free(tp);
}

void tls_probe_describe_pid(FILE *out, int pid)
{
	char maps[64], line[1024], path[600], err[TLS_WHY], seen[8][512], exe[512];
	int nseen = 0, shown = 0;
	struct tls_mapped m;
	FILE *f;

	exe_of(pid, exe, sizeof(exe));
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	if (!(f = fopen(maps, "re"))) {
		fprintf(out, "  tls:      cannot read %s: %s\n", maps, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t off[TLS_FUNCS];
		bool dup = false;
		int n;

		if (!tls_maps_line(line, exe, &m))
			continue;
		for (int i = 0; i < nseen; i++)
			dup |= !strcmp(seen[i], m.path);
		if (dup || nseen == 8)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", m.path);
		open_path(pid, &m, path, sizeof(path));
		n = pyelf_func_offsets(path, FUNCS, TLS_FUNCS, off, err, sizeof(err));
		if (n >= 0 && (!off[0] || !off[2]) && !tls_lib_basename_libssl(m.path))
			continue; /* a user of a libssl (Python's _ssl, the interpreter), not one */
		shown++;
		if (n < 0) {
			fprintf(out, "  tls:      %s: cannot be probed: %s\n", m.path, err);
		} else if (!off[0] || !off[2]) {
			fprintf(out, "  tls:      %s: cannot be probed: no SSL_read/SSL_write symbols (not OpenSSL, "
				"or stripped)\n", m.path);
		} else {
			struct tls_point pt[TLS_MAX_POINTS];
			int np = points_of(path, pt, err, sizeof(err));

			fprintf(out, "  tls:      %s: OpenSSL, probed at", m.path);
			for (int i = 0; i < np; i++)
				if (!pt[i].ret)
					fprintf(out, "%s %s", i ? ";" : "", pt[i].what);
			fputc('\n', out);
		}
	}
	fclose(f);
	if (!shown)
		fprintf(out, "  tls:      no TLS library mapped yet (the host's libssl.so.3 is probed at start, so "
			"a later `import ssl` is seen)\n");
}
