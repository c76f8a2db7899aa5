/* pyinfo on the interpreters installed here: version, symbols, USDT notes, GC probe points,
 * the per-version layout (checked against 3.13's own _Py_DebugOffsets), and, in a child
 * interpreter with three extra threads, the GIL address and the thread count. An interpreter
 * that is not installed is named on stdout, not failed. */
#include "spawn_python.h"
#include "unit.h"
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pyinfo.h"

UNIT_TEST(pyinfo_version_from_name)
{
	static const struct { const char *name; int rc, major, minor; } rows[] = {
		{ "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", 0, 3, 11 },
		{ "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0", 0, 3, 9 },
		{ "libpython3.7m.so", 0, 3, 7 },
		{ "/usr/bin/python3.13", 0, 3, 13 },
		{ "/usr/bin/python3", -1, 0, 0 },
		{ "/usr/bin/python", -1, 0, 0 },
		{ "/opt/python3.12/bin/gunicorn", -1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int major = 0, minor = 0, rc = py_version_from_name(rows[i].name, &major, &minor);
		CHECKF((rc == 0) == (rows[i].rc == 0), "%s: rc %d", rows[i].name, rc);
		if (!rc && !rows[i].rc)
			CHECKF(major == rows[i].major && minor == rows[i].minor, "%s: %d.%d", rows[i].name,
			       major, minor);
	}
}

UNIT_TEST(pyinfo_insn_emulated)
{
	static const struct { unsigned char b[4]; bool emulated; } rows[] = {
		{ { 0x41, 0x57, 0x41, 0x56 }, true },  /* push %r15 */
		{ { 0x55, 0x48, 0x89, 0xe5 }, true },  /* push %rbp */
		{ { 0x0f, 0x1f, 0x44, 0x00 }, true },  /* nopl */
		{ { 0xe9, 0x00, 0x00, 0x00 }, true },  /* jmp rel32 */
		{ { 0x48, 0x8d, 0x05, 0x00 }, false }, /* lea */
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, false }, /* endbr64 */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *what = NULL;
		CHECKF(py_insn_emulated(rows[i].b, &what) == rows[i].emulated, "row %zu (%s)", i, what);
		CHECK(what != NULL);
	}
}

/* Descriptors are copied to heap buffers of their exact size, so ASan sees any read past them
 * (the unterminated probe name was read past its note by strcmp). */
UNIT_TEST(pyinfo_usdt_note_stays_inside_its_descriptor)
{
	static const struct { const char *bytes; size_t n; int ok; const char *name; } rows[] = {
		{ "pc______base____sema____python\0gc__start\0", 41, 0, "gc__start" },
		{ "pc______base____sema____python\0gc__start", 40, -1, NULL },   /* name runs off the end */
		{ "pc______base____sema____python", 30, -1, NULL },               /* provider runs off */
		{ "pc______base____sema____python\0", 31, -1, NULL },            /* no name at all */
		{ "pc______base____sema____p\0", 26, -1, NULL },
		{ "pc______base____sema____", 24, -1, NULL },                     /* too short */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *desc = malloc(rows[i].n);
		const char *prov, *name;
		uint64_t sema;
		int r;

		memcpy(desc, rows[i].bytes, rows[i].n);
		r = py_usdt_note(desc, rows[i].n, &sema, &prov, &name);
		CHECKF(r == rows[i].ok, "row %zu: %d", i, r);
		if (!r)
			CHECKF(!strcmp(prov, "python") && !strcmp(name, rows[i].name) && !memcmp(&sema, "sema____", 8),
			       "row %zu", i);
		free(desc);
	}
}

UNIT_TEST(pyinfo_layouts_cover_3_8_to_3_13)
{
	for (int minor = 8; minor <= 13; minor++) {
		const struct py_layout *l = py_layout_for(3, minor);
		CHECKF(l && l->minor == minor, "3.%d has no layout", minor);
		if (l)
			CHECKF((l->gil_in_runtime >= 0) != (l->interp_gil_ptr >= 0), "3.%d: GIL placement", minor);
	}
	CHECK(!py_layout_for(3, 7));
	CHECK(!py_layout_for(3, 14));
	CHECK(!py_layout_for(2, 7));
}

/* Installed interpreter files: Debian's static executables and pyenv's shared libraries. */
static int installed(glob_t *g)
{
	int r = glob("/usr/bin/python3.[0-9]*", 0, NULL, g);
	if (r && r != GLOB_NOMATCH)
		return r;
	r = glob("/root/.pyenv/versions/*/lib/libpython3*.so.1.0", r == GLOB_NOMATCH ? 0 : GLOB_APPEND, NULL, g);
	return r == GLOB_NOMATCH ? 0 : r;
}

