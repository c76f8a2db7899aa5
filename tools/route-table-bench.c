/* ns per route_table_name() call on 100-route tables (issue #14): a Flask table (20 resources
 * x 5 rules) hit, 405, miss and path-converter hit; Django and Starlette at their worst (a flat
 * list of 100 routes, the request matching the last one, or none and then the slash retry), and
 * a Starlette table whose routes all start "/api/v1/".
 * Each figure is the best of 7 rounds of iterations/7 calls.
 *   make build/route-table-bench && build/route-table-bench [iterations] */
#include "route_table.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct app_route *add(struct app_routes *r, const char *name, unsigned methods)
{
	struct app_route *rt = &r->routes[r->nroutes++];
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "%s", name);
	rt->methods = methods;
	rt->strict_slashes = true;
	return rt;
}

static void var(struct app_route *rt, const char *regex, int weight, bool isolating)
{
	struct app_var *v = &rt->vars[rt->nvars++];
	snprintf(v->regex, sizeof(v->regex), "%s", regex);
	v->weight = weight;
	v->part_isolating = isolating;
}

static void flask_table(struct app_routes *r)
{
	char name[APP_NAME_MAX];
	unsigned get = APP_M_GET | APP_M_HEAD | APP_M_OPTIONS;
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "/api/r%d/", i);
		add(r, name, get | APP_M_POST);
		snprintf(name, sizeof(name), "/api/r%d/<int:id>", i);
		var(add(r, name, get | APP_M_PUT | APP_M_DELETE), "\\d+", 50, true);
		snprintf(name, sizeof(name), "/api/r%d/<int:id>/items", i);
		var(add(r, name, get), "\\d+", 50, true);
		snprintf(name, sizeof(name), "/api/r%d/<int:id>/items/<slug>", i);
		struct app_route *rt = add(r, name, get);
		var(rt, "\\d+", 50, true);
		var(rt, "[^/]{1,}", 100, true);
		snprintf(name, sizeof(name), "/files/r%d/<path:p>", i);
		var(add(r, name, get), "[^/].*?", 200, false);
	}
	for (int i = 0; i < r->nroutes; i++) {
		memcpy(r->routes[i].parts[0], r->routes[i].name, sizeof(r->routes[i].name));
		r->routes[i].nparts = 1;
	}
}

/* Django: 100 routes each under its own include ("^api/vN/" then "^items/<pk>/\Z"). */
static void django_table(struct app_routes *r)
{
	for (int i = 0; i < 100; i++) {
		char name[APP_NAME_MAX];
		snprintf(name, sizeof(name), "^api/v%d/items/<int:pk>/", i);
		struct app_route *rt = add(r, name, 0);
		rt->nparts = 2;
		snprintf(rt->parts[0], APP_REGEX_MAX, "^api/v%d/", i);
		snprintf(rt->parts[1], APP_REGEX_MAX, "^items/(?P<pk>[0-9]+)/\\Z");
	}
}

static void starlette_table(struct app_routes *r)
{
	for (int i = 0; i < 100; i++) {
		char name[APP_NAME_MAX];
		snprintf(name, sizeof(name), "/api/v%d/items/{pk:int}", i);
		struct app_route *rt = add(r, name, APP_M_GET | APP_M_HEAD);
		rt->nparts = 1;
		snprintf(rt->parts[0], APP_REGEX_MAX, "^/api/v%d/items/(?P<pk>[0-9]+)$", i);
	}
}

/* A FastAPI-like table: every route under "/api/v1/", so the first 8 bytes never differ. */
static void starlette_shared_table(struct app_routes *r)
{
	for (int i = 0; i < 100; i++) {
		char name[APP_NAME_MAX];
		snprintf(name, sizeof(name), "/api/v1/r%d/{id}", i);
		struct app_route *rt = add(r, name, APP_M_GET | APP_M_HEAD);
		rt->nparts = 1;
		snprintf(rt->parts[0], APP_REGEX_MAX, "^/api/v1/r%d/(?P<id>[^/]+)$", i);
	}
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The best of 7 rounds: the machine is shared, and the best round is the matcher's own cost. */
static void bench(const struct route_table *t, const char *what, const char *method,
		  const char *target, long iters)
{
	const char *name = route_table_name(t, method, target);
	double best = 1e18;
	for (int round = 0; round < 7; round++) {
		double t0 = now_ns();
		for (long i = 0; i < iters / 7; i++)
			name = route_table_name(t, method, target);
		double ns = (now_ns() - t0) / (iters / 7);
		best = ns < best ? ns : best;
	}
	printf("%-34s %7.0f ns  %s %s -> %s\n", what, best, method, target, name);
}

static struct route_table *build(void (*fill)(struct app_routes *), enum app_framework fw)
{
	static struct app_route routes[4][128];
	static int n;
	struct app_routes r = { .framework = fw, .routes = routes[n++] };
	char err[256];
	fill(&r);
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	if (!t || route_table_rejected(t)) {
		fprintf(stderr, "route-table-bench: table %d: %s\n", n, err);
		exit(1);
	}
	return t;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 1000000;
	struct route_table *f = build(flask_table, APP_FLASK);
	struct route_table *d = build(django_table, APP_DJANGO);
	struct route_table *s = build(starlette_table, APP_STARLETTE);
	struct route_table *s2 = build(starlette_shared_table, APP_STARLETTE);
	printf("%ld iterations each; tables of %d, %d, %d templates\n", iters, route_table_templates(f),
	       route_table_templates(d), route_table_templates(s));
	bench(f, "flask hit", "GET", "/api/r17/42/items/blue-shoe?ref=x", iters);
	bench(f, "flask hit (static)", "POST", "/api/r3/", iters);
	bench(f, "flask hit (path converter)", "GET", "/files/r9/a/b/c.txt", iters);
	bench(f, "flask 405", "DELETE", "/api/r17/42/items", iters);
	bench(f, "flask miss", "GET", "/wp-admin/setup-config.php", iters);
	bench(f, "flask miss (deep)", "GET", "/api/r17/42/items/x/y", iters);
	bench(d, "django worst hit (last of 100)", "GET", "/api/v99/items/7/", iters);
	bench(d, "django worst miss (+APPEND_SLASH)", "GET", "/api/v99/items/x", iters);
	bench(s, "starlette worst hit (last of 100)", "GET", "/api/v99/items/7", iters);
	bench(s, "starlette worst miss (+redirect)", "GET", "/api/v99/items/x", iters);
	bench(s2, "starlette /api/v1/* hit (last)", "GET", "/api/v1/r99/abc", iters);
	bench(s2, "starlette /api/v1/* miss", "GET", "/api/v1/nothing/x/y", iters);
	route_table_free(f);
	route_table_free(d);
	route_table_free(s);
	route_table_free(s2);
	return 0;
}
