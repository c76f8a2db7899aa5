/* SQLite calls: attach bpf/sqlite.bpf.c once per libsqlite3 file, for all processes, at the
 * probe points sqlite_elf.c picks, and join the execution records with the statement
 * text (from prepares) and the database file (from opens) in two small caches. */
#include "sqlite_probe.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "pyvitals.h"
#include "sql_normalize.h"
#include "sqlite.skel.h"
#include "proc.h"

#define SQ_MAX_LINKS 10
#define SQ_MAX_FILES 16
#define SQ_WHY 240
#define SQ_SETS_STMT 1024   /* x SQ_WAYS statements remembered (Python caches 128 per connection) */
#define SQ_SETS_DB 128
#define SQ_WAYS 4
#define SQ_LOOK_EVERY_NS 1000000000ull    /* maps of a process with no probed libsqlite3 mapped */
#define SQ_RETRY_EVERY_NS 10000000000ull  /* attaching a file that failed */
#define SQ_PRUNE_EVERY 50   /* drains between checks for exited processes (~5 s at 100 ms) */

/* A libsqlite3 file (device + inode) and its probes. The probes are attached once, for all
 * processes (pid -1): the kernel puts them into every process that maps the file, now or
 * later, so a worker forked or respawned later, a process found by --comm later and a
 * dlopen after attach are all seen from their first call, with no attach per process.
 * The price: other processes that use the same file take the trap too, as long as pyvitals
 * runs (~2 us per trap, ~3 per statement execution; bpf/sqlite.bpf.c ignores them after one
 * map lookup). */
struct sq_file {
	unsigned int maj, min;
	unsigned long long ino;
	char path[600];            /* where it was opened: through the root of a process */
	bool bad;                  /* no usable probe points (why): never attached */
	int err;                   /* last attach failure (-errno), 0 if none */
	char why[SQ_WHY];
	uint64_t retry_ns;         /* after a failure: next attempt (CLOCK_BOOTTIME) */
	uint64_t probed_ns;        /* when its probes were all in (CLOCK_BOOTTIME); 0: not probed */
	int vdbe_sql;              /* offset of Vdbe.zSql, learnt from a prepare; 0: not yet */
	struct sqlite_offsets off;
	int nlinks;
	struct bpf_link *links[SQ_MAX_LINKS];
};

/* A tracked process: which libsqlite3 it maps, and whether some of its calls went unseen. */
struct sq_proc {
	int pid;
	unsigned long long start;  /* starttime from /proc/PID/stat: detects pid reuse */
	bool looked;               /* its maps were read at least once (and its likely file probed) */
	bool mapped;               /* libsqlite3 was in its maps at the last look */
	int mapped_file;           /* files[] index of that libsqlite3; -1 unknown (see err) */
	uint64_t clear_ns;         /* no unprobed libsqlite3 was mapped then (CLOCK_BOOTTIME; 0:
				    * before we attached): its calls must be seen from then on */
	uint64_t look_ns;          /* next look at its maps, while it has no probed file mapped */
	double late_ms;            /* its file was probed up to this long after it mapped it */
	int err;                   /* last failure (-errno), 0 if none */
	char why[SQ_WHY];
	char told[SQ_WHY];         /* the failure add_pid last returned: each is told once */
};

/* Cache entry: a statement (text) or a connection (path in text), keyed by (tgid, ptr). */
struct sq_ent {
	uint32_t tgid, stamp;
	uint64_t ptr;
	char op[24];
	char text[512];
};

struct sqlite_probe {
	struct sqlite_bpf *skel;
	struct ring_buffer *rb;
	bool own_tracked;
	struct sq_file files[SQ_MAX_FILES];
	int nfiles;
	struct sq_proc *procs;
	int nprocs, cap;
	struct sq_ent *stmts, *dbs;
	uint32_t clock;
	uint64_t bad_records;
	unsigned int drains;
	uint64_t opened_ns;        /* CLOCK_BOOTTIME at open: processes started later are new */
	uint64_t untracked_told, untracked_told_ns; /* PYVITALS_DEBUG line about other processes */
	sqlite_call_cb cb;         /* set during a drain */
	void *cb_ctx;
};

/* ---- the caches: set-associative, least recently used way replaced ---- */

static struct sq_ent *cache_slot(struct sqlite_probe *sp, struct sq_ent *tab, uint32_t sets,
				 uint32_t tgid, uint64_t ptr, bool insert)
{
	uint64_t h = (ptr >> 3) * 0x9e3779b97f4a7c15ULL ^ tgid;
	struct sq_ent *set = &tab[(h >> 32) % sets * SQ_WAYS], *old = set;

	for (int i = 0; i < SQ_WAYS; i++) {
		if (set[i].ptr == ptr && set[i].tgid == tgid) {
			set[i].stamp = ++sp->clock;
			return &set[i];
		}
		if (set[i].stamp < old->stamp)
			old = &set[i];
	}
	if (!insert)
		return NULL;
	memset(old, 0, sizeof(*old));
	old->tgid = tgid;
	old->ptr = ptr;
	old->stamp = ++sp->clock;
	return old;
}