/* The version directory of a pyenv file ("3.8.18"), or NULL. */
static const char *pyenv_version(const char *path, char *buf, size_t len)
{
	const char *p = strstr(path, "/versions/"), *e;
	if (!p)
		return NULL;
	p += 10;
	e = strchr(p, '/');
	snprintf(buf, len, "%.*s", (int)(e ? e - p : 0), p);
	return buf;
}

UNIT_TEST(pyinfo_every_installed_interpreter)
{
	glob_t g = { 0 };
	char err[512], dir[32];
	struct pyelf *pe = malloc(sizeof(*pe));
	int supported = 0;

	CHECK(pe && installed(&g) == 0);
	for (size_t i = 0; pe && i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i], *ver = pyenv_version(path, dir, sizeof(dir));
		int major = 0, minor = 0, rc = pyelf_inspect(path, pe, err, sizeof(err));
		if (strstr(path, "-config") || py_version_from_name(path, &major, &minor))
			continue;
		if (minor < 7) {
			/* 3.6 and older have no _PyRuntime: refused with a reason. */
			CHECKF(rc == -ENOENT && strstr(err, "_PyRuntime"), "%s: rc %d %.300s", path, rc, err);
			continue;
		}
		CHECKF(rc == 0, "%s: %.300s", path, err);
		if (rc)
			continue;
		printf("  %-58s %-8s (%s) symtab=%d usdt=%d gc=%d\n", path, pe->version, pe->version_source,
		       pe->has_symtab, pe->usdt_gc, pe->gc_kind);
		CHECKF(pe->major == major && pe->minor == minor, "%s: version %s", path, pe->version);
		CHECKF(pe->runtime_vaddr && pe->runtime_size, "%s: _PyRuntime", path);
		if (ver)  /* pyenv: the micro version is known from the directory name */
			CHECKF(!strcmp(pe->version, ver), "%s: version %s, expected %s", path, pe->version, ver);
		if (minor >= 11)
			CHECKF(!strcmp(pe->version_source, "Py_Version"), "%s: %s", path, pe->version_source);
		if (!pe->layout) {
			CHECKF(minor < 8 || minor > 13, "%s: no layout", path);
			CHECKF(pe->gc_kind == PY_GC_NONE && pe->why_no_gc[0], "%s: unsupported but gc %d", path,
			       pe->gc_kind);
			continue;
		}
		supported++;
		/* 3.8-3.11 embed the GIL in _PyRuntime: all of it must lie inside the object. */
		if (pe->layout->gil_in_runtime >= 0)
			CHECKF((uint64_t)pe->layout->gil_in_runtime + PY_GIL_SIZE <= pe->runtime_size,
			       "%s: GIL outside _PyRuntime", path);
		if (pe->usdt_gc) {
			CHECKF(pe->gc_kind == PY_GC_USDT, "%s: usdt but gc %d", path, pe->gc_kind);
		} else {
			CHECKF(pe->has_symtab ? pe->ngc_funcs > 0 : pe->why_no_gc[0] != 0, "%s: gc entry", path);
			for (int f = 0; f < pe->ngc_funcs; f++) {
				const char *what;
				CHECKF(py_insn_emulated(pe->gc_insn[f], &what), "%s: %s starts with a %s instruction",
				       path, pe->gc_funcs[f], what);
			}
			if (pe->ngc_funcs)
				CHECKF(pe->gc_kind == (minor == 8 ? PY_GC_UPROBE_STATS : PY_GC_UPROBE_ARG),
				       "%s: gc kind %d", path, pe->gc_kind);
		}
		if (!strcmp(path, "/usr/bin/python3.11")) {
			/* Debian 12: static, stripped, with semaphore-guarded USDT notes. */
			CHECK(pe->is_exec && !pe->has_symtab && pe->usdt_gc && pe->usdt_semaphore);
		}
	}
	if (access("/usr/bin/python3.11", F_OK))
		printf("  missing: /usr/bin/python3.11 (Debian 12's interpreter)\n");
	for (int minor = 8; minor <= 13; minor++) {
		char pat[96];
		glob_t one = { 0 };
		snprintf(pat, sizeof(pat), "/root/.pyenv/versions/3.%d.*/lib/libpython3.%d.so.1.0", minor, minor);
		if (glob(pat, 0, NULL, &one))
			printf("  missing: pyenv CPython 3.%d\n", minor);
		globfree(&one);
	}
	CHECK(supported > 0);
	globfree(&g);
	free(pe);
}

