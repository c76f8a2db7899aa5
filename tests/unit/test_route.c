/* route_template: table of paths and the templates they must collapse to. */
#include "unit.h"
#include "route.h"

static const struct {
	const char *desc, *path, *want;
} cases[] = {
	{ "root", "/", "/" },
	{ "empty", "", "/" },
	{ "only slashes", "///", "/" },
	{ "numeric id", "/users/42", "/users/{id}" },
	{ "numeric id mid-path", "/users/42/orders", "/users/{id}/orders" },
	{ "sleep duration", "/sleep/50", "/sleep/{id}" },
	{ "uuid lower", "/orders/3f2a9c1e-0b7d-4c8e-9a55-1f0e2d3c4b5a/items", "/orders/{id}/items" },
	{ "uuid upper", "/o/3F2A9C1E-0B7D-4C8E-9A55-1F0E2D3C4B5A", "/o/{id}" },
	{ "hex hash", "/blobs/9f86d081884c7d65", "/blobs/{id}" },
	{ "git sha", "/commit/e83c5163316f89bfbde7d9ab23ca2e25604af290", "/commit/{id}" },
	{ "short hex with digit", "/c/abc123", "/c/abc123" },
	{ "hex word without digits", "/x/deadbeef", "/x/deadbeef" },
	{ "opaque token", "/share/aZ3kQ9xL2mN8pR4tV7", "/share/{id}" },
	{ "base64url token", "/t/eyJhbGciOiJIUzI1NiJ9-Xy_7Qp", "/t/{id}" },
	{ "kebab slug with digit", "/auth/oauth2-callback-handler", "/auth/oauth2-callback-handler" },
	{ "long lower word", "/internationalization", "/internationalization" },
	{ "negative number", "/offset/-15", "/offset/{id}" },
	{ "decimal", "/price/3.50", "/price/{id}" },
	{ "signed decimal", "/geo/+48.85/2.35", "/geo/{id}/{id}" },
	{ "version words", "/api/v1/users", "/api/v1/users" },
	{ "v2beta", "/api/v2beta/items/7", "/api/v2beta/items/{id}" },
	{ "healthz", "/healthz", "/healthz" },
	{ "2fa", "/account/2fa", "/account/2fa" },
	{ "repeated slashes", "//users///42//", "/users/{id}/" },
	{ "trailing slash kept", "/users/", "/users/" },
	{ "query stripped", "/search?q=42", "/search" },
	{ "fragment stripped", "/page/9#top", "/page/{id}" },
	{ "percent blob", "/mail/%6A%6F%68%6E%40%78%2E%69%6F", "/mail/{id}" },
	{ "percent word kept", "/files/my%20doc", "/files/my%20doc" },
	{ "file name", "/static/app.min.js", "/static/app.min.js" },
	{ "version string", "/pkg/1.2.3", "/pkg/1.2.3" },
	{ "asterisk target", "*", "*" },
	{ "many ids", "/a/1/b/2/c/3", "/a/{id}/b/{id}/c/{id}" },
	{ "dash alone", "/-/x", "/-/x" },
};

UNIT_TEST(route_templates)
{
	char out[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		route_template(cases[i].path, out, sizeof(out));
		CHECKF(!strcmp(out, cases[i].want), "%s: %s -> %s, want %s", cases[i].desc,
		       cases[i].path, out, cases[i].want);
	}
}

UNIT_TEST(route_truncates_safely)
{
	char out[8];
	CHECK(!strcmp(route_template("/users/42/orders", out, sizeof(out)), "/users/"));
	CHECK(!strcmp(route_template("/users/42", out, 1), ""));
	CHECK(route_template("/x", out, 0) == out);
	CHECK(!strcmp(route_template(NULL, out, sizeof(out)), "/"));
}
