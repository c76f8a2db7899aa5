/* Reading Python objects of another process from outside (issue #14, docs/design/routes.md):
 * str, int, list, tuple, set, dict, instance and class attributes, sys.modules, and the GC lists,
 * through process_vm_readv with a small page cache. Nothing runs in or stops the target, and the
 * target keeps running while we read: every read is bounded and may fail (a torn object, a freed
 * page), so every function returns 0 or -errno and never trusts a size it read. The per-version
 * offsets come from docs/design/routes.md section 1 (3.8-3.13, x86_64, default build). */
#ifndef PYOBJ_H
#define PYOBJ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pyinfo.h"

/* Bounds against torn or hostile objects. */
#define PYOBJ_STR_MAX 4096
#define PYOBJ_SEQ_MAX 100000
#define PYOBJ_GC_MAX 2000000

/* One process's interpreter, ready for object reads. */
struct pyproc {
	struct pyinfo pi;       /* from pyinfo_discover */
	int minor;              /* 3.minor */
	uint64_t interp;        /* main PyInterpreterState */
	uint64_t modules;       /* sys.modules (a dict) */
	/* type objects, for pointer-equality checks (from .dynsym, plus the load bias) */
	uint64_t t_dict, t_list, t_tuple, t_str, t_set, t_frozenset, t_module, t_type, t_int, t_bool, t_none;
	uint64_t none;          /* &_Py_NoneStruct */
	uint64_t gc_gens;       /* &generations[0] (PyGC_Head list heads), 0 if unknown */
	struct pyobj_cache *cache; /* page cache, private */
	unsigned reads;         /* process_vm_readv calls made, for the cost figures */
};

/* Attach to pid: discover the interpreter, the offsets and sys.modules. 0, or -errno with err
 * ("not a Python process", "Python 3.14 not supported", "free-threaded build"). */
int pyproc_open(int pid, struct pyproc *p, char *err, size_t errlen);
void pyproc_close(struct pyproc *p);
/* Forget cached pages (the target moved on): the next reads see fresh memory. */
void pyproc_flush(struct pyproc *p);

/* Raw read through the cache. 0 or -errno. */
int pyobj_read(struct pyproc *p, uint64_t addr, void *buf, size_t len);
uint64_t pyobj_type(struct pyproc *p, uint64_t obj);     /* ob_type, 0 on failure */
/* True when obj's type is t or has t in its tp_mro (subclasses). */
bool pyobj_isinstance(struct pyproc *p, uint64_t obj, uint64_t t);
/* The type's tp_name ("Flask", "builtins.dict" for static types as CPython writes them). */
int pyobj_type_name(struct pyproc *p, uint64_t type, char *out, size_t outlen);

/* A str object as UTF-8 (latin-1/UCS-2/UCS-4 converted). -EINVAL if not a str, -E2BIG past
 * PYOBJ_STR_MAX or outlen. */
int pyobj_str(struct pyproc *p, uint64_t obj, char *out, size_t outlen);
/* A small int or bool (fits in 64 bits). */
int pyobj_long(struct pyproc *p, uint64_t obj, int64_t *out);
bool pyobj_is_none(struct pyproc *p, uint64_t obj);
/* The source string of a compiled re.Pattern (PatternObject.pattern). */
int pyobj_pattern_str(struct pyproc *p, uint64_t obj, char *out, size_t outlen);

/* Items of a list or tuple (either accepted): up to max written, *n = the length. */
int pyobj_seq(struct pyproc *p, uint64_t obj, uint64_t *items, int max, int *n);
/* Keys of a set or frozenset. */
int pyobj_set(struct pyproc *p, uint64_t obj, uint64_t *keys, int max, int *n);

/* Walk a dict in insertion order: cb(key, value, arg) for each live entry; a non-zero return
 * from cb stops the walk and is returned. Combined and split tables, 3.8-3.13. */
typedef int (*pyobj_dict_cb)(struct pyproc *p, uint64_t key, uint64_t value, void *arg);
int pyobj_dict_walk(struct pyproc *p, uint64_t dict, pyobj_dict_cb cb, void *arg);
/* dict[key] for a str key. -ENOENT when absent. */
int pyobj_dict_get(struct pyproc *p, uint64_t dict, const char *key, uint64_t *value);

/* The instance dict of obj (tp_dictoffset, 3.11 managed, 3.12 tagged, 3.13 inline values) walked
 * like a dict; and one attribute: the instance first, then each tp_mro type's tp_dict (class
 * attributes such as a converter's regex). Properties and slots are not followed. */
int pyobj_attr(struct pyproc *p, uint64_t obj, const char *name, uint64_t *value);
/* Attribute read as a str. */
int pyobj_attr_str(struct pyproc *p, uint64_t obj, const char *name, char *out, size_t outlen);

/* sys.modules[name]; a module's global (md_dict[name]). -ENOENT when absent. */
int pyobj_module(struct pyproc *p, const char *name, uint64_t *module);
int pyobj_module_attr(struct pyproc *p, const char *module, const char *name, uint64_t *value);

/* Every object tracked by the GC (generations 0-2 and the permanent one), for apps made by a
 * factory that no module global holds: cb(obj, arg), stopping on a non-zero return. Bounded by
 * PYOBJ_GC_MAX; -ENOTSUP when the GC lists are not known for this version. */
typedef int (*pyobj_obj_cb)(struct pyproc *p, uint64_t obj, void *arg);
int pyobj_gc_walk(struct pyproc *p, pyobj_obj_cb cb, void *arg);

/* ---- Additions (pure helpers, unit-tested without a process) ---- */

/* Per-minor offsets, design section 1.1 (x86_64, default build). */
struct pyobj_layout {
	int minor;
	int interp_head;     /* _PyRuntime.interpreters.head */
	int interp_modules;  /* interp->modules (3.12+: imports.modules) */
	int interp_sysdict;
	int gc_gens;         /* generations[0]: in _PyRuntime (3.8) or the interpreter */
	bool gc_in_runtime;
	int ht_cached_keys;  /* PyHeapTypeObject.ht_cached_keys */
	int str_ascii;       /* compact str data: ASCII / other kinds */
	int str_data;
};
const struct pyobj_layout *pyobj_layout_for(int minor);
/* 3.13+: _PyRuntime starts with _Py_DebugOffsets; take interpreters.head, imports.modules and
 * sysdict from it. 0, -EINVAL (no "xdebugpy" cookie), -ENOTSUP (free-threaded). */
int pyobj_debug_offsets(const unsigned char *buf, size_t len, uint64_t *version, int *interp_head,
			int *interp_modules, int *interp_sysdict);
/* n code points of kind 1/2/4 bytes each (latin-1, UCS-2, UCS-4) as NUL-terminated UTF-8. 0,
 * -E2BIG when out is too small, -EILSEQ for a code point past U+10FFFF. */
int pyobj_utf8(const void *data, size_t n, int kind, char *out, size_t outlen);

#endif
