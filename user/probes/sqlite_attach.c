/* libsqlite3 files and their probes: which file a process maps (or would most likely map),
 * its probe points (from sqlite_elf.c), and attaching them once for all processes. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "pyvitals.h"
#include "sqlite.skel.h"
#include "sqlite_probe_internal.h"

#define SQ_RETRY_EVERY_NS 10000000000ull  /* attaching a file that failed */

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
void sq_probe_likely(struct sqlite_probe *sp, struct sq_proc *p, int pid)
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

/* Read p's maps: probe the libsqlite3 it maps, or the one it would most likely map. */
void sq_look(struct sqlite_probe *sp, struct sq_proc *p)
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
			sq_probe_likely(sp, p, p->pid);
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
