/* Django's URL patterns read from another process (issue #14, docs/design/routes.md section 2):
 * settings._wrapped.ROOT_URLCONF names the root urlconf module; its urlpatterns are walked down
 * every include(), each route getting one regex per level (as Django searches them) and Django's
 * own ResolverMatch.route as its name. Nothing is imported or run in the target: a urlconf Django
 * has not imported yet (before the first request) is reported as "later". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"
#include "routes_django.h"

#define DJ_DEPTH_MAX 16      /* include() levels walked */
#define DJ_NODES_MAX 100000  /* patterns visited in all: bounds a cyclic or torn structure */
#define DJ_LIST_MAX 100000

/* One include() level on the way down: the pattern's regex and its str(). */
struct dj_level {
	char regex[APP_REGEX_MAX];
	char str[APP_NAME_MAX];
	bool too_long;          /* did not fit: routes below are skipped */
};

struct dj_walk {
	struct pyproc *p;
	struct app_routes *out;
	uint64_t t_urlpattern, t_resolver, t_route, t_regex, t_locale;
	int nodes;
	int skipping;           /* > 0 while below a pattern we do not match (LocalePrefixPattern) */
	int locale_seen, unknown, too_deep, too_long;
	struct dj_level lv[DJ_DEPTH_MAX + 1];
};

/* Python's re.escape (3.7+): a backslash before each of these, nothing else. */
static int re_escape(const char *s, size_t n, char *out, size_t outlen, size_t *o)
{
	static const char special[] = "()[]{}?*+-|^$\\.&~# \t\n\r\v\f";

	for (size_t i = 0; i < n; i++) {
		bool esc = s[i] && strchr(special, s[i]);

		if (*o + esc + 2 > outlen)
			return -E2BIG;
		if (esc)
			out[(*o)++] = '\\';
		out[(*o)++] = s[i];
	}
	out[*o] = 0;
	return 0;
}

static int append(char *out, size_t outlen, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n + 1 > outlen)
		return -E2BIG;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return 0;
}

int django_route_regex(const char *route, bool endpoint, django_conv_fn conv, void *arg, char *out,
		       size_t outlen)
{
	char name[128], regex[APP_REGEX_MAX];
	size_t o = 0;
	const char *s = route;
	int err;

	if ((err = append(out, outlen, &o, "^")))
		return err;
	for (;;) {
		/* Django's <(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>: the first '<' with text
		 * and a '>' after it. */
		const char *lt = strchr(s, '<'), *gt, *colon, *pn;

		while (lt && (lt[1] == '>' || !lt[1]))
			lt = strchr(lt + 1, '<');
		gt = lt ? strchr(lt + 1, '>') : NULL;
		if (!gt) {
			if ((err = re_escape(s, strlen(s), out, outlen, &o)))
				return err;
			return endpoint ? append(out, outlen, &o, "\\Z") : 0;
		}
		if ((err = re_escape(s, lt - s, out, outlen, &o)))
			return err;
		colon = memchr(lt + 1, ':', gt - lt - 1);
		pn = colon && colon > lt + 1 ? colon + 1 : lt + 1;  /* the converter needs a character */
		if ((size_t)(gt - pn) >= sizeof(name))
			return -E2BIG;
		memcpy(name, pn, gt - pn);
		name[gt - pn] = 0;
		if ((err = conv(arg, name, regex, sizeof(regex))))
			return err;
		if ((err = append(out, outlen, &o, "(?P<")) || (err = append(out, outlen, &o, name)) ||
		    (err = append(out, outlen, &o, ">")) || (err = append(out, outlen, &o, regex)) ||
		    (err = append(out, outlen, &o, ")")))
			return err;
		s = gt + 1;
	}
}

