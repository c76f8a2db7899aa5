/* Standalone driver of the sqlite module (`make harnesses`): attach to processes with a
 * private tracked map and print every SQLite call they make, one line each:
 *   call tid=T op=OP error=0|1 code=C dur_us=D peer=PATH text=SQL
 * then a last line "total calls=N errors=E lost=L" on SIGINT/SIGTERM, at --duration, or once
 * every target exited. Like the agent, it drains every 100 ms and calls add_pid again every
 * second, so a late `import sqlite3` is picked up.
 *   make harnesses
 *   build/sqlite-harness -p PID [-p PID...] [--duration S] [--quiet] | --describe PID */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sqlite_probe.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct totals {
	unsigned long calls, errors;
	int quiet;
};

static void on_call(void *ctx, int service, const char *peer, const struct db_call *c)
{
	struct totals *t = ctx;

	t->calls++;
	t->errors += c->error != 0;
	if (t->quiet)
		return;
	printf("call service=%d tid=%u op=%s error=%d code=%s dur_us=%.1f peer=%s text=%s\n", service,
	       c->tid, c->op[0] ? c->op : "-", c->error, c->error_code[0] ? c->error_code : "-",
	       (c->end_ns - c->start_ns) / 1e3, peer, c->text);
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int any_alive(const int *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (kill(pids[i], 0) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int pids[64], npids = 0;
	double duration = 0;
	struct totals t = {0};
	struct sqlite_probe *sp;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-p") && i + 1 < argc && npids < 64)
			pids[npids++] = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else if (!strcmp(argv[i], "--quiet"))
			t.quiet = 1;
		else if (!strcmp(argv[i], "--describe") && i + 1 < argc) {
			sqlite_probe_describe_pid(stdout, atoi(argv[++i]));
			return 0;
		} else {
			fprintf(stderr, "usage: %s -p PID [-p PID...] [--duration S] [--quiet] | --describe PID\n",
				argv[0]);
			return 2;
		}
	}
	if (!npids) {
		fprintf(stderr, "sqlite-harness: give at least one -p PID\n");
		return 2;
	}
	if (sqlite_probe_open(&sp, -1, err, sizeof(err))) {
		fprintf(stderr, "sqlite-harness: %s\n", err);
		return 1;
	}
	for (int i = 0; i < npids; i++)
		if (sqlite_probe_add_pid(sp, pids[i], err, sizeof(err)))
			fprintf(stderr, "sqlite-harness: pid %d: %s\n", pids[i], err);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "attached: sqlite probes for %d pid(s)\n", npids);
	double t0 = now_s(), rescan = t0 + 1;
	while (!stop && (duration <= 0 || now_s() - t0 < duration) && any_alive(pids, npids)) {
		usleep(100000);
		sqlite_probe_drain(sp, on_call, &t);
		if (now_s() >= rescan) {
			for (int i = 0; i < npids; i++)
				if (kill(pids[i], 0) == 0 && sqlite_probe_add_pid(sp, pids[i], err, sizeof(err)))
					fprintf(stderr, "sqlite-harness: pid %d: %s\n", pids[i], err);
			rescan += 1;
		}
	}
	sqlite_probe_drain(sp, on_call, &t);
	printf("total calls=%lu errors=%lu lost=%llu\n", t.calls, t.errors,
	       (unsigned long long)sqlite_probe_lost(sp));
	sqlite_probe_close(sp);
	return 0;
}
