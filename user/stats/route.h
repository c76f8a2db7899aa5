/* Low-cardinality route templates: "/users/42/orders" -> "/users/{id}/orders", so per-route
 * metrics stay few. Pure string work on a path that has no query string; no state. */
#ifndef ROUTE_H
#define ROUTE_H
#include <stddef.h>

/* Write the template of `path` into out: id-like segments become "{id}". Returns out.
 * Repeated slashes collapse, a trailing slash stays, "" and "/" give "/"; a target that does
 * not start with '/' (e.g. "*") is copied. Truncated to outlen - 1 bytes. */
char *route_template(const char *path, char *out, size_t outlen);

/* Does this one segment (no slashes) look like an identifier rather than a word? */
int route_segment_is_id(const char *seg, size_t n);

#endif
