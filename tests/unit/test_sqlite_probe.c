/* sqlite_probe helpers that need no root: finding libsqlite3 in a maps file, telling
 * emulated probe points from single-stepped ones, finding the internal function the
 * exported wrappers call, and reading the offsets from a real libsqlite3 when one is here. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "sqlite_probe.h"

static const struct {
	const char *desc;
	const char *maps;
	int found, deleted;
	const char *path;
	unsigned long long start, ino;
} maps_cases[] = {
	{ "debian python3 with _sqlite3 loaded",
	  "55d0c0a00000-55d0c0a6f000 r--p 00000000 fe:01 131 /usr/bin/python3.11\n"
	  "7f1a2b000000-7f1a2b012000 r--p 00000000 fe:01 333420 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n"
	  "7f1a2b012000-7f1a2b100000 r-xp 00012000 fe:01 333420 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n"
	  "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n",
	  1, 0, "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6", 0x7f1a2b000000ULL, 333420 },
	{ "library replaced on disk since it was mapped",
	  "7f00000000-7f00012000 r--p 00000000 08:02 77 /usr/lib/libsqlite3.so.0.8.6 (deleted)\n",
	  1, 1, "/usr/lib/libsqlite3.so.0.8.6", 0x7f00000000ULL, 77 },
	{ "unversioned name (a venv or a static build's .so)",
	  "1000-2000 r-xp 00000000 00:1f 9 /opt/app/lib/libsqlite3.so\n",
	  1, 0, "/opt/app/lib/libsqlite3.so", 0x1000, 9 },
	{ "no sqlite: python without the module imported",
	  "55d0c0a00000-55d0c0a6f000 r--p 00000000 fe:01 131 /usr/bin/python3.11\n"
	  "7f1a2b000000-7f1a2b012000 r--p 00000000 fe:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6\n",
	  0, 0, "", 0, 0 },
	{ "a look-alike library is not libsqlite3",
	  "1000-2000 r-xp 00000000 00:1f 9 /opt/lib/libsqlite3mc.so.1\n"
	  "3000-4000 r-xp 00000000 00:1f 10 /opt/lib/sqlite3/libfoo.so\n",
	  0, 0, "", 0, 0 },
	{ "anonymous mapping and a garbage line are skipped",
	  "garbage\n7f00-8f00 rw-p 00000000 00:00 0 \n"
	  "9000-a000 r-xp 00000000 00:1f 11 /lib/libsqlite3.so.0\n",
	  1, 0, "/lib/libsqlite3.so.0", 0x9000, 11 },
};

UNIT_TEST(sqlite_maps_find_cases)
{
	for (size_t i = 0; i < sizeof(maps_cases) / sizeof(maps_cases[0]); i++) {
		struct sqlite_lib lib;
		FILE *f = fmemopen((void *)maps_cases[i].maps, strlen(maps_cases[i].maps), "r");
		int found;
		CHECKF(f != NULL, "%s: fmemopen", maps_cases[i].desc);
		if (!f)
			continue;
		found = sqlite_maps_find(f, &lib);
		fclose(f);
		CHECKF(found == maps_cases[i].found, "%s: found %d", maps_cases[i].desc, found);
		if (!found)
			continue;
		CHECKF(!strcmp(lib.path, maps_cases[i].path), "%s: path %.200s", maps_cases[i].desc, lib.path);
		CHECKF(lib.deleted == maps_cases[i].deleted, "%s: deleted %d", maps_cases[i].desc, lib.deleted);
		CHECKF(lib.start == maps_cases[i].start, "%s: start %llx", maps_cases[i].desc, lib.start);
		CHECKF(lib.ino == maps_cases[i].ino, "%s: ino %llu", maps_cases[i].desc, lib.ino);
	}
}

UNIT_TEST(sqlite_first_instruction)
{
	static const struct {
		const char *desc;
		unsigned char code[4];
		size_t n;
		int emulated;
	} cases[] = {
		{ "push %r15 (sqlite3_step)", { 0x41, 0x57 }, 2, 1 },
		{ "push %rbx", { 0x53 }, 1, 1 },
		{ "jmp rel32 (sqlite3_open_v2)", { 0xe9, 0, 0, 0 }, 4, 1 },
		{ "sub $0x10,%rsp (sqlite3_prepare_v2)", { 0x48, 0x83, 0xec, 0x10 }, 4, 0 },
		{ "xor %ecx,%ecx (sqlite3_open)", { 0x31, 0xc9 }, 2, 0 },
		{ "endbr64", { 0xf3, 0x0f, 0x1e, 0xfa }, 4, 0 },
		{ "REX prefix alone, cut short", { 0x41 }, 1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECKF(sqlite_insn_emulated(cases[i].code, cases[i].n) == cases[i].emulated, "%s",
		       cases[i].desc);
}

/* Debian 12 libsqlite3 3.40.1: sqlite3_prepare_v2 at 0xbdcb0 and _v3 at 0xbdcd0 both call
 * sqlite3LockAndPrepare at 0xbd810. */
