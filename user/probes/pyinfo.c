/* Interpreter discovery: ELF inspection with libelf, then per-process placement from
 * /proc/PID/maps and reads of the process's memory. See pyinfo.h. */
#include "pyinfo.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* Offsets from offsetof() against each version's installed internal headers (pyenv 3.8.18 ...
 * 3.13.0), checked by futex addresses under strace and by 3.13's _Py_DebugOffsets. */
static const struct py_layout layouts[] = {
	/* minor gil_rt main gilptr head next threads tnext tinterp gc_rt gc_interp */
	{ 8, 1152, 40, -1, 32, 0, 8, 8, 16, 472, -1 },
	{ 9, 352, 40, -1, 32, 0, 8, 8, 16, -1, 744 },
	{ 10, 352, 40, -1, 32, 0, 8, 8, 16, -1, 744 },
	{ 11, 360, 48, -1, 40, 0, 16, 8, 16, -1, 776 },
	{ 12, -1, 48, 384, 40, 0, 72, 8, 16, -1, 240 },
	{ 13, -1, 640, 16, 632, 7264, 7344, 8, 16, -1, 7528 },
};

const struct py_layout *py_layout_for(int major, int minor)
{
	if (major != 3)
		return NULL;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

int py_version_from_name(const char *name, int *major, int *minor)
{
	const char *base = strrchr(name, '/'), *p;

	base = base ? base + 1 : name;
	p = strstr(base, "python");
	if (!p)
		return -ENOENT;
	p += 6;
	if (!isdigit((unsigned char)p[0]) || p[1] != '.' || !isdigit((unsigned char)p[2]))
		return -ENOENT;
	*major = p[0] - '0';
	*minor = (int)strtol(p + 2, NULL, 10);
	return 0;
}

bool py_insn_emulated(const unsigned char *b, const char **what)
{
	/* x86 uprobes emulate push, nop, jmp/call rel; most else is single-stepped. */
	int rex = (b[0] & 0xf0) == 0x40;
	unsigned char op = b[rex];

	if (op >= 0x50 && op <= 0x57) {
		*what = "push (emulated)";
		return true;
	}
	if (op == 0x90 || (op == 0x0f && b[rex + 1] == 0x1f)) {
		*what = "nop (emulated)";
		return true;
	}
	if (op == 0xe8 || op == 0xe9 || op == 0xeb) {
		*what = "call/jmp (emulated)";
		return true;
	}
	*what = (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e) ? "endbr64 (single-stepped)"
								  : "single-stepped";
	return false;
}

/* ---- ELF ---- */

struct elf_file {
	int fd;
	Elf *elf;
	Elf_Scn *symtab, *dynsym, *notes;
};

static int elf_open(const char *path, struct elf_file *ef, char *err, size_t errlen)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstrndx;

	memset(ef, 0, sizeof(*ef));
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(err, errlen, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(e));
		return -e;
	}
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || elf_getshdrstrndx(ef->elf, &shstrndx)) {
		snprintf(err, errlen, "%s is not an ELF file (%s)", path, elf_errmsg(-1));
		if (ef->elf)
			elf_end(ef->elf);
		close(ef->fd);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *name;
		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(ef->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_SYMTAB)
			ef->symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			ef->dynsym = scn;
		else if (sh.sh_type == SHT_NOTE && name && !strcmp(name, ".note.stapsdt"))
			ef->notes = scn;
	}
	return 0;
}

static void elf_close(struct elf_file *ef)
{
	elf_end(ef->elf);
	close(ef->fd);
}

