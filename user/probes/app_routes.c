/* app_routes_read: which framework a process runs, which application object holds its route
 * table, and that table (docs/design/routes.md 1.3). The per-framework readers are in
 * routes_{flask,starlette,django}.c; the shared helpers in routes_common.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"

#define CAND_MAX 32
#define MEMO 8192
#define MEMO_PROBES 16 /* then the type is checked again rather than searched for */

enum kind { K_NONE = 0, K_FLASK, K_STARLETTE };

struct cand {
	uint64_t obj;
	enum kind kind;
	bool global;           /* a module global holds it (else only the GC lists do) */
	char name[128];
};

struct disco {
	struct pyproc *p;
	uint64_t cls[3];       /* Flask, Starlette, FastAPI (0 when not loaded) */
	uint64_t memo_t[MEMO]; /* type -> kind, so each type's MRO is read once (apps with
	                        * thousands of model classes have thousands of types) */
	signed char memo_k[MEMO];
	struct cand c[CAND_MAX];
	int n;
	const char *module;    /* the module being walked */
	int best;              /* the chosen candidate, or -1 for Django */
	char mod[128], attr[64]; /* the app the command line names ("" if none) */
	bool factory;          /* ... is a factory's result */
	uint64_t named;        /* mod.attr when it is a global, else 0 */
};

static enum kind kind_of(struct disco *d, uint64_t obj)
{
	uint64_t t = pyobj_type(d->p, obj);
	unsigned h = (unsigned)(t >> 4) % MEMO;
	enum kind k = K_NONE;

	if (!t)
		return K_NONE;
	for (unsigned i = 0; i < MEMO_PROBES; i++, h = (h + 1) % MEMO) {
		if (d->memo_t[h] == t)
			return (enum kind)d->memo_k[h];
		if (!d->memo_t[h])
			break;
	}
	if (pyobj_isinstance(d->p, obj, d->cls[0]))
		k = K_FLASK;
	else if (pyobj_isinstance(d->p, obj, d->cls[1]) || pyobj_isinstance(d->p, obj, d->cls[2]))
		k = K_STARLETTE;
	if (!d->memo_t[h]) {
		d->memo_t[h] = t;
		d->memo_k[h] = (signed char)k;
	}
	return k;
}

static struct cand *add_cand(struct disco *d, uint64_t obj, enum kind k, bool global)
{
	for (int i = 0; i < d->n; i++)
		if (d->c[i].obj == obj) {
			d->c[i].global |= global;
			return global && !d->c[i].name[0] ? &d->c[i] : NULL;
		}
	if (d->n == CAND_MAX)
		return NULL;
	d->c[d->n] = (struct cand){ .obj = obj, .kind = k, .global = global };
	return &d->c[d->n++];
}

static int on_global(struct pyproc *p, uint64_t key, uint64_t value, void *arg)
{
	struct disco *d = arg;
	enum kind k = kind_of(d, value);
	struct cand *c;
	char attr[96];

	if (k && (c = add_cand(d, value, k, true)) && !pyobj_str(p, key, attr, sizeof(attr)))
		snprintf(c->name, sizeof(c->name), "%s.%s", d->module, attr);
	return 0;
}

static int on_module(struct pyproc *p, uint64_t key, uint64_t mod, void *arg)
{
	struct disco *d = arg;
	char name[128];
	uint64_t dict;

	/* A module we cannot read (torn, a lazy stand-in) is skipped, not fatal. */
	if (pyobj_str(p, key, name, sizeof(name)) || pyobj_type(p, mod) != p->t_module ||
	    pyobj_read(p, mod + 16, &dict, 8))
		return 0;
	d->module = name;
	pyobj_dict_walk(p, dict, on_global, d);
	return 0;
}

static int on_gc_obj(struct pyproc *p, uint64_t obj, void *arg)
{
	struct disco *d = arg;
	enum kind k = kind_of(d, obj);

	(void)p;
	if (k)
		add_cand(d, obj, k, false);
	return 0;
}