/* The connection's file as the process named it, made absolute against its cwd. */
static void set_db_path(struct sq_ent *e, uint32_t tgid, const char *name)
{
	char cwd[PATH_MAX], link[64];
	ssize_t n;

	if (!name[0]) {
		snprintf(e->text, sizeof(e->text), "(temporary database)");
		return;
	}
	if (name[0] == '/' || !strcmp(name, ":memory:") || !strncmp(name, "file:", 5)) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	snprintf(link, sizeof(link), "/proc/%u/cwd", tgid);
	if ((n = readlink(link, cwd, sizeof(cwd) - 1)) <= 0) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	cwd[n] = 0;
	/* Too long to show whole: the name as given says more than a truncated path. */
	if ((size_t)n + strlen(name) + 2 > sizeof(e->text)) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	strcpy(e->text, strcmp(cwd, "/") ? cwd : "");
	strcat(e->text, "/");
	strcat(e->text, name);
}

/* ---- what was set up before attach, read from the process's memory ----
 * A service attached once warm has its hot statements in Python's statement cache and its
 * connections open: no prepare or open will come for them. Their text and file are still in
 * the process: Vdbe.zSql (the copy prepare_v2/v3 keep) and the connection's Pager. */

static int read_mem(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	return process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

static uint64_t read_ptr(uint32_t pid, uint64_t addr)
{
	uint64_t v = 0;
	return addr >= 4096 && !read_mem(pid, addr, &v, sizeof(v)) ? v : 0;
}

/* A NUL-terminated string of at most len - 1 bytes; read page by page so that a string
 * ending just before an unmapped page is still read. 0 or -1. */
static int read_str(uint32_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;

	if (addr < 4096)
		return -1;
	while (got < len - 1) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		if (read_mem(pid, addr + got, buf + got, chunk))
			return -1;
		if (memchr(buf + got, 0, chunk))
			return 0;
		got += chunk;
	}
	buf[len - 1] = 0;
	return 0;
}

static const struct sq_file *file_of(struct sqlite_probe *sp, uint32_t tgid)
{
	for (int i = 0; i < sp->nprocs; i++)
		if (sp->procs[i].pid == (int)tgid && sp->procs[i].mapped && sp->procs[i].mapped_file >= 0)
			return &sp->files[sp->procs[i].mapped_file];
	return NULL;
}

#define SQ_VDBE_SCAN 512 /* bytes of a Vdbe searched for zSql (it sits ~0x100 in 3.40) */

/* Learn where Vdbe keeps its SQL from a statement whose text we know: the slot pointing to
 * a copy of that text. */
static void learn_vdbe_sql(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, const char *sql,
			   size_t n)
{
	struct sq_file *f = (struct sq_file *)file_of(sp, tgid);
	uint64_t slots[SQ_VDBE_SCAN / 8];
	char buf[PV_SQ_TEXT_MAX + 1];

	if (!f || f->vdbe_sql || n < 6 || read_mem(tgid, stmt, slots, sizeof(slots)))
		return;
	for (int i = 1; i < SQ_VDBE_SCAN / 8; i++) {
		size_t len;
		if (read_str(tgid, slots[i], buf, sizeof(buf)))
			continue;
		len = strlen(buf);
		/* SQLite keeps the text up to the end of the first statement: a prefix. */
		if (len >= 6 && len <= n && !memcmp(buf, sql, len)) {
			f->vdbe_sql = i * 8;
			return;
		}
	}
}

static int looks_like_sql(const char *s)
{
	static const char *const kw[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH",
		"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "CREATE", "DROP", "ALTER",
		"PRAGMA", "VALUES", "EXPLAIN", "ANALYZE", "VACUUM", "ATTACH", "DETACH", "REINDEX" };
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		size_t k = strlen(kw[i]);
		if (!strncasecmp(s, kw[i], k) && !((s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z') ||
						   s[k] == '_'))
			return 1;
	}
	return 0;
}

/* Text of a statement prepared before attach: from the learnt offset, else from the first
 * slot of the Vdbe that points to SQL-looking text (zSql comes before any other string). */
static int text_from_vdbe(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, char *buf,
			  size_t len)
{
	const struct sq_file *f = file_of(sp, tgid);
	uint64_t slots[SQ_VDBE_SCAN / 8];

	if (f && f->vdbe_sql)
		return read_str(tgid, read_ptr(tgid, stmt + f->vdbe_sql), buf, len);
	if (read_mem(tgid, stmt, slots, sizeof(slots)))
		return -1;
	for (int i = 1; i < SQ_VDBE_SCAN / 8; i++)
		if (!read_str(tgid, slots[i], buf, len) && looks_like_sql(buf))
			return 0;
	return -1;
}