/* Calls fn for each defined symbol of one table; fn returns non-zero to stop. */
static int elf_each_sym(struct elf_file *ef, Elf_Scn *scn,
			int (*fn)(const char *name, const GElf_Sym *sym, void *ctx), void *ctx)
{
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Sym sym;

	if (!scn || !gelf_getshdr(scn, &sh) || !(data = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return 0;
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		const char *name;
		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(ef->elf, sh.sh_link, sym.st_name);
		if (name && fn(name, &sym, ctx))
			return 1;
	}
	return 0;
}

struct sym_query {
	const char *name;
	uint64_t vaddr, size;
};

static int match_sym(const char *name, const GElf_Sym *sym, void *ctx)
{
	struct sym_query *q = ctx;

	if (strcmp(name, q->name))
		return 0;
	q->vaddr = sym->st_value;
	q->size = sym->st_size;
	return 1;
}

static int find_sym(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size)
{
	struct sym_query q = { .name = name };

	if (elf_each_sym(ef, ef->symtab, match_sym, &q) || elf_each_sym(ef, ef->dynsym, match_sym, &q)) {
		*vaddr = q.vaddr;
		if (size)
			*size = q.size;
		return 0;
	}
	return -ENOENT;
}

/* vaddr -> file offset through the PT_LOAD that holds it in the file; 0 or -ENOENT. */
static int vaddr_to_off(struct elf_file *ef, uint64_t vaddr, size_t len, uint64_t *off)
{
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(ef->elf, &n))
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr + len <= ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static int read_at_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	uint64_t off;

	if (vaddr_to_off(ef, vaddr, len, &off))
		return -ENOENT;
	return pread(ef->fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

int pyelf_symbol(const char *path, const char *name, uint64_t *vaddr, uint64_t *size)
{
	struct elf_file ef;
	char err[256];
	int r;

	if ((r = elf_open(path, &ef, err, sizeof(err))))
		return r;
	r = find_sym(&ef, name, vaddr, size);
	elf_close(&ef);
	return r;
}

int pyelf_symbols(const char *path, const char *const *names, int n, uint64_t *vaddr)
{
	struct elf_file ef;
	char err[256];
	int r, found = 0;

	if ((r = elf_open(path, &ef, err, sizeof(err))))
		return r;
	for (int i = 0; i < n; i++)
		found += !find_sym(&ef, names[i], &vaddr[i], NULL) || (vaddr[i] = 0);
	elf_close(&ef);
	return found;
}

int pyelf_func_offsets(const char *path, const char *const *names, int n, uint64_t *off, char *err,
		       size_t errlen)
{
	struct elf_file ef;
	int r, found = 0;

	if ((r = elf_open(path, &ef, err, errlen)))
		return r;
	for (int i = 0; i < n; i++) {
		uint64_t va;

		off[i] = 0;
		if (!find_sym(&ef, names[i], &va, NULL) && !vaddr_to_off(&ef, va, 1, &off[i]))
			found++;
	}
	elf_close(&ef);
	return found;
}

int pyelf_read_vaddr(const char *path, uint64_t vaddr, void *buf, size_t len)
{
	struct elf_file ef;
	char err[256];
	int r;

	if ((r = elf_open(path, &ef, err, sizeof(err))))
		return r;
	r = read_at_vaddr(&ef, vaddr, buf, len);
	elf_close(&ef);
	return r;
}

/* stapsdt notes: desc = pc, base, semaphore (3 x u64), then "provider\0name\0args\0". */
int py_usdt_note(const char *desc, size_t descsz, uint64_t *sema, const char **prov, const char **name)
{
	const char *end = desc + descsz;
	size_t n;

	/* pc, base and semaphore addresses, then two NUL-terminated strings, all inside desc. */
	if (descsz < 26)
		return -1;
	memcpy(sema, desc + 16, sizeof(*sema));
	*prov = desc + 24;
	n = strnlen(*prov, end - *prov);
	if (*prov + n >= end)
		return -1;
	*name = *prov + n + 1;
	n = strnlen(*name, end - *name);
	return *name + n < end ? 0 : -1;
}

static void scan_usdt(struct elf_file *ef, struct pyelf *pe)
{
	Elf_Data *data = ef->notes ? elf_getdata(ef->notes, NULL) : NULL;
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;
	bool start = false, done = false;

	while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *prov, *name;
		uint64_t sema;

		if (nh.n_type != 3 || py_usdt_note((const char *)data->d_buf + desc_off, nh.n_descsz, &sema, &prov,
						   &name) || strcmp(prov, "python"))
			continue;
		if (!strcmp(name, "gc__start"))
			start = true;
		else if (!strcmp(name, "gc__done"))
			done = true;
		else
			continue;
		pe->usdt_semaphore |= sema != 0;
	}
	pe->usdt_gc = start && done;
}

/* The GC entry points: gc_collect_main (3.10+), collect (3.9), collect.<clone>.N (3.8). */
static int match_gc(const char *name, const GElf_Sym *sym, void *ctx)
{
	struct pyelf *pe = ctx;
	bool exact = !strcmp(name, "gc_collect_main") || !strcmp(name, "collect");
	bool clone = !strncmp(name, "collect.", 8) || !strncmp(name, "gc_collect_main.", 16);

	if (GELF_ST_TYPE(sym->st_info) != STT_FUNC || (!exact && !clone) || strstr(name, ".cold"))
		return 0;
	if (pe->ngc_funcs == PYINFO_MAX_GC_FUNCS)
		return 1;
	for (int i = 0; i < pe->ngc_funcs; i++)
		if (pe->gc_func_off[i] == sym->st_value || !strcmp(pe->gc_funcs[i], name))
			return 0;
	snprintf(pe->gc_funcs[pe->ngc_funcs], sizeof(pe->gc_funcs[0]), "%s", name);
	pe->gc_func_off[pe->ngc_funcs++] = sym->st_value; /* vaddr for now */
	return 0;
}

static void choose_gc(struct elf_file *ef, struct pyelf *pe)
{
	bool clones = false;

	if (!pe->layout) {
		snprintf(pe->why_no_gc, sizeof(pe->why_no_gc), "CPython %s is not supported (3.8-3.13)",
			 pe->version[0] ? pe->version : "of unknown version");
		return;
	}
	if (pe->usdt_gc) {
		pe->gc_kind = PY_GC_USDT;
		return;
	}
	elf_each_sym(ef, ef->symtab, match_gc, pe);
	for (int i = 0; i < pe->ngc_funcs; i++) {
		uint64_t va = pe->gc_func_off[i];
		clones |= strchr(pe->gc_funcs[i], '.') != NULL;
		if (vaddr_to_off(ef, va, 4, &pe->gc_func_off[i]) ||
		    read_at_vaddr(ef, va, pe->gc_insn[i], 4)) {
			snprintf(pe->why_no_gc, sizeof(pe->why_no_gc), "%s is outside the file's segments",
				 pe->gc_funcs[i]);
			pe->ngc_funcs = 0;
			return;
		}
	}
	if (!pe->ngc_funcs) {
		snprintf(pe->why_no_gc, sizeof(pe->why_no_gc),
			 "no USDT gc probes and no gc_collect_main/collect symbol (%s): use a build "
			 "with --with-dtrace or with its symbol table", pe->has_symtab ? "not found" : "stripped");
		return;
	}
	if (!clones) {
		pe->gc_kind = PY_GC_UPROBE_ARG;
	} else if (pe->layout && pe->layout->gc_stats_runtime >= 0) {
		pe->gc_kind = PY_GC_UPROBE_STATS;
	} else {
		/* A clone's argument registers can't be trusted and we know no counters to read. */
		pe->gc_kind = PY_GC_UPROBE_STATS;
		snprintf(pe->why_no_gc, sizeof(pe->why_no_gc),
			 "generation unknown: %s is a compiler clone and 3.%d's gc counters are not mapped",
			 pe->gc_funcs[0], pe->minor);
	}
}

/* PY_VERSION ("3.8.18") is a NUL-terminated string in .rodata, possibly tail-merged into a
 * longer one ("/prefix/3.8.18"): accept "3.<minor>.<digits>[suffix]\0" after NUL or '/'. */
static void version_from_rodata(struct elf_file *ef, struct pyelf *pe)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstrndx;
	char pfx[16];
	int plen = snprintf(pfx, sizeof(pfx), "%d.%d.", pe->major, pe->minor);

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *name, *d, *end;
		Elf_Data *data;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(ef->elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".rodata") || !(data = elf_getdata(scn, NULL)) || !data->d_buf)
			continue;
		d = data->d_buf;
		end = d + data->d_size;
		for (const char *p = d + 1; (p = memmem(p, (size_t)(end - p), pfx, (size_t)plen)); p++) {
			const char *q = p + plen;
			int micro = 0, n = 0;
			if (p[-1] != 0 && p[-1] != '/')
				continue;
			while (q < end && isdigit((unsigned char)*q) && n < 3)
				micro = micro * 10 + (*q++ - '0'), n++;
			/* "3.13.0rc1", "3.12.1+" but nothing longer. */
			while (q < end && n && (isalnum((unsigned char)*q) || *q == '+') && q - p < 14)
				q++;
			if (n && q < end && *q == 0) {
				pe->micro = micro;
				snprintf(pe->version, sizeof(pe->version), "%.*s", (int)(q - p), p);
				pe->version_source = "rodata";
				return;
			}
		}
	}
}

