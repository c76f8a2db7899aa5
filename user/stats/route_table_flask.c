/* Flask: Werkzeug 2.2's StateMachineMatcher (routing/matcher.py), rebuilt from the parts of
 * each rule (route_table_flask_rule.c). Each state tries its static child first, then its
 * dynamic children sorted by weight, depth-first with backtracking; a "final" part (after a
 * path converter) is matched against the remaining segments joined. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wz_state;
struct wz_edge {
	char *seg;
	size_t len;
	struct wz_state *to;
};
/* Converters common enough to be checked by hand: the whole part is one of them. */
enum wz_fast { FAST_NONE, FAST_SEGMENT, FAST_DIGITS, FAST_UUID, FAST_PATH };
static const struct {
	const char *content;
	bool final;
	enum wz_fast fast;
} fast_parts[] = {
	{ "([^/]{1,})\\Z", false, FAST_SEGMENT },  /* default (string) */
	{ "([^/]+)\\Z", false, FAST_SEGMENT },     /* BaseConverter */
	{ "(\\d+)\\Z", false, FAST_DIGITS },       /* int */
	{ "([A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12})\\Z", false,
	  FAST_UUID },
	{ "([^/].*?)\\Z", true, FAST_PATH },         /* path: also beyond the match limit */
};

struct wz_dyn {
	char *content;  /* the regex, for merging equal parts as Werkzeug does */
	enum wz_fast fast;
	bool final;
	struct wz_weight w;
	pcre2_code *re;
	struct wz_state *to;
};
struct wz_state {
	struct wz_edge *st;
	struct wz_dyn *dy;
	int *rules;
	int nst, ndy, nrules;
};

struct rt_flask {
	struct wz_state *root;
	unsigned *methods;
	bool *strict;
};

