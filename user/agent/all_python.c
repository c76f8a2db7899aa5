/* --all-python: every CPython process on the host, one service per application. A scan of /proc
 * every second finds new interpreters (children of watched processes are followed by the kernel
 * from their fork on); a service whose processes all exited is dropped and its slot reused.
 * Processes already known not to be CPython cost one stat() per scan: their verdict is kept
 * while the pid, its start time and its executable stay the same (an exec changes the last). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "agent.h"
#include "proc.h"

#define NOT_PY_SLOTS 8192
#define YOUNG_TICKS 200 /* ~2 s: a process this young may still load libpython (uwsgi's plugin) */

struct not_python {
	int pid;
	unsigned long long start;
	dev_t dev;
	ino_t ino;
};

struct all_python {
	struct not_python slot[NOT_PY_SLOTS]; /* open addressing by pid; cleared when 3/4 full */
	unsigned used;
	unsigned long long uptime_ticks;
	uint64_t unwatched;                   /* CPython processes of the last scan left out: no service slot */
};

static struct not_python *lookup(struct all_python *ap, int pid, bool insert)
{
	unsigned h = (unsigned)pid * 2654435761u % NOT_PY_SLOTS;

	for (unsigned i = 0; i < NOT_PY_SLOTS; i++, h = (h + 1) % NOT_PY_SLOTS) {
		if (ap->slot[h].pid == pid)
			return &ap->slot[h];
		if (!ap->slot[h].pid) {
			if (!insert)
				return NULL;
			if (++ap->used > NOT_PY_SLOTS * 3 / 4) {
				memset(ap->slot, 0, sizeof(ap->slot));
				ap->used = 1;
				h = (unsigned)pid * 2654435761u % NOT_PY_SLOTS;
			}
			ap->slot[h].pid = pid;
			return &ap->slot[h];
		}
	}
	return NULL;
}

static unsigned long long uptime_ticks(void)
{
	double up = 0;
	FILE *f = fopen("/proc/uptime", "re");

	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	return (unsigned long long)(up * sysconf(_SC_CLK_TCK));
}

/* One service per command line: a gunicorn master and its workers share theirs, a program a
 * Python process starts (exec) runs another and is a service of its own. The service's root,
 * which names it, is the topmost ancestor running the same command line. */
static int service_for(struct agent *a, int pid)
{
	char key[sizeof(a->services[0].cmdline)], up[sizeof(key)];
	int root = pid, s;

	agent_cmdline(pid, key, sizeof(key));
	for (int depth = 0; depth < 64; depth++) {
		int p = proc_ppid(root);

		agent_cmdline(p, up, sizeof(up));
		if (p <= 1 || strcmp(up, key))
			break;
		root = p;
	}
	for (int i = 0; i < a->nservices; i++)
		if (!a->services[i].gone && !a->services[i].comm[0] && !strcmp(a->services[i].cmdline, key))
			return i;
	s = agent_add_service(a, root, key);
	if (s < 0)
		a->ap->unwatched++;
	return s;
}

static int scan_one(int pid, void *ctx)
{
	struct agent *a = ctx;
	struct all_python *ap = a->ap;
	char exe[64];
	struct not_python *np;
	unsigned long long start;
	struct stat st;
	int s;

	if (pid == getpid() || agent_service_of(a, pid) >= 0)
		return 0;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (stat(exe, &st)) /* kernel threads, or gone */
		return 0;
	start = proc_start_time(pid);
	np = lookup(ap, pid, false);
	if (np && np->start == start && np->dev == st.st_dev && np->ino == st.st_ino)
		return 0;
	if (!proc_is_cpython(pid)) {
		if (ap->uptime_ticks > start + YOUNG_TICKS && (np = lookup(ap, pid, true)))
			*np = (struct not_python){ .pid = pid, .start = start, .dev = st.st_dev, .ino = st.st_ino };
		return 0;
	}
	if ((s = service_for(a, pid)) >= 0)
		agent_track(a, pid, s);
	return 0;
}

int all_python_exec(struct agent *a, int pid, int service)
{
	int s;

	if (!a->ap || !proc_is_cpython(pid) || (s = service_for(a, pid)) < 0 || s == service)
		return service;
	agent_track(a, pid, s);
	return s;
}

/* Services whose processes all exited are dropped: out of every output, slot free for reuse. */
static void drop_exited(struct agent *a)
{
	int pid;

	for (int i = 0; i < a->nservices; i++)
		if (!a->services[i].gone && agent_pids(a, i, &pid, 1) == 0)
			agent_drop_service(a, i);
}

int all_python_scan(struct agent *a)
{
	if (!a->ap && !(a->ap = calloc(1, sizeof(*a->ap))))
		return -1;
	a->ap->uptime_ticks = uptime_ticks();
	a->ap->unwatched = 0;
	drop_exited(a);
	return proc_each(scan_one, a);
}

uint64_t all_python_unwatched(const struct agent *a)
{
	return a->ap ? a->ap->unwatched : 0;
}

void all_python_free(struct agent *a)
{
	free(a->ap);
	a->ap = NULL;
}