/* Does the process hold an open fd on this file? */
static int process_has_open(uint32_t pid, const struct stat *want)
{
	char dir[64], fdpath[64 + sizeof(((struct dirent *)0)->d_name)];
	struct dirent *d;
	struct stat st;
	int found = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%u/fd", pid);
	if (!(dp = opendir(dir)))
		return 0;
	while (!found && (d = readdir(dp))) {
		snprintf(fdpath, sizeof(fdpath), "%s/%s", dir, d->d_name);
		found = d->d_name[0] != '.' && !stat(fdpath, &st) && st.st_dev == want->st_dev &&
			st.st_ino == want->st_ino;
	}
	closedir(dp);
	return found;
}

#define SQ_PAGER_SCAN 512

/* File of a connection opened before attach: db->aDb[0].pBt->pBt->pPager (offsets 32, 8, 8,
 * 0, unchanged for many releases), then the Pager's zFilename, which points just past the
 * Pager into the same allocation. A candidate counts only if the process has that file
 * open, so a wrong guess shows up as "unknown", never as a wrong file. */
static int path_from_db(uint32_t tgid, uint64_t db, char *buf, size_t len)
{
	uint64_t adb = read_ptr(tgid, db + 32), btree = read_ptr(tgid, adb + 8);
	uint64_t bts = read_ptr(tgid, btree + 8), pager = read_ptr(tgid, bts);
	uint64_t slots[SQ_PAGER_SCAN / 8];
	char root[PATH_MAX + 64];
	struct stat st;

	if (!pager || read_mem(tgid, pager, slots, sizeof(slots)))
		return -1;
	for (int i = 1; i < SQ_PAGER_SCAN / 8; i++) {
		if (slots[i] <= pager || slots[i] >= pager + 65536 || read_str(tgid, slots[i], buf, len) ||
		    buf[0] != '/')
			continue;
		snprintf(root, sizeof(root), "/proc/%u/root%s", tgid, buf);
		if (!stat(root, &st) && S_ISREG(st.st_mode) && process_has_open(tgid, &st))
			return 0;
	}
	return -1;
}

/* ---- records ---- */

static void report(struct sqlite_probe *sp, uint32_t service, uint32_t tgid, uint64_t stmt,
		   uint64_t db, const char *op, const char *text, int rc, uint64_t start,
		   uint64_t end, uint32_t tid)
{
	struct db_call call;
	struct sq_ent *d = cache_slot(sp, sp->dbs, SQ_SETS_DB, tgid, db, false);
	const char *name = sqlite_rc_name(rc);
	int prim = rc & 0xff;

	(void)stmt;
	if (!d && db) {
		/* Once per connection: remember the answer, found or not. */
		d = cache_slot(sp, sp->dbs, SQ_SETS_DB, tgid, db, true);
		if (path_from_db(tgid, db, d->text, sizeof(d->text)))
			snprintf(d->text, sizeof(d->text), "unknown (opened before attach)");
	}
	memset(&call, 0, sizeof(call));
	call.system = DB_SQLITE;
	snprintf(call.op, sizeof(call.op), "%s", op);
	snprintf(call.text, sizeof(call.text), "%s", text);
	call.error = prim != 0 && prim != 100 && prim != 101;
	if (call.error) {
		if (name)
			snprintf(call.error_code, sizeof(call.error_code), "%s", name);
		else
			snprintf(call.error_code, sizeof(call.error_code), "%d", rc);
	}
	call.start_ns = start;
	call.end_ns = end;
	call.tid = tid;
	sp->cb(sp->cb_ctx, (int)service, d ? d->text : "unknown (opened before attach)", &call);
}

static void on_prep(struct sqlite_probe *sp, const struct pv_sq_prep *p)
{
	size_t n = strnlen(p->text, p->len < PV_SQ_TEXT_MAX ? p->len : PV_SQ_TEXT_MAX);
	char op[24], text[512];

	sql_operation(p->text, n, op, sizeof(op));
	sql_normalize(p->text, n, text, sizeof(text));
	if (p->rc) {
		/* The statement did not compile (syntax error, unknown table): the app's execute
		 * failed here, so this is its one call. */
		report(sp, p->service, p->tgid, 0, p->db, op, text, p->rc, p->start_ns, p->end_ns, p->tid);
		return;
	}
	struct sq_ent *e = cache_slot(sp, sp->stmts, SQ_SETS_STMT, p->tgid, p->stmt, true);
	memcpy(e->op, op, sizeof(op));
	memcpy(e->text, text, sizeof(text));
	learn_vdbe_sql(sp, p->tgid, p->stmt, p->text, n);
}