int django_route_name(const char *const *strs, int n, char *out, size_t outlen)
{
	char tmp[APP_NAME_MAX];

	if (n < 1 || strlen(strs[n - 1]) >= outlen)
		return -E2BIG;
	strcpy(out, strs[n - 1]);
	for (int i = n - 2; i >= 0; i--) {
		const char *inner = out[0] == '^' && strs[i][0] ? out + 1 : out;

		if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s", strs[i], inner) >= sizeof(tmp) || strlen(tmp) >= outlen)
			return -E2BIG;
		strcpy(out, tmp);
	}
	if (!out[0] && outlen > 1)
		strcpy(out, "/");  /* the root path '' */
	return 0;
}

/* A RoutePattern's converter: its converters dict, so registered custom converters come for free. */
struct dj_conv_arg {
	struct pyproc *p;
	uint64_t convs;
};

static int pattern_conv(void *arg, const char *param, char *regex, size_t len)
{
	struct dj_conv_arg *a = arg;
	uint64_t conv;
	int err;

	if ((err = pyobj_dict_get(a->p, a->convs, param, &conv)))
		return err;
	err = pyobj_attr_str(a->p, conv, "regex", regex, len);
	return err < 0 ? err : 0;
}

static int emit(struct dj_walk *w, int n)
{
	struct app_routes *out = w->out;
	struct app_route *r;

	for (int i = 0; i < n; i++)
		if (w->lv[i].too_long) {
			w->too_long++;
			out->skipped++;
			return 0;
		}
	if (w->skipping || n > APP_PARTS_MAX || !(r = routes_add(out))) {
		w->too_deep += n > APP_PARTS_MAX;
		out->skipped++;
		return 0;
	}
	const char *strs[DJ_DEPTH_MAX];
	for (int i = 0; i < n; i++)
		strs[i] = w->lv[i].str;
	if (django_route_name(strs, n, r->name, sizeof(r->name))) {
		routes_drop_last(out);
		w->too_long++;
		out->skipped++;
		return 0;
	}
	r->nparts = n;
	for (int i = 0; i < n; i++)
		memcpy(r->parts[i], w->lv[i].regex, APP_REGEX_MAX);
	return 0;
}

/* Fill level d from a URLPattern's or URLResolver's .pattern. 1 when the kind is not one we
 * match (LocalePrefixPattern and unknown classes: the routes below are counted as skipped). */
static int read_level(struct dj_walk *w, uint64_t pattern, int d, bool endpoint)
{
	struct dj_level *l = &w->lv[d];
	int err;

	l->too_long = false;
	l->regex[0] = l->str[0] = 0;
	if (pyobj_isinstance(w->p, pattern, w->t_route)) {
		err = pyobj_attr_str(w->p, pattern, "_route", l->str, sizeof(l->str));
		struct dj_conv_arg a = { w->p, 0 };

		err = err < 0 ? err : pyobj_attr(w->p, pattern, "converters", &a.convs);
		if (!err)
			err = django_route_regex(l->str, endpoint, pattern_conv, &a, l->regex, sizeof(l->regex));
	} else if (pyobj_isinstance(w->p, pattern, w->t_regex)) {
		err = pyobj_attr_str(w->p, pattern, "_regex", l->str, sizeof(l->str));
		err = err < 0 ? err : 0;
		if (!err && strlen(l->str) >= sizeof(l->regex))
			err = -E2BIG;
		if (!err)
			strcpy(l->regex, l->str);
	} else {
		if (w->t_locale && pyobj_isinstance(w->p, pattern, w->t_locale))
			w->locale_seen++;
		else
			w->unknown++;
		return 1;
	}
	if (err == -E2BIG) {
		l->too_long = true;  /* a string past our bounds is not a torn read: skip what is below */
		return 0;
	}
	return err;
}

static int walk_list(struct dj_walk *w, uint64_t list, int d);

/* URLResolver.urlconf_name: a module (include("app.urls")), a list or tuple (include([...]),
 * include((list, "ns"))), or a module name (the root); the patterns are its urlpatterns. Not
 * url_patterns, a cached_property that exists only once Django has resolved through it. */
