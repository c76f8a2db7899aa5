/* libFuzzer target: the route matcher (route_table.h) on tables and requests it was not written
 * for. Input: a mode byte, then lines. Mode bit 0 clear: each line is a request target named by
 * three fixed tables (Flask, Django, Starlette). Set: the lines are a table of framework
 * 1 + (mode >> 1) % 3, one route per line ("name<TAB>part<TAB>part...": for Flask the parts are
 * the converter regexes; a line starting with '!' is a Starlette mount_end), and each line is
 * then also asked as a request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "route_table.h"

#define MAX_ROUTES 64

static const char *methods[] = { "GET", "POST", "DELETE", "get", "" };

static void ask(const struct route_table *t, const char *target, size_t i)
{
	const char *name = route_table_name(t, methods[i % 5], target);
	if (!name || strlen(name) >= APP_NAME_MAX)
		abort();
}

static void fill(struct app_route *rt, const char *name, const char **parts, int n)
{
	memset(rt, 0, sizeof(*rt));
	strncpy(rt->name, name, sizeof(rt->name) - 1);
	for (int i = 0; i < n && i < APP_PARTS_MAX; i++)
		strncpy(rt->parts[rt->nparts++], parts[i], APP_REGEX_MAX - 1);
}

static struct route_table *fixed(enum app_framework fw)
{
	struct app_route rt[4];
	struct app_routes r = { .framework = fw, .routes = rt };
	char err[128];
	if (fw == APP_FLASK) {
		fill(&rt[r.nroutes++], "/post/<slug>/", (const char *[]){ "/post/<slug>/" }, 1);
		strcpy(rt[0].vars[0].regex, "[^/]{1,}");
		rt[0].nvars = 1, rt[0].strict_slashes = true, rt[0].methods = APP_M_GET;
		fill(&rt[r.nroutes++], "/f/<path:p>", (const char *[]){ "/f/<path:p>" }, 1);
		strcpy(rt[1].vars[0].regex, "[^/].*?");
		rt[1].nvars = 1, rt[1].vars[0].weight = 200;
	} else if (fw == APP_DJANGO) {
		fill(&rt[r.nroutes++], "api/<int:n>/", (const char *[]){ "^api/", "^(?P<n>[0-9]+)/\\Z" }, 2);
		fill(&rt[r.nroutes++], "^x/(?P<y>\\d{4})$", (const char *[]){ "^x/(?P<y>\\d{4})$" }, 1);
	} else {
		fill(&rt[r.nroutes++], "/u/{id}", (const char *[]){ "^/u/(?P<id>[^/]+)$" }, 1);
		rt[0].methods = APP_M_GET;
		fill(&rt[r.nroutes++], "/s/", (const char *[]){ "^/s/(?P<path>.*)$", "^/$" }, 2);
		fill(&rt[r.nroutes], "", (const char *[]){ "^/s/(?P<path>.*)$" }, 1);
		rt[r.nroutes++].mount_end = true;
	}
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	if (!t)
		abort();
	return t;
}

/* The lines of data[0..size), NUL-terminated in a copy of exact size. */
static int split(char *buf, char **lines, int max)
{
	int n = 0;
	for (char *s = buf, *e; s && n < max; s = e ? e + 1 : NULL) {
		e = strchr(s, '\n');
		if (e)
			*e = '\0';
		lines[n++] = s;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct route_table *tables[3];
	char *buf, *lines[MAX_ROUTES];
	if (size < 1)
		return 0;
	if (!tables[0])
		for (int i = 0; i < 3; i++)
			tables[i] = fixed((enum app_framework)(APP_FLASK + i));
	if (!(buf = malloc(size)))
		abort();
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	int n = split(buf, lines, MAX_ROUTES);
	if (!(data[0] & 1)) {
		for (int i = 0; i < n; i++)
			for (int k = 0; k < 3; k++)
				ask(tables[k], lines[i], i);
		free(buf);
		return 0;
	}
	struct app_route *rt = calloc(n, sizeof(*rt));
	struct app_routes r = { .framework = (enum app_framework)(APP_FLASK + (data[0] >> 1) % 3),
				.routes = rt, .nroutes = n };
	if (!rt)
		abort();
	for (int i = 0; i < n; i++) {
		char *save, *f = strtok_r(lines[i], "\t", &save);
		const char *parts[APP_PARTS_MAX];
		int np = 0;
		bool end = f && f[0] == '!';
		for (char *p; np < APP_PARTS_MAX && (p = strtok_r(NULL, "\t", &save));)
			parts[np++] = p;
		fill(&rt[i], f ? f + end : "", parts, r.framework == APP_FLASK ? 0 : np);
		rt[i].mount_end = end;
		rt[i].methods = (unsigned)i & 0x7f;
		rt[i].strict_slashes = i & 1;
		if (r.framework == APP_FLASK) {
			strncpy(rt[i].parts[0], rt[i].name, APP_REGEX_MAX - 1);
			rt[i].nparts = 1;
			for (int k = 0; k < np && k < APP_VARS_MAX; k++) {
				strncpy(rt[i].vars[k].regex, parts[k], APP_REGEX_MAX - 1);
				rt[i].vars[k].weight = 50 * (k % 5);
				rt[i].vars[k].part_isolating = k & 1;
				rt[i].nvars++;
			}
		}
	}
	char err[256];
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	if (t) {
		if (route_table_templates(t) + route_table_rejected(t) > n)
			abort();
		for (int i = 0; i < n; i++)
			ask(t, rt[i].name, i);
		ask(t, "/", 0);
		route_table_free(t);
	} else if (!memchr(err, '\0', sizeof(err)) || !err[0]) {
		abort(); /* a refusal says why */
	}
	free(rt);
	free(buf);
	return 0;
}