static void on_exec(struct sqlite_probe *sp, const struct pv_sq_exec *x)
{
	struct sq_ent *e = cache_slot(sp, sp->stmts, SQ_SETS_STMT, x->tgid, x->stmt, false);
	char raw[PV_SQ_TEXT_MAX + 1];

	if (!e && !text_from_vdbe(sp, x->tgid, x->stmt, raw, sizeof(raw))) {
		e = cache_slot(sp, sp->stmts, SQ_SETS_STMT, x->tgid, x->stmt, true);
		sql_operation(raw, strlen(raw), e->op, sizeof(e->op));
		sql_normalize(raw, strlen(raw), e->text, sizeof(e->text));
	}

	report(sp, x->service, x->tgid, x->stmt, x->db, e ? e->op : "",
	       e ? e->text : "unknown (prepared before attach)", x->rc, x->start_ns, x->end_ns, x->tid);
}

static int handle_record(void *ctx, void *data, size_t len)
{
	struct sqlite_probe *sp = ctx;
	uint32_t type;

	if (len < sizeof(type)) {
		sp->bad_records++;
		return 0;
	}
	memcpy(&type, data, sizeof(type));
	switch (type) {
	case PV_SQ_EXEC:
		if (len < sizeof(struct pv_sq_exec))
			break;
		on_exec(sp, data);
		return 0;
	case PV_SQ_PREP:
		if (len < sizeof(struct pv_sq_prep))
			break;
		on_prep(sp, data);
		return 0;
	case PV_SQ_OPEN: {
		const struct pv_sq_open *o = data;
		char name[PV_SQ_PATH_MAX + 1];
		if (len < sizeof(*o))
			break;
		memcpy(name, o->path, PV_SQ_PATH_MAX);
		name[PV_SQ_PATH_MAX] = 0;
		set_db_path(cache_slot(sp, sp->dbs, SQ_SETS_DB, o->tgid, o->db, true), o->tgid, name);
		return 0;
	}
	}
	sp->bad_records++; /* unknown type or short record: a BPF/userspace mismatch */
	return 0;
}

/* ---- lifecycle ---- */

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Process start times are in clock ticks since boot: compared with CLOCK_BOOTTIME. */
static uint64_t boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

static void probe_likely(struct sqlite_probe *sp, struct sq_proc *p, int pid);

