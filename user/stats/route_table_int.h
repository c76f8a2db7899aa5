/* Internals of the route matcher (route_table.h), shared by its core (route_table.c: build,
 * request decoding), its regex helpers (route_table_regex.c) and one file per framework:
 * route_table_flask.c (Werkzeug's state machine) with route_table_flask_rule.c (its rule
 * parser), route_table_django.c (include chains), route_table_starlette.c (routes and Mounts).
 * Not for use outside user/stats/route_table*.c. */
#ifndef ROUTE_TABLE_INT_H
#define ROUTE_TABLE_INT_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "route_table.h"

/* Bounds against hostile input: a PCRE2 match gives up (counts as no match) after this many
 * backtracking steps, and a target longer than this is left unnamed (servers refuse such
 * request lines with 414 long before). */
#define RT_MATCH_LIMIT 10000
#define RT_TARGET_MAX 65536

struct rt_flask;
struct rt_django;
struct rt_star;

struct route_table {
	enum app_framework fw;
	int templates, rejected;
	int nnames;
	char **names;                 /* per input route, NULL when it was dropped */
	pcre2_compile_context *cctx;
	pcre2_match_context *mctx;
	unsigned max_pairs;           /* ovector pairs the largest match needs */
	struct rt_flask *flask;
	struct rt_django *django;
	struct rt_star *star;
};

/* Scratch for one route_table_name call: the decoded path and the paths a framework derives
 * from it (slash added or removed, a Mount's rest) are carved from one buffer. */
struct rt_req {
	const struct route_table *t;
	unsigned mbit;                /* APP_M_* of the request method */
	pcre2_match_data *md;
	char *buf;
	size_t cap, used;
};

/* Python regex text -> PCRE2 code (\Z -> \z, {,n} -> {0,n}), compiled with Python's str
 * semantics (UTF, Unicode \d \w, LF newline) and JIT when available; opts are PCRE2_ANCHORED
 * (Python's match()) and PCRE2_ENDANCHORED (fullmatch()), fixed per use so that JIT serves them.
 * NULL with err on failure. */
pcre2_code *rt_compile_opts(struct route_table *t, const char *py, uint32_t opts, char *err,
			    size_t errlen);

/* Matches code on s[0..n). Returns the end offset of the match, or -1 (no match, or a limit
 * was hit). With want_group > 0, gs and ge get that group's span (-1 when unset). */
long rt_match(struct rt_req *q, const pcre2_code *code, const char *s, size_t n, int want_group,
	      long *gs, long *ge);

/* The literal text every match of an anchored regex must start with ("^/api/v1/items/" gives
 * "/api/v1/items/"), summarized as its first 8 bytes (masked when shorter) and its last 8, so
 * that most routes of a long list are passed over with two compares and no PCRE2 call. The
 * last 8 matter when routes share a start ("/api/v1/..."). */
struct rt_head {
	uint64_t head, mask, tail;
	uint32_t litn;
};

/* The first 8 bytes of s[0..n), zero-padded (no literal holds a NUL, so a short s fails). A
 * list of routes tried on the same path computes it once and keeps the heads in an array. */
static inline uint64_t rt_word(const char *s, size_t n)
{
	uint64_t w = 0;
	memcpy(&w, s, n < 8 ? n : 8);
	return w;
}

/* False when s[0..n) (whose rt_word is w) cannot start with the literal. */
static inline bool rt_head_may_match(const struct rt_head *h, uint64_t w, const char *s, size_t n)
{
	uint64_t t;
	if ((w & h->mask) != h->head)
		return false;
	if (h->litn <= 8)
		return true;
	if (n < h->litn)
		return false;
	memcpy(&t, s + h->litn - 8, 8);
	return t == h->tail;
}

struct rt_pat {
	pcre2_code *re;
	char *lit;
	struct rt_head h;
};
int rt_pat_compile(struct route_table *t, struct rt_pat *p, const char *py, uint32_t opts,
		   char *err, size_t errlen);
void rt_pat_free(struct rt_pat *p);

static inline long rt_pat_match(struct rt_req *q, const struct rt_pat *p, const char *s, size_t n,
				int want_group, long *gs, long *ge)
{
	if (p->h.litn) {
		if (!rt_head_may_match(&p->h, rt_word(s, n), s, n))
			return -1;
		if (p->h.litn > 16 && memcmp(s + 8, p->lit + 8, p->h.litn - 16))
			return -1;
	}
	return rt_match(q, p->re, s, n, want_group, gs, ge);
}

/* n bytes of scratch from the request buffer, or NULL when it is full. */
char *rt_scratch(struct rt_req *q, size_t n);

/* Case-insensitive variant of app_method_bit (Werkzeug upper()-cases the method). */
unsigned rt_method_bit(const char *method, bool fold_case);

/* Per-framework build (0, or -1 with err when nothing could be kept), free and name. The name
 * functions return a route index or -1 for {unmatched}; path is decoded, n bytes. */
int rt_flask_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen);
void rt_flask_free(struct rt_flask *f);
int rt_flask_name(struct rt_req *q, const char *path, size_t n);

int rt_django_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen);
void rt_django_free(struct rt_django *d);
int rt_django_name(struct rt_req *q, const char *path, size_t n);

int rt_star_build(struct route_table *t, const struct app_routes *r, char *err, size_t errlen);
void rt_star_free(struct rt_star *s);
int rt_star_name(struct rt_req *q, const char *path, size_t n);

/* Flask's rule parts (route_table_flask_rule.c). Werkzeug's Weighting(-n_static, [(i, -len)],
 * -n_args, [converter weights]) is kept as the static pieces' lengths and the weights; the i
 * of (i, -len) is the position, so comparing lengths in order compares the same. */
#define WZ_STATIC_MAX 32
struct wz_weight {
	int nstatic, nargs;
	int slen[WZ_STATIC_MAX];
	int aw[APP_VARS_MAX];
};
struct wz_part {
	char *content;  /* static: the text; else the regex */
	bool stat, final;
	struct wz_weight w;
};
/* Werkzeug's order: <0 when a sorts before b. */
int wz_weight_cmp(const struct wz_weight *a, const struct wz_weight *b);
/* The parts of route rt's rule after the domain part, or -1 when Werkzeug would refuse the
 * rule or its converters were not all read. */
int wz_parse_rule(const struct app_route *rt, struct wz_part *parts, int max);
void wz_parts_free(struct wz_part *p, int n);

/* Drop route i from the table's names and count it rejected. */
void rt_reject(struct route_table *t, int i);

#endif
