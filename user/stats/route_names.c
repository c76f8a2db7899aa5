/* Route names without a framework table (see route_names.h). A prefix tree over the segments of
 * the id-folded template: each node counts the distinct literal values of the segment that
 * follows it. While a node collects (OPEN), names through it wait; past ROUTE_FOLD_VALUES values
 * it folds them all into {var}; after ROUTE_SETTLE_NS with fewer it settles (LITERAL) and keeps
 * them, and a value arriving after that stays literal up to the same limit, then goes to {var}.
 * Names are only ever handed out by settled or folded nodes, so a name never changes. */
#include "route_names.h"
#include "route.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_state { OPEN, LITERAL, FOLDED };

struct node {
	char *seg;
	struct node **kids;        /* literal values, and "{id}" (never counted as a value) */
	unsigned nkids, cap;
	unsigned nvalues;          /* literal kids */
	struct node *var;          /* "{var}": the values folded together */
	enum node_state state;
	uint64_t first_ns;         /* when its first value came (OPEN) */
};

enum part_kind { PART_LITERAL, PART_SEGMENT, PART_INT, PART_PATH };

struct pattern {
	char method[16];           /* "" = any */
	char path[192];            /* the name, as written */
	struct { enum part_kind kind; char text[64]; } parts[32];
	unsigned nparts;
};

struct route_namer {
	struct node root;
	unsigned nodes, folded;
	struct pattern patterns[ROUTE_PATTERNS_MAX];
	unsigned npatterns;
};

/* The root starts settled: an application's top-level sections are few and fixed, and waiting
 * there would hold every request. Its first 64 values are named at once, later ones {var}. */
struct route_namer *route_namer_new(void)
{
	struct route_namer *n = calloc(1, sizeof(*n));

	if (n)
		n->root.state = LITERAL;
	return n;
}

static void free_kids(struct node *x)
{
	for (unsigned i = 0; i < x->nkids; i++) {
		free_kids(x->kids[i]);
		free(x->kids[i]->seg);
		free(x->kids[i]);
	}
	free(x->kids);
	x->kids = NULL;
	x->nkids = x->cap = 0;
	if (x->var) {
		free_kids(x->var);
		free(x->var->seg);
		free(x->var);
		x->var = NULL;
	}
}

void route_namer_free(struct route_namer *n)
{
	if (!n)
		return;
	free_kids(&n->root);
	free(n);
}

/* ---- explicit patterns ---- */