int sqlite_probe_open(struct sqlite_probe **out, int tracked_map_fd, char *err, size_t errlen)
{
	struct sqlite_probe *sp = calloc(1, sizeof(*sp));
	int r;

	*out = NULL;
	if (!sp || !(sp->stmts = calloc(SQ_SETS_STMT * SQ_WAYS, sizeof(struct sq_ent))) ||
	    !(sp->dbs = calloc(SQ_SETS_DB * SQ_WAYS, sizeof(struct sq_ent)))) {
		snprintf(err, errlen, "sqlite: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	if (!(sp->skel = sqlite_bpf__open())) {
		r = -errno;
		snprintf(err, errlen, "opening the sqlite BPF object failed: %s", strerror(-r));
		goto fail;
	}
	sp->own_tracked = tracked_map_fd < 0;
	if (!sp->own_tracked && (r = bpf_map__reuse_fd(sp->skel->maps.tracked, tracked_map_fd))) {
		snprintf(err, errlen, "sharing the tracked map (fd %d) with the sqlite object failed: %s "
			 "(is it the socket object's 'tracked' hash map?)", tracked_map_fd, strerror(-r));
		goto fail;
	}
	if ((r = sqlite_bpf__load(sp->skel))) {
		snprintf(err, errlen, "loading the sqlite BPF object failed: %s (needs kernel BTF and "
			 "task storage; see the libbpf messages above, or run pyvitals doctor)", strerror(-r));
		goto fail;
	}
	sp->rb = ring_buffer__new(bpf_map__fd(sp->skel->maps.sq_events), handle_record, sp, NULL);
	if (!sp->rb) {
		r = -errno;
		snprintf(err, errlen, "setting up the sqlite ring buffer failed: %s", strerror(-r));
		goto fail;
	}
	sp->opened_ns = boot_ns();
	/* A watch: the host's own likely libsqlite3 is probed now, so a process found later
	 * (--comm) that uses it is seen from its first call, even when attaching its file would
	 * wait (behind another pyvitals closing its links, ~0.1 s each, 1.1 s seen). */
	if (!sp->own_tracked) {
		struct sq_proc host = { .pid = 0 };
		probe_likely(sp, &host, 0);
		if (host.err && getenv("PYVITALS_DEBUG"))
			fprintf(stderr, "pyvitals: %s\n", host.why);
	}
	*out = sp;
	return 0;
fail:
	if (sp) {
		sqlite_bpf__destroy(sp->skel);
		free(sp->stmts);
		free(sp->dbs);
		free(sp);
	}
	return r;
}

static struct sq_proc *proc_find(struct sqlite_probe *sp, int pid)
{
	for (int i = 0; i < sp->nprocs; i++)
		if (sp->procs[i].pid == pid)
			return &sp->procs[i];
	return NULL;
}

static struct sq_proc *proc_slot(struct sqlite_probe *sp, int pid)
{
	struct sq_proc *p = proc_find(sp, pid);

	if (p)
		return p;
	if (sp->nprocs == sp->cap) {
		int cap = sp->cap ? 2 * sp->cap : 16;
		struct sq_proc *n = realloc(sp->procs, cap * sizeof(*n));
		if (!n)
			return NULL;
		sp->procs = n;
		sp->cap = cap;
	}
	p = &sp->procs[sp->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->mapped_file = -1;
	return p;
}

static void set_err(struct sq_proc *p, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(struct sq_proc *p, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	p->err = r;
}

/* The file's entry (its probe points read once); NULL + p's error if it has none. */
static struct sq_file *file_for(struct sqlite_probe *sp, struct sq_proc *p, unsigned int maj,
				unsigned int min, unsigned long long ino, const char *path)
{
	struct sq_file *f;
	int r;

	for (int i = 0; i < sp->nfiles; i++)
		if (sp->files[i].maj == maj && sp->files[i].min == min && sp->files[i].ino == ino) {
			f = &sp->files[i];
			goto check;
		}
	if (sp->nfiles == SQ_MAX_FILES) {
		set_err(p, -E2BIG, "sqlite: more than %d distinct libsqlite3 files", SQ_MAX_FILES);
		return NULL;
	}
	f = &sp->files[sp->nfiles++];
	memset(f, 0, sizeof(*f));
	f->maj = maj;
	f->min = min;
	f->ino = ino;
	snprintf(f->path, sizeof(f->path), "%s", path);
	if ((r = sqlite_elf_offsets(path, &f->off, f->why, sizeof(f->why)))) {
		f->bad = true;
		f->err = r;
	}
check:
	if (f->bad) {
		set_err(p, f->err, "sqlite: %s", f->why);
		return NULL;
	}
	return f;
}

/* Where to open pid's copy of the library: through its root (containers), or through
 * map_files when the file was replaced on disk since it was mapped. */
static void lib_open_path(int pid, const struct sqlite_lib *lib, char *buf, size_t len)
{
	if (lib->deleted)
		snprintf(buf, len, "/proc/%d/map_files/%llx-%llx", pid, lib->start, lib->end);
	else
		snprintf(buf, len, "/proc/%d/root%s", pid, lib->path);
}

/* 1 if pid maps a libsqlite3 (lib filled), 0 if not, or -errno + err. */
static int find_lib(int pid, struct sqlite_lib *lib, char *err, size_t errlen)
{
	char maps[64];
	FILE *f;
	int found;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	if (!(f = fopen(maps, "re"))) {
		int r = -errno;
		snprintf(err, errlen, "reading %s failed: %s", maps, strerror(-r));
		return r;
	}
	found = sqlite_maps_find(f, lib);
	fclose(f);
	return found;
}

struct sq_point {
	struct bpf_program *prog;
	size_t off;
	bool ret;
	const char *what;
};

/* The probe points of one file, preferring those the kernel emulates. */
static int points_of(struct sqlite_bpf *s, const struct sqlite_offsets *o, struct sq_point *pt)
{
	int n = 0;

	pt[n++] = (struct sq_point){ s->progs.sq_step_enter, o->step, false, "sqlite3_step" };
	pt[n++] = (struct sq_point){ s->progs.sq_step_exit, o->step, true, "sqlite3_step (return)" };
	pt[n++] = (struct sq_point){ s->progs.sq_reset_enter, o->reset, false, "sqlite3_reset" };
	pt[n++] = (struct sq_point){ s->progs.sq_reset_enter, o->finalize, false, "sqlite3_finalize" };
	if (o->prep_internal) {
		pt[n++] = (struct sq_point){ s->progs.sq_prep_enter_internal, o->prep_internal, false,
					     "sqlite3LockAndPrepare" };
		pt[n++] = (struct sq_point){ s->progs.sq_prep_exit, o->prep_internal, true,
					     "sqlite3LockAndPrepare (return)" };
	} else {
		pt[n++] = (struct sq_point){ s->progs.sq_prep_enter_v2, o->prepare_v2, false, "sqlite3_prepare_v2" };
		pt[n++] = (struct sq_point){ s->progs.sq_prep_exit, o->prepare_v2, true, "sqlite3_prepare_v2 (return)" };
		if (o->prepare_v3) {
			pt[n++] = (struct sq_point){ s->progs.sq_prep_enter_v3, o->prepare_v3, false, "sqlite3_prepare_v3" };
			pt[n++] = (struct sq_point){ s->progs.sq_prep_exit, o->prepare_v3, true, "sqlite3_prepare_v3 (return)" };
		}
	}
	if (o->open_internal) {
		pt[n++] = (struct sq_point){ s->progs.sq_open_enter, o->open_internal, false, "openDatabase" };
		pt[n++] = (struct sq_point){ s->progs.sq_open_exit, o->open_internal, true, "openDatabase (return)" };
	} else if (o->open_v2) {
		/* sqlite3_open is left out here: rarely used, and one more single-stepped probe. */
		pt[n++] = (struct sq_point){ s->progs.sq_open_enter, o->open_v2, false, "sqlite3_open_v2" };
		pt[n++] = (struct sq_point){ s->progs.sq_open_exit, o->open_v2, true, "sqlite3_open_v2 (return)" };
	}
	return n;
}

static void drop_links(struct sq_file *f)
{
	while (f->nlinks)
		bpf_link__destroy(f->links[--f->nlinks]);
}

/* Probe file f for all processes, on behalf of p (which maps it or will most likely map it).
 * 0, or -errno + p's error; a failure is tried again after SQ_RETRY_EVERY_NS. */
static int probe_file(struct sqlite_probe *sp, struct sq_proc *p, struct sq_file *f)
{
	struct sq_point pt[SQ_MAX_LINKS];
	int n = points_of(sp->skel, &f->off, pt);
	uint64_t t0 = boot_ns();

	if (f->err && t0 < f->retry_ns) {
		set_err(p, f->err, "%s", f->why);
		return f->err;
	}
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = pt[i].ret);
		struct bpf_link *l = bpf_program__attach_uprobe_opts(pt[i].prog, -1, f->path, pt[i].off, &o);
		if (!l) {
			f->err = -errno;
			snprintf(f->why, sizeof(f->why), "sqlite: attaching a uprobe to %s in %.160s failed: %s",
				 pt[i].what, f->path, strerror(-f->err));
			f->retry_ns = boot_ns() + SQ_RETRY_EVERY_NS;
			drop_links(f);
			set_err(p, f->err, "%s", f->why);
			return f->err;
		}
		f->links[f->nlinks++] = l;
	}
	f->err = 0;
	f->probed_ns = boot_ns();
	/* Processes that may have mapped it since their last look are looked at now: one that
	 * maps it from here on is not late, and must not be reported so. */
	for (int i = 0; i < sp->nprocs; i++)
		if (!sp->procs[i].mapped)
			sp->procs[i].look_ns = 0;
	if (getenv("PYVITALS_DEBUG"))
		fprintf(stderr, "pyvitals: sqlite: probes on %s (dev %x:%x inode %llu) for all processes, "
			"for pid %d (0: the host), at monotonic %.3f s (%d links in %.1f ms)\n", f->path, f->maj, f->min,
			f->ino, p->pid, clock_ns(CLOCK_MONOTONIC) / 1e9, n, (f->probed_ns - t0) / 1e6);
	return 0;
}

/* A process with no libsqlite3 yet (pid 0: the host): probe the file its loader would most
 * likely map, so that an `import sqlite3` later is seen from its first call. Failures go to
 * p's error. */
static void probe_likely(struct sqlite_probe *sp, struct sq_proc *p, int pid)
{
	char root[64] = "", path[600];
	struct sq_file *f;
	struct stat st;

	if (pid)
		snprintf(root, sizeof(root), "/proc/%d/root", pid);
	if (!sqlite_lib_guess(root, path, sizeof(path)))
		return; /* none where the loader looks first: found by the looks at its maps */
	if (stat(path, &st)) {
		set_err(p, -errno, "sqlite: %s: %s", path, strerror(errno));
		return;
	}
	f = file_for(sp, p, major(st.st_dev), minor(st.st_dev), st.st_ino, path);
	if (f && !f->probed_ns)
		probe_file(sp, p, f);
}

/* Does p still need looks at its maps: nothing mapped, or a file not probed (yet)? */
static bool unsettled(const struct sqlite_probe *sp, const struct sq_proc *p)
{
	return !p->looked || !p->mapped || p->mapped_file < 0 || !sp->files[p->mapped_file].probed_ns;
}

/* Read p's maps: probe the libsqlite3 it maps, or the one it would most likely map. */
static void look(struct sqlite_probe *sp, struct sq_proc *p)
{
	struct sqlite_lib lib;
	char path[600], err[SQ_WHY];
	uint64_t now = boot_ns();
	struct sq_file *f;
	int found;

	p->look_ns = now + SQ_LOOK_EVERY_NS;
	p->err = 0;
	if ((found = find_lib(p->pid, &lib, err, sizeof(err))) < 0) {
		set_err(p, found, "sqlite: %s", err);
		return;
	}
	p->mapped = found;
	p->mapped_file = -1;
	if (!found) {
		p->clear_ns = now;
		if (!p->looked)
			probe_likely(sp, p, p->pid);
		p->looked = true;
		return;
	}
	p->looked = true;
	lib_open_path(p->pid, &lib, path, sizeof(path));
	if (!(f = file_for(sp, p, lib.dev_major, lib.dev_minor, lib.ino, path)))
		return;
	p->mapped_file = (int)(f - sp->files);
	if (!f->probed_ns && probe_file(sp, p, f))
		return;
	/* Mapped after clear_ns, probed later: its calls in between may have been missed. That
	 * is only possible for a file none of our processes had mapped or would likely map. */
	if (p->clear_ns && f->probed_ns > p->clear_ns) {
		p->late_ms = (f->probed_ns - p->clear_ns) / 1e6;
		if (getenv("PYVITALS_DEBUG"))
			fprintf(stderr, "pyvitals: sqlite: pid %d mapped %s before it was probed: calls of up "
				"to %.1f ms may be missed\n", p->pid, lib.path, p->late_ms);
	}
}

int sqlite_probe_add_pid(struct sqlite_probe *sp, int pid, char *err, size_t errlen)
{
	unsigned long long start = proc_start_time(pid);
	struct sq_proc *p;

	if (!start) {
		snprintf(err, errlen, "sqlite: process %d is gone", pid);
		return -ESRCH;
	}
	if (!(p = proc_slot(sp, pid))) {
		snprintf(err, errlen, "sqlite: out of memory");
		return -ENOMEM;
	}
	if (p->start != start) { /* new, or the pid was reused */
		uint64_t born = start * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		p->mapped_file = -1;
		p->start = start;
		/* Started after we attached: every call it makes is to be seen. */
		p->clear_ns = born > sp->opened_ns ? born : 0;
	}
	if (!unsettled(sp, p) || (p->looked && boot_ns() < p->look_ns))
		goto tell;
	if (sp->own_tracked && !p->looked) {
		struct pv_proc_info info = { 0, 0 };
		__u32 key = (__u32)pid;
		if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.tracked), &key, &info, BPF_ANY)) {
			int r = -errno;
			snprintf(err, errlen, "sqlite: adding pid %d to the private tracked map failed: %s",
				 pid, strerror(-r));
			return r;
		}
	}
	look(sp, p);