/* The application named on the command line: `gunicorn mod:app`, `uvicorn mod:app`,
 * `--module=mod:app`; a factory (`mod:create_app()`, uvicorn --factory) is flagged. */
static void cmdline_spec(int pid, char *mod, size_t modlen, char *attr, size_t attrlen, bool *factory)
{
	char path[64], buf[8192], m[128], a[64];
	bool uvicorn_factory = false, fac = false;
	FILE *f;
	size_t n;

	mod[0] = attr[0] = 0;
	*factory = false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if (!(f = fopen(path, "re")))
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The last spec wins: the app is gunicorn's and uvicorn's last argument, and an earlier
	 * "-b unix:sock" parses like one. */
	for (size_t i = strlen(buf) + 1; i < n; i += strlen(buf + i) + 1) {
		bool f1;
		if (!strcmp(buf + i, "--factory"))
			uvicorn_factory = true;
		else if (!app_spec_parse(buf + i, m, sizeof(m), a, sizeof(a), &f1) &&
			 (size_t)snprintf(mod, modlen, "%s", m) < modlen && (size_t)snprintf(attr, attrlen, "%s", a) < attrlen)
			fac = f1;
	}
	*factory = fac || uvicorn_factory;
}

/* Starlette apps mounted inside another candidate look like roots: drop them. */
static void drop_mounted(struct disco *d)
{
	uint64_t sub[64];
	int nsub;

	for (int i = 0; i < d->n; i++) {
		if (d->c[i].kind != K_STARLETTE || routes_starlette_mounted(d->p, d->c[i].obj, sub, 64, &nsub))
			continue;
		for (int j = 0; j < d->n; j++)
			for (int s = 0; s < nsub && s < 64; s++)
				if (j != i && d->c[j].obj == sub[s])
					d->c[j].kind = K_NONE;
	}
}

static int read_cand(struct pyproc *p, const struct cand *c, struct app_routes *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (c->kind == K_FLASK)
		return routes_flask_read(p, c->obj, out, err, errlen);
	return routes_starlette_read(p, c->obj, out, err, errlen);
}

static void version_of(struct pyproc *p, struct disco *d, const struct cand *c, struct app_routes *out)
{
	char v[24];
	uint64_t s;
	bool fastapi = c->kind == K_STARLETTE && d->cls[2] && pyobj_isinstance(p, c->obj, d->cls[2]);
	const char *fw = c->kind == K_FLASK ? "Flask" : fastapi ? "FastAPI" : "Starlette";
	const char *mod = c->kind == K_FLASK ? "flask" : fastapi ? "fastapi" : "starlette";

	if (!pyobj_module_attr(p, mod, "__version__", &s) && !pyobj_str(p, s, v, sizeof(v)))
		snprintf(out->framework_version, sizeof(out->framework_version), "%s %.20s", fw, v);
	else if (c->kind == K_FLASK && !pyobj_module_attr(p, "werkzeug", "__version__", &s) &&
		 !pyobj_str(p, s, v, sizeof(v))) /* Flask 3 dropped __version__ */
		snprintf(out->framework_version, sizeof(out->framework_version), "Flask (Werkzeug %.12s)", v);
	else
		snprintf(out->framework_version, sizeof(out->framework_version), "%s", fw);
}

/* Pick the application: the one the command line names, else (for a factory) one only the GC
 * lists hold, else the one with the most templates. */
