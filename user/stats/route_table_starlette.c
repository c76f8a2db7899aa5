/* Starlette / FastAPI: Router.app over its routes in order. A Route whose regex matches the whole
 * path answers (or, with another method, is remembered as the first partial match: its 405). A
 * Mount that matches hands "/" + its "path" group to its own router, and whatever that router
 * answers is the answer: no going back to the routes after the Mount. The flat list of the
 * reader (mount chains, mount_end markers) is turned back into that tree at build time. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct st_node {
	bool mount, dead;        /* dead: a Mount whose regex PCRE2 refused */
	int idx;                 /* a Route's index in the table */
	unsigned methods;
	struct rt_pat re;
	int path_group;          /* a Mount's group "path" */
	char *text;              /* a Mount's regex, to follow the reader's chains */
	struct st_node **kids;
	struct rt_head *heads;   /* the kids' literal heads, dense: most are skipped on these */
	int nkids;
};

struct rt_star {
	struct st_node root;
};

static struct st_node *add_kid(struct st_node *p)
{
	struct st_node **k = realloc(p->kids, (p->nkids + 1) * sizeof(*k));
	if (!k)
		return NULL;
	p->kids = k;
	return k[p->nkids++] = calloc(1, sizeof(**k));
}

static struct st_node *open_mount(struct route_table *t, struct st_node *p, const char *re,
				  char *err, size_t errlen)
{
	struct st_node *m = add_kid(p);
	if (!m || !(m->text = strndup(re, APP_REGEX_MAX)))
		return NULL;
	m->mount = true;
	m->dead = p->dead;
	if (!m->dead && rt_pat_compile(t, &m->re, m->text, PCRE2_ANCHORED, err, errlen) < 0)
		m->dead = true;
	if (m->re.re) {
		m->path_group = pcre2_substring_number_from_name(m->re.re, (PCRE2_SPTR) "path");
		if (m->path_group <= 0) {
			snprintf(err, errlen, "mount %.200s has no group \"path\"", re);
			m->dead = true;
		}
	}
	return m;
}

static int heads(struct st_node *n)
{
	if (n->nkids && !(n->heads = calloc(n->nkids, sizeof(*n->heads))))
		return -1;
	for (int i = 0; i < n->nkids; i++) {
		n->heads[i] = n->kids[i]->re.h;
		if (heads(n->kids[i]) < 0)
			return -1;
	}
	return 0;
}

