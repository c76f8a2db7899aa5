/* The tracked processes: which libsqlite3 each maps, when to look at its maps again, and
 * which of them may have calls we did not see (blind spots). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proc.h"
#include "pyvitals.h"
#include "sqlite.skel.h"
#include "sqlite_probe_internal.h"

static struct sq_proc *proc_find(struct sqlite_probe *sp, int pid)
{
	for (int i = 0; i < sp->nprocs; i++)
		if (sp->procs[i].pid == pid)
			return &sp->procs[i];
	return NULL;
}

static struct sq_proc *proc_slot(struct sqlite_probe *sp, int pid)
{
	struct sq_proc *p = proc_find(sp, pid);

	if (p)
		return p;
	if (sp->nprocs == sp->cap) {
		int cap = sp->cap ? 2 * sp->cap : 16;
		struct sq_proc *n = realloc(sp->procs, cap * sizeof(*n));
		if (!n)
			return NULL;
		sp->procs = n;
		sp->cap = cap;
	}
	p = &sp->procs[sp->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->mapped_file = -1;
	return p;
}

/* Does p still need looks at its maps: nothing mapped, or a file not probed (yet)? */
bool sq_unsettled(const struct sqlite_probe *sp, const struct sq_proc *p)
{
	return !p->looked || !p->mapped || p->mapped_file < 0 || !sp->files[p->mapped_file].probed_ns;
}

int sqlite_probe_add_pid(struct sqlite_probe *sp, int pid, char *err, size_t errlen)
{
	unsigned long long start = proc_start_time(pid);
	struct sq_proc *p;

	if (!start) {
		snprintf(err, errlen, "sqlite: process %d is gone", pid);
		return -ESRCH;
	}
	if (!(p = proc_slot(sp, pid))) {
		snprintf(err, errlen, "sqlite: out of memory");
		return -ENOMEM;
	}
	if (p->start != start) { /* new, or the pid was reused */
		uint64_t born = start * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		p->mapped_file = -1;
		p->start = start;
		/* Started after we attached: every call it makes is to be seen. */
		p->clear_ns = born > sp->opened_ns ? born : 0;
	}
	if (!sq_unsettled(sp, p) || (p->looked && boot_ns() < p->look_ns))
		goto tell;
	if (sp->own_tracked && !p->looked) {
		struct pv_proc_info info = { 0, 0 };
		__u32 key = (__u32)pid;
		if (bpf_map_update_elem(bpf_map__fd(sp->skel->maps.tracked), &key, &info, BPF_ANY)) {
			int r = -errno;
			snprintf(err, errlen, "sqlite: adding pid %d to the private tracked map failed: %s",
				 pid, strerror(-r));
			return r;
		}
	}
	sq_look(sp, p);
tell:
	/* Also a failure of a look made by a drain: that one has no caller. */
	if (!p->err || !strcmp(p->why, p->told))
		return 0;
	memcpy(p->told, p->why, sizeof(p->told));
	snprintf(err, errlen, "%s", p->why);
	return p->err;
}

static void forget(struct sqlite_probe *sp, struct sq_proc *p)
{
	if (sp->own_tracked) {
		__u32 key = (__u32)p->pid;
		bpf_map_delete_elem(bpf_map__fd(sp->skel->maps.tracked), &key);
	}
	*p = sp->procs[--sp->nprocs];
}

void sqlite_probe_forget(struct sqlite_probe *sp, int pid)
{
	struct sq_proc *p = proc_find(sp, pid);

	if (p)
		forget(sp, p);
}

/* Forget processes that exited (their pid may come back as another one). */
void sq_prune(struct sqlite_probe *sp)
{
	for (int i = 0; i < sp->nprocs;) {
		if (proc_start_time(sp->procs[i].pid) == sp->procs[i].start)
			i++;
		else
			forget(sp, &sp->procs[i]);
	}
}

int sqlite_probe_blind_spots(struct sqlite_probe *sp, struct sqlite_blind *out, int max)
{
	int n = 0;

	for (int i = 0; i < sp->nprocs; i++) {
		const struct sq_proc *p = &sp->procs[i];
		const struct sq_file *f = p->mapped_file >= 0 ? &sp->files[p->mapped_file] : NULL;
		struct sqlite_blind b = { .pid = p->pid };

		if (p->mapped && (p->err || !f || !f->probed_ns)) {
			b.kind = p->err ? SQLITE_BLIND_FAILED : SQLITE_BLIND_PENDING;
			b.err = p->err;
			snprintf(b.why, sizeof(b.why), "%s", p->err ? p->why :
				 "libsqlite3 mapped, probes not attached yet");
		} else if (p->late_ms > 0) {
			b.kind = SQLITE_BLIND_LATE;
			b.late_ms = p->late_ms;
			snprintf(b.why, sizeof(b.why), "libsqlite3 %.120s was probed up to %.1f ms after this "
				 "process loaded it: calls in between may not have been seen", f->path, p->late_ms);
		} else {
			continue;
		}
		if (n < max)
			out[n] = b;
		n++;
	}
	return n;
}
