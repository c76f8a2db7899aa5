/* route_table: the tables and requests of tests/unit/data/route_cases.txt (the same file
 * tests/e2e/test_route_table_frameworks.py asks the real frameworks about), built as the
 * reader fills struct app_routes; then malformed tables and requests that must not crash. */
#include "unit.h"
#include "route_table.h"
#include <stdlib.h>

#define CASES_FILE "tests/unit/data/route_cases.txt"
#define MAX_TOK 24
#define RT_TEST_HUGE (70 * 1024)

static int tokens(char *line, char **tok)
{
	int n = 0;
	for (char *s = strtok(line, " \t\r\n"); s && n < MAX_TOK; s = strtok(NULL, " \t\r\n"))
		tok[n++] = strcmp(s, "\"\"") ? s : "";
	return n;
}

static unsigned method_bits(const char *list)
{
	unsigned m = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
		if (strcmp(s, "-"))
			m |= app_method_bit(s);
	return m;
}

static enum app_framework framework(const char *s)
{
	return !strcmp(s, "flask") ? APP_FLASK : !strcmp(s, "django") ? APP_DJANGO :
	       !strcmp(s, "starlette") ? APP_STARLETTE : APP_NONE;
}

/* "path:blog/" -> its regex comes next; only the regexes reach the matcher. */
static void add_levels(struct app_route *rt, char **tok, int n)
{
	for (int i = 0; i + 1 < n && rt->nparts < APP_PARTS_MAX; i += 2)
		snprintf(rt->parts[rt->nparts++], APP_REGEX_MAX, "%s", tok[i + 1]);
}

struct table_run {
	struct app_routes r;
	struct route_table *t;
	int cases, failed;
};

static void finish_table(struct table_run *run)
{
	if (run->t)
		route_table_free(run->t);
	free(run->r.routes); /* app_routes_free is the reader's, not linked here */
	memset(run, 0, sizeof(*run));
}

static struct app_route *new_route(struct app_routes *r)
{
	r->routes = realloc(r->routes, (r->nroutes + 1) * sizeof(*r->routes));
	struct app_route *rt = &r->routes[r->nroutes++];
	memset(rt, 0, sizeof(*rt));
	return rt;
}

UNIT_TEST(route_table_cases_file)
{
	FILE *f = fopen(CASES_FILE, "r");
	CHECKF(f != NULL, "cannot open %s (run from the repository root)", CASES_FILE);
	if (!f)
		return;
	char line[2048], *tok[MAX_TOK], err[256];
	struct table_run run = { 0 };
	int tables = 0, cases = 0;
	while (fgets(line, sizeof(line), f)) {
		int n = tokens(line, tok);
		if (!n || tok[0][0] == '#')
			continue;
		if (!strcmp(tok[0], "table") && n == 3) {
			finish_table(&run);
			run.r.framework = framework(tok[1]);
			CHECKF(run.r.framework != APP_NONE, "unknown framework %s", tok[1]);
			tables++;
		} else if (!strcmp(tok[0], "route") && n >= 4) {
			struct app_route *rt = new_route(&run.r);
			snprintf(rt->name, sizeof(rt->name), "%s", tok[1]);
			rt->methods = method_bits(tok[2]);
			if (run.r.framework == APP_FLASK) {
				snprintf(rt->parts[0], APP_REGEX_MAX, "%s", tok[1]);
				rt->nparts = 1;
				rt->strict_slashes = !strcmp(tok[3], "strict");
			} else
				add_levels(rt, tok + 3, n - 3);
		} else if (!strcmp(tok[0], "mount_end")) {
			struct app_route *rt = new_route(&run.r);
			rt->mount_end = true;
			add_levels(rt, tok + 1, n - 1);
		} else if (!strcmp(tok[0], "var") && n == 5 && run.r.nroutes) {
			struct app_route *rt = &run.r.routes[run.r.nroutes - 1];
			struct app_var *v = &rt->vars[rt->nvars++];
			snprintf(v->name, sizeof(v->name), "%s", tok[1]);
			snprintf(v->regex, sizeof(v->regex), "%s", tok[2]);
			v->weight = atoi(tok[3]);
			v->part_isolating = atoi(tok[4]);
		} else if (!strcmp(tok[0], "case") && n == 4) {
			if (!run.t) {
				run.t = route_table_build(&run.r, err, sizeof(err));
				CHECKF(run.t != NULL, "table %d: %s", tables, err);
				if (!run.t)
					break;
				CHECKF(route_table_rejected(run.t) == 0, "table %d: %d rejected: %s", tables,
				       route_table_rejected(run.t), err);
				CHECK(route_table_framework(run.t) == run.r.framework);
			}
			const char *got = route_table_name(run.t, tok[1], tok[2]);
			CHECKF(!strcmp(got, tok[3]), "%s %s -> %s, want %s", tok[1], tok[2], got, tok[3]);
			cases++;
		} else
			CHECKF(0, "bad line in %s: %s", CASES_FILE, tok[0]);
	}
	finish_table(&run);
	fclose(f);
	CHECKF(tables == 3 && cases > 90, "%d tables, %d cases read", tables, cases);
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
	};
	static const struct { const char *target, *want; } cases[] = {
		{ "/ac", "abc" }, { "/abc", "abc" }, { "/xyz", "xy" }, { "/y", "xy" }, { "/p-q", "pq" },
		{ "/zz", "zz" }, { "/z", ROUTE_UNMATCHED }, { "/caf%C3%A9", "cafe" }, { "/kw", "cls" },
		{ "/gh", "grp" }, { "/a", ROUTE_UNMATCHED },
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
