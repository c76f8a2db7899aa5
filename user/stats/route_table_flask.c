/* Flask: Werkzeug 2.2's StateMachineMatcher (routing/matcher.py, rules.py _parse_rule), rebuilt
 * from the rule strings and converter regexes the reader found. A rule splits at '/' into
 * parts: static text, or a regex (escaped static text + "(converter regex)" + \Z); after a
 * converter that may span '/' (path) the rest is one "final" part matched against the remaining
 * segments joined. Each state tries its static child first, then its dynamic children sorted
 * by weight, depth-first with backtracking. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WZ_STATIC_MAX 32

/* Werkzeug's Weighting(-n_static, [(i, -len)], -n_args, [converter weights]), compared as
 * Python compares the tuple; the i of (i, -len) is the position, so only -len is kept. */
struct wz_weight {
	int nstatic, nargs;
	int slen[WZ_STATIC_MAX];
	int aw[APP_VARS_MAX];
};

struct wz_state;
struct wz_edge {
	char *seg;
	size_t len;
	struct wz_state *to;
};
struct wz_dyn {
	char *content;  /* the regex, for merging equal parts as Werkzeug does */
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

/* One part of a rule while parsing. */
struct wz_part {
	char *content;
	bool stat, final;
	struct wz_weight w;
};

static int wz_weight_cmp(const struct wz_weight *a, const struct wz_weight *b)
{
	/* (-n_static): more static pieces first; then longer pieces first; more arguments
	 * first; then lighter converters first (int 50 < default 100 < path 200). */
	if (a->nstatic != b->nstatic)
		return b->nstatic - a->nstatic;
	for (int i = 0; i < a->nstatic; i++)
		if (a->slen[i] != b->slen[i])
			return b->slen[i] - a->slen[i];
	if (a->nargs != b->nargs)
		return b->nargs - a->nargs;
	for (int i = 0; i < a->nargs; i++)
		if (a->aw[i] != b->aw[i])
			return a->aw[i] - b->aw[i];
	return 0;
}

/* Appends s[0..n) to a growing string, regex-escaped when esc (re.escape's role). */
static bool sb_add(char **buf, size_t *len, const char *s, size_t n, bool esc)
{
	char *b = realloc(*buf, *len + 2 * n + 1);
	if (!b)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (esc && c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '_')
			b[(*len)++] = '\\';
		b[(*len)++] = (char)c;
	}
	b[*len] = '\0';
	*buf = b;
	return true;
}

static size_t ident(const char *s, size_t i)
{
	size_t j = i;
	if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_'))
		return i;
	while ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_' ||
	       (s[j] >= '0' && s[j] <= '9'))
		j++;
	return j;
}

/* The end of a "<conv(args):var>" or "<var>" at s[i] == '<' (Werkzeug's _part_re), or 0. */
static size_t var_end(const char *s, size_t i)
{
	size_t a = ident(s, i + 1), e;
	if (a > i + 1 && s[a] == '(') {
		for (size_t r = a + 1; s[r] && s[r] != '\n'; r++)
			if (s[r] == ')' && s[r + 1] == ':' && (e = ident(s, r + 2)) > r + 2 && s[e] == '>')
				return e + 1;
	}
	if (a > i + 1 && s[a] == ':' && (e = ident(s, a + 1)) > a + 1 && s[e] == '>')
		return e + 1;
	if (a > i + 1 && s[a] == '>')
		return a + 1;
	return 0;
}

static void parts_free(struct wz_part *p, int n)
{
	for (int i = 0; i < n; i++)
		free(p[i].content);
}

/* _parse_rule: the parts of one rule (after the domain part), or -1 when the rule or its
 * converters do not fit what Werkzeug would have accepted. */
static int parse_rule(const struct app_route *rt, struct wz_part *parts, int max)
{
	char rule[APP_NAME_MAX + 1];
	size_t rn = 0;
	/* Werkzeug merges slashes in the rule first: re.sub("/{2,}?", "/"). */
	for (size_t i = 0; i < sizeof(rt->name) && rt->name[i]; i++) {
		rule[rn++] = rt->name[i];
		if (rt->name[i] == '/' && i + 1 < sizeof(rt->name) && rt->name[i + 1] == '/')
			i++;
	}
	rule[rn] = '\0';
	int np = 0, var = 0;
	struct wz_part cur = { .stat = true };
	size_t clen = 0, pos = 0;
	char *raw = NULL; /* static text so far, kept raw while the part is static */
	while (pos < rn) {
		if (rule[pos] == '/') {
			if (cur.final) {
				if (!sb_add(&cur.content, &clen, "/", 1, true))
					goto fail;
			} else {
				if (!cur.stat && !sb_add(&cur.content, &clen, "\\Z", 2, false))
					goto fail;
				if (np == max || (!cur.content && !sb_add(&cur.content, &clen, "", 0, 0)))
					goto fail;
				parts[np++] = cur;
				memset(&cur, 0, sizeof(cur));
				cur.stat = true;
				clen = 0;
			}
			pos++;
		} else if (rule[pos] == '<') {
			size_t e = var_end(rule, pos);
			if (!e || var >= rt->nvars || rt->vars[var].regex[0] == '\0')
				goto fail;
			const struct app_var *v = &rt->vars[var++];
			if (cur.stat && cur.content) { /* switching to a regex: escape what was static */
				raw = cur.content;
				cur.content = NULL;
				size_t rl = clen;
				clen = 0;
				if (!sb_add(&cur.content, &clen, raw, rl, true))
					goto fail;
				free(raw);
				raw = NULL;
			}
			cur.stat = false;
			if (!v->part_isolating)
				cur.final = true;
			if (!sb_add(&cur.content, &clen, "(", 1, false) ||
			    !sb_add(&cur.content, &clen, v->regex, strnlen(v->regex, APP_REGEX_MAX), false) ||
			    !sb_add(&cur.content, &clen, ")", 1, false) || cur.w.nargs == APP_VARS_MAX)
				goto fail;
			cur.w.aw[cur.w.nargs++] = v->weight;
			pos = e;
		} else {
			size_t e = pos;
			while (e < rn && rule[e] != '/' && rule[e] != '<')
				e++;
			if (cur.w.nstatic == WZ_STATIC_MAX ||
			    !sb_add(&cur.content, &clen, rule + pos, e - pos, !cur.stat))
				goto fail;
			cur.w.slen[cur.w.nstatic++] = -(int)(e - pos);
			pos = e;
		}
	}
	if (!cur.stat && !sb_add(&cur.content, &clen, "\\Z", 2, false))
		goto fail;
	if (np == max || (!cur.content && !sb_add(&cur.content, &clen, "", 0, 0)))
		goto fail;
	parts[np++] = cur;
	/* Werkzeug stores -len; the comparison wants "longer first", so flip to lengths. */
	for (int i = 0; i < np; i++)
		for (int k = 0; k < parts[i].w.nstatic; k++)
			parts[i].w.slen[k] = -parts[i].w.slen[k];
	return np;
fail:
	free(raw);
	free(cur.content);
	parts_free(parts, np);
	return -1;
}

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
	int np = parts ? parse_rule(rt, parts, MAXP) : -1;
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
	parts_free(parts, np);
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
		if (rt_match(w->q, d->re, w->p + pos, tend - pos, 0, NULL, NULL) < 0)
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
