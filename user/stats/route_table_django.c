/* Django: URLResolver.resolve, flattened. Each route is the chain of patterns from the root
 * include() down to its view; Django walks the tree depth-first in list order, which is the
 * flat list in order with every chain searched from the start (a resolver's match does not
 * depend on what follows it). Levels a route shares with the one before are not matched
 * again, and a prefix that failed skips every route below it. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dj_route {
	int idx;
	int nparts;
	int shared;                    /* leading levels equal to the previous route's */
	struct rt_pat re[APP_PARTS_MAX];
	bool own[APP_PARTS_MAX];       /* compiled here, not borrowed from the previous route */
};

/* Per route, in a dense array: the level matching starts at and its literal head, so that a
 * long list is mostly skipped without touching the routes themselves. */
struct dj_head {
	struct rt_head h;
	int shared;
};

struct rt_django {
	struct dj_route *r;
	struct dj_head *h;
	int n;
};

/* RegexPattern.match: an endpoint whose regex ends with '$' is fullmatch()ed; everything else
 * (RoutePattern's "^...\Z", include prefixes) is search()ed, so not anchored at all. */
static uint32_t part_opts(const char *re, bool endpoint)
{
	size_t n = strlen(re);
	return endpoint && n && re[n - 1] == '$' ? PCRE2_ANCHORED | PCRE2_ENDANCHORED : 0;
}

static int same_levels(const struct app_route *a, const struct app_route *b)
{
	int k = 0;
	while (k < a->nparts && k < b->nparts &&
	       !strncmp(a->parts[k], b->parts[k], APP_REGEX_MAX) &&
	       (k == a->nparts - 1) == (k == b->nparts - 1))
		k++;
	return k;
}

int rt_django_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen)
{
	struct rt_django *d = calloc(1, sizeof(*d));
	t->django = d;
	if (!d || !(d->r = calloc(r->nroutes, sizeof(*d->r))) ||
	    !(d->h = calloc(r->nroutes, sizeof(*d->h)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const struct app_route *prev = NULL;
	for (int i = 0; i < r->nroutes; i++) {
		const struct app_route *rt = &r->routes[i];
		if (!t->names[i])
			continue;
		if (rt->nparts < 1 || rt->nparts > APP_PARTS_MAX) {
			snprintf(err, errlen, "route %.100s: %d parts", rt->name, rt->nparts);
			rt_reject(t, i);
			continue;
		}
		struct dj_route *dr = &d->r[d->n];
		memset(dr, 0, sizeof(*dr));
		dr->idx = i;
		dr->nparts = rt->nparts;
		dr->shared = prev ? same_levels(prev, rt) : 0;
		bool ok = true;
		for (int k = 0; k < rt->nparts && ok; k++) {
			if (k < dr->shared) {
				dr->re[k] = d->r[d->n - 1].re[k];
				continue;
			}
			char re[APP_REGEX_MAX + 1];
			snprintf(re, sizeof(re), "%.*s", APP_REGEX_MAX, rt->parts[k]);
			ok = rt_pat_compile(t, &dr->re[k], re, part_opts(re, k == rt->nparts - 1), err,
					    errlen) == 0;
			dr->own[k] = ok;
		}
		if (!ok) {
			for (int k = 0; k < rt->nparts; k++)
				if (dr->own[k])
					rt_pat_free(&dr->re[k]);
			rt_reject(t, i);
			continue;
		}
		const struct rt_pat *first = &dr->re[dr->shared < dr->nparts ? dr->shared : 0];
		d->h[d->n] = (struct dj_head){ first->h, dr->shared };
		d->n++;
		prev = rt;
	}
	return 0;
}

void rt_django_free(struct rt_django *d)
{
	if (!d)
		return;
	for (int i = 0; d->r && i < d->n; i++)
		for (int k = 0; k < d->r[i].nparts; k++)
			if (d->r[i].own[k])
				rt_pat_free(&d->r[i].re[k]);
	free(d->r);
	free(d->h);
	free(d);
}

/* resolve(): the first route whose chain matches, each level on what the one above left. */
static int resolve(struct rt_req *q, const char *path, size_t n)
{
	const struct rt_django *d = q->t->django;
	size_t pos[APP_PARTS_MAX + 1] = { 0 };
	int known = 0; /* levels of the previous route that matched; it failed at level known */
	uint64_t w0 = rt_word(path, n);
	for (int i = 0; i < d->n; i++) {
		int k = d->h[i].shared;
		if (i > 0 && k > known)
			continue; /* the level that failed is shared: so does this route */
		uint64_t w = k ? rt_word(path + pos[k], n - pos[k]) : w0;
		if (!rt_head_may_match(&d->h[i].h, w, path + pos[k], n - pos[k])) {
			known = k;
			continue;
		}
		const struct dj_route *r = &d->r[i];
		for (; k < r->nparts; k++) {
			long end = rt_pat_match(q, &r->re[k], path + pos[k], n - pos[k], 0, NULL, NULL);
			if (end < 0)
				break;
			if (k == r->nparts - 1)
				return r->idx; /* an endpoint matches whatever it leaves over */
			pos[k + 1] = pos[k] + (size_t)end;
		}
		known = k;
	}
	return -1;
}

int rt_django_name(struct rt_req *q, const char *path, size_t n)
{
	/* The root resolver is RegexPattern("^/"): it consumes the leading slash. */
	int r = resolve(q, path + 1, n - 1);
	if (r >= 0 || (n && path[n - 1] == '/'))
		return r;
	/* CommonMiddleware's APPEND_SLASH: a 404 whose path resolves with a '/' appended is
	 * redirected there, so it is named by that view. */
	char *s = rt_scratch(q, n + 1);
	if (!s)
		return -1;
	memcpy(s, path, n);
	s[n] = '/';
	return resolve(q, s + 1, n);
}