tell:
	/* Also a failure of a look made by a drain: that one has no caller. */
	if (!p->err || !strcmp(p->why, p->told))
		return 0;
	memcpy(p->told, p->why, sizeof(p->told));
	snprintf(err, errlen, "%s", p->why);
	return p->err;
}

static void forget(struct sqlite_probe *sp, struct sq_proc *p)
{
	if (sp->own_tracked) {
		__u32 key = (__u32)p->pid;
		bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.tracked), &key);
	}
	*p = sp->procs[--sp->nprocs];
}

void sqlite_probe_forget(struct sqlite_probe *sp, int pid)
{
	struct sq_proc *p = proc_find(sp, pid);

	if (p)
		forget(sp, p);
}

/* Forget processes that exited (their pid may come back as another one). */
static void prune(struct sqlite_probe *sp)
{
	for (int i = 0; i < sp->nprocs;) {
		if (proc_start_time(sp->procs[i].pid) == sp->procs[i].start)
			i++;
		else
			forget(sp, &sp->procs[i]);
	}
}

uint64_t sqlite_probe_untracked(struct sqlite_probe *sp)
{
	return sp->skel->bss->sq_counters.untracked;
}

void sqlite_probe_drain(struct sqlite_probe *sp, sqlite_call_cb cb, void *ctx)
{
	uint64_t now, other;

	sp->cb = cb;
	sp->cb_ctx = ctx;
	ring_buffer__consume(sp->rb);
	sp->cb = NULL;
	/* A process that maps a libsqlite3 we have not probed (a venv's, LD_LIBRARY_PATH) is
	 * found here, within SQ_LOOK_EVERY_NS. Once it maps a probed file it is never read
	 * again (an exec makes it a new process: see sqlite_probe_forget). */
	now = boot_ns();
	for (int i = 0; i < sp->nprocs; i++)
		if (unsettled(sp, &sp->procs[i]) && now >= sp->procs[i].look_ns)
			look(sp, &sp->procs[i]);
	if (++sp->drains % SQ_PRUNE_EVERY == 0)
		prune(sp);
	other = sqlite_probe_untracked(sp);
	if (other != sp->untracked_told && now >= sp->untracked_told_ns && getenv("PYVITALS_DEBUG")) {
		fprintf(stderr, "pyvitals: sqlite: %llu probe hits of untracked processes ignored\n",
			(unsigned long long)other);
		sp->untracked_told = other;
		sp->untracked_told_ns = now + SQ_LOOK_EVERY_NS;
	}
}

