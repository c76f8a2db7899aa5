/* route_table: the tables and requests of tests/unit/data/route_cases.txt (the same file
 * tests/e2e/test_route_table_frameworks.py asks the real frameworks about), built as the
 * reader fills struct app_routes; then malformed tables and requests that must not crash. */
#include "unit.h"
#include "route_cases.h"
#include "route_table.h"
#include <stdlib.h>

#define CASES_FILE "tests/unit/data/route_cases.txt"
#define RT_TEST_HUGE (70 * 1024)

UNIT_TEST(route_table_cases_file)
{
	struct rc_table tables[8];
	char err[256];
	int nt = rc_load(CASES_FILE, tables, 8, err, sizeof(err)), cases = 0;
	CHECKF(nt == 3, "%d tables: %.200s", nt, err);
	for (int i = 0; i < nt; i++) {
		struct route_table *t = route_table_build(&tables[i].r, err, sizeof(err));
		CHECKF(t != NULL, "table %.20s: %.200s", tables[i].label, err);
		if (!t)
			continue;
		CHECKF(route_table_rejected(t) == 0, "table %.20s: %d rejected: %.200s", tables[i].label,
		       route_table_rejected(t), err);
		CHECK(route_table_framework(t) == tables[i].r.framework);
		for (int k = 0; k < tables[i].ncases; k++, cases++) {
			const struct rc_case *c = &tables[i].cases[k];
			const char *got = route_table_name(t, c->method, c->target);
			CHECKF(!strcmp(got, c->want), "%.20s: %s %.150s -> %.120s, want %.120s",
			       tables[i].label, c->method, c->target, got, c->want);
		}
		route_table_free(t);
	}
	rc_free(tables, nt > 0 ? nt : 0);
	CHECKF(cases > 90, "%d cases read", cases);
}

static struct app_route *new_route(struct app_routes *r)
{
	r->routes = realloc(r->routes, (r->nroutes + 1) * sizeof(*r->routes));
	struct app_route *rt = &r->routes[r->nroutes++];
	memset(rt, 0, sizeof(*rt));
	return rt;
}

/* ---- Tables built in code: refusals, and input that must not crash ---- */

static struct app_route *flask_route(struct app_routes *r, const char *rule, unsigned methods)
{
	struct app_route *rt = new_route(r);
	snprintf(rt->name, sizeof(rt->name), "%s", rule);
	snprintf(rt->parts[0], APP_REGEX_MAX, "%s", rule);
	rt->nparts = 1;
	rt->methods = methods;
	rt->strict_slashes = true;
	return rt;
}

static void add_var(struct app_route *rt, const char *regex, int weight, bool isolating)
{
	struct app_var *v = &rt->vars[rt->nvars++];
	snprintf(v->regex, sizeof(v->regex), "%s", regex);
	v->weight = weight;
	v->part_isolating = isolating;
}

static struct app_route *levels_route(struct app_routes *r, const char *name, unsigned methods,
				      int n, const char *const *parts)
{
	struct app_route *rt = new_route(r);
	snprintf(rt->name, sizeof(rt->name), "%s", name);
	rt->methods = methods;
	for (int i = 0; i < n; i++)
		snprintf(rt->parts[rt->nparts++], APP_REGEX_MAX, "%s", parts[i]);
	return rt;
}

UNIT_TEST(route_table_refuses_empty_tables)
{
	char err[256] = "";
	struct app_routes r = { .framework = APP_FLASK };
	CHECK(route_table_build(NULL, err, sizeof(err)) == NULL && err[0]);
	err[0] = '\0';
	CHECK(route_table_build(&r, err, sizeof(err)) == NULL && err[0]);
	flask_route(&r, "/x", 0);
	r.framework = APP_NONE;
	err[0] = '\0';
	CHECK(route_table_build(&r, err, sizeof(err)) == NULL && err[0]);
	/* Every route refused: no table, and the reason names a regex. */
	r.framework = APP_DJANGO;
	snprintf(r.routes[0].parts[0], APP_REGEX_MAX, "^(?P<x");
	err[0] = '\0';
	CHECK(route_table_build(&r, err, sizeof(err)) == NULL && strstr(err, "^(?P<x"));
	free(r.routes);
	CHECK(!strcmp(route_table_name(NULL, "GET", "/x"), ROUTE_UNMATCHED));
	CHECK(route_table_templates(NULL) == 0 && route_table_rejected(NULL) == 0);
	CHECK(route_table_framework(NULL) == APP_NONE);
	route_table_free(NULL);
}