static void find_version(struct elf_file *ef, const char *path, struct pyelf *pe)
{
	uint64_t va;
	uint32_t hex;

	/* Py_Version = PY_VERSION_HEX: major<<24 | minor<<16 | micro<<8 | level<<4 | serial. */
	if (!find_sym(ef, "Py_Version", &va, NULL) && !read_at_vaddr(ef, va, &hex, sizeof(hex)) &&
	    hex >> 24 == 3) {
		pe->major = (int)(hex >> 24);
		pe->minor = (int)(hex >> 16 & 0xff);
		pe->micro = (int)(hex >> 8 & 0xff);
		snprintf(pe->version, sizeof(pe->version), "%d.%d.%d", pe->major, pe->minor, pe->micro);
		pe->version_source = "Py_Version";
		return;
	}
	if (py_version_from_name(path, &pe->major, &pe->minor))
		return;
	snprintf(pe->version, sizeof(pe->version), "%d.%d", pe->major, pe->minor);
	pe->version_source = "file name";
	version_from_rodata(ef, pe);
}

int pyelf_inspect(const char *path, struct pyelf *pe, char *err, size_t errlen)
{
	struct elf_file ef;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	size_t nph;
	int r;

	memset(pe, 0, sizeof(*pe));
	snprintf(pe->path, sizeof(pe->path), "%s", path);
	if ((r = elf_open(path, &ef, err, errlen)))
		return r;
	if (!gelf_getehdr(ef.elf, &eh) || elf_getphdrnum(ef.elf, &nph)) {
		snprintf(err, errlen, "%s: bad ELF header", path);
		elf_close(&ef);
		return -ENOEXEC;
	}
	pe->is_exec = eh.e_type == ET_EXEC;
	pe->has_symtab = ef.symtab != NULL;
	for (size_t i = 0; i < nph; i++)
		if (gelf_getphdr(ef.elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			pe->load_vaddr = ph.p_vaddr;
			pe->load_offset = ph.p_offset;
			break;
		}
	if (find_sym(&ef, "_PyRuntime", &pe->runtime_vaddr, &pe->runtime_size)) {
		snprintf(err, errlen, "%s has no _PyRuntime symbol: not a CPython 3.7+ interpreter", path);
		elf_close(&ef);
		return -ENOENT;
	}
	find_version(&ef, path, pe);
	pe->layout = py_layout_for(pe->major, pe->minor);
	scan_usdt(&ef, pe);
	choose_gc(&ef, pe);
	elf_close(&ef);
	return 0;
}

/* ---- the process ---- */

int pyinfo_read(int pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int read_ptr(int pid, uint64_t addr, uint64_t *out)
{
	return pyinfo_read(pid, addr, out, sizeof(*out));
}

int pyinfo_parse_map(const char *line, struct py_map_line *m)
{
	char perms[8];
	int n = 0;

	m->path[0] = 0;
	if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &m->start, &m->end, perms, &m->off, &m->maj,
		   &m->min, &m->ino, &n) < 7)
		return -1;
	snprintf(m->path, sizeof(m->path), "%s", line + n);
	m->path[strcspn(m->path, "\n")] = 0;
	return m->path[0] == '/' ? 0 : -1;
}

