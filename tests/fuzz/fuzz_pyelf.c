/* libFuzzer target: the interpreter's ELF reader (pyinfo.c: pyelf_*) on corrupt files: version
 * (Py_Version, or the file name and .rodata), symbols, USDT notes, GC probe points, reads of
 * initialized data. Input: a byte choosing the file's name (libpython3.<7..14>.so.1.0, or one
 * that names no version), then the file. */
#include <string.h>
#include "fuzz_file.h"
#include "pyinfo.h"

static void check_str(const char *s, size_t n)
{
	if (!memchr(s, 0, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "gc_collect_main", "_PyRuntime", "Py_Version", "SSL_write" };
	char name[64], err[160], buf[64];
	const char *path;
	struct pyelf *pe;
	uint64_t vaddr = 0, vsize = 0, off[4];

	if (size < 1)
		return 0;
	if (data[0] & 8)
		snprintf(name, sizeof(name), "libpython3.%d.so.1.0", 7 + (data[0] & 7));
	else
		snprintf(name, sizeof(name), "interpreter");
	path = fuzz_file_named(data + 1, size - 1, name);
	memset(err, 'x', sizeof(err));      /* a failure must say why, NUL-terminated */
	if (!(pe = malloc(sizeof(*pe))))
		abort();
	if (!pyelf_inspect(path, pe, err, sizeof(err))) {
		check_str(pe->version, sizeof(pe->version));
		check_str(pe->why_no_gc, sizeof(pe->why_no_gc));
		for (int i = 0; i < pe->ngc_funcs && i < PYINFO_MAX_GC_FUNCS; i++)
			check_str(pe->gc_funcs[i], sizeof(pe->gc_funcs[i]));
	} else {
		check_str(err, sizeof(err));
	}
	if (!pyelf_symbol(path, "_PyRuntime", &vaddr, &vsize))
		(void)pyelf_read_vaddr(path, vaddr, buf, vsize < sizeof(buf) ? vsize : sizeof(buf));
	(void)pyelf_func_offsets(path, names, 4, off, err, sizeof(err));
	free(pe);
	return 0;
}