UNIT_TEST(route_table_flask_drops_only_bad_rules)
{
	char err[256];
	struct app_routes r = { .framework = APP_FLASK };
	add_var(flask_route(&r, "/bad/<x>", 0), "([", 100, true);       /* PCRE2 refuses */
	flask_route(&r, "/missing/<int:x>", 0);                          /* no converter read */
	flask_route(&r, "/broken/<int:>", 0);                            /* Werkzeug refuses */
	add_var(flask_route(&r, "/ok/<int:n>", APP_M_GET), "\\d+", 50, true);
	add_var(flask_route(&r, "/tail/<path:p>", 0), "[^/].*?", 200, false);
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(route_table_rejected(t) == 3 && route_table_templates(t) == 2);
	CHECK(!strcmp(route_table_name(t, "GET", "/ok/5"), "/ok/<int:n>"));
	CHECK(!strcmp(route_table_name(t, "POST", "/ok/5"), "/ok/<int:n>")); /* 405 */
	CHECK(!strcmp(route_table_name(t, "GET", "/bad/x"), ROUTE_UNMATCHED));
	CHECK(!strcmp(route_table_name(t, "GET", "/broken/1"), ROUTE_UNMATCHED));
	CHECK(!strcmp(route_table_name(t, NULL, "/ok/5"), "/ok/<int:n>"));   /* named by its 405 */

	/* Requests no server would route, or that try to be expensive. */
	static const char *odd[] = { "", "*", "x", "%", "/%", "/%F", "/%G0", "/%%%%", "/ok/%00",
				     "?", "#", "/ok/5%", "//", "///", "http://", "https://h",
				     "/ok/\xff\xfe", "/ok/%E2%82", "/ok/%C0%AF" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		CHECKF(route_table_name(t, "GET", odd[i]) != NULL, "%s", odd[i]);
	CHECK(!strcmp(route_table_name(t, "GET", NULL), ROUTE_UNMATCHED));
	CHECK(!strcmp(route_table_name(t, "GET", "http://example.com/ok/7?x"), "/ok/<int:n>"));
	CHECK(!strcmp(route_table_name(t, "GET", "/ok/%35"), "/ok/<int:n>"));

	size_t big = 60000; /* past the stack buffer, within the limit: still named */
	char *p = malloc(RT_TEST_HUGE);
	memset(p, 'a', RT_TEST_HUGE);
	memcpy(p, "/tail/", 6);
	for (size_t i = 7; i < big; i += 9)
		p[i] = '/';
	p[big] = '\0';
	CHECK(!strcmp(route_table_name(t, "GET", p), "/tail/<path:p>"));
	p[big] = 'a';
	p[RT_TEST_HUGE - 1] = '\0'; /* past any request line a server accepts */
	CHECK(!strcmp(route_table_name(t, "GET", p), ROUTE_UNMATCHED));
	free(p);
	route_table_free(t);
	free(r.routes);
}

UNIT_TEST(route_table_django_bounds_hostile_regexes)
{
	char err[256];
	struct app_routes r = { .framework = APP_DJANGO };
	levels_route(&r, "evil", 0, 1, (const char *[]){ "^(a+)+$" });
	levels_route(&r, "api/bad", 0, 2, (const char *[]){ "^api/", "^bad/(?P<x\\Z" });
	levels_route(&r, "api/ok", 0, 2, (const char *[]){ "^api/", "^ok\\Z" });
	levels_route(&r, "deep", 0, 1, (const char *[]){ "^" });
	r.routes[3].nparts = APP_PARTS_MAX + 1; /* more levels than fit */
	levels_route(&r, "none", 0, 0, NULL);
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(route_table_rejected(t) == 3 && route_table_templates(t) == 2);
	CHECK(!strcmp(route_table_name(t, "GET", "/api/ok"), "api/ok"));
	CHECK(!strcmp(route_table_name(t, "GET", "/api/bad/1"), ROUTE_UNMATCHED));
	CHECK(!strcmp(route_table_name(t, "GET", "/aaaa"), "evil"));
	/* Catastrophic backtracking: the match limit gives up, the request stays unnamed. */
	CHECK(!strcmp(route_table_name(t, "GET", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), ROUTE_UNMATCHED));
	route_table_free(t);
	free(r.routes);
}

UNIT_TEST(route_table_starlette_dead_mounts_keep_their_place)
{
	char err[256];
	struct app_routes r = { .framework = APP_STARLETTE };
	/* A Mount PCRE2 refuses, one without a "path" group: their routes go, later ones stay. */
	levels_route(&r, "/x/a", 0, 2, (const char *[]){ "^/x/(?P<path>.*$", "^/a$" });
	levels_route(&r, "", 0, 0, NULL)->mount_end = true;
	r.routes[1].nparts = 1;
	snprintf(r.routes[1].parts[0], APP_REGEX_MAX, "^/x/(?P<path>.*$");
	levels_route(&r, "/y/a", 0, 2, (const char *[]){ "^/y/(?P<rest>.*)$", "^/a$" });
	levels_route(&r, "/z", APP_M_GET, 1, (const char *[]){ "^/z$" });
	levels_route(&r, "/w", APP_M_GET, 1, (const char *[]){ "^/w(?<=" });
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(route_table_rejected(t) == 3 && route_table_templates(t) == 1);
	CHECK(!strcmp(route_table_name(t, "GET", "/z"), "/z"));
	CHECK(!strcmp(route_table_name(t, "GET", "/z/"), "/z"));
	CHECK(!strcmp(route_table_name(t, "get", "/z"), "/z")); /* Starlette: a partial, its 405 */
	CHECK(!strcmp(route_table_name(t, "GET", "/y/a"), ROUTE_UNMATCHED));
	CHECK(!strcmp(route_table_name(t, "GET", "/x/a"), ROUTE_UNMATCHED));
	route_table_free(t);
	free(r.routes);
}

UNIT_TEST(route_table_fields_without_terminators)
{
	/* The reader copies fixed-size fields; one that fills its array has no NUL. */
	char err[256];
	struct app_routes r = { .framework = APP_FLASK };
	struct app_route *rt = flask_route(&r, "/", 0);
	memset(rt->name, 'n', sizeof(rt->name));
	rt->name[0] = '/';
	memcpy(rt->parts[0], rt->name, sizeof(rt->name));
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL);
	if (t) {
		CHECK(strlen(route_table_name(t, "GET", "/nn")) > 0);
		route_table_free(t);
	}
	r.framework = APP_DJANGO;
	memset(rt->parts[0], 'x', APP_REGEX_MAX);
	t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL);
	route_table_free(t);
	/* Starlette: a route regex that fills its field, under a Mount. */
	r.framework = APP_STARLETTE;
	rt->nparts = 2;
	snprintf(rt->parts[0], APP_REGEX_MAX, "^/s/(?P<path>.*)$");
	memset(rt->parts[1], 'y', APP_REGEX_MAX);
	rt->parts[1][0] = '/';
	t = route_table_build(&r, err, sizeof(err));
	CHECK(t != NULL && route_table_templates(t) == 1);
	route_table_free(t);
	free(r.routes);
}