static struct wz_edge *find_static(const struct wz_state *s, const char *seg, size_t n)
{
	int lo = 0, hi = s->nst - 1;
	while (lo <= hi) { /* sorted by (len, bytes) in wz_sort */
		int mid = (lo + hi) / 2;
		const struct wz_edge *e = &s->st[mid];
		int c = e->len != n ? (e->len < n ? -1 : 1) : memcmp(e->seg, seg, n);
		if (!c)
			return &s->st[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static struct wz_state *add_part(struct route_table *t, struct wz_state *s, struct wz_part *p,
				 char *err, size_t errlen)
{
	if (p->stat) {
		size_t n = strlen(p->content);
		for (int i = 0; i < s->nst; i++)
			if (s->st[i].len == n && !memcmp(s->st[i].seg, p->content, n))
				return s->st[i].to;
		struct wz_edge *st = realloc(s->st, (s->nst + 1) * sizeof(*st));
		struct wz_state *to = calloc(1, sizeof(*to));
		if (st)
			s->st = st;
		if (!st || !to) {
			free(to);
			return NULL;
		}
		st[s->nst++] = (struct wz_edge){ .seg = p->content, .len = n, .to = to };
		p->content = NULL; /* the edge owns it */
		return to;
	}
	for (int i = 0; i < s->ndy; i++)
		if (s->dy[i].final == p->final && !strcmp(s->dy[i].content, p->content) &&
		    !wz_weight_cmp(&s->dy[i].w, &p->w))
			return s->dy[i].to;
	pcre2_code *re = rt_compile_opts(t, p->content, PCRE2_ANCHORED, err, errlen);
	if (!re)
		return NULL;
	struct wz_dyn *dy = realloc(s->dy, (s->ndy + 1) * sizeof(*dy));
	struct wz_state *to = calloc(1, sizeof(*to));
	if (dy)
		s->dy = dy;
	if (!dy || !to) {
		free(to);
		pcre2_code_free(re);
		return NULL;
	}
	dy[s->ndy++] = (struct wz_dyn){ .content = p->content, .final = p->final, .w = p->w,
					.re = re, .to = to };
	for (size_t i = 0; i < sizeof(fast_parts) / sizeof(fast_parts[0]); i++)
		if (p->final == fast_parts[i].final && !strcmp(p->content, fast_parts[i].content))
			dy[s->ndy - 1].fast = fast_parts[i].fast;
	p->content = NULL;
	return to;
}

/* Adds route i; -1 (route dropped) when its rule cannot be parsed or a regex is refused. A
 * refused regex may leave empty states behind: they match nothing. */
static int add_rule(struct route_table *t, struct rt_flask *f, const struct app_route *rt, int i,
		    char *err, size_t errlen)
{
	enum { MAXP = APP_NAME_MAX / 2 + 2 }; /* "/x" repeated: one part per slash, plus one */
	struct wz_part *parts = calloc(MAXP, sizeof(*parts));
	int np = parts ? wz_parse_rule(rt, parts, MAXP) : -1;
	if (np < 0) {
		snprintf(err, errlen, "malformed rule %.200s", rt->name);
		free(parts);
		return -1;
	}
	struct wz_state *s = f->root;
	/* The domain part: "" without host matching. */
	struct wz_part dom = { .content = strdup(""), .stat = true };
	s = dom.content ? add_part(t, s, &dom, err, errlen) : NULL;
	free(dom.content);
	for (int k = 0; s && k < np; k++)
		s = add_part(t, s, &parts[k], err, errlen);
	wz_parts_free(parts, np);
	free(parts);
	int *rules = s ? realloc(s->rules, (s->nrules + 1) * sizeof(int)) : NULL;
	if (!rules)
		return -1;
	s->rules = rules;
	rules[s->nrules++] = i;
	return 0;
}

static int edge_cmp(const void *a, const void *b)
{
	const struct wz_edge *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->seg, y->seg, x->len);
}

/* Map.update(): dynamic children by weight (stable, as list.sort), statics for bsearch. */
static void wz_sort(struct wz_state *s)
{
	for (int i = 1; i < s->ndy; i++) {
		struct wz_dyn d = s->dy[i];
		int j = i;
		for (; j > 0 && wz_weight_cmp(&s->dy[j - 1].w, &d.w) > 0; j--)
			s->dy[j] = s->dy[j - 1];
		s->dy[j] = d;
	}
	if (s->nst > 1)
		qsort(s->st, s->nst, sizeof(*s->st), edge_cmp);
	for (int i = 0; i < s->nst; i++)
		wz_sort(s->st[i].to);
	for (int i = 0; i < s->ndy; i++)
		wz_sort(s->dy[i].to);
}

int rt_flask_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen)
{
	struct rt_flask *f = calloc(1, sizeof(*f));
	if (!f || !(f->root = calloc(1, sizeof(*f->root))) ||
	    !(f->methods = calloc(r->nroutes, sizeof(*f->methods))) ||
	    !(f->strict = calloc(r->nroutes, sizeof(*f->strict)))) {
		t->flask = f;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->flask = f;
	for (int i = 0; i < r->nroutes; i++) {
		const struct app_route *rt = &r->routes[i];
		if (!t->names[i])
			continue;
		f->methods[i] = rt->methods;
		f->strict[i] = rt->strict_slashes;
		if (add_rule(t, f, rt, i, err, errlen) < 0)
			rt_reject(t, i);
	}
	wz_sort(f->root);
	return 0;
}

static void state_free(struct wz_state *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nst; i++) {
		free(s->st[i].seg);
		state_free(s->st[i].to);
	}
	for (int i = 0; i < s->ndy; i++) {
		free(s->dy[i].content);
		pcre2_code_free(s->dy[i].re);
		state_free(s->dy[i].to);
	}
	free(s->st);
	free(s->dy);
	free(s->rules);
	free(s);
}

void rt_flask_free(struct rt_flask *f)
{
	if (!f)
		return;
	state_free(f->root);
	free(f->methods);
	free(f->strict);
	free(f);
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1 match, 0 none, -1 ask PCRE2. s[0..n) holds no '/' unless the part is final. */
static int fast_match(enum wz_fast f, const char *s, size_t n)
{
	switch (f) {
	case FAST_SEGMENT:
		return n > 0;
	case FAST_DIGITS:
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] >= 0x80)
				return -1; /* Python's \d also takes other scripts' digits */
			else if (s[i] < '0' || s[i] > '9')
				return 0;
		return n > 0;
	case FAST_UUID:
		if (n != 36)
			return 0;
		for (size_t i = 0; i < n; i++)
			if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !is_hex(s[i]))
				return 0;
		return 1;
	case FAST_PATH: /* "[^/].*?\Z": '.' takes anything but a newline */
		return n > 0 && s[0] != '/' && (n == 1 || !memchr(s + 1, '\n', n - 1));
	default:
		return -1;
	}
}