static bool is_candidate(const char *path, const char *exe)
{
	const char *base = strrchr(path, '/');

	return !strcmp(path, exe) || (base && !strncmp(base + 1, "libpython", 9));
}

/* Try one mapped file as the interpreter: open it through the process's root (containers),
 * falling back to map_files when the path is gone or names another file. */
static int try_file(int pid, const struct py_map_line *m, struct pyinfo *pi, char *err, size_t errlen)
{
	struct stat st;
	int r;

	snprintf(pi->open_path, sizeof(pi->open_path), "/proc/%d/root%s", pid, m->path);
	if (stat(pi->open_path, &st) || st.st_ino != m->ino)
		snprintf(pi->open_path, sizeof(pi->open_path), "/proc/%d/map_files/%lx-%lx", pid,
			 m->start, m->end);
	if (stat(pi->open_path, &st)) {
		r = -errno;
		snprintf(err, errlen, "cannot reach %s of pid %d: %s", m->path, pid, strerror(-r));
		return r;
	}
	if ((r = pyelf_inspect(pi->open_path, &pi->elf, err, errlen)))
		return r;
	snprintf(pi->file, sizeof(pi->file), "%s", m->path);
	pi->dev = st.st_dev;
	pi->ino = st.st_ino;
	return 0;
}

