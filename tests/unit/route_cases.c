/* The route_cases.txt reader (route_cases.h). */
#include "route_cases.h"
#include "route_table.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	for (char *save, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save))
		if (strcmp(s, "-"))
			m |= app_method_bit(s);
	return m;
}

static enum app_framework framework(const char *s)
{
	return !strcmp(s, "flask") ? APP_FLASK : !strcmp(s, "django") ? APP_DJANGO :
	       !strcmp(s, "starlette") ? APP_STARLETTE : APP_NONE;
}

/* "path:blog/ ^blog/": each level's source, then its regex; only regexes reach the matcher. */
static void add_levels(struct app_route *rt, char **tok, int n)
{
	for (int i = 0; i + 1 < n && rt->nparts < APP_PARTS_MAX; i += 2)
		snprintf(rt->parts[rt->nparts++], APP_REGEX_MAX, "%s", tok[i + 1]);
}

static struct app_route *new_route(struct app_routes *r)
{
	struct app_route *rt = realloc(r->routes, (r->nroutes + 1) * sizeof(*rt));
	if (!rt)
		return NULL;
	r->routes = rt;
	rt = &r->routes[r->nroutes++];
	memset(rt, 0, sizeof(*rt));
	return rt;
}

/* One line into the last table; 0, or -1 when it is not understood. */
static int add_line(struct rc_table *tb, char **tok, int n)
{
	struct app_routes *r = &tb->r;
	struct app_route *rt;
	if (!strcmp(tok[0], "route") && n >= 4 && (rt = new_route(r))) {
		snprintf(rt->name, sizeof(rt->name), "%s", tok[1]);
		rt->methods = method_bits(tok[2]);
		if (r->framework == APP_FLASK) {
			snprintf(rt->parts[0], APP_REGEX_MAX, "%s", tok[1]);
			rt->nparts = 1;
			rt->strict_slashes = !strcmp(tok[3], "strict");
		} else
			add_levels(rt, tok + 3, n - 3);
		return 0;
	}
	if (!strcmp(tok[0], "mount_end") && (rt = new_route(r))) {
		rt->mount_end = true;
		add_levels(rt, tok + 1, n - 1);
		return 0;
	}
	if (!strcmp(tok[0], "var") && n == 5 && r->nroutes &&
	    r->routes[r->nroutes - 1].nvars < APP_VARS_MAX) {
		rt = &r->routes[r->nroutes - 1];
		struct app_var *v = &rt->vars[rt->nvars++];
		snprintf(v->name, sizeof(v->name), "%s", tok[1]);
		snprintf(v->regex, sizeof(v->regex), "%s", tok[2]);
		v->weight = atoi(tok[3]);
		v->part_isolating = atoi(tok[4]);
		return 0;
	}
	if (!strcmp(tok[0], "case") && n == 4) {
		struct rc_case *c = realloc(tb->cases, (tb->ncases + 1) * sizeof(*c));
		if (!c)
			return -1;
		tb->cases = c;
		c = &tb->cases[tb->ncases++];
		snprintf(c->method, sizeof(c->method), "%s", tok[1]);
		snprintf(c->target, sizeof(c->target), "%s", tok[2]);
		snprintf(c->want, sizeof(c->want), "%s", tok[3]);
		return 0;
	}
	return -1;
}

int rc_load(const char *file, struct rc_table *tables, int max, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open %s (run from the repository root)", file);
		return -1;
	}
	char line[2048], *tok[MAX_TOK];
	int nt = 0, lineno = 0;
	memset(tables, 0, max * sizeof(*tables));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		int n = tokens(line, tok);
		if (!n || tok[0][0] == '#')
			continue;
		int bad;
		if (!strcmp(tok[0], "table") && n == 3 && nt < max) {
			tables[nt].r.framework = framework(tok[1]);
			snprintf(tables[nt].label, sizeof(tables[nt].label), "%s", tok[2]);
			bad = tables[nt++].r.framework == APP_NONE;
		} else
			bad = !nt || add_line(&tables[nt - 1], tok, n) < 0;
		if (bad) {
			snprintf(err, errlen, "%s:%d: cannot read \"%s\"", file, lineno, tok[0]);
			fclose(f);
			rc_free(tables, nt);
			return -1;
		}
	}
	fclose(f);
	return nt;
}

void rc_free(struct rc_table *tables, int n)
{
	for (int i = 0; i < n; i++) {
		free(tables[i].r.routes); /* app_routes_free is the reader's, not linked here */
		free(tables[i].cases);
		memset(&tables[i], 0, sizeof(tables[i]));
	}
}
