/* Where to probe a libsqlite3: finding it in a process's maps, and choosing probe points in
 * its ELF file that the kernel emulates (a thin exported wrapper is skipped for the internal
 * function it calls). Pure file and text parsing, unit-tested without root. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sqlite_probe.h"

#define SQ_CODE_LEN 32      /* bytes of a wrapper searched for its call to the internal function */

static const char *const rc_names[] = {
	"OK", "ERROR", "INTERNAL", "PERM", "ABORT", "BUSY", "LOCKED", "NOMEM", "READONLY",
	"INTERRUPT", "IOERR", "CORRUPT", "NOTFOUND", "FULL", "CANTOPEN", "PROTOCOL", "EMPTY",
	"SCHEMA", "TOOBIG", "CONSTRAINT", "MISMATCH", "MISUSE", "NOLFS", "AUTH", "FORMAT",
	"RANGE", "NOTADB", "NOTICE", "WARNING",
};

const char *sqlite_rc_name(int rc)
{
	rc &= 0xff; /* extended codes keep the primary one in the low byte */
	if (rc == 100)
		return "ROW";
	if (rc == 101)
		return "DONE";
	return rc < (int)(sizeof(rc_names) / sizeof(rc_names[0])) ? rc_names[rc] : NULL;
}

/* ---- finding libsqlite3 ---- */

/* A file-backed mapping line: fills lib and returns the basename, or NULL. */
static const char *maps_line(char *line, struct sqlite_lib *lib)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perm[8], *path, *base, *nl;
	size_t n;
	int pos = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perm, &off, &maj, &min,
		   &ino, &pos) < 7 || !pos || !ino)
		return NULL;
	path = line + pos;
	if ((nl = strchr(path, '\n')))
		*nl = 0;
	if (path[0] != '/' || !(base = strrchr(path, '/')))
		return NULL;
	memset(lib, 0, sizeof(*lib));
	n = strlen(path);
	if (n > 10 && !strcmp(path + n - 10, " (deleted)")) {
		path[n - 10] = 0;
		lib->deleted = 1;
	}
	snprintf(lib->path, sizeof(lib->path), "%s", path);
	lib->start = start;
	lib->end = end;
	lib->dev_major = maj;
	lib->dev_minor = min;
	lib->ino = ino;
	return base + 1;
}

int sqlite_maps_find(FILE *maps, struct sqlite_lib *lib)
{
	char line[1024];

	memset(lib, 0, sizeof(*lib));
	while (fgets(line, sizeof(line), maps)) {
		const char *base = maps_line(line, lib);
		/* libsqlite3.so, libsqlite3.so.0, libsqlite3.so.0.8.6; not libsqlite3mc or the like. */
		if (base && !strncmp(base, "libsqlite3.so", 13))
			return 1;
	}
	memset(lib, 0, sizeof(*lib));
	return 0;
}

#if defined(__x86_64__)
#define SQ_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define SQ_MULTIARCH "aarch64-linux-gnu"
#else
#define SQ_MULTIARCH "unknown-multiarch"
#endif

int sqlite_lib_guess(const char *root, char *out, size_t len)
{
	/* ld.so.conf's usual order on Debian, then Fedora's and Alpine's directories. */
	static const char *const dirs[] = {
		"/usr/local/lib/" SQ_MULTIARCH, "/usr/local/lib", "/lib/" SQ_MULTIARCH,
		"/usr/lib/" SQ_MULTIARCH, "/lib64", "/usr/lib64", "/lib", "/usr/lib",
	};
	struct stat st;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, len, "%s%s/libsqlite3.so.0", root, dirs[i]);
		if (!stat(out, &st) && S_ISREG(st.st_mode))
			return 1;
	}
	out[0] = 0;
	return 0;
}

/* ---- probe points in the ELF file ---- */

int sqlite_insn_emulated(const unsigned char *c, size_t n)
{
	if (n >= 1 && c[0] >= 0x50 && c[0] <= 0x57)          /* push %rax..%rdi */
		return 1;
	if (n >= 2 && c[0] == 0x41 && c[1] >= 0x50 && c[1] <= 0x57) /* push %r8..%r15 */
		return 1;
	if (n >= 1 && (c[0] == 0xe8 || c[0] == 0xe9 || c[0] == 0xeb)) /* call, jmp */
		return 1;
	return 0;
}

static uint64_t rel32_target(const unsigned char *c, uint64_t va, size_t i)
{
	int32_t rel;
	memcpy(&rel, c + i + 1, 4);
	return va + i + 5 + (int64_t)rel;
}

uint64_t sqlite_common_target(const unsigned char *a, uint64_t va, const unsigned char *b,
			      uint64_t vb, size_t len)
{
	/* Without an instruction decoder every 0xe8/0xe9 byte is a candidate; two different
	 * wrappers landing on the same address is what makes a candidate believable. */
	for (size_t i = 0; i + 5 <= len; i++) {
		if (a[i] != 0xe8 && a[i] != 0xe9)
			continue;
		for (size_t j = 0; j + 5 <= len; j++)
			if ((b[j] == 0xe8 || b[j] == 0xe9) &&
			    rel32_target(a, va, i) == rel32_target(b, vb, j))
				return rel32_target(a, va, i);
	}
	return 0;
}

struct sq_elf {
	int fd;
	Elf *e;
	GElf_Phdr ph[16];
	int nph;
};

