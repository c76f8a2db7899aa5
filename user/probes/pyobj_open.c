/* Attaching pyobj to one process: the interpreter (pyinfo), its type objects from .dynsym,
 * the offsets of its version, and sys.modules. See pyobj.h. */
#include "pyobj_int.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sym_slot {
	const char *name;
	size_t off; /* in struct pyproc */
};

#define SLOT(n, f) { n, offsetof(struct pyproc, f) }
static const struct sym_slot syms[] = {
	SLOT("PyDict_Type", t_dict), SLOT("PyList_Type", t_list), SLOT("PyTuple_Type", t_tuple),
	SLOT("PyUnicode_Type", t_str), SLOT("PySet_Type", t_set), SLOT("PyFrozenSet_Type", t_frozenset),
	SLOT("PyModule_Type", t_module), SLOT("PyType_Type", t_type), SLOT("PyLong_Type", t_int),
	SLOT("PyBool_Type", t_bool), SLOT("_Py_NoneStruct", none),
};

static int find_types(struct pyproc *p, char *err, size_t errlen)
{
	enum { N = sizeof(syms) / sizeof(syms[0]) };
	const char *names[N + 1];
	uint64_t va[N + 1];

	for (size_t i = 0; i < N; i++)
		names[i] = syms[i].name;
	/* Removed set entries hold this object; without it a removed key would look live. */
	names[N] = "_PySet_Dummy";
	if (pyelf_symbols(p->pi.open_path, names, N + 1, va) < 0) {
		snprintf(err, errlen, "cannot read the symbols of %s", p->pi.file);
		return -ENOENT;
	}
	for (size_t i = 0; i < N; i++) {
		if (!va[i]) {
			snprintf(err, errlen, "%s has no %s symbol", p->pi.file, syms[i].name);
			return -ENOENT;
		}
		*(uint64_t *)((char *)p + syms[i].off) = va[i] + p->pi.bias;
	}
	if (va[N])
		rd_u64(p, va[N] + p->pi.bias, &p->cache->set_dummy);
	return 0;
}

/* 3.13+: the offsets the interpreter publishes about itself win over our table. */
static int debug_offsets(struct pyproc *p, struct pyobj_layout *l, char *err, size_t errlen)
{
	unsigned char buf[104];
	uint64_t version;
	int r;

	if ((r = pyobj_read(p, p->pi.runtime, buf, sizeof(buf)))) {
		snprintf(err, errlen, "cannot read _PyRuntime of pid %d: %s", p->pi.pid, strerror(-r));
		return r;
	}
	r = pyobj_debug_offsets(buf, sizeof(buf), &version, &l->interp_head, &l->interp_modules,
				&l->interp_sysdict);
	if (r == -ENOTSUP)
		snprintf(err, errlen, "Python %s is a free-threaded build (not supported)", p->pi.elf.version);
	else if (r)
		snprintf(err, errlen, "Python %s: no _Py_DebugOffsets at _PyRuntime", p->pi.elf.version);
	return r;
}

static int find_modules(struct pyproc *p, const struct pyobj_layout *l, char *err, size_t errlen)
{
	uint64_t sysdict;
	int r;

	if ((r = rd_u64(p, p->pi.runtime + (uint64_t)l->interp_head, &p->interp)) == -EPERM) {
		snprintf(err, errlen, "cannot read the memory of pid %d: %s (needs CAP_SYS_PTRACE, and Yama "
			 "ptrace_scope below 3)", p->pi.pid, strerror(-r));
		return r;
	}
	if (r || !p->interp) {
		snprintf(err, errlen, "pid %d: no interpreter yet (%s)", p->pi.pid, r ? strerror(-r) : "NULL");
		return r ? r : -EAGAIN;
	}
	if (!rd_u64(p, p->interp + (uint64_t)l->interp_modules, &p->modules) &&
	    pyobj_type(p, p->modules) == p->t_dict)
		return 0;
	/* The spare path: sys.__dict__["modules"]. */
	if (!rd_u64(p, p->interp + (uint64_t)l->interp_sysdict, &sysdict) &&
	    pyobj_type(p, sysdict) == p->t_dict && !pyobj_dict_get(p, sysdict, "modules", &p->modules) &&
	    pyobj_type(p, p->modules) == p->t_dict)
		return 0;
	snprintf(err, errlen, "pid %d: sys.modules not found at the Python 3.%d offsets", p->pi.pid, p->minor);
	return -EPROTO;
}

int pyproc_open(int pid, struct pyproc *p, char *err, size_t errlen)
{
	const struct pyobj_layout *known;
	struct pyobj_layout *l;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = pyinfo_discover(pid, &p->pi, err, errlen))) {
		if (r == -ENOENT && strstr(err, "maps no CPython"))
			snprintf(err, errlen, "pid %d is not a Python process", pid);
		return r;
	}
	p->minor = p->pi.elf.minor;
	if (p->pi.elf.major != 3 || !(known = pyobj_layout_for(p->minor))) {
		snprintf(err, errlen, "Python %s not supported (3.8-3.13)", p->pi.elf.version);
		return -ENOTSUP;
	}
	if (!(p->cache = calloc(1, sizeof(*p->cache))) || !(l = malloc(sizeof(*l)))) {
		free(p->cache);
		p->cache = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*l = *known;
	p->cache->lay = l;
	if ((r = find_types(p, err, errlen)) || (p->minor >= 13 && (r = debug_offsets(p, l, err, errlen))) ||
	    (r = find_modules(p, l, err, errlen))) {
		pyproc_close(p);
		return r;
	}
	p->gc_gens = (l->gc_in_runtime ? p->pi.runtime : p->interp) + (uint64_t)l->gc_gens;
	return 0;
}

void pyproc_close(struct pyproc *p)
{
	if (!p->cache)
		return;
	for (int i = 0; i < PYOBJ_SLOTS; i++)
		free(p->cache->page[i]);
	free((void *)p->cache->lay);
	free(p->cache);
	p->cache = NULL;
}