static int choose(struct pyproc *p, struct disco *d, struct app_routes *out, char *err, size_t errlen)
{
	const char *mod = d->mod, *attr = d->attr;
	bool factory = d->factory;
	uint64_t named = d->named;
	int best = -1, best_score = -1, r = -ENOENT;
	struct app_routes tmp;

	for (int i = 0; i < d->n; i++) {
		struct cand *c = &d->c[i];
		int score;

		if (!c->kind)
			continue;
		if (!c->name[0] && factory && mod[0])
			snprintf(c->name, sizeof(c->name), "%.80s:%.40s()", mod, attr);
		else if (!c->name[0])
			snprintf(c->name, sizeof(c->name), "object at 0x%llx", (unsigned long long)c->obj);
		if ((r = read_cand(p, c, &tmp, err, errlen))) {
			app_routes_free(&tmp);
			continue;
		}
		score = (c->obj == named) * 2 + (factory && !c->global);
		if (score > best_score || (score == best_score && tmp.nroutes > out->nroutes)) {
			app_routes_free(out);
			*out = tmp;
			best = i;
			best_score = score;
		} else {
			app_routes_free(&tmp);
		}
	}
	if (best < 0)
		return r;
	d->best = best;
	snprintf(out->app, sizeof(out->app), "%s", d->c[best].name);
	version_of(p, d, &d->c[best], out);
	return 0;
}

static bool has_module(struct pyproc *p, const char *name)
{
	uint64_t m;

	return !pyobj_module(p, name, &m);
}

/* Django has no app object: its table hangs off settings.ROOT_URLCONF (design 1.3.5). */
static bool django_configured(struct pyproc *p, char *why, size_t whylen)
{
	uint64_t settings, wrapped;
	char urlconf[128];

	if (pyobj_module_attr(p, "django.conf", "settings", &settings) ||
	    pyobj_attr(p, settings, "_wrapped", &wrapped) ||
	    pyobj_attr_str(p, wrapped, "ROOT_URLCONF", urlconf, sizeof(urlconf))) {
		snprintf(why, whylen, "Django is loaded but its settings are not configured yet");
		return false;
	}
	return true;
}

static uint64_t fingerprint(const struct app_routes *t)
{
	uint64_t h = routes_mix(14695981039346656037ULL, &t->nroutes, sizeof(t->nroutes));

	for (int i = 0; i < t->nroutes; i++) {
		const struct app_route *rt = &t->routes[i];
		h = routes_mix(h, rt->name, strlen(rt->name));
		h = routes_mix(h, &rt->methods, sizeof(rt->methods));
		h = routes_mix(h, &rt->mount_end, sizeof(rt->mount_end));
		for (int j = 0; j < rt->nparts; j++)
			h = routes_mix(h, rt->parts[j], strlen(rt->parts[j]) + 1);
		for (int j = 0; j < rt->nvars; j++)
			h = routes_mix(h, rt->vars[j].regex, strlen(rt->vars[j].regex) + 1);
	}
	return h;
}

static int discover(struct pyproc *p, struct disco *arg_disco, struct app_routes *out, char *err, size_t errlen)
{
	static const char *const fw[] = { "flask", "django", "starlette", "fastapi" };
	struct disco *d = arg_disco;
	bool any = false;
	int r;

	for (size_t i = 0; i < sizeof(fw) / sizeof(fw[0]); i++)
		any |= has_module(p, fw[i]);
	if (!any) {
		snprintf(out->why, sizeof(out->why), "no framework module loaded (flask, django, starlette, "
			 "fastapi)%s", has_module(p, "gunicorn.arbiter")
			 ? "; a gunicorn master without --preload loads none: read a worker" : "");
		return 0;
	}
	memset(d, 0, sizeof(*d));
	d->p = p;
	pyobj_module_attr(p, "flask.app", "Flask", &d->cls[0]);
	pyobj_module_attr(p, "starlette.applications", "Starlette", &d->cls[1]);
	pyobj_module_attr(p, "fastapi.applications", "FastAPI", &d->cls[2]);
	if (d->cls[0] || d->cls[1] || d->cls[2]) {
		pyobj_dict_walk(p, p->modules, on_module, d);
		cmdline_spec(p->pi.pid, d->mod, sizeof(d->mod), d->attr, sizeof(d->attr), &d->factory);
		if (d->mod[0] && !d->factory)
			pyobj_module_attr(p, d->mod, d->attr, &d->named);
		/* Factory apps are held by no module global: only the GC lists know them. The walk
		 * (40k objects, 3k pages, 15 ms for FastAPI) is skipped when the command line names
		 * an app the globals hold. */
		if (!d->named || !kind_of(d, d->named))
			pyobj_gc_walk(p, on_gc_obj, d);
		drop_mounted(d);
		if (!(r = choose(p, d, out, err, errlen)))
			return 0;
		for (int i = 0; i < d->n; i++)
			if (d->c[i].kind) /* there is an app, but its table could not be read: say why */
				return r;
	}
	d->best = -1;
	if (has_module(p, "django") && django_configured(p, out->why, sizeof(out->why)))
		return routes_django_read(p, out, err, errlen);
	if (!out->why[0])
		snprintf(out->why, sizeof(out->why), "%s is loaded but no application object was found yet",
			 d->cls[0] ? "Flask" : d->cls[2] ? "FastAPI" : d->cls[1] ? "Starlette" : "a framework");
	out->later = true;
	return 0;
}