int rt_star_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen)
{
	struct rt_star *s = calloc(1, sizeof(*s));
	t->star = s;
	if (!s)
		goto oom;
	struct st_node *stk[APP_PARTS_MAX + 1] = { &s->root };
	int depth = 0;
	for (int i = 0; i < r->nroutes; i++) {
		const struct app_route *rt = &r->routes[i];
		int chain = rt->mount_end ? rt->nparts : rt->nparts - 1;
		if (chain < (rt->mount_end ? 1 : 0) || rt->nparts > APP_PARTS_MAX) {
			rt_reject(t, i);
			continue;
		}
		/* The open Mounts this entry shares; the rest of its chain opens new ones. */
		int same = 0;
		while (same < depth && same < chain &&
		       !strncmp(stk[same + 1]->text, rt->parts[same], APP_REGEX_MAX))
			same++;
		depth = same;
		for (; depth < chain; depth++)
			if (!(stk[depth + 1] = open_mount(t, stk[depth], rt->parts[depth], err, errlen)))
				goto oom;
		if (rt->mount_end) {
			depth = chain - 1; /* the Mount it names is complete */
			continue;
		}
		struct st_node *n = add_kid(stk[depth]);
		if (!n)
			goto oom;
		n->idx = i;
		n->methods = rt->methods;
		n->dead = stk[depth]->dead;
		char re[APP_REGEX_MAX + 1]; /* a field the reader filled to the brim has no NUL */
		snprintf(re, sizeof(re), "%.*s", APP_REGEX_MAX, rt->parts[rt->nparts - 1]);
		if (n->dead || rt_pat_compile(t, &n->re, re, PCRE2_ANCHORED, err, errlen) < 0) {
			n->dead = true;
			rt_reject(t, i);
		}
	}
	if (heads(&s->root) == 0)
		return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void node_free(struct st_node *n)
{
	for (int i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->heads);
	free(n->text);
	rt_pat_free(&n->re);
}

void rt_star_free(struct rt_star *s)
{
	if (!s)
		return;
	node_free(&s->root);
	free(s);
}

struct st_walk {
	struct rt_req *q;
	const char *full;  /* the request's path: a redirect's URL is root_path + the new path */
	size_t full_n;
};

static int route(struct st_walk *w, const struct st_node *r, const char *p, size_t n, bool redirects);

/* A Mount matched p: its router answers with "/" + group "path". */
static int enter(struct st_walk *w, const struct st_node *m, const char *p, size_t n, bool redirects,
		 bool *matched)
{
	long gs, ge;
	*matched = false;
	if (m->dead || rt_pat_match(w->q, &m->re, p, n, m->path_group, &gs, &ge) < 0 || gs < 0)
		return -1;
	*matched = true;
	size_t rn = (size_t)(ge - gs) + 1;
	const char *rest = p + gs - 1;
	if (gs == 0 || p[gs - 1] != '/') {
		char *c = rt_scratch(w->q, rn);
		if (!c)
			return -1;
		c[0] = '/';
		memcpy(c + 1, p + gs, rn - 1);
		rest = c;
	}
	return route(w, m, rest, rn, redirects);
}

/* The redirect_slashes check of a router that found nothing for p: the first route or Mount
 * that matches p with its trailing slashes removed, or one added, decides a redirect. */
static int redirect(struct st_walk *w, const struct st_node *r, const char *p, size_t n)
{
	if (n == 1 && p[0] == '/')
		return -1;
	const char *t = p;
	size_t tn = n;
	if (n && p[n - 1] == '/') {
		while (tn && t[tn - 1] == '/')
			tn--;
	} else {
		char *c = rt_scratch(w->q, n + 1);
		if (!c)
			return -1;
		memcpy(c, p, n);
		c[n] = '/';
		t = c, tn = n + 1;
	}
	uint64_t tw = rt_word(t, tn);
	for (int i = 0; i < r->nkids; i++) {
		if (!rt_head_may_match(&r->heads[i], tw, t, tn))
			continue;
		const struct st_node *k = r->kids[i];
		if (k->dead)
			continue;
		if (!k->mount) {
			if (rt_pat_match(w->q, &k->re, t, tn, 0, NULL, NULL) >= 0)
				return k->idx;
			continue;
		}
		long gs, ge;
		if (rt_pat_match(w->q, &k->re, t, tn, k->path_group, &gs, &ge) < 0)
			continue;
		/* A Mount decided it: name the request by where the redirect leads, the URL being
		 * the part of the path the outer Mounts consumed plus the new path. */
		size_t pre = w->full_n - n;
		char *u = rt_scratch(w->q, pre + tn);
		if (!u)
			return -1;
		memcpy(u, w->full, pre);
		memcpy(u + pre, t, tn);
		struct st_walk w2 = { w->q, u, pre + tn };
		return route(&w2, &w->q->t->star->root, u, pre + tn, false);
	}
	return -1;
}

/* Router.app: a route index, or -1 for the router's 404. */
static int route(struct st_walk *w, const struct st_node *r, const char *p, size_t n, bool redirects)
{
	int partial = -1;
	uint64_t pw = rt_word(p, n);
	for (int i = 0; i < r->nkids; i++) {
		if (!rt_head_may_match(&r->heads[i], pw, p, n))
			continue;
		const struct st_node *k = r->kids[i];
		if (k->dead)
			continue;
		if (k->mount) {
			bool matched;
			int got = enter(w, k, p, n, redirects, &matched);
			if (matched)
				return got;
			continue;
		}
		if (rt_pat_match(w->q, &k->re, p, n, 0, NULL, NULL) < 0)
			continue;
		if (!k->methods || (k->methods & w->q->mbit))
			return k->idx;
		if (partial < 0)
			partial = k->idx;
	}
	if (partial >= 0 || !redirects)
		return partial;
	return redirect(w, r, p, n);
}

int rt_star_name(struct rt_req *q, const char *path, size_t n)
{
	struct st_walk w = { q, path, n };
	return route(&w, &q->t->star->root, path, n, true);
}