int route_namer_add_pattern(struct route_namer *n, const char *spec, char *err, size_t errlen)
{
	struct pattern *p;
	const char *path = spec, *sp = strchr(spec, ' ');

	if (n->npatterns == ROUTE_PATTERNS_MAX) {
		snprintf(err, errlen, "too many route patterns (at most %d)", ROUTE_PATTERNS_MAX);
		return -1;
	}
	p = &n->patterns[n->npatterns];
	memset(p, 0, sizeof(*p));
	if (sp && spec[0] != '/') {
		size_t m = (size_t)(sp - spec);

		if (!m || m >= sizeof(p->method) || strspn(spec, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != m) {
			snprintf(err, errlen, "route pattern '%s': expected an upper-case method, a space, then "
				 "a path such as 'GET /post/{slug}'", spec);
			return -1;
		}
		memcpy(p->method, spec, m);
		path = sp + strspn(sp, " ");
	}
	if (path[0] != '/' || strlen(path) >= sizeof(p->path) || strpbrk(path, " ?#")) {
		snprintf(err, errlen, "route pattern '%s': the path must start with '/', hold no space, '?' "
			 "or '#', and be shorter than %zu bytes", spec, sizeof(p->path));
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	for (const char *s = path; *s;) {
		size_t len;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		len = strcspn(s, "/");
		if (p->nparts == 32 || len >= sizeof(p->parts[0].text)) {
			snprintf(err, errlen, "route pattern '%s': at most 32 segments of up to 63 bytes", spec);
			return -1;
		}
		if (s[0] == '{' && s[len - 1] == '}') {
			const char *colon = memchr(s, ':', len);
			size_t tlen = colon ? len - 1 - (size_t)(colon + 1 - s) : 0;

			p->parts[p->nparts].kind = !colon ? PART_SEGMENT
				: tlen == 3 && !memcmp(colon + 1, "int", 3) ? PART_INT
				: tlen == 4 && !memcmp(colon + 1, "path", 4) ? PART_PATH : PART_LITERAL;
			if (p->parts[p->nparts].kind == PART_LITERAL || len < 3) {
				snprintf(err, errlen, "route pattern '%s': '%.*s' is not {name}, {name:int} or "
					 "{name:path}", spec, (int)len, s);
				return -1;
			}
			if (p->parts[p->nparts].kind == PART_PATH && s[len]) {
				snprintf(err, errlen, "route pattern '%s': {name:path} must be the last segment", spec);
				return -1;
			}
		} else if (memchr(s, '{', len) || memchr(s, '}', len)) {
			snprintf(err, errlen, "route pattern '%s': a parameter must be a whole segment, as in "
				 "'/post/{slug}'", spec);
			return -1;
		}
		memcpy(p->parts[p->nparts].text, s, len);
		p->nparts++;
		s += len;
	}
	n->npatterns++;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Does the path (up to plen bytes) match p? Empty segments (repeated slashes) are skipped. */
static bool pattern_matches(const struct pattern *p, const char *path, size_t plen)
{
	size_t i = 0;

	for (unsigned k = 0; k < p->nparts; k++) {
		size_t j;

		while (i < plen && path[i] == '/')
			i++;
		if (i == plen)
			return false;
		if (p->parts[k].kind == PART_PATH)
			return true;
		for (j = i; j < plen && path[j] != '/'; j++)
			;
		if (p->parts[k].kind == PART_LITERAL &&
		    (strlen(p->parts[k].text) != j - i || memcmp(p->parts[k].text, path + i, j - i)))
			return false;
		if (p->parts[k].kind == PART_INT && !all_digits(path + i, j - i))
			return false;
		i = j;
	}
	while (i < plen && path[i] == '/')
		i++;
	return i == plen;
}

/* ---- cardinality folding ---- */

static struct node *new_node(struct route_namer *n, const char *seg, size_t len)
{
	struct node *x;

	if (n->nodes >= ROUTE_NODES_MAX || !(x = calloc(1, sizeof(*x))))
		return NULL;
	if (!(x->seg = strndup(seg, len))) {
		free(x);
		return NULL;
	}
	n->nodes++;
	return x;
}

static struct node *add_kid(struct route_namer *n, struct node *parent, const char *seg, size_t len)
{
	struct node *x;

	if (parent->nkids == parent->cap) {
		unsigned cap = parent->cap ? parent->cap * 2 : 4;
		struct node **v = realloc(parent->kids, sizeof(*v) * cap);

		if (!v)
			return NULL;
		parent->kids = v;
		parent->cap = cap;
	}
	if (!(x = new_node(n, seg, len)))
		return NULL;
	parent->kids[parent->nkids++] = x;
	return x;
}

static unsigned count_nodes(const struct node *x)
{
	unsigned c = x->var ? 1 + count_nodes(x->var) : 0;

	for (unsigned i = 0; i < x->nkids; i++)
		c += 1 + count_nodes(x->kids[i]);
	return c;
}

/* Past the limit of values: every value of this segment, past and future, is {var}. The literal
 * kids go ("{id}" stays: ids were never values); nothing was named through them. */
static void fold(struct route_namer *n, struct node *x)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < x->nkids; i++) {
		struct node *k = x->kids[i];

		if (!strcmp(k->seg, "{id}")) {
			x->kids[kept++] = k;
			continue;
		}
		n->nodes -= 1 + count_nodes(k);
		free_kids(k);
		free(k->seg);
		free(k);
	}
	x->nkids = kept;
	x->nvalues = 0;
	x->state = FOLDED;
	n->folded++;
}

static struct node *var_kid(struct route_namer *n, struct node *x)
{
	if (!x->var)
		x->var = new_node(n, "{var}", 5);
	return x->var;
}

/* The values the root keeps literal: an application's top-level pages are many more than a
 * segment's handful. */
static unsigned limit_of(const struct route_namer *n, const struct node *x)
{
	return x == &n->root ? 4 * ROUTE_FOLD_VALUES : ROUTE_FOLD_VALUES;
}

/* The node for segment seg under x, created as needed; NULL only when out of memory or nodes.
 * *wait is set when x still collects values. */
static struct node *step(struct route_namer *n, struct node *x, const char *seg, size_t len, uint64_t now_ns,
			 bool *wait)
{
	struct node *k;

	if (len == 4 && !memcmp(seg, "{id}", 4)) {
		for (unsigned i = 0; i < x->nkids; i++)
			if (!strcmp(x->kids[i]->seg, "{id}"))
				return x->kids[i];
		return add_kid(n, x, seg, len);
	}
	if (x->state == FOLDED)
		return var_kid(n, x);
	for (unsigned i = 0; i < x->nkids; i++)
		if (strlen(x->kids[i]->seg) == len && !memcmp(x->kids[i]->seg, seg, len)) {
			*wait |= x->state == OPEN;
			return x->kids[i];
		}
	if (x->nvalues >= limit_of(n, x) || n->nodes >= ROUTE_NODES_MAX) {
		if (x->state == OPEN) {
			fold(n, x);
			return var_kid(n, x);
		}
		return var_kid(n, x);   /* settled: the literal values stay, later ones share {var} */
	}
	if (!(k = add_kid(n, x, seg, len)))
		return var_kid(n, x);
	if (!x->nvalues++ && x->state == OPEN)
		x->first_ns = now_ns;
	*wait |= x->state == OPEN;
	return k;
}

static void put(char *out, size_t outlen, size_t *len, const char *s, size_t n)
{
	if (*len + n >= outlen)
		n = outlen - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = 0;
}

int route_namer_pattern(const struct route_namer *n, const char *method, const char *path, char *out,
			size_t outlen)
{
	size_t plen = strcspn(path, "?#");

	for (unsigned i = 0; i < n->npatterns; i++) {
		const struct pattern *p = &n->patterns[i];

		if ((!p->method[0] || !strcmp(p->method, method)) && pattern_matches(p, path, plen)) {
			snprintf(out, outlen, "%s", p->path);
			return 1;
		}
	}
	return 0;
}

int route_namer_name(struct route_namer *n, const char *method, const char *path, uint64_t now_ns,
		     char *out, size_t outlen)
{
	char tmpl[192];
	size_t len = 0;
	struct node *x = &n->root;
	bool wait = false;
	const char *s;

	if (!outlen || route_namer_pattern(n, method, path, out, outlen))
		return 1;
	route_template(path, tmpl, sizeof(tmpl));
	out[0] = 0;
	if (tmpl[0] != '/') { /* "*" and other targets that are no path */
		snprintf(out, outlen, "%s", tmpl);
		return 1;
	}
	for (s = tmpl; *s;) {
		size_t seglen;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		seglen = strcspn(s, "/");
		if (x)
			x = step(n, x, s, seglen, now_ns, &wait);
		put(out, outlen, &len, "/", 1);
		if (x)
			put(out, outlen, &len, x->seg, strlen(x->seg));
		else    /* out of nodes: the segment as the template has it */
			put(out, outlen, &len, s, seglen);
		s += seglen;
	}
	if (!len || tmpl[strlen(tmpl) - 1] == '/')
		put(out, outlen, &len, "/", 1);
	return !wait;
}

static unsigned decide(struct node *x, uint64_t now_ns, bool all)
{
	unsigned c = 0;

	if (x->state == OPEN && x->nvalues && (all || (now_ns > x->first_ns && now_ns - x->first_ns >= ROUTE_SETTLE_NS))) {
		x->state = LITERAL;
		c++;
	}
	for (unsigned i = 0; i < x->nkids; i++)
		c += decide(x->kids[i], now_ns, all);
	if (x->var)
		c += decide(x->var, now_ns, all);
	return c;
}

unsigned route_namer_decide(struct route_namer *n, uint64_t now_ns, bool all)
{
	return decide(&n->root, now_ns, all);
}

unsigned route_namer_folded(const struct route_namer *n)
{
	return n->folded;
}
