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

void doctor_routes(int pid, bool list)
{
	static const char *const fw[] = { "none", "Flask", "Django", "Starlette" };
	struct app_routes t;
	struct timespec a, b;
	char err[512], m[64];
	double ms;
	int r, n = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	r = app_routes_read(pid, &t, err, sizeof(err));
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
	printf("  %-26s %s, app %s, %d templates", "routes:", t.framework_version[0] ? t.framework_version : fw[t.framework],
	       t.app, n);
	if (t.skipped)
		printf(", %d not read", t.skipped);
	printf(" (read in %.0f ms)\n", ms);
	for (int i = 0; list && i < t.nroutes; i++) {
		if (t.routes[i].mount_end)
			continue;
		methods_text(t.routes[i].methods, m, sizeof(m));
		printf("    %-30s %s\n", m, t.routes[i].name);
	}
	app_routes_free(&t);
}
