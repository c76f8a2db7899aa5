/* Route names when the framework's own table is not known: explicit patterns (--route), then
 * the id-folded template (route.h) with cardinality folding. A path segment that takes more
 * than ROUTE_FOLD_VALUES distinct values under one prefix becomes "{var}"; one that keeps a
 * handful stays literal. A prefix still collecting values names nothing yet: its requests wait
 * (the caller holds them) until it decides, so that no request is ever renamed once reported. */
#ifndef ROUTE_NAMES_H
#define ROUTE_NAMES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_FOLD_VALUES 16            /* distinct values a segment keeps literal */
#define ROUTE_SETTLE_NS 5000000000ull   /* a prefix with no more values by then stays literal */
#define ROUTE_PATTERNS_MAX 64
#define ROUTE_NODES_MAX 4096            /* past it, every open prefix folds */

struct route_namer;

struct route_namer *route_namer_new(void);
void route_namer_free(struct route_namer *n);

/* Add an explicit pattern, "[METHOD ]/post/{slug}": {x} is one segment, {x:int} digits,
 * {x:path} the rest of the path. Patterns are tried first, in the order added; the route's
 * name is the pattern's path as written. Returns 0, or -1 with err saying what is wrong. */
int route_namer_add_pattern(struct route_namer *n, const char *spec, char *err, size_t errlen);

/* The explicit pattern (--route) that names the request: 1 with out filled, else 0. Patterns
 * come before the framework's own table too. */
int route_namer_pattern(const struct route_namer *n, const char *method, const char *path, char *out,
			size_t outlen);

/* The route of a request: 1 with out filled, or 0 while a prefix on its path still collects
 * values (ask again after route_namer_decide). path may hold a query string. */
int route_namer_name(struct route_namer *n, const char *method, const char *path, uint64_t now_ns,
		     char *out, size_t outlen);

/* Settle the prefixes that collected values for ROUTE_SETTLE_NS (all of them when all is set,
 * at exit): they stay literal. Returns how many prefixes were settled. */
unsigned route_namer_decide(struct route_namer *n, uint64_t now_ns, bool all);

/* Segments folded into {var} so far (doctor and the JSON say so). */
unsigned route_namer_folded(const struct route_namer *n);

#endif
