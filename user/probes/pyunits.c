/* Finding the current contextvars Context of a thread from BPF: see pyunits.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "pyobj.h"
#include "pyunits.h"

/* glibc x86_64 (2.27 on): struct pthread's specific_1stblock[32] of {seq, data}, at 0x310 from
 * the thread pointer; the thread pointer is also the thread's pthread_t. */
#define GLIBC_SPECIFIC_1STBLOCK 0x310
#define GLIBC_SPECIFIC_KEYS 32
#define THREADS_MAX 4096
/* PyContext: PyObject_HEAD, ctx_prev, ctx_vars, ctx_weakreflist, int ctx_entered (3.7-3.13) */
#define PYCONTEXT_ENTERED 40

/* Offsets per minor version: Py_tss_t autoTSSkey in _PyRuntime (gilstate.autoTSSkey before
 * 3.12), PyThreadState.thread_id and .context. From offsetof() against each version's headers
 * (shared/reference/cpython.md section 1); pyunits_inspect checks them on the live process. */
static const struct { int minor, tss_key, thread_id, context; } layouts[] = {
	{ 8, 1392, 176, 240 }, { 9, 584, 176, 240 }, { 10, 584, 176, 240 },
	{ 11, 592, 152, 224 }, { 12, 1544, 136, 208 }, { 13, 2160, 152, 208 },
};

const char *pyunits_method(enum py_unit_kind kind)
{
	return kind == PY_UNITS_TASK ? "per-task" : kind == PY_UNITS_GREENLET ? "per-greenlet" : "per-thread";
}

static int rd_u64(struct pyproc *p, uint64_t addr, uint64_t *v)
{
	return pyobj_read(p, addr, v, sizeof(*v));
}

/* Every thread state of the main interpreter must be found in its thread's slot: this checks
 * the key, glibc's layout and the offsets at once. */
static int check_threads(struct pyproc *p, int threads_head, int thread_id, struct py_units *u)
{
	uint64_t t, pthread, slot;
	int n = 0;

	if (rd_u64(p, p->interp + (uint64_t)threads_head, &t))
		return -EIO;
	for (; t && n < THREADS_MAX; n++) {
		if (rd_u64(p, t + (uint64_t)thread_id, &pthread) || !pthread ||
		    rd_u64(p, pthread + u->tss_off, &slot))
			return -EIO;
		if (slot != t)
			return -EPROTO;
		if (rd_u64(p, t + 8, &t)) /* tstate->next, at +8 in every version */
			return -EIO;
	}
	u->threads_checked = n;
	return n ? 0 : -ENOENT;
}

int pyunits_inspect(int pid, struct py_units *u)
{
	struct pyproc p;
	uint64_t mod;
	int32_t tss[2]; /* Py_tss_t: _is_initialized, _key */
	int r, i, n = sizeof(layouts) / sizeof(layouts[0]);

	memset(u, 0, sizeof(*u));
	if ((r = pyproc_open(pid, &p, u->why, sizeof(u->why))))
		return r;
	u->why[0] = 0; /* it may leave a note on a candidate file it passed over */
	if (!pyobj_module(&p, "gevent", &mod))
		u->kind = PY_UNITS_GREENLET;
	else if (!pyobj_module(&p, "uvloop", &mod))
		/* its loop makes every socket call itself, after the task that asked yielded: reads,
		 * responses and queries alike carry the loop's Context, never a task's */
		snprintf(u->why, sizeof(u->why), "uvloop makes every socket call (requests, responses and "
			 "queries) from its loop, outside the task that asked, so calls cannot be tied to "
			 "requests (uvicorn --loop asyncio can be)");
	else if (!pyobj_module(&p, "asyncio", &mod))
		u->kind = PY_UNITS_TASK;
	else
		snprintf(u->why, sizeof(u->why), "no event loop imported (asyncio, gevent): one request per thread");
	for (i = 0; i < n && layouts[i].minor != p.minor; i++)
		;
	if (u->kind == PY_UNITS_THREAD) {
		r = 0;
	} else if (i == n || !p.pi.elf.layout) {
		snprintf(u->why, sizeof(u->why), "CPython 3.%d: thread state layout not known (3.8-3.13 are)", p.minor);
	} else if (pyobj_read(&p, p.pi.runtime + (uint64_t)layouts[i].tss_key, tss, sizeof(tss)) || !tss[0] ||
		   tss[1] < 0 || tss[1] >= GLIBC_SPECIFIC_KEYS) {
		snprintf(u->why, sizeof(u->why), "the interpreter's thread-state key is unreadable or past glibc's "
			 "first %d (only those are reachable from BPF)", GLIBC_SPECIFIC_KEYS);
	} else {
		u->tss_off = GLIBC_SPECIFIC_1STBLOCK + (uint32_t)tss[1] * 16 + 8;
		u->ctx_off = (uint32_t)layouts[i].context;
		u->entered_off = u->kind == PY_UNITS_TASK ? PYCONTEXT_ENTERED : 0;
		r = check_threads(&p, p.pi.elf.layout->threads_head, layouts[i].thread_id, u);
		if (r)
			snprintf(u->why, sizeof(u->why), "thread states not found where glibc keeps them (%s): not "
				 "glibc 2.27+ on x86_64?", r == -EPROTO ? "a thread's slot points elsewhere" : strerror(-r));
		r = 0;
	}
	if (!u->why[0] && u->kind == PY_UNITS_TASK) { /* a task's copies tie its sub-tasks to it */
		const char *name = "PyContext_CopyCurrent";
		char err[160];

		snprintf(u->lib, sizeof(u->lib), "%s", p.pi.open_path);
		if (pyelf_func_offsets(u->lib, &name, 1, &u->copy_off, err, sizeof(err)) != 1)
			u->copy_off = 0;
	}
	if (u->why[0] && u->kind != PY_UNITS_THREAD) {
		char why[sizeof(u->why)];

		snprintf(why, sizeof(why), "%s", u->why);
		snprintf(u->why, sizeof(u->why), "%s runs an event loop, but %.160s", u->kind == PY_UNITS_TASK ?
			 "asyncio" : "gevent", why);
		u->kind = PY_UNITS_THREAD;
	}
	pyproc_close(&p);
	return r;
}

void pyunits_describe_pid(FILE *out, int pid)
{
	struct py_units u;

	if (pyunits_inspect(pid, &u))
		return; /* not a Python we can read: runtime: above says why */
	if (u.kind == PY_UNITS_THREAD) {
		fprintf(out, "attribution: per-thread (%s)\n", u.why);
		return;
	}
	fprintf(out, "attribution: %s: the contextvars Context at thread pointer+0x%x, then +0x%x\n",
		pyunits_method(u.kind), u.tss_off, u.ctx_off);
	if (u.kind == PY_UNITS_TASK && u.copy_off)
		fprintf(out, "attribution: sub-tasks and thread hand-offs: uretprobe on PyContext_CopyCurrent "
			"(%s+0x%llx)\n", u.lib, (unsigned long long)u.copy_off);
	else if (u.kind == PY_UNITS_TASK)
		fprintf(out, "attribution: sub-tasks and thread hand-offs not followed: PyContext_CopyCurrent "
			"not found in %s\n", u.lib);
}