/* The mapping of the first PT_LOAD gives the bias: start = p_vaddr (page) + bias. */
static int find_bias(FILE *f, struct pyinfo *pi)
{
	char line[4200];
	struct py_map_line m;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (!pyinfo_parse_map(line, &m) && !strcmp(m.path, pi->file) &&
		    m.off == (pi->elf.load_offset & ~(page - 1))) {
			pi->bias = m.start - (pi->elf.load_vaddr & ~(page - 1));
			return 0;
		}
	return -ENOENT;
}

static void locate_gil(struct pyinfo *pi)
{
	const struct py_layout *l = pi->elf.layout;
	uint64_t interp = 0, interval = 0;
	int32_t locked = -1;

	if (!l) {
		snprintf(pi->why_no_gil, sizeof(pi->why_no_gil),
			 "CPython %s is not supported (GIL layout known for 3.8-3.13)", pi->elf.version);
		return;
	}
	if (l->gil_in_runtime >= 0) {
		pi->gil = pi->runtime + (uint64_t)l->gil_in_runtime;
	} else if (read_ptr(pi->pid, pi->runtime + (uint64_t)l->interp_main, &interp) || !interp ||
		   read_ptr(pi->pid, interp + (uint64_t)l->interp_gil_ptr, &pi->gil) || !pi->gil) {
		snprintf(pi->why_no_gil, sizeof(pi->why_no_gil),
			 "cannot read the main interpreter's GIL pointer (interpreter not initialized?)");
		pi->gil = 0;
		return;
	}
	/* Sanity: interval (switch interval, µs) is set at init; locked is 0 or 1. */
	if (read_ptr(pi->pid, pi->gil, &interval) || pyinfo_read(pi->pid, pi->gil + 16, &locked, 4) ||
	    !interval || interval > 1000000000ULL || (locked != 0 && locked != 1)) {
		snprintf(pi->why_no_gil, sizeof(pi->why_no_gil),
			 "GIL at 0x%lx does not look like one (interval=%lu locked=%d): unknown build layout",
			 (unsigned long)pi->gil, (unsigned long)interval, locked);
		pi->gil = 0;
	}
}

/* The main interpreter's per-generation collection counters, where the GC probe reads the
 * generation when it is not passed (3.8 clones, 3.13 automatic collections). */