int sqlite_probe_blind_spots(struct sqlite_probe *sp, struct sqlite_blind *out, int max)
{
	int n = 0;

	for (int i = 0; i < sp->nprocs; i++) {
		const struct sq_proc *p = &sp->procs[i];
		const struct sq_file *f = p->mapped_file >= 0 ? &sp->files[p->mapped_file] : NULL;
		struct sqlite_blind b = { .pid = p->pid };

		if (p->mapped && (p->err || !f || !f->probed_ns)) {
			b.kind = p->err ? SQLITE_BLIND_FAILED : SQLITE_BLIND_PENDING;
			b.err = p->err;
			snprintf(b.why, sizeof(b.why), "%s", p->err ? p->why :
				 "libsqlite3 mapped, probes not attached yet");
		} else if (p->late_ms > 0) {
			b.kind = SQLITE_BLIND_LATE;
			b.late_ms = p->late_ms;
			snprintf(b.why, sizeof(b.why), "libsqlite3 %.120s was probed up to %.1f ms after this "
				 "process loaded it: calls in between may not have been seen", f->path, p->late_ms);
		} else {
			continue;
		}
		if (n < max)
			out[n] = b;
		n++;
	}
	return n;
}

uint64_t sqlite_probe_lost(struct sqlite_probe *sp)
{
	const struct pv_sq_counters *c = &sp->skel->bss->sq_counters;
	return c->ringbuf_full + c->inflight_full + c->deep_nesting + c->storage_fail + sp->bad_records;
}