/* File offset of an address in an executable PT_LOAD segment; 0 if none holds it. */
static size_t va_to_off(const struct sq_elf *x, uint64_t va)
{
	for (int i = 0; i < x->nph; i++) {
		const GElf_Phdr *p = &x->ph[i];
		if (p->p_type == PT_LOAD && (p->p_flags & PF_X) && va >= p->p_vaddr &&
		    va < p->p_vaddr + p->p_filesz)
			return (size_t)(va - p->p_vaddr + p->p_offset);
	}
	return 0;
}

static const char *const sym_names[] = {
	"sqlite3_step", "sqlite3_reset", "sqlite3_finalize", "sqlite3_prepare",
	"sqlite3_prepare_v2", "sqlite3_prepare_v3", "sqlite3_open", "sqlite3_open_v2",
};
enum { S_STEP, S_RESET, S_FINALIZE, S_PREP, S_PREP_V2, S_PREP_V3, S_OPEN, S_OPEN_V2, S_N };

static void find_symbols(const struct sq_elf *x, const char *const *names, int n, uint64_t *va)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(x->e, scn))) {
		Elf_Data *data;
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) ||
		    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;
			if (!gelf_getsym(data, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_value || !(name = elf_strptr(x->e, sh.sh_link, s.st_name)))
				continue;
			for (int k = 0; k < n; k++)
				if (!va[k] && !strcmp(name, names[k]))
					va[k] = s.st_value;
		}
	}
}

static int read_code(const struct sq_elf *x, size_t off, unsigned char *buf)
{
	memset(buf, 0, SQ_CODE_LEN);
	return off && pread(x->fd, buf, SQ_CODE_LEN, (off_t)off) == SQ_CODE_LEN ? 0 : -1;
}

/* The internal function two wrappers tail-call, if it starts with an emulated push. */
static size_t internal_target(const struct sq_elf *x, uint64_t va_a, uint64_t va_b)
{
	unsigned char a[SQ_CODE_LEN], b[SQ_CODE_LEN], t[SQ_CODE_LEN];
	uint64_t target;
	size_t off;

	if (!va_a || !va_b || read_code(x, va_to_off(x, va_a), a) || read_code(x, va_to_off(x, va_b), b))
		return 0;
	target = sqlite_common_target(a, va_a, b, va_b, SQ_CODE_LEN);
	if (!target || !(off = va_to_off(x, target)) || read_code(x, off, t) ||
	    !sqlite_insn_emulated(t, SQ_CODE_LEN) || t[0] == 0xe8 || t[0] == 0xe9 || t[0] == 0xeb)
		return 0;
	return off;
}

static int code_emulated(const struct sq_elf *x, size_t off)
{
	unsigned char c[SQ_CODE_LEN];
	return !read_code(x, off, c) && sqlite_insn_emulated(c, SQ_CODE_LEN);
}

static void elf_close(struct sq_elf *x)
{
	if (x->e)
		elf_end(x->e);
	if (x->fd >= 0)
		close(x->fd);
}

static int elf_open(struct sq_elf *x, const char *path, char *err, size_t errlen)
{
	size_t nph = 0;
	int r;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(err, errlen, "libelf is unusable: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	if ((x->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "opening %s failed: %s", path, strerror(-r));
		return r;
	}
	if (!(x->e = elf_begin(x->fd, ELF_C_READ, NULL)) || elf_getphdrnum(x->e, &nph)) {
		snprintf(err, errlen, "%s is not a readable ELF file: %s", path, elf_errmsg(-1));
		elf_close(x);
		return -ENOEXEC;
	}
	for (size_t i = 0; i < nph && x->nph < 16; i++)
		if (gelf_getphdr(x->e, (int)i, &x->ph[x->nph]))
			x->nph++;
	return 0;
}

int sqlite_elf_offsets(const char *path, struct sqlite_offsets *o, char *err, size_t errlen)
{
	struct sq_elf x;
	uint64_t va[S_N] = {0};
	int r = 0;

	memset(o, 0, sizeof(*o));
	if ((r = elf_open(&x, path, err, errlen)))
		return r;
	find_symbols(&x, sym_names, S_N, va);
	o->step = va_to_off(&x, va[S_STEP]);
	o->reset = va_to_off(&x, va[S_RESET]);
	o->finalize = va_to_off(&x, va[S_FINALIZE]);
	o->prepare = va_to_off(&x, va[S_PREP]);
	o->prepare_v2 = va_to_off(&x, va[S_PREP_V2]);
	o->prepare_v3 = va_to_off(&x, va[S_PREP_V3]);
	o->open = va_to_off(&x, va[S_OPEN]);
	o->open_v2 = va_to_off(&x, va[S_OPEN_V2]);
	if (!o->step || !o->reset || !o->finalize || !o->prepare_v2) {
		snprintf(err, errlen, "%s lacks sqlite3_step/reset/finalize/prepare_v2 in its symbol "
			 "tables: not a SQLite library pyvitals knows", path);
		r = -ENOENT;
		goto out;
	}
	/* The exported prepare and open functions are thin wrappers whose first instruction
	 * (sub/mov/xor) would be single-stepped at ~15 us a hit; the internal functions they
	 * call begin with a push the kernel emulates (~0.6 us). */
	o->prep_internal = internal_target(&x, va[S_PREP_V2], va[S_PREP_V3] ? va[S_PREP_V3] : va[S_PREP]);
	o->open_internal = internal_target(&x, va[S_OPEN_V2], va[S_OPEN]);
	o->emulated_step = code_emulated(&x, o->step) && code_emulated(&x, o->reset) &&
			   code_emulated(&x, o->finalize);
	o->emulated_prep = o->prep_internal ? 1 : code_emulated(&x, o->prepare_v2);
	o->emulated_open = o->open_internal ? 1 : code_emulated(&x, o->open_v2);
out:
	elf_close(&x);
	return r;
}
