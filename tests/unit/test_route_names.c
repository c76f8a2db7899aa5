/* route_names: explicit patterns, cardinality folding, and names that never change. */
#include <stdlib.h>
#include "unit.h"
#include "route_names.h"

#define S 1000000000ull

static int name(struct route_namer *n, const char *method, const char *path, uint64_t now, char *out)
{
	return route_namer_name(n, method, path, now, out, 192);
}

UNIT_TEST(route_names_fold_many_slugs_and_keep_a_handful)
{
	struct route_namer *n = route_namer_new();
	char out[192], path[64];

	/* the first values wait: the prefix still collects */
	CHECK(name(n, "GET", "/post/hello-world", 1 * S, out) == 0);
	CHECK(name(n, "GET", "/tag/python", 1 * S, out) == 0);
	for (int i = 0; i < ROUTE_FOLD_VALUES; i++) {
		snprintf(path, sizeof(path), "/post/slug-number-%c%c", 'a' + i % 26, 'a' + i / 26);
		name(n, "GET", path, 2 * S, out);
	}
	/* the 17th distinct slug folds them all, and the name is final at once */
	CHECK(name(n, "GET", "/post/yet-another-post", 2 * S, out) == 1 && !strcmp(out, "/post/{var}"));
	CHECK(name(n, "GET", "/post/hello-world", 2 * S, out) == 1 && !strcmp(out, "/post/{var}"));
	/* ids never wait */
	CHECK(name(n, "GET", "/users/42/", 2 * S, out) == 1 && !strcmp(out, "/users/{id}/"));
	CHECK(name(n, "GET", "/post/hello-world/comments", 2 * S, out) == 0); /* {var} collects now */
	/* tags: three values, still waiting until the prefix settles */
	CHECK(name(n, "GET", "/tag/rust", 3 * S, out) == 0);
	CHECK(name(n, "GET", "/tag/go?page=2", 3 * S, out) == 0);
	CHECK(route_namer_decide(n, 3 * S, false) == 0);  /* too early */
	CHECK(route_namer_decide(n, 7 * S, false) == 2);   /* /tag and /post/{var} settle */
	CHECK(name(n, "GET", "/tag/go?page=2", 7 * S, out) == 1 && !strcmp(out, "/tag/go"));
	CHECK(name(n, "GET", "/tag/python", 7 * S, out) == 1 && !strcmp(out, "/tag/python"));
	CHECK(name(n, "GET", "/post/hello-world", 7 * S, out) == 1 && !strcmp(out, "/post/{var}"));
	/* ids were never values, so they do not wait; a trailing slash is kept */
	CHECK(name(n, "GET", "/tag/python/42/", 7 * S, out) == 1 && !strcmp(out, "/tag/python/{id}/"));
	CHECK(name(n, "GET", "/post/hello-world/comments", 7 * S, out) == 1 &&
	      !strcmp(out, "/post/{var}/comments"));
	/* a new prefix collects again; at exit every prefix settles */
	CHECK(name(n, "GET", "/fresh/a", 7 * S, out) == 0);
	route_namer_decide(n, 0, true);
	CHECK(name(n, "GET", "/fresh/a", 7 * S, out) == 1 && !strcmp(out, "/fresh/a"));
	/* a settled prefix takes late values literally up to the limit, then the rest share {var},
	 * while the names it gave stay */
	for (int i = 0; i < 2 * ROUTE_FOLD_VALUES; i++) {
		snprintf(path, sizeof(path), "/tag/late-%c%c", 'a' + i % 26, 'a' + i / 26);
		CHECK(name(n, "GET", path, 8 * S, out) == 1);
	}
	CHECK(!strcmp(out, "/tag/{var}"));
	CHECK(name(n, "GET", "/tag/rust", 9 * S, out) == 1 && !strcmp(out, "/tag/rust"));
	CHECK(route_namer_folded(n) == 1);
	route_namer_free(n);
}

UNIT_TEST(route_names_explicit_patterns_first)
{
	struct route_namer *n = route_namer_new();
	char out[192], err[256];

	CHECK(route_namer_add_pattern(n, "GET /post/{slug}", err, sizeof(err)) == 0);
	CHECK(route_namer_add_pattern(n, "/n/{n:int}", err, sizeof(err)) == 0);
	CHECK(route_namer_add_pattern(n, "/files/{p:path}", err, sizeof(err)) == 0);
	CHECK(name(n, "GET", "/post/anything?x=1", 1, out) == 1 && !strcmp(out, "/post/{slug}"));
	CHECK(name(n, "POST", "/post/anything", 1, out) == 0); /* method differs: folding decides */
	CHECK(name(n, "GET", "/post/a/b", 1, out) == 0);        /* one segment only */
	CHECK(name(n, "GET", "/n/42", 1, out) == 1 && !strcmp(out, "/n/{n:int}"));
	CHECK(name(n, "GET", "/n/4x2", 1, out) == 0);
	CHECK(name(n, "PUT", "/files/a/b/c.txt", 1, out) == 1 && !strcmp(out, "/files/{p:path}"));
	CHECK(name(n, "PUT", "/files/", 1, out) == 1 && !strcmp(out, "/files/")); /* nothing after it */

	/* what a user may get wrong, each with its reason */
	CHECK(route_namer_add_pattern(n, "get /x", err, sizeof(err)) == -1 && strstr(err, "upper-case method"));
	CHECK(route_namer_add_pattern(n, "post/{slug}", err, sizeof(err)) == -1 && strstr(err, "start with '/'"));
	CHECK(route_namer_add_pattern(n, "/a/{x:float}", err, sizeof(err)) == -1 && strstr(err, "{name:int}"));
	CHECK(route_namer_add_pattern(n, "/a/v{ver}", err, sizeof(err)) == -1 && strstr(err, "whole segment"));
	CHECK(route_namer_add_pattern(n, "/a/{p:path}/b", err, sizeof(err)) == -1 && strstr(err, "last segment"));
	CHECK(route_namer_add_pattern(n, "/a?b", err, sizeof(err)) == -1);
	route_namer_free(n);
}

UNIT_TEST(route_names_bounded_under_a_flood)
{
	struct route_namer *n = route_namer_new();
	char out[192], path[96];
	int named = 0;

	/* distinct values at every depth: the tree stays within its node limit, every request
	 * still gets a name (the segment as the template has it when nodes run out) */
	for (int i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "/a%d/b%d/c%d", i % 50, i % 997, i);
		named += name(n, "GET", path, (uint64_t)i * 1000, out);
		if (i % 1000 == 999)
			route_namer_decide(n, (uint64_t)i * 1000 + 10 * S, false);
	}
	route_namer_decide(n, 0, true);
	CHECK(name(n, "GET", "/a1/b1/c1", 0, out) == 1);
	CHECK(named > 0);
	route_namer_free(n);
}
