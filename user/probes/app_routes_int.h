/* Private to the route-table reader (app_routes.c) and its per-framework files
 * (routes_flask.c, routes_starlette.c, routes_django.c): each fills a struct app_routes from one
 * process through pyobj, in the framework's own order. See app_routes.h and
 * docs/design/routes.md sections 1.3 and 2. */
#ifndef APP_ROUTES_INT_H
#define APP_ROUTES_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "app_routes.h"
#include "pyobj.h"

/* Each returns 0 with out filled (framework set; routes that could not be read counted in
 * out->skipped), or -errno with err saying what failed. Flask and Starlette get the app object
 * app_routes.c chose; Django finds its table from settings.ROOT_URLCONF (it has no app object). */
int routes_django_read(struct pyproc *p, struct app_routes *out, char *err, size_t errlen);
int routes_flask_read(struct pyproc *p, uint64_t app, struct app_routes *out, char *err, size_t errlen);
int routes_starlette_read(struct pyproc *p, uint64_t app, struct app_routes *out, char *err, size_t errlen);

/* A new zeroed route at the end of out, or NULL past APP_ROUTES_MAX or out of memory (the
 * caller counts it in out->skipped). */
struct app_route *routes_add(struct app_routes *out);
/* Drop the last route (it could not be read completely). */
void routes_drop_last(struct app_routes *out);
/* Copy src into dst: 0, or -E2BIG (dst left empty) when it does not fit. */
int routes_copy(char *dst, size_t dstlen, const char *src);
/* APP_M_* bit of an HTTP method name ("GET" -> APP_M_GET, unknown -> APP_M_OTHER). */
unsigned routes_method_bit(const char *method);
/* The APP_M_* bits of a set/frozenset/list/tuple of method names; None gives 0 (any). */
int routes_methods(struct pyproc *p, uint64_t obj, unsigned *bits);
/* Parse an application spec as gunicorn/uvicorn take it: "mod.sub:app", "mod:create_app()",
 * "--module=mod:app" (what follows '='). 0 with mod and attr set (factory when it calls), or
 * -EINVAL when arg is not one. */
int app_spec_parse(const char *arg, char *mod, size_t modlen, char *attr, size_t attrlen, bool *factory);
/* The apps mounted (Mount.app, recursively) inside a Starlette/FastAPI app: up to max written,
 * *n = how many. 0 or -errno. */
int routes_starlette_mounted(struct pyproc *p, uint64_t app, uint64_t *apps, int max, int *n);
/* Mix v into a fingerprint (FNV-1a over its bytes). */
uint64_t routes_mix(uint64_t h, const void *v, size_t len);

#endif
