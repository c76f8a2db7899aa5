/* Standalone driver of the runtime module (`make harnesses`): what `pyvitals watch --json`
 * will print for the runtime key, without the socket object. Private tracked map.
 *   make harnesses
 *   build/runtime-harness -p PID [-p PID...] [--json] [--duration S] [--interval S]
 *   build/runtime-harness --describe PID
 * One JSON line per interval: {"services":[{"pids":[..],"runtime":{...}}],"final":false}. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "runtime.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void snapshot(struct runtime *rt, double t0, int final)
{
	char line[512];
	double w = now_s() - t0;

	printf("{\"services\":[{\"runtime\":");
	runtime_write_json(rt, 0, stdout, w);
	runtime_summary(rt, 0, line, sizeof(line), w);
	printf("}],\"elapsed_s\":%.3f,\"final\":%s}\n", w, final ? "true" : "false");
	fflush(stdout);
	fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
	int pids[64], npids = 0;
	double duration = 0, interval = 1;
	char err[512];
	struct runtime *rt;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-p") && i + 1 < argc && npids < 64)
			pids[npids++] = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
			interval = atof(argv[++i]);
		else if (!strcmp(argv[i], "--describe") && i + 1 < argc) {
			runtime_describe_pid(stdout, atoi(argv[++i]));
			return 0;
		} else if (strcmp(argv[i], "--json")) {
			fprintf(stderr, "usage: %s -p PID [--json] [--duration S] [--interval S] | --describe PID\n", argv[0]);
			return 2;
		}
	}
	if (!npids) {
		fprintf(stderr, "runtime-harness: give at least one -p PID\n");
		return 2;
	}
	if (runtime_open(&rt, -1, err, sizeof(err))) {
		fprintf(stderr, "runtime-harness: %s\n", err);
		return 1;
	}
	for (int i = 0; i < npids; i++)
		if (runtime_add_pid(rt, pids[i], 0, err, sizeof(err)))
			fprintf(stderr, "runtime-harness: pid %d: %s\n", pids[i], err);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "attached: runtime probes for %d pid(s)\n", npids);
	double t0 = now_s(), next = t0 + interval;
	while (!stop && (duration <= 0 || now_s() - t0 < duration)) {
		usleep(20000);
		if (now_s() >= next) {
			snapshot(rt, t0, 0);
			next += interval;
		}
	}
	snapshot(rt, t0, 1);
	runtime_close(rt);
	return 0;
}