static int resolver_patterns(struct dj_walk *w, uint64_t urlconf, uint64_t *list)
{
	uint64_t t = pyobj_type(w->p, urlconf);
	char name[256];
	int err;

	if (!t)
		return -EFAULT;
	if (pyobj_isinstance(w->p, urlconf, w->p->t_list) || pyobj_isinstance(w->p, urlconf, w->p->t_tuple)) {
		*list = urlconf;
		return 0;
	}
	if (t == w->p->t_str) {
		if ((err = pyobj_str(w->p, urlconf, name, sizeof(name))) < 0 ||
		    (err = pyobj_module(w->p, name, &urlconf)))
			return err;
	}
	return pyobj_attr(w->p, urlconf, "urlpatterns", list);
}

static int walk_item(struct dj_walk *w, uint64_t item, int d)
{
	uint64_t pattern, urlconf, list;
	bool endpoint = pyobj_isinstance(w->p, item, w->t_urlpattern);
	int err, kind;

	if (++w->nodes > DJ_NODES_MAX)
		return -E2BIG;
	if (!endpoint && !pyobj_isinstance(w->p, item, w->t_resolver)) {
		w->unknown++;        /* not a pattern: Django would fail on it too */
		w->out->skipped++;
		return 0;
	}
	if ((err = pyobj_attr(w->p, item, "pattern", &pattern)))
		return err;
	if ((kind = read_level(w, pattern, d, endpoint)) < 0)
		return kind;
	w->skipping += kind;
	if (endpoint)
		err = emit(w, d + 1);
	else if (d + 1 >= DJ_DEPTH_MAX) {
		w->too_deep++;
		w->out->skipped++;
	} else if (!(err = pyobj_attr(w->p, item, "urlconf_name", &urlconf)) &&
		   !(err = resolver_patterns(w, urlconf, &list)))
		err = walk_list(w, list, d + 1);
	w->skipping -= kind;
	return err;
}

static int walk_list(struct dj_walk *w, uint64_t list, int d)
{
	uint64_t *items;
	int n, err;

	if ((err = pyobj_seq(w->p, list, NULL, 0, &n)))
		return err;
	if (n < 0 || n > DJ_LIST_MAX)
		return -E2BIG;
	if (!n)
		return 0;
	if (!(items = calloc(n, sizeof(*items))))
		return -ENOMEM;
	/* The target runs on: a list that changed length meanwhile is read as far as both agree. */
	int m = n;
	if (!(err = pyobj_seq(w->p, list, items, n, &m)))
		for (int i = 0; i < (m < n ? m : n) && !err; i++)
			err = walk_item(w, items[i], d);
	free(items);
	return err;
}

static int dj_type(struct pyproc *p, const char *name, uint64_t *t)
{
	return pyobj_module_attr(p, "django.urls.resolvers", name, t);
}

/* settings.ROOT_URLCONF: 1 when Django's settings are not configured yet (django.conf still
 * importing, or no setting read yet), 2 when they have no ROOT_URLCONF. */
static int root_urlconf(struct pyproc *p, char *name, size_t len)
{
	uint64_t settings, wrapped, empty = 0;
	int err;

	if ((err = pyobj_module_attr(p, "django.conf", "settings", &settings)) ||
	    (err = pyobj_attr(p, settings, "_wrapped", &wrapped)))
		return err == -ENOENT ? 1 : err;
	/* LazySettings starts with _wrapped = django.utils.functional.empty. */
	pyobj_module_attr(p, "django.utils.functional", "empty", &empty);
	if (wrapped == empty || pyobj_is_none(p, wrapped))
		return 1;
	err = pyobj_attr_str(p, wrapped, "ROOT_URLCONF", name, len);
	return err == -ENOENT ? 2 : err < 0 ? err : 0;
}

