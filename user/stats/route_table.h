/* Names a request by the template its framework would choose, from a table read out of the
 * application (probes/app_routes.h): Werkzeug's rule order and converters for Flask, Django's
 * include() chain search, Starlette's route and Mount order. Regexes are PCRE2 (Python's dialect
 * is close enough once \Z is translated), compiled once per table. */
#ifndef ROUTE_TABLE_H
#define ROUTE_TABLE_H
#include <stddef.h>
#include "app_routes.h"

/* A request no template matches: the framework answers it 404 itself. */
#define ROUTE_UNMATCHED "{unmatched}"

struct route_table;

/* NULL with err set when no route could be compiled; routes that fail alone are counted in
 * route_table_rejected() and left out. */
struct route_table *route_table_build(const struct app_routes *r, char *err, size_t errlen);
void route_table_free(struct route_table *t);

/* The template of "METHOD target" (target as on the request line: path and query, percent
 * encoded), or ROUTE_UNMATCHED. A 405 (path matches, method does not) and a framework redirect
 * (Werkzeug's strict slashes, Django's APPEND_SLASH, Starlette's redirect_slashes) are named by
 * the template the framework used to decide them. The string lives as long as the table. */
const char *route_table_name(const struct route_table *t, const char *method, const char *target);

int route_table_templates(const struct route_table *t);
int route_table_rejected(const struct route_table *t);
enum app_framework route_table_framework(const struct route_table *t);

/* APP_M_* bit of a request method; APP_M_OTHER for any other token. */
unsigned app_method_bit(const char *method);

#endif