UNIT_TEST(route_table_method_bits)
{
	CHECK(app_method_bit("GET") == APP_M_GET && app_method_bit("HEAD") == APP_M_HEAD);
	CHECK(app_method_bit("PATCH") == APP_M_PATCH && app_method_bit("OPTIONS") == APP_M_OPTIONS);
	CHECK(app_method_bit("get") == APP_M_OTHER && app_method_bit("PROPFIND") == APP_M_OTHER);
	CHECK(app_method_bit("") == APP_M_OTHER && app_method_bit(NULL) == APP_M_OTHER);
}

UNIT_TEST(route_table_literal_prefixes_never_hide_a_match)
{
	/* Regexes whose literal start is not simply their first characters. */
	static const struct { const char *name, *re; } routes[] = {
		{ "abc", "^/ab?c$" }, { "xy", "^/x|^/y$" }, { "pq", "^/p\\-q$" }, { "zz", "^/z{2}$" },
		{ "cafe", "^/caf\\u00e9$" }, { "cls", "^/[k]w$" }, { "grp", "^/(?:g)h$" },
		{ "long", "^/api/v1/orders/items$" }, { "mid", "^/api/v1/ab$" },
	};
	static const struct { const char *target, *want; } cases[] = {
		{ "/ac", "abc" }, { "/abc", "abc" }, { "/xyz", "xy" }, { "/y", "xy" }, { "/p-q", "pq" },
		{ "/zz", "zz" }, { "/z", ROUTE_UNMATCHED }, { "/caf%C3%A9", "cafe" }, { "/kw", "cls" },
		{ "/gh", "grp" }, { "/a", ROUTE_UNMATCHED },
		/* a 21-byte literal: head, middle and tail filters pass the match, near misses fail */
		{ "/api/v1/orders/items", "long" }, { "/api/v2/orders/items", ROUTE_UNMATCHED },
		{ "/api/v1/ordXrs/items", ROUTE_UNMATCHED }, { "/api/v1/orders/itemz", ROUTE_UNMATCHED },
		{ "/api/v1/orders/item", ROUTE_UNMATCHED }, { "/api/v1/ab", "mid" },
		{ "/api/v1/ac", ROUTE_UNMATCHED },
	};
	char err[256];
	struct app_routes r = { .framework = APP_STARLETTE };
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		levels_route(&r, routes[i].name, 0, 1, &routes[i].re);
	struct route_table *t = route_table_build(&r, err, sizeof(err));
	CHECKF(t && route_table_rejected(t) == 0, "%s", err);
	for (size_t i = 0; t && i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = route_table_name(t, "GET", cases[i].target);
		CHECKF(!strcmp(got, cases[i].want), "%s -> %s, want %s", cases[i].target, got, cases[i].want);
	}
	route_table_free(t);
	free(r.routes);
}
