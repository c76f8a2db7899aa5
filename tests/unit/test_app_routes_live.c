/* app_routes_read on the e2e apps (tests/e2e/apps/routes_*.py) in a child /usr/bin/python3:
 * the parts and converters the matcher consumes must equal what the app reports about itself
 * (each rule's _converters, each route's path_regex down its mounts), in the framework's order.
 * The child prints one line per item before "ok":
 *   R <name> <nparts> <methods|*>      a route, in order (M instead of R: a mount_end marker)
 *   p <regex>                          its parts, in order
 *   v <var> <regex> <weight> <isolating>  its converters, in order */
#include "unit.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app_routes.h"

static const char flask_code[] =
	"import sys, time; sys.path.insert(0, 'tests/e2e/apps')\n"
	"from routes_flask import app\n"
	"for r in app.url_map.iter_rules():\n"
	"    print('R', r.rule, 1, ','.join(sorted(r.methods)), sep='\\t'); print('p', r.rule, sep='\\t')\n"
	"    for n, c in r._converters.items(): print('v', n, c.regex, c.weight, int(c.part_isolating), sep='\\t')\n"
	"print('ok', flush=True); time.sleep(30)\n";

static const char starlette_code[] =
	"import sys, time; sys.path.insert(0, 'tests/e2e/apps')\n"
	"from routes_fastapi import app\n"
	"from starlette.routing import Mount, Route\n"
	"def walk(routes, name, parts):\n"
	"    for r in routes:\n"
	"        ps = parts + [r.path_regex.pattern]\n"
	"        if isinstance(r, Mount):\n"
	"            walk(r.routes, name + r.path, ps); print('M', name + r.path, len(ps), '*', sep='\\t')\n"
	"            [print('p', x, sep='\\t') for x in ps]\n"
	"        elif isinstance(r, Route):\n"
	"            print('R', name + r.path, len(ps), ','.join(sorted(r.methods or ['*'])), sep='\\t')\n"
	"            [print('p', x, sep='\\t') for x in ps]\n"
	"walk(app.routes, '', [])\n"
	"print('ok', flush=True); time.sleep(30)\n";

static void methods_text(unsigned m, char *out, size_t outlen)
{
	static const char *const sorted[] = { "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT" };
	static const unsigned bit[] = { APP_M_DELETE, APP_M_GET, APP_M_HEAD, APP_M_OPTIONS, APP_M_PATCH, APP_M_POST,
					APP_M_PUT };
	size_t o = 0;

	snprintf(out, outlen, "*");
	for (int i = 0; i < 7; i++)
		if (m & bit[i])
			o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? "," : "", sorted[i]);
}

/* Compare the child's lines with t, route by route; mount_end markers included. */
static void compare(FILE *f, const struct app_routes *t, const char *what)
{
	char line[2048], m[64];
	int ri = -1, pi = 0, vi = 0, seen = 0;
	const struct app_route *rt = NULL;

	while (fgets(line, sizeof(line), f) && strcmp(line, "ok\n")) {
		char *tab[6] = { line }, *nl = strchr(line, '\n');
		int n = 1;

		if (nl)
			*nl = 0;
		for (char *c = line; *c && n < 6; c++)
			if (*c == '\t')
				*c = 0, tab[n++] = c + 1;
		if (line[0] == 'R' || line[0] == 'M') {
			seen++;
			if (++ri >= t->nroutes) {
				CHECKF(0, "%s: route %d (%s) was not read", what, ri, tab[1]);
				return;
			}
			rt = &t->routes[ri], pi = vi = 0;
			methods_text(rt->methods, m, sizeof(m));
			CHECKF(!strcmp(rt->name, tab[1]) && rt->nparts == atoi(tab[2]) && rt->mount_end == (line[0] == 'M') &&
			       (line[0] == 'M' || !strcmp(m, tab[3])), "%s: route %d: read '%s' %d parts %s%s, app says "
			       "'%s' %s parts %s%s", what, ri, rt->name, rt->nparts, m, rt->mount_end ? " mount_end" : "",
			       tab[1], tab[2], tab[3], line[0] == 'M' ? " mount_end" : "");
		} else if (line[0] == 'p' && rt && n == 2) {
			CHECKF(pi < rt->nparts && !strcmp(rt->parts[pi], tab[1]), "%s: %s part %d: read '%s', app says '%s'",
			       what, rt->name, pi, pi < rt->nparts ? rt->parts[pi] : "(none)", tab[1]);
			pi++;
		} else if (line[0] == 'v' && rt && n == 5) {
			const struct app_var *v = vi < rt->nvars ? &rt->vars[vi] : NULL;
			CHECKF(v && !strcmp(v->name, tab[1]) && !strcmp(v->regex, tab[2]) && v->weight == atoi(tab[3]) &&
			       v->part_isolating == (atoi(tab[4]) != 0), "%s: %s var %d: read %s '%s' %d %d, app says %s '%s' "
			       "%s %s", what, rt->name, vi, v ? v->name : "-", v ? v->regex : "-", v ? v->weight : 0,
			       v ? v->part_isolating : 0, tab[1], tab[2], tab[3], tab[4]);
			vi++;
		}
	}
	CHECKF(seen > 0 && seen == t->nroutes, "%s: app lists %d routes, %d read", what, seen, t->nroutes);
}

static void check_app(const char *code, enum app_framework fw, const char *what)
{
	int fds[2], status;
	char err[512], line[2048], *buf = NULL;
	size_t len = 0;
	struct app_routes t;
	FILE *f, *mem;
	pid_t pid;

	if (access("/usr/bin/python3", X_OK) || pipe(fds))
		return;
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		execl("/usr/bin/python3", "python3", "-c", code, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	/* The child prints its own table, then "ok", then sleeps while we read it. */
	mem = open_memstream(&buf, &len);
	while (f && fgets(line, sizeof(line), f)) {
		fputs(line, mem);
		if (!strcmp(line, "ok\n"))
			break;
	}
	fclose(mem);
	CHECKF(app_routes_read(pid, &t, err, sizeof(err)) == 0, "%s: %.400s", what, err);
	CHECKF(t.framework == fw, "%s: framework %d (%s)", what, t.framework, t.why);
	if (t.framework == fw) {
		FILE *in = fmemopen(buf, len, "r");
		compare(in, &t, what);
		fclose(in);
	}
	app_routes_free(&t);
	free(buf);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (f)
		fclose(f);
}

UNIT_TEST(app_routes_live_parts_and_converters)
{
	check_app(flask_code, APP_FLASK, "flask");
	check_app(starlette_code, APP_STARLETTE, "fastapi");
}
