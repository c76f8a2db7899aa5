/* Interpreter discovery without running code in the target: which file holds CPython (the
 * executable or a libpython*.so mapping), its version, the symbols and USDT notes the runtime
 * probes need, and the addresses of the GIL, the GC statistics and the thread list in one
 * process. pyelf_* looks at a file only (unit-tested without root); pyinfo_* adds a process
 * (its maps, load bias and memory, read with process_vm_readv). */
#ifndef PYINFO_H
#define PYINFO_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PYINFO_MAX_GC_FUNCS 4

/* How the GC probe learns the generation of a collection. */
enum py_gc_kind {
	PY_GC_NONE = 0,
	PY_GC_USDT,       /* python:gc__start(int gen) / gc__done(long) */
	PY_GC_UPROBE_ARG, /* uprobe+uretprobe on gc_collect_main/collect, generation in arg 2
	                   * (3.13's automatic collections pass -1: then from the counters) */
	PY_GC_UPROBE_STATS, /* clones: generation from generation_stats counters */
};

/* Per-version layout (offsets in bytes, x86_64 glibc, default build); -1 where absent. */
struct py_layout {
	int minor;            /* 3.minor */
	int gil_in_runtime;   /* _PyRuntime.ceval.gil (3.8-3.11) */
	int interp_main;      /* _PyRuntime.interpreters.main */
	int interp_gil_ptr;   /* PyInterpreterState.ceval.gil pointer (3.12+) */
	int interp_head;      /* _PyRuntime.interpreters.head */
	int interp_next;      /* PyInterpreterState.next */
	int threads_head;     /* PyInterpreterState.tstate_head / threads.head */
	int tstate_next;      /* PyThreadState.next */
	int tstate_interp;    /* PyThreadState.interp (checks the walk) */
	int gc_stats_runtime; /* _PyRuntime.gc.generation_stats (3.8) */
	int gc_stats_interp;  /* PyInterpreterState.gc.generation_stats (3.9+) */
};

/* generation_stats[i].collections is the first field of a 24-byte struct. */
#define PY_GC_STATS_STRIDE 24

/* The GIL struct (pycore_gil.h, identical 3.8-3.13): condvar and mutex that take_gil waits on,
 * then the FORCE_SWITCHING pair that drop_gil waits on. pthread_cond_t = 48, mutex = 40. */
#define PY_GIL_COND 32
#define PY_GIL_SWITCH 120
#define PY_GIL_SIZE 208

/* What one interpreter file offers, from its ELF alone. */
struct pyelf {
	char path[4160];      /* as opened */
	bool is_exec;         /* ET_EXEC (not PIE): load bias 0 */
	bool has_symtab;      /* full .symtab (else .dynsym only) */
	uint64_t load_vaddr;  /* first PT_LOAD: p_vaddr and p_offset, for the load bias */
	uint64_t load_offset;
	int major, minor, micro;
	char version[32];     /* "3.11.2", or "3.9" when only the file name tells */
	const char *version_source; /* "Py_Version", "rodata" (PY_VERSION string), "file name" */
	uint64_t runtime_vaddr;     /* _PyRuntime */
	uint64_t runtime_size;
	bool usdt_gc;               /* python:gc__start and gc__done notes */
	bool usdt_semaphore;        /* they are guarded by semaphores */
	enum py_gc_kind gc_kind;
	int ngc_funcs;
	char gc_funcs[PYINFO_MAX_GC_FUNCS][64];
	uint64_t gc_func_off[PYINFO_MAX_GC_FUNCS]; /* file offsets, for uprobes */
	unsigned char gc_insn[PYINFO_MAX_GC_FUNCS][4]; /* first bytes of each */
	const struct py_layout *layout;   /* NULL: version not supported */
	char why_no_gc[160];
};

/* Inspect one file. 0, or -errno with a message in err (not an ELF, no _PyRuntime, ...). */
int pyelf_inspect(const char *path, struct pyelf *out, char *err, size_t errlen);
const struct py_layout *py_layout_for(int major, int minor);
/* Parse "libpython3.11.so.1.0", "python3.9", "libpython3.7m.so": 0 on success. */
int py_version_from_name(const char *name, int *major, int *minor);
/* One stapsdt note's descriptor: its semaphore address and provider/probe names, which are
 * checked to end inside the descriptor (crafted notes are normal input). 0 or -1. */
int py_usdt_note(const char *desc, size_t descsz, uint64_t *sema, const char **prov, const char **name);
/* True when the kernel emulates the instruction (no single-step: ~0.3-1 µs per hit, not ~15). */
bool py_insn_emulated(const unsigned char *b, const char **what);
/* Address and value of a symbol in the file (first of .symtab, .dynsym). 0 or -ENOENT. */
int pyelf_symbol(const char *path, const char *name, uint64_t *vaddr, uint64_t *size);
/* Addresses of names[0..n) in one pass over the file (0 for one it does not define). Returns
 * how many were found, or -errno. */
int pyelf_symbols(const char *path, const char *const *names, int n, uint64_t *vaddr);
/* File offsets (what a uprobe takes) of the functions names[0..n) defined in the file; 0 for
 * one it does not define. Returns how many were found, or -errno + err. */
int pyelf_func_offsets(const char *path, const char *const *names, int n, uint64_t *off, char *err,
		       size_t errlen);
/* Read len bytes at vaddr from the file's initialized data. 0 or -errno. */
int pyelf_read_vaddr(const char *path, uint64_t vaddr, void *buf, size_t len);

/* One process's interpreter. */
struct pyinfo {
	int pid;
	char exe[4096];        /* /proc/PID/exe target, in the process's mount namespace */
	char file[4096];       /* the interpreter file as the process names it (maps) */
	char open_path[4160];  /* a path that reaches it from here (/proc/PID/root/...) */
	dev_t dev;
	ino_t ino;
	uint64_t bias;         /* runtime address = file vaddr + bias */
	struct pyelf elf;
	uint64_t runtime;      /* &_PyRuntime in the process */
	uint64_t gil;          /* &GIL struct in the process, 0 if unknown */
	uint64_t gc_stats;     /* &main interpreter's generation_stats[0].collections, 0 if unknown */
	char why_no_gil[160];
	char why_no_threads[160];
};

/* One line of /proc/PID/maps that maps a file (a path starting with '/'): 0, else -1. */
struct py_map_line {
	uint64_t start, end, off;
	unsigned long ino;
	unsigned int maj, min;
	char path[4096];
};
int pyinfo_parse_map(const char *line, struct py_map_line *m);

/* Find and inspect the interpreter of pid. 0, or -errno with err saying why (not Python, gone). */
int pyinfo_discover(int pid, struct pyinfo *pi, char *err, size_t errlen);
/* Live Python threads of the process (all interpreters), or -errno. */
int pyinfo_thread_count(const struct pyinfo *pi);
/* process_vm_readv wrapper: 0 or -errno. */
int pyinfo_read(int pid, uint64_t addr, void *buf, size_t len);
#endif