void sqlite_probe_close(struct sqlite_probe *sp)
{
	if (!sp)
		return;
	/* ~0.1 s per link on recent kernels: each close waits for a grace period holding the
	 * kernel's event_mutex. A pause between closes lets another pyvitals that waits on that
	 * lock to attach go first, rather than wait for the whole teardown (536 ms seen). */
	for (int i = 0; i < sp->nfiles; i++)
		while (sp->files[i].nlinks) {
			bpf_link__destroy(sp->files[i].links[--sp->files[i].nlinks]);
			usleep(1000);
		}
	ring_buffer__free(sp->rb);
	sqlite_bpf__destroy(sp->skel);
	free(sp->procs);
	free(sp->stmts);
	free(sp->dbs);
	free(sp);
}

void sqlite_probe_describe_pid(FILE *out, int pid)
{
	struct sqlite_offsets o;
	struct sqlite_lib lib;
	char path[600], err[SQ_WHY];
	int r = find_lib(pid, &lib, err, sizeof(err));

	if (r < 0) {
		fprintf(out, "sqlite: %s\n", err);
		return;
	}
	if (!r) {
		char root[64];
		snprintf(root, sizeof(root), "/proc/%d/root", pid);
		if (sqlite_lib_guess(root, path, sizeof(path)))
			fprintf(out, "sqlite: pid %d has no libsqlite3 mapped yet; watch probes %s, the one "
				"its loader would most likely map, and looks at its maps every second for "
				"another\n", pid, path);
		else
			fprintf(out, "sqlite: pid %d has no libsqlite3 mapped, and none is where its loader "
				"looks first; watch looks at its maps every second\n", pid);
		return;
	}
	lib_open_path(pid, &lib, path, sizeof(path));
	fprintf(out, "sqlite: %s (dev %x:%x inode %llu)%s\n", lib.path, lib.dev_major, lib.dev_minor,
		lib.ino, lib.deleted ? " deleted on disk" : "");
	if (sqlite_elf_offsets(path, &o, err, sizeof(err))) {
		fprintf(out, "sqlite: %s\n", err);
		return;
	}
	fprintf(out, "sqlite: step/reset/finalize at 0x%zx/0x%zx/0x%zx (%s)\n", o.step, o.reset,
		o.finalize, o.emulated_step ? "emulated" : "single-stepped, ~15 us per hit");
	if (o.prep_internal)
		fprintf(out, "sqlite: prepare via internal function at 0x%zx (emulated)\n", o.prep_internal);
	else
		fprintf(out, "sqlite: prepare via sqlite3_prepare_v2/v3 (%s)\n",
			o.emulated_prep ? "emulated" : "single-stepped, ~15 us per prepare");
	if (o.open_internal)
		fprintf(out, "sqlite: open via internal function at 0x%zx (emulated)\n", o.open_internal);
	else
		fprintf(out, "sqlite: open via sqlite3_open_v2 (%s)\n",
			o.emulated_open ? "emulated" : "single-stepped");
	fprintf(out, "sqlite: watch probes this file once for all processes that map it: while it "
		"runs, calls of processes it does not watch trap too (~2 us per trap, ~3 traps per statement) and are ignored\n");
}
