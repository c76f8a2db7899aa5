/* Helpers the per-framework route readers share: bounded route slots, methods, the
 * command-line application spec. See app_routes_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"

struct app_route *routes_add(struct app_routes *out)
{
	int n = out->nroutes;

	if (n >= APP_ROUTES_MAX)
		return NULL;
	/* Grown by doubling: a route is ~9 KiB, so small tables stay small. */
	if (n == 0 || (n >= 16 && !(n & (n - 1)))) {
		struct app_route *r = realloc(out->routes, sizeof(*r) * (size_t)(n ? 2 * n : 16));
		if (!r)
			return NULL;
		out->routes = r;
	}
	memset(&out->routes[n], 0, sizeof(out->routes[n]));
	return &out->routes[out->nroutes++];
}

void routes_drop_last(struct app_routes *out)
{
	if (out->nroutes > 0)
		out->nroutes--;
}

int routes_copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen) {
		if (dstlen)
			dst[0] = 0;
		return -E2BIG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

unsigned routes_method_bit(const char *m)
{
	static const struct { const char *name; unsigned bit; } tab[] = {
		{ "GET", APP_M_GET }, { "HEAD", APP_M_HEAD }, { "POST", APP_M_POST }, { "PUT", APP_M_PUT },
		{ "DELETE", APP_M_DELETE }, { "PATCH", APP_M_PATCH }, { "OPTIONS", APP_M_OPTIONS },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(m, tab[i].name))
			return tab[i].bit;
	return APP_M_OTHER;
}

int routes_methods(struct pyproc *p, uint64_t obj, unsigned *bits)
{
	uint64_t items[32];
	char m[32];
	int n, r;

	*bits = 0;
	if (pyobj_is_none(p, obj))
		return 0;
	if ((r = pyobj_set(p, obj, items, 32, &n)) == -EINVAL)
		r = pyobj_seq(p, obj, items, 32, &n);
	if (r)
		return r;
	if (n > 32)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		if ((r = pyobj_str(p, items[i], m, sizeof(m))))
			return r == -E2BIG ? (*bits |= APP_M_OTHER, 0) : r;
		*bits |= routes_method_bit(m);
	}
	return 0;
}

uint64_t routes_mix(uint64_t h, const void *v, size_t len)
{
	const unsigned char *b = v;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static bool ident(const char *s, size_t n, bool dots)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (dots && s[i] == '.')))
			return false;
	return s[n - 1] != '.';
}

int app_spec_parse(const char *arg, char *mod, size_t modlen, char *attr, size_t attrlen, bool *factory)
{
	const char *colon, *end;
	size_t mlen, alen;

	if (!strncmp(arg, "--", 2)) {
		if (!(arg = strchr(arg, '=')))
			return -EINVAL;
		arg++;
	}
	if (!(colon = strchr(arg, ':')))
		return -EINVAL;
	mlen = (size_t)(colon - arg);
	end = colon + 1 + strcspn(colon + 1, "(");
	alen = (size_t)(end - colon - 1);
	if (!ident(arg, mlen, true) || !ident(colon + 1, alen, false) || (*end && end[strlen(end) - 1] != ')') ||
	    mlen >= modlen || alen >= attrlen)
		return -EINVAL;
	memcpy(mod, arg, mlen);
	mod[mlen] = 0;
	memcpy(attr, colon + 1, alen);
	attr[alen] = 0;
	*factory = *end == '(';
	return 0;
}