/* The table again, from the object discover() chose. */
static int reread(struct pyproc *p, struct disco *d, struct app_routes *out, char *err, size_t errlen)
{
	struct app_routes t;
	int r;

	memset(&t, 0, sizeof(t));
	pyproc_flush(p);
	r = d->best < 0 ? routes_django_read(p, &t, err, errlen) : read_cand(p, &d->c[d->best], &t, err, errlen);
	if (r || t.framework != out->framework) {
		app_routes_free(&t);
		return r ? r : -EAGAIN;
	}
	app_routes_free(out);
	out->routes = t.routes;
	out->nroutes = t.nroutes;
	out->skipped = t.skipped;
	return 0;
}

int app_routes_read(int pid, struct app_routes *out, char *err, size_t errlen)
{
	struct disco *d = malloc(sizeof(*d)); /* 72 KiB of type memo: not on the stack */
	struct pyproc p;
	uint64_t fp;
	int r;

	memset(out, 0, sizeof(*out));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((r = pyproc_open(pid, &p, err, errlen))) {
		free(d);
		return r;
	}
	if (!(r = discover(&p, d, out, err, errlen)) && out->framework != APP_NONE) {
		/* The target keeps running: accept the table when a second read agrees (a torn or
		 * changing table differs), up to three times. */
		out->fingerprint = fingerprint(out);
		for (int attempt = 0;; attempt++) {
			fp = out->fingerprint;
			if ((r = reread(&p, d, out, err, errlen)))
				break;
			out->fingerprint = fingerprint(out);
			if (out->fingerprint == fp)
				break;
			if (attempt == 2) {
				snprintf(err, errlen, "pid %d: the route table kept changing while it was read", pid);
				r = -EAGAIN;
				break;
			}
		}
	}
	pyproc_close(&p);
	free(d);
	if (r)
		app_routes_free(out);
	return r;
}

void app_routes_free(struct app_routes *r)
{
	free(r->routes);
	r->routes = NULL;
	r->nroutes = 0;
}

int app_routes_read_first(const int *pids, int n, struct app_routes *out, int *which, char *why, size_t whylen)
{
	bool later = false;
	char err[256];

	snprintf(why, whylen, "no process to read");
	for (int j = 0; j < n; j++) {
		memset(out, 0, sizeof(*out));
		if (app_routes_read(pids[j], out, err, sizeof(err))) {
			snprintf(why, whylen, "pid %d: %s", pids[j], err);
			continue;
		}
		if (out->framework != APP_NONE && out->nroutes > 0) {
			*which = pids[j];
			return 0;
		}
		if (out->later || !later) /* a "not yet" says more than "none here" */
			snprintf(why, whylen, "%s", out->why[0] ? out->why : "no routes");
		later |= out->later;
		app_routes_free(out);
	}
	return -1;
}

const char *app_framework_name(enum app_framework f)
{
	return f == APP_FLASK ? "Flask" : f == APP_DJANGO ? "Django" : f == APP_STARLETTE ? "Starlette" : "none";
}