/* "Django 3.2.25": django.__version__, else the first three numbers of django.VERSION. */
static void django_version(struct pyproc *p, char *out, size_t len)
{
	uint64_t s, items[3];
	int64_t v[3];
	char str[24];
	int n;

	if (!pyobj_module_attr(p, "django", "__version__", &s) && !pyobj_str(p, s, str, sizeof(str)))
		snprintf(out, len, "Django %s", str);
	else if (!pyobj_module_attr(p, "django", "VERSION", &s) && !pyobj_seq(p, s, items, 3, &n) && n >= 3 &&
		 !pyobj_long(p, items[0], &v[0]) && !pyobj_long(p, items[1], &v[1]) && !pyobj_long(p, items[2], &v[2]))
		snprintf(out, len, "Django %lld.%lld.%lld", (long long)v[0], (long long)v[1], (long long)v[2]);
	else
		snprintf(out, len, "Django");
}

int routes_django_read(struct pyproc *p, struct app_routes *out, char *err, size_t errlen)
{
	struct dj_walk *w;
	char urlconf[200];
	uint64_t mod, list;
	int rc;

	django_version(p, out->framework_version, sizeof(out->framework_version));
	rc = root_urlconf(p, urlconf, sizeof(urlconf));
	if (rc < 0) {
		snprintf(err, errlen, "Django: settings.ROOT_URLCONF: %s", strerror(-rc));
		return rc;
	}
	if (rc == 2) {
		/* settings.configure() without it: Django cannot resolve any path either. */
		out->framework = APP_NONE;
		snprintf(out->why, sizeof(out->why), "Django: settings have no ROOT_URLCONF");
		return 0;
	}
	if (rc == 0)
		snprintf(out->app, sizeof(out->app), "ROOT_URLCONF %.110s", urlconf);
	if (rc == 0 && (rc = pyobj_module(p, urlconf, &mod)) == 0)
		rc = pyobj_attr(p, mod, "urlpatterns", &list);
	if (rc < 0 && rc != -ENOENT) {
		snprintf(err, errlen, "Django: sys.modules[\"%s\"].urlpatterns: %s", urlconf, strerror(-rc));
		return rc;
	}
	if (rc) {
		/* Django imports the urlconf when it first resolves a path; a module still being
		 * imported has no urlpatterns yet either. */
		out->framework = APP_NONE;
		out->later = true;
		if (rc == 1)
			snprintf(out->why, sizeof(out->why), "Django: settings not configured yet");
		else
			snprintf(out->why, sizeof(out->why), "Django: ROOT_URLCONF %.180s not imported yet (no request served)",
				 urlconf);
		return 0;
	}
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->p = p;
	w->out = out;
	dj_type(p, "LocalePrefixPattern", &w->t_locale);
	if ((rc = dj_type(p, "URLPattern", &w->t_urlpattern)) || (rc = dj_type(p, "URLResolver", &w->t_resolver)) ||
	    (rc = dj_type(p, "RoutePattern", &w->t_route)) || (rc = dj_type(p, "RegexPattern", &w->t_regex))) {
		snprintf(err, errlen, "Django: django.urls.resolvers classes: %s", strerror(-rc));
		goto out;
	}
	if ((rc = walk_list(w, list, 0))) {
		snprintf(err, errlen, "Django: walking %s.urlpatterns: %s (the process may have changed them "
			 "while we read; retry)", urlconf, strerror(-rc));
		app_routes_free(out);
		goto out;
	}
	out->framework = APP_DJANGO;   /* app_routes_read fingerprints it */
	if (out->skipped)
		snprintf(out->why, sizeof(out->why), "Django: %d routes skipped (below %d i18n_patterns and %d "
			 "other patterns we do not match; %d past %d levels; %d past our string bounds)", out->skipped,
			 w->locale_seen, w->unknown, w->too_deep, APP_PARTS_MAX, w->too_long);
out:
	free(w);
	return rc;
}
