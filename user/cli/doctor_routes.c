/* doctor's routes line: the route table read from the application's own objects
 * (probes/app_routes.c), its cost, and with --routes every template with its methods. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "app_routes.h"
#include "commands.h"

static void methods_text(unsigned m, char *out, size_t outlen)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER" };
	size_t o = 0;

	out[0] = 0;
	if (!m) {
		snprintf(out, outlen, "*");
		return;
	}
	for (int i = 0; i < 8; i++)
		if (m & 1u << i)
			o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? "," : "", names[i]);
}

/* A master (gunicorn, uWSGI) that has no table, or not yet, while its workers have one: the
 * first of its children (up to 8) with a table, as the agent reads them. 0 with *t filled. */
static int read_a_worker(int pid, struct app_routes *t, int *worker)
{
	char path[64], why[256];
	int kids[8], n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (n < 8 && fscanf(f, "%d", &kids[n]) == 1)
		n++;
	fclose(f);
	return app_routes_read_first(kids, n, t, worker, why, sizeof(why));
}

void doctor_routes(int pid, bool list)
{
	struct app_routes t, w;
	struct timespec a, b;
	char err[512], m[64];
	int r, n = 0, worker = 0;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	r = app_routes_read(pid, &t, err, sizeof(err));
	if (!r && t.framework == APP_NONE && read_a_worker(pid, &w, &worker) == 0) {
		app_routes_free(&t);
		t = w;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	if (r) {
		printf("  %-26s cannot read: %s\n", "routes:", err);
		return;
	}
	if (t.framework == APP_NONE) {
		printf("  %-26s none (%s%s)\n", "routes:", t.why, t.later ? "; a table may still come" : "");
		return;
	}

	for (int i = 0; i < t.nroutes; i++)
		n += !t.routes[i].mount_end;
	printf("  %-26s %s, app %s, %d templates", "routes:", t.framework_version[0] ? t.framework_version : app_framework_name(t.framework),
	       t.app, n);
	if (t.skipped)
		printf(", %d not read", t.skipped);
	if (worker) /* this process has none: a master */
		printf(", in its worker %d", worker);
	printf(" (read in %.0f ms)\n", ms);
	for (int i = 0; list && i < t.nroutes; i++) {
		if (t.routes[i].mount_end)
			continue;
		methods_text(t.routes[i].methods, m, sizeof(m));
		printf("    %-30s %s\n", m, t.routes[i].name);
	}
	app_routes_free(&t);
}
