/* route_table: the tables and requests of tests/unit/data/route_cases.txt (the same file
 * tests/e2e/test_route_table_frameworks.py asks the real frameworks about), built as the
 * reader fills struct app_routes; then malformed tables and requests that must not crash. */
#include "unit.h"
#include "route_table.h"
#include <stdlib.h>

#define CASES_FILE "tests/unit/data/route_cases.txt"
#define MAX_TOK 24

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
