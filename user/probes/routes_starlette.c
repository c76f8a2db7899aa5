/* Starlette/FastAPI routes (design section 2): app.router.routes in order; Route/APIRoute path,
 * methods and path_regex; each Mount's regex, then its app's routes, then a mount_end marker
 * (app_routes.h). Names are the joined mount paths + Route.path as written, which is what
 * Starlette puts in scope["route"]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"

struct walk {
	uint64_t route, mount, router, ws; /* starlette.routing classes */
	struct app_routes *out;            /* NULL: only collect mounted apps */
	uint64_t *apps;
	int max, napps;
	char parts[APP_PARTS_MAX][APP_REGEX_MAX];
};

static int walk_routes(struct pyproc *p, struct walk *w, uint64_t list, const char *prefix, int depth);

/* The routes list of a mounted app: a Router's own, or a Starlette/FastAPI app's router's. */
static int sub_routes(struct pyproc *p, struct walk *w, uint64_t app, uint64_t *list)
{
	uint64_t router;

	if (!pyobj_isinstance(p, app, w->router) &&
	    (pyobj_attr(p, app, "router", &router) || !pyobj_isinstance(p, router, w->router)))
		return -ENOENT;
	if (pyobj_isinstance(p, app, w->router))
		router = app;
	if (pyobj_attr(p, router, "routes", list) || !pyobj_isinstance(p, *list, p->t_list))
		return -EPROTO;
	return 0;
}

static struct app_route *emit(struct walk *w, const char *prefix, const char *path, int nparts)
{
	struct app_route *rt = routes_add(w->out);

	if (!rt)
		return NULL;
	if (snprintf(rt->name, sizeof(rt->name), "%s%s", prefix, path) >= (int)sizeof(rt->name)) {
		routes_drop_last(w->out);
		return NULL;
	}
	memcpy(rt->parts, w->parts, sizeof(rt->parts[0]) * (size_t)nparts);
	rt->nparts = nparts;
	return rt;
}

static int do_route(struct pyproc *p, struct walk *w, uint64_t route, const char *prefix, int depth)
{
	char path[APP_NAME_MAX];
	struct app_route *rt;
	uint64_t o;
	unsigned methods;
	int r;

	if ((r = pyobj_attr_str(p, route, "path", path, sizeof(path))) ||
	    (r = pyobj_attr(p, route, "path_regex", &o)) ||
	    (r = pyobj_pattern_str(p, o, w->parts[depth], sizeof(w->parts[depth]))) ||
	    (r = pyobj_attr(p, route, "methods", &o)) || (r = routes_methods(p, o, &methods)))
		return r;
	if (!(rt = emit(w, prefix, path, depth + 1)))
		return -E2BIG;
	rt->methods = methods;
	return 0;
}

static int do_mount(struct pyproc *p, struct walk *w, uint64_t mount, const char *prefix, int depth)
{
	char path[APP_NAME_MAX], joined[APP_NAME_MAX];
	struct app_route *rt;
	uint64_t app, o, list;
	int r;

	if ((r = pyobj_attr_str(p, mount, "path", path, sizeof(path))) ||
	    (r = pyobj_attr(p, mount, "path_regex", &o)) ||
	    (r = pyobj_pattern_str(p, o, w->parts[depth], sizeof(w->parts[depth]))))
		return r;
	/* _base_app is the app before Mount's own middleware (Starlette 0.24+); else app. */
	if (pyobj_attr(p, mount, "_base_app", &app) && (r = pyobj_attr(p, mount, "app", &app)))
		return r;
	if (snprintf(joined, sizeof(joined), "%s%s", prefix, path) >= (int)sizeof(joined))
		return -E2BIG;
	if (sub_routes(p, w, app, &list)) {
		/* A leaf app (StaticFiles, a WSGI app): everything below the mount is its route. */
		if (!w->out)
			return 0;
		if (!(rt = emit(w, joined, "/{path:path}", depth + 1)))
			return -E2BIG;
		return 0;
	}
	if (!w->out) {
		if (w->napps < w->max)
			w->apps[w->napps] = app;
		w->napps++;
	}
	if (depth + 2 > APP_PARTS_MAX)
		return -E2BIG;
	walk_routes(p, w, list, joined, depth + 1);
	if (w->out) {
		if (!(rt = emit(w, joined, "", depth + 1)))
			return -E2BIG;
		rt->mount_end = true;
	}
	return 0;
}

static int walk_routes(struct pyproc *p, struct walk *w, uint64_t list, const char *prefix, int depth)
{
	uint64_t items[1024];
	int n, r;

	if ((r = pyobj_seq(p, list, items, 1024, &n)))
		return r;
	for (int i = 0; i < n; i++) {
		if (i >= 1024) {
			if (w->out)
				w->out->skipped += n - i;
			break;
		}
		if (pyobj_isinstance(p, items[i], w->route))
			r = w->out ? do_route(p, w, items[i], prefix, depth) : 0;
		else if (pyobj_isinstance(p, items[i], w->mount))
			r = do_mount(p, w, items[i], prefix, depth);
		else if (w->ws && pyobj_isinstance(p, items[i], w->ws))
			r = 0; /* never answers HTTP */
		else
			r = -ENOTSUP; /* Host and custom BaseRoute: not read (v2) */
		if (r && w->out)
			w->out->skipped++;
	}
	return 0;
}

static int walk_init(struct pyproc *p, struct walk *w, uint64_t app, uint64_t *list, char *err, size_t errlen)
{
	int r;

	if ((r = pyobj_module_attr(p, "starlette.routing", "Route", &w->route)) ||
	    (r = pyobj_module_attr(p, "starlette.routing", "Mount", &w->mount)) ||
	    (r = pyobj_module_attr(p, "starlette.routing", "Router", &w->router))) {
		snprintf(err, errlen, "starlette.routing has no Route/Mount/Router (%s)", strerror(-r));
		return r;
	}
	pyobj_module_attr(p, "starlette.routing", "WebSocketRoute", &w->ws);
	if ((r = sub_routes(p, w, app, list)))
		snprintf(err, errlen, "Starlette app at 0x%llx: no router.routes list", (unsigned long long)app);
	return r;
}

int routes_starlette_read(struct pyproc *p, uint64_t app, struct app_routes *out, char *err, size_t errlen)
{
	struct walk *w = calloc(1, sizeof(*w)); /* 32 KiB of parts */
	uint64_t list;
	int r;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->out = out;
	if (!(r = walk_init(p, w, app, &list, err, errlen))) {
		out->framework = APP_STARLETTE;
		r = walk_routes(p, w, list, "", 0);
	}
	free(w);
	return r;
}

int routes_starlette_mounted(struct pyproc *p, uint64_t app, uint64_t *apps, int max, int *n)
{
	struct walk *w = calloc(1, sizeof(*w));
	char err[128];
	uint64_t list;
	int r;

	*n = 0;
	if (!w)
		return -ENOMEM;
	w->apps = apps;
	w->max = max;
	if (!(r = walk_init(p, w, app, &list, err, sizeof(err))))
		r = walk_routes(p, w, list, "", 0);
	*n = w->napps;
	free(w);
	return r;
}
