/* Flask/Werkzeug rules (design section 2): app.url_map, its rules in Map order, each Rule's
 * string, methods, strict_slashes and converters. Only public-ish attributes are read: not
 * Rule._parts or Map._matcher, which are 2.2+ internals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"

struct conv_arg {
	struct app_route *rt;
	int err;
};

/* One converter: regex (instance or class attribute), weight, part_isolating. */
static int on_converter(struct pyproc *p, uint64_t key, uint64_t conv, void *arg)
{
	struct conv_arg *a = arg;
	struct app_var *v;
	uint64_t o;
	int64_t n;
	int r;

	if (a->rt->nvars == APP_VARS_MAX) {
		a->err = -E2BIG;
		return 1;
	}
	v = &a->rt->vars[a->rt->nvars];
	if ((r = pyobj_str(p, key, v->name, sizeof(v->name))) ||
	    (r = pyobj_attr_str(p, conv, "regex", v->regex, sizeof(v->regex)))) {
		a->err = r;
		return 1;
	}
	v->weight = !pyobj_attr(p, conv, "weight", &o) && !pyobj_long(p, o, &n) ? (int)n : 100;
	/* Werkzeug < 2.2 has no part_isolating: only its path converter (weight 200) spans '/'. */
	if (!pyobj_attr(p, conv, "part_isolating", &o) && !pyobj_long(p, o, &n))
		v->part_isolating = n != 0;
	else
		v->part_isolating = v->weight < 200;
	a->rt->nvars++;
	return 0;
}

static int read_rule(struct pyproc *p, uint64_t rule, struct app_route *rt)
{
	struct conv_arg ca = { rt, 0 };
	uint64_t o;
	int64_t n;
	int r;

	if ((r = pyobj_attr_str(p, rule, "rule", rt->name, sizeof(rt->name))))
		return r;
	if ((r = routes_copy(rt->parts[0], sizeof(rt->parts[0]), rt->name)))
		return r;
	rt->nparts = 1;
	if ((r = pyobj_attr(p, rule, "methods", &o)) || (r = routes_methods(p, o, &rt->methods)))
		return r;
	/* None until the rule is bound to a map; the map's default is True. */
	rt->strict_slashes = pyobj_attr(p, rule, "strict_slashes", &o) || pyobj_long(p, o, &n) || n;
	/* Werkzeug fills _converters as it parses the rule, so its order is the <...> order. */
	if ((r = pyobj_attr(p, rule, "_converters", &o)) || (r = pyobj_dict_walk(p, o, on_converter, &ca)) < 0)
		return r;
	return ca.err;
}

/* One endpoint's rules, or Werkzeug < 2.2's flat list. */
static void add_rules(struct pyproc *p, uint64_t list, struct app_routes *out)
{
	uint64_t *items;
	int n, m;

	if (pyobj_seq(p, list, NULL, 0, &n) || !(items = malloc(sizeof(*items) * (size_t)(n + 1)))) {
		out->skipped++;
		return;
	}
	if (pyobj_seq(p, list, items, n, &m) || m != n) {
		out->skipped += n;
		free(items);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct app_route *rt = routes_add(out);

		if (!rt) {
			out->skipped++;
			continue;
		}
		if (read_rule(p, items[i], rt)) {
			routes_drop_last(out);
			out->skipped++;
		}
	}
	free(items);
}

static int on_endpoint(struct pyproc *p, uint64_t key, uint64_t rules, void *arg)
{
	(void)key;
	add_rules(p, rules, arg);
	return 0;
}

int routes_flask_read(struct pyproc *p, uint64_t app, struct app_routes *out, char *err, size_t errlen)
{
	uint64_t map, rules;
	int r;

	if ((r = pyobj_attr(p, app, "url_map", &map))) {
		snprintf(err, errlen, "Flask app at 0x%llx: no url_map (%s)", (unsigned long long)app, strerror(-r));
		return r;
	}
	out->framework = APP_FLASK;
	/* Werkzeug < 2.2 keeps a _rules list; 2.2+ makes _rules a property over
	 * _rules_by_endpoint, whose values in order are Map order. */
	if (!pyobj_attr(p, map, "_rules", &rules) && pyobj_isinstance(p, rules, p->t_list)) {
		add_rules(p, rules, out);
		return 0;
	}
	if ((r = pyobj_attr(p, map, "_rules_by_endpoint", &rules)) ||
	    (r = pyobj_dict_walk(p, rules, on_endpoint, out)) < 0) {
		snprintf(err, errlen, "Flask url_map at 0x%llx: no readable _rules or _rules_by_endpoint (%s)",
			 (unsigned long long)map, strerror(-r));
		return r;
	}
	return 0;
}