static void locate_gc_stats(struct pyinfo *pi)
{
	const struct py_layout *l = pi->elf.layout;
	uint64_t interp = 0, v[3];

	if (!l)
		return;
	if (l->gc_stats_runtime >= 0)
		pi->gc_stats = pi->runtime + (uint64_t)l->gc_stats_runtime;
	else if (l->gc_stats_interp >= 0 && !read_ptr(pi->pid, pi->runtime + (uint64_t)l->interp_main, &interp) && interp)
		pi->gc_stats = interp + (uint64_t)l->gc_stats_interp;
	for (int i = 0; pi->gc_stats && i < 3; i++)
		if (read_ptr(pi->pid, pi->gc_stats + (uint64_t)i * PY_GC_STATS_STRIDE, &v[i]))
			pi->gc_stats = 0;
}

int pyinfo_discover(int pid, struct pyinfo *pi, char *err, size_t errlen)
{
	char path[64], line[4200];
	struct py_map_line m;
	ssize_t n;
	FILE *f;
	int r = -ENOENT, rf;

	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, pi->exe, sizeof(pi->exe) - 1);
	if (n < 0) {
		r = -errno;
		snprintf(err, errlen, "pid %d: readlink %s: %s", pid, path, strerror(-r));
		return r;
	}
	pi->exe[n] = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (!(f = fopen(path, "re"))) {
		r = -errno;
		snprintf(err, errlen, "pid %d: open %s: %s", pid, path, strerror(-r));
		return r;
	}
	snprintf(err, errlen, "pid %d (%s) maps no CPython interpreter (no _PyRuntime in the "
		 "executable or a libpython*.so)", pid, pi->exe);
	/* The executable first (static builds), then any libpython mapping. */
	for (int pass = 0; pass < 2 && r; pass++) {
		unsigned long seen = 0;
		rewind(f);
		while (r && fgets(line, sizeof(line), f)) {
			if (pyinfo_parse_map(line, &m) || m.ino == seen || !is_candidate(m.path, pi->exe) ||
			    (pass == 0) != !strcmp(m.path, pi->exe))
				continue;
			seen = m.ino;
			rf = try_file(pid, &m, pi, line, sizeof(line));
			if (rf == 0)
				r = 0;
			else if (pass == 1 || rf == -EACCES || rf == -EPERM) /* a file we may not read says why */
				snprintf(err, errlen, "%s", line);
		}
	}
	if (!r && find_bias(f, pi)) {
		snprintf(err, errlen, "pid %d: no mapping of %s's first segment", pid, pi->file);
		r = -ENOENT;
	}
	fclose(f);
	if (r)
		return r;
	pi->runtime = pi->elf.runtime_vaddr + pi->bias;
	locate_gil(pi);
	locate_gc_stats(pi);
	if (!pi->elf.layout)
		snprintf(pi->why_no_threads, sizeof(pi->why_no_threads),
			 "CPython %s is not supported (thread list layout known for 3.8-3.13)", pi->elf.version);
	return 0;
}

int pyinfo_thread_count(const struct pyinfo *pi)
{
	const struct py_layout *l = pi->elf.layout;
	uint64_t interp, t, owner;
	int count = 0, r;

	if (!l)
		return -ENOTSUP;
	if ((r = read_ptr(pi->pid, pi->runtime + (uint64_t)l->interp_head, &interp)))
		return r;
	for (int i = 0; interp && i < 256; i++) {
		if ((r = read_ptr(pi->pid, interp + (uint64_t)l->threads_head, &t)))
			return r;
		for (int j = 0; t && j < 100000; j++) {
			/* Every thread state points back at its interpreter: checks the offsets. */
			if ((r = read_ptr(pi->pid, t + (uint64_t)l->tstate_interp, &owner)))
				return r;
			if (owner != interp)
				return -EPROTO;
			count++;
			if ((r = read_ptr(pi->pid, t + (uint64_t)l->tstate_next, &t)))
				return r;
		}
		if ((r = read_ptr(pi->pid, interp + (uint64_t)l->interp_next, &interp)))
			return r;
	}
	return count;
}
