/* Route templates read from a running application's own tables (Flask/Werkzeug, Django,
 * Starlette/FastAPI), without running code in it: the interpreter's objects are read from
 * outside with process_vm_readv (design: docs/design/routes.md). The reader (probes/app_routes.c)
 * fills a struct app_routes in the framework's order; the matcher (stats/route_table.c) names
 * requests from it. Everything here is plain data, so the matcher is unit-tested without a process.
 *
 * How a request path is matched against one route depends on the framework:
 * - APP_FLASK: parts[0] is the Werkzeug rule string as written ("/blog/post/<int:pid>/edit"),
 *   vars[] the converter of each <...> in it, in order. The matcher builds the regexes and
 *   Werkzeug's order from the weights.
 * - APP_DJANGO: parts[] are regexes in Python's dialect, one per level of include() down to
 *   the view, each searched (as Django does) on what the previous ones left of the path, the path
 *   without its leading '/'. RoutePattern parts are already converted the way Django does
 *   ("^articles/(?P<year>[0-9]+)/\Z" for an endpoint, no \Z for an include prefix).
 * - APP_STARLETTE: parts[0..nparts-2] are the path_regex of each Mount on the way ("^/sub/(?P<path>.*)$"),
 *   matched in full, the rest going on as "/" + the group "path"; parts[nparts-1] is the
 *   Route's path_regex, matched in full. A route with mount_end set is not a route: it marks
 *   where a Mount's routes end (parts = the mounts down to it). A path that matched those mounts
 *   but none of their routes is answered 404 by Starlette, never by a later route. */
#ifndef APP_ROUTES_H
#define APP_ROUTES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum app_framework { APP_NONE = 0, APP_FLASK, APP_DJANGO, APP_STARLETTE };

#define APP_ROUTES_MAX 2048
#define APP_PARTS_MAX 8       /* include()/Mount levels, the route itself included */
#define APP_VARS_MAX 8
#define APP_NAME_MAX 256
#define APP_REGEX_MAX 512

/* Methods a route answers, as bits; 0 = any method (Django, a Mount, a rule without methods). */
enum {
	APP_M_GET = 1 << 0, APP_M_HEAD = 1 << 1, APP_M_POST = 1 << 2, APP_M_PUT = 1 << 3,
	APP_M_DELETE = 1 << 4, APP_M_PATCH = 1 << 5, APP_M_OPTIONS = 1 << 6, APP_M_OTHER = 1 << 7,
};

/* One Werkzeug converter of a Flask rule. */
struct app_var {
	char name[64];
	char regex[APP_REGEX_MAX];  /* converter.regex: "[^/]{1,}", "\d+", "[^/].*?", ... */
	int weight;                 /* converter.weight: int 50, default 100, path 200 */
	bool part_isolating;        /* false for path-like converters (they may span '/') */
};

struct app_route {
	char name[APP_NAME_MAX];    /* the template as the framework writes it: the reported route
	                             * ("/blog/post/<slug>", "articles/<int:year>/<slug:slug>/",
	                             * "/api/users/{user_id}") */
	unsigned methods;           /* APP_M_* bits, 0 = any */
	bool mount_end;             /* Starlette: see above */
	bool strict_slashes;        /* Flask: Rule.strict_slashes */
	int nparts;
	char parts[APP_PARTS_MAX][APP_REGEX_MAX];
	int nvars;                  /* Flask only */
	struct app_var vars[APP_VARS_MAX];
};

struct app_routes {
	enum app_framework framework;
	char framework_version[32];  /* "Flask 2.2.2", "Django 3.2.25", "FastAPI 0.92.0" */
	char app[128];               /* where the table was found: "flaskapp.app", "ROOT_URLCONF djsite.urls" */
	uint64_t fingerprint;        /* changes when the table changes (re-read after a lazy blueprint) */
	int nroutes;
	struct app_route *routes;    /* nroutes, heap */
	int skipped;                 /* routes that could not be read or did not fit (say so) */
	char why[256];               /* framework == APP_NONE: why no table ("no framework module
	                              * loaded", "Django: ROOT_URLCONF djsite.urls not imported yet") */
	bool later;                  /* APP_NONE: a table may still come (the framework is loaded but its
	                              * table is not built yet, as Django before its first request) */
};

/* Read the route table of pid (one process of the service; a gunicorn master without --preload
 * has no framework loaded: pass a worker). 0 with out filled (framework APP_NONE and out->why
 * when the process has no table we know), or -errno with err saying what failed. */
int app_routes_read(int pid, struct app_routes *out, char *err, size_t errlen);
void app_routes_free(struct app_routes *r);
/* The first of pids whose process has a table with routes fills out (0, *which = its pid); else -1
 * with why saying why none (a "not yet" preferred over "none here"). A service's master has no
 * framework loaded while its workers do: the agent and doctor read several this way. */
int app_routes_read_first(const int *pids, int n, struct app_routes *out, int *which, char *why, size_t whylen);
/* "Flask", "Django", "Starlette", or "none". */
const char *app_framework_name(enum app_framework f);

#endif