UNIT_TEST(sqlite_common_target_prepare)
{
	static const unsigned char v2[] = { 0x48, 0x83, 0xec, 0x10, 0x49, 0x89, 0xc9, 0xb9, 0x80, 0x00,
		0x00, 0x00, 0x41, 0x50, 0x45, 0x31, 0xc0, 0xe8, 0x4a, 0xfb, 0xff, 0xff, 0x48, 0x83, 0xc4,
		0x18, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const unsigned char v3[] = { 0x48, 0x83, 0xec, 0x10, 0x83, 0xe1, 0x0f, 0x41, 0x51, 0x80,
		0xc9, 0x80, 0x4d, 0x89, 0xc1, 0x45, 0x31, 0xc0, 0xe8, 0x29, 0xfb, 0xff, 0xff, 0x48, 0x83,
		0xc4, 0x18, 0xc3, 0x0f, 0x1f, 0x40, 0x00 };
	static const unsigned char other[32] = { 0x31, 0xc9, 0xe9, 0x00, 0x01, 0x00, 0x00 };

	CHECK(sqlite_common_target(v2, 0xbdcb0, v3, 0xbdcd0, sizeof(v2)) == 0xbd810);
	CHECK(sqlite_common_target(v3, 0xbdcd0, v2, 0xbdcb0, sizeof(v2)) == 0xbd810);
	/* No shared target: no guess. */
	CHECK(sqlite_common_target(v2, 0xbdcb0, other, 0x1000, sizeof(other)) == 0);
	/* The call's bytes cut off by len: not read past it. */
	CHECK(sqlite_common_target(v2, 0xbdcb0, v3, 0xbdcd0, 20) == 0);
}

UNIT_TEST(sqlite_rc_names)
{
	CHECK(!strcmp(sqlite_rc_name(19), "CONSTRAINT"));
	CHECK(!strcmp(sqlite_rc_name(1), "ERROR"));
	CHECK(!strcmp(sqlite_rc_name(2067), "CONSTRAINT")); /* SQLITE_CONSTRAINT_UNIQUE */
	CHECK(!strcmp(sqlite_rc_name(101), "DONE"));
	CHECK(sqlite_rc_name(99) == NULL);
}

UNIT_TEST(sqlite_elf_offsets_failures)
{
	struct sqlite_offsets o;
	char err[256] = "";
	int r = sqlite_elf_offsets("/nonexistent/libsqlite3.so.0", &o, err, sizeof(err));

	CHECKF(r == -ENOENT, "missing file: r=%d", r);
	CHECKF(strstr(err, "/nonexistent/libsqlite3.so.0") != NULL, "message names the file: %s", err);
	/* An ELF file without SQLite's symbols (this test binary's libc will do). */
	err[0] = 0;
	if (access("/usr/lib/x86_64-linux-gnu/libc.so.6", R_OK) == 0) {
		r = sqlite_elf_offsets("/usr/lib/x86_64-linux-gnu/libc.so.6", &o, err, sizeof(err));
		CHECKF(r == -ENOENT && strstr(err, "sqlite3_step"), "libc: r=%d %s", r, err);
	}
	err[0] = 0;
	r = sqlite_elf_offsets("/proc/self/status", &o, err, sizeof(err));
	CHECKF(r == -ENOEXEC, "not ELF: r=%d %s", r, err);
}

/* The library this machine's python3 uses: every probe point found and emulated. */
UNIT_TEST(sqlite_elf_offsets_debian)
{
	const char *lib = "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0";
	struct sqlite_offsets o;
	char err[256] = "";
	int r;

	if (access(lib, R_OK))
		return; /* not installed here */
	r = sqlite_elf_offsets(lib, &o, err, sizeof(err));
	CHECKF(r == 0, "%s: %s", lib, err);
	CHECK(o.step && o.reset && o.finalize && o.prepare_v2 && o.open_v2);
	CHECK(o.emulated_step);
	CHECKF(o.prep_internal != 0, "internal prepare not found");
	CHECKF(o.open_internal != 0, "internal open not found");
	CHECK(o.emulated_prep && o.emulated_open);
}

/* The likely file, probed before a process loads it: the first libsqlite3.so.0 in the usual
 * directories under a process's root. */
UNIT_TEST(sqlite_lib_guess_under_root)
{
	char root[] = "/tmp/pv-guess-XXXXXX", dir[128], file[160], out[256];
	FILE *f;

	if (!mkdtemp(root)) {
		CHECKF(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	CHECKF(sqlite_lib_guess(root, out, sizeof(out)) == 0 && !out[0], "empty root: %s", out);
	snprintf(dir, sizeof(dir), "%s/usr", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/usr/lib64", root);
	mkdir(dir, 0755);
	snprintf(file, sizeof(file), "%s/libsqlite3.so.0", dir);
	/* A directory of that name is not a library. */
	mkdir(file, 0755);
	CHECKF(sqlite_lib_guess(root, out, sizeof(out)) == 0, "a directory was taken: %s", out);
	rmdir(file);
	if ((f = fopen(file, "w")))
		fclose(f);
	CHECKF(sqlite_lib_guess(root, out, sizeof(out)) == 1 && !strcmp(out, file), "lib64: %s", out);
	unlink(file);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/usr", root);
	rmdir(dir);
	rmdir(root);
}
