/* Django's route conversion and naming (routes_django.h): expected values printed by Django 3.2.25
 * itself (django.urls.resolvers._route_to_regex and URLResolver._join_route) on Python 3.11. */
#include <errno.h>
#include "unit.h"
#include "routes_django.h"

/* The converter regexes Django registers, by the parameter names used below. */
static int conv(void *arg, const char *param, char *regex, size_t len)
{
	static const struct { const char *params, *regex; } tab[] = {
		{ " year a b n ", "[0-9]+" }, { " slug s ", "[-a-zA-Z0-9_]+" }, { " name ", "[^/]+" },
		{ " rest ", ".+" }, { " u ", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}" },
	};
	char key[64];

	(*(int *)arg)++;
	snprintf(key, sizeof(key), " %s ", param);
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strstr(tab[i].params, key))
			return snprintf(regex, len, "%s", tab[i].regex) < (int)len ? 0 : -E2BIG;
	return -ENOENT;
}

UNIT_TEST(django_route_regex_as_django_compiles_it)
{
	static const struct { const char *desc, *route; bool endpoint; const char *want; } cases[] = {
		{ "two converters", "articles/<int:year>/<slug:slug>/", true,
		  "^articles/(?P<year>[0-9]+)/(?P<slug>[-a-zA-Z0-9_]+)/\\Z" },
		{ "root endpoint", "", true, "^\\Z" },
		{ "empty include prefix", "", false, "^" },
		{ "include prefix: no \\Z", "blog/", false, "^blog/" },
		{ "re.escape specials", "a.b-c+(d)~ #&|/", true, "^a\\.b\\-c\\+\\(d\\)\\~\\ \\#\\&\\|/\\Z" },
		{ "more specials", "[]{}?*^$\\", true, "^\\[\\]\\{\\}\\?\\*\\^\\$\\\\\\Z" },
		{ "default str converter", "users/<name>/", true, "^users/(?P<name>[^/]+)/\\Z" },
		{ "adjacent", "x<int:a><int:b>", true, "^x(?P<a>[0-9]+)(?P<b>[0-9]+)\\Z" },
		{ "non-ASCII kept", "caf\xc3\xa9/<slug:s>", true, "^caf\xc3\xa9/(?P<s>[-a-zA-Z0-9_]+)\\Z" },
		{ "<> is literal", "a<>b/<int:n>", true, "^a<>b/(?P<n>[0-9]+)\\Z" },
		{ "unterminated <", "a<b", true, "^a<b\\Z" },
		{ "path", "files/<path:rest>", true, "^files/(?P<rest>.+)\\Z" },
		{ "uuid prefix", "t/<uuid:u>/", false,
		  "^t/(?P<u>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[512];
		int calls = 0, r = django_route_regex(cases[i].route, cases[i].endpoint, conv, &calls, out, sizeof(out));
		CHECKF(r == 0 && !strcmp(out, cases[i].want), "%s: %d '%.200s', want '%s'", cases[i].desc, r, out,
		       cases[i].want);
	}
}

UNIT_TEST(django_route_regex_bounds_and_converter_errors)
{
	char out[16];
	int calls = 0;

	CHECK(django_route_regex("abcdefghijklmnop", true, conv, &calls, out, sizeof(out)) == -E2BIG);
	CHECK(django_route_regex("a.a.a.a.a.a.a.", true, conv, &calls, out, sizeof(out)) == -E2BIG);
	CHECK(django_route_regex("x/<int:year>", true, conv, &calls, out, sizeof(out)) == -E2BIG);
	CHECK(django_route_regex("abc/", false, conv, &calls, out, 6) == 0 && !strcmp(out, "^abc/")); /* exact fit */
	CHECK(django_route_regex("abc/", false, conv, &calls, out, 5) == -E2BIG);
	CHECK(django_route_regex("a.", false, conv, &calls, out, 5) == 0 && !strcmp(out, "^a\\."));
	CHECK(django_route_regex("a.", false, conv, &calls, out, 4) == -E2BIG);
	CHECK(django_route_regex("abc/", true, conv, &calls, out, 7) == -E2BIG);   /* "\Z" does not fit */
	/* a converter that cannot be read (torn, absent) is the read's error */
	calls = 0;
	CHECK(django_route_regex("<int:zz>/", true, conv, &calls, out, sizeof(out)) == -ENOENT && calls == 1);
}

UNIT_TEST(django_route_name_as_resolver_match_route)
{
	static const struct { const char *desc, *strs[3]; int n; const char *want; } cases[] = {
		{ "inner ^ dropped", { "blog/", "^archive/$" }, 2, "blog/archive/$" },
		{ "empty outer keeps ^", { "", "^legal/$" }, 2, "^legal/$" },
		{ "outer ^ kept", { "^api/", "items/" }, 2, "^api/items/" },
		{ "root", { "", "" }, 2, "/" },
		{ "empty middle", { "a/", "", "^x$" }, 3, "a/x$" },
		{ "three regexes", { "^a/", "^b/", "^c$" }, 3, "^a/b/c$" },
		{ "top-level path", { "users/<name>/" }, 1, "users/<name>/" },
		{ "top-level re_path", { "^x$" }, 1, "^x$" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		int r = django_route_name(cases[i].strs, cases[i].n, out, sizeof(out));
		CHECKF(r == 0 && !strcmp(out, cases[i].want), "%s: %d '%.200s', want '%s'", cases[i].desc, r, out,
		       cases[i].want);
	}
	char small[8];
	const char *long_chain[] = { "abcd/", "efgh/" };
	CHECK(django_route_name(long_chain, 2, small, sizeof(small)) == -E2BIG);
	CHECK(django_route_name(long_chain, 0, small, sizeof(small)) == -E2BIG);
}