struct wz_walk {
	struct rt_req *q;
	const struct rt_flask *f;
	const char *p;
	size_t n;
	int first405;  /* the first rule whose path matched but not its methods */
};

static bool accepts(struct wz_walk *w, int rule)
{
	unsigned m = w->f->methods[rule];
	if (m == 0 || (m & w->q->mbit))
		return true;
	if (w->first405 < 0)
		w->first405 = rule;
	return false;
}

/* _match(): pos is where the current part starts; pos > n means no parts are left. A rule
 * found, or one that asks for a trailing slash (Werkzeug raises SlashRequired and stops), is
 * returned; -1 lets the caller backtrack. */
static int walk(struct wz_walk *w, const struct wz_state *s, size_t pos)
{
	if (pos > w->n) {
		for (int i = 0; i < s->nrules; i++)
			if (accepts(w, s->rules[i]))
				return s->rules[i];
		const struct wz_edge *e = find_static(s, "", 0);
		for (int i = 0; e && i < e->to->nrules; i++) {
			int r = e->to->rules[i];
			unsigned m = w->f->methods[r];
			if (m == 0 || (m & w->q->mbit)) /* no 405 noted here, as in Werkzeug */
				return r;  /* strict: the redirect it decides; else the match */
		}
		return -1;
	}
	const char *slash = memchr(w->p + pos, '/', w->n - pos);
	size_t end = slash ? (size_t)(slash - w->p) : w->n;
	size_t next = slash ? end + 1 : w->n + 1;
	const struct wz_edge *e = find_static(s, w->p + pos, end - pos);
	int r;
	if (e && (r = walk(w, e->to, next)) >= 0)
		return r;
	for (int i = 0; i < s->ndy; i++) {
		const struct wz_dyn *d = &s->dy[i];
		size_t tend = d->final ? w->n : end;
		int ok = fast_match(d->fast, w->p + pos, tend - pos);
		if (ok < 0)
			ok = rt_match(w->q, d->re, w->p + pos, tend - pos, 0, NULL, NULL) >= 0;
		if (!ok)
			continue;
		if ((r = walk(w, d->to, d->final ? w->n + 1 : next)) >= 0)
			return r;
	}
	if (pos == w->n) { /* parts == [""]: rules that do not insist on their slash */
		for (int i = 0; i < s->nrules; i++)
			if (!w->f->strict[s->rules[i]] && accepts(w, s->rules[i]))
				return s->rules[i];
	}
	return -1;
}

int rt_flask_name(struct rt_req *q, const char *path, size_t n)
{
	/* MapAdapter.match: "/" + path_info.lstrip("/"). */
	while (n > 1 && path[1] == '/')
		path++, n--;
	struct wz_walk w = { .q = q, .f = q->t->flask, .p = path, .n = n, .first405 = -1 };
	const struct wz_edge *dom = find_static(w.f->root, "", 0);
	if (!dom)
		return -1;
	int r = walk(&w, dom->to, 0);
	if (r >= 0)
		return r;
	/* merge_slashes: matched again with re.sub("/{2,}?", "/"); a match is a redirect. */
	if (memmem(path, n, "//", 2)) {
		char *m = rt_scratch(q, n);
		size_t k = 0;
		if (m) {
			for (size_t i = 0; i < n; i++) {
				m[k++] = path[i];
				if (path[i] == '/' && i + 1 < n && path[i + 1] == '/')
					i++;
			}
			w.p = m, w.n = k;
			if ((r = walk(&w, dom->to, 0)) >= 0)
				return r;
		}
	}
	return w.first405; /* a 405, or -1: 404 */
}