/* 3.13 publishes its own offsets (_Py_DebugOffsets at the start of _PyRuntime): ours must agree. */
UNIT_TEST(pyinfo_layout_matches_debug_offsets_3_13)
{
	glob_t g = { 0 };
	const struct py_layout *l = py_layout_for(3, 13);

	if (glob("/root/.pyenv/versions/3.13.*/lib/libpython3.13.so.1.0", 0, NULL, &g)) {
		printf("  missing: pyenv CPython 3.13 (debug offsets not checked)\n");
		return;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		uint64_t rt = 0, off[80];
		char cookie[8];
		CHECK(pyelf_symbol(g.gl_pathv[i], "_PyRuntime", &rt, NULL) == 0);
		CHECK(pyelf_read_vaddr(g.gl_pathv[i], rt, off, sizeof(off)) == 0);
		memcpy(cookie, off, sizeof(cookie));
		CHECKF(!memcmp(cookie, "xdebugpy", 8), "%s: no _Py_DebugOffsets cookie", g.gl_pathv[i]);
		/* Positions in _Py_DebugOffsets 3.13: runtime_state@24, interpreter_state@48, thread_state@152. */
		CHECK(off[40 / 8] == (uint64_t)l->interp_head);
		CHECK(off[64 / 8] == (uint64_t)l->interp_next);
		CHECK(off[72 / 8] == (uint64_t)l->threads_head);
		CHECK(off[112 / 8] == (uint64_t)l->interp_gil_ptr);
		CHECK(off[168 / 8] == (uint64_t)l->tstate_next);
		CHECK(off[176 / 8] == (uint64_t)l->tstate_interp);
		/* gc@568: size, collecting; generation_stats sits 72 bytes before collecting. */
		CHECK(off[80 / 8] + off[576 / 8] == (uint64_t)l->gc_stats_interp + 72);
	}
	globfree(&g);
}

/* A child interpreter with 3 sleeping threads: discovery, GIL sanity and an exact thread count. */
static void check_live(const char *python, int minor)
{
	static const char code[] = "import gc,threading,time,sys\n"
				   "gc.collect(1); gc.collect(); gc.disable()\n"
				   "[threading.Thread(target=time.sleep,args=(30,),daemon=True).start() for _ in range(3)]\n"
				   "print('ok',*[s['collections'] for s in gc.get_stats()],flush=True)\ntime.sleep(30)\n";
	unsigned long long truth[3] = { 0 }, got;
	char buf[128], err[512];
	struct pyinfo *pi = malloc(sizeof(*pi));
	pid_t pid;

	if (!pi)
		return;
	pid = spawn_python(python, code, buf, sizeof(buf));
	CHECKF(sscanf(buf, "ok %llu %llu %llu", &truth[0], &truth[1], &truth[2]) == 3, "%s did not start: '%s'",
	       python, buf);
	CHECKF(pyinfo_discover(pid, pi, err, sizeof(err)) == 0, "%s: %.300s", python, err);
	if (!err[0] || pi->elf.minor == minor) {
		CHECKF(pi->elf.minor == minor, "%s: minor %d", python, pi->elf.minor);
		CHECKF(pi->gil != 0, "%s: no GIL: %s", python, pi->why_no_gil);
		/* The main interpreter's GIL lies inside _PyRuntime in every supported version. */
		CHECKF(pi->gil >= pi->runtime && pi->gil + PY_GIL_SIZE <= pi->runtime + pi->elf.runtime_size,
		       "%s: GIL 0x%lx outside _PyRuntime 0x%lx", python, (unsigned long)pi->gil,
		       (unsigned long)pi->runtime);
		CHECKF(pyinfo_thread_count(pi) == 4, "%s: %d threads, expected 4", python, pyinfo_thread_count(pi));
		/* The GC counters we read are the ones gc.get_stats() reports. */
		CHECKF(pi->gc_stats != 0, "%s: no gc counters", python);
		for (int g = 0; pi->gc_stats && g < 3; g++)
			CHECKF(!pyinfo_read(pid, pi->gc_stats + (uint64_t)g * PY_GC_STATS_STRIDE, &got, sizeof(got)) &&
			       got == truth[g], "%s: generation %d: read %llu, gc.get_stats() %llu", python, g, got, truth[g]);
	}
	reap_python(pid);
	free(pi);
}

UNIT_TEST(pyinfo_live_processes)
{
	char path[96];
	glob_t g;

	if (!access("/usr/bin/python3.11", X_OK))
		check_live("/usr/bin/python3.11", 11);
	for (int minor = 8; minor <= 13; minor++) {
		snprintf(path, sizeof(path), "/root/.pyenv/versions/3.%d.*/bin/python3.%d", minor, minor);
		if (glob(path, 0, NULL, &g))
			continue;
		check_live(g.gl_pathv[0], minor);
		globfree(&g);
	}
}
