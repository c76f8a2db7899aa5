/* The pure halves of the Django route reader (routes_django.c), unit-tested without a process:
 * RoutePattern._route to the regex Django compiles, and ResolverMatch.route from the str() of
 * each pattern down an include() chain. Both follow Django 3.2's django/urls/resolvers.py. */
#ifndef ROUTES_DJANGO_H
#define ROUTES_DJANGO_H
#include <stdbool.h>
#include <stddef.h>

/* The regex of the converter of parameter param (the pattern's converters[param].regex). */
typedef int (*django_conv_fn)(void *arg, const char *param, char *regex, size_t len);

/* _route_to_regex: "^", the literal text through re.escape (3.7+), each <conv:param> as
 * (?P<param>regex), "\Z" for an endpoint only. 0, -E2BIG when out is too small, or conv's error. */
int django_route_regex(const char *route, bool endpoint, django_conv_fn conv, void *arg, char *out,
		       size_t outlen);
/* URLResolver._join_route folded from the view up: strs[0] is the outermost include's pattern.
 * An inner leading '^' is dropped unless the outer part is empty; "" is reported as "/". 0 or -E2BIG. */
int django_route_name(const char *const *strs, int n, char *out, size_t outlen);

#endif
