/* The route-table reader's pure parts (per-version offsets, _Py_DebugOffsets, UCS -> UTF-8, the
 * gunicorn/uvicorn app spec, bounded route slots), then pyobj against child interpreters that
 * hold objects in the awkward states: deleted dict entries and attributes, a removed set key,
 * non-str keys, a 300-entry dict, non-ASCII text, class attributes through the MRO. An
 * interpreter that is not installed is skipped and named on stdout. */
#include "spawn_python.h"
#include "unit.h"
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app_routes_int.h"
#include "pyobj.h"

UNIT_TEST(pyobj_layout_table)
{
	CHECK(pyobj_layout_for(7) == NULL);
	CHECK(pyobj_layout_for(14) == NULL);
	for (int m = 8; m <= 13; m++)
		CHECKF(pyobj_layout_for(m) && pyobj_layout_for(m)->minor == m, "3.%d", m);
	/* Debian 3.11.2 as verified in docs/design/routes.md 4, and 3.13's debug offsets. */
	CHECK(pyobj_layout_for(11)->interp_head == 40 && pyobj_layout_for(11)->interp_modules == 888);
	CHECK(pyobj_layout_for(13)->interp_head == 632 && pyobj_layout_for(13)->interp_modules == 7656);
	CHECK(pyobj_layout_for(8)->gc_in_runtime && !pyobj_layout_for(9)->gc_in_runtime);
	CHECK(pyobj_layout_for(11)->str_ascii == 48 && pyobj_layout_for(12)->str_ascii == 40);
}

UNIT_TEST(pyobj_debug_offsets_parse)
{
	uint64_t v[13] = { 0 }, version = 0;
	unsigned char buf[sizeof(v)];
	int head = 0, mods = 0, sysd = 0;

	memcpy(&v[0], "xdebugpy", 8);
	v[1] = 0x030d00f0, v[5] = 632, v[11] = 7656, v[12] = 7640;
	memcpy(buf, v, sizeof(buf));
	CHECK(pyobj_debug_offsets(buf, sizeof(buf), &version, &head, &mods, &sysd) == 0);
	CHECK(version == 0x030d00f0 && head == 632 && mods == 7656 && sysd == 7640);
	CHECK(pyobj_debug_offsets(buf, sizeof(buf) - 1, &version, &head, &mods, &sysd) == -EINVAL);
	v[2] = 1; /* free-threaded */
	memcpy(buf, v, sizeof(buf));
	CHECK(pyobj_debug_offsets(buf, sizeof(buf), &version, &head, &mods, &sysd) == -ENOTSUP);
	v[2] = 0, v[11] = 1ULL << 40; /* a torn or foreign struct */
	memcpy(buf, v, sizeof(buf));
	CHECK(pyobj_debug_offsets(buf, sizeof(buf), &version, &head, &mods, &sysd) == -EINVAL);
	buf[0] = 'X';
	CHECK(pyobj_debug_offsets(buf, sizeof(buf), &version, &head, &mods, &sysd) == -EINVAL);
}

UNIT_TEST(pyobj_utf8_kinds)
{
	static const unsigned char latin1[] = { 'c', 'a', 'f', 0xe9 };
	static const uint16_t ucs2[] = { 0x2713, 'a', 0xfc };
	static const uint32_t ucs4[] = { 0x1d11e, '/', 0x10ffff };
	static const uint32_t bad[] = { 0x110000 };
	char out[32];

	CHECK(pyobj_utf8(latin1, 4, 1, out, sizeof(out)) == 0 && !strcmp(out, "caf\xc3\xa9"));
	CHECK(pyobj_utf8(ucs2, 3, 2, out, sizeof(out)) == 0 && !strcmp(out, "\xe2\x9c\x93" "a\xc3\xbc"));
	CHECK(pyobj_utf8(ucs4, 3, 4, out, sizeof(out)) == 0 && !strcmp(out, "\xf0\x9d\x84\x9e/\xf4\x8f\xbf\xbf"));
	CHECK(pyobj_utf8(bad, 1, 4, out, sizeof(out)) == -EILSEQ);
	CHECK(pyobj_utf8(latin1, 4, 3, out, sizeof(out)) == -EINVAL);
	/* "café" is 5 bytes + NUL: 5 is one short, 6 fits. */
	CHECK(pyobj_utf8(latin1, 4, 1, out, 5) == -E2BIG);
	CHECK(pyobj_utf8(latin1, 4, 1, out, 6) == 0);
	CHECK(pyobj_utf8(latin1, 0, 1, out, 1) == 0 && out[0] == 0);
}

UNIT_TEST(app_spec_parse_table)
{
	static const struct { const char *arg; int rc; const char *mod, *attr; bool factory; } rows[] = {
		{ "blog_flask:app", 0, "blog_flask", "app", false },
		{ "pkg.sub.mod:application", 0, "pkg.sub.mod", "application", false },
		{ "factory:create_app()", 0, "factory", "create_app", true },
		{ "factory:create_app('prod', debug=True)", 0, "factory", "create_app", true },
		{ "--module=site.wsgi:application", 0, "site.wsgi", "application", false },
		{ "127.0.0.1:8000", -EINVAL, NULL, NULL, false },  /* a bind address */
		{ "--bind=0.0.0.0:80", -EINVAL, NULL, NULL, false },
		{ "mod", -EINVAL, NULL, NULL, false },
		{ "mod:", -EINVAL, NULL, NULL, false },
		{ "mod.:app", -EINVAL, NULL, NULL, false },
		{ "mod:create_app(", -EINVAL, NULL, NULL, false },
		{ "-w", -EINVAL, NULL, NULL, false },
		{ "/srv/app.py:app", -EINVAL, NULL, NULL, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char mod[64] = "", attr[64] = "";
		bool factory = !rows[i].factory;
		int rc = app_spec_parse(rows[i].arg, mod, sizeof(mod), attr, sizeof(attr), &factory);

		CHECKF(rc == rows[i].rc, "%s: rc %d", rows[i].arg, rc);
		if (!rc && !rows[i].rc)
			CHECKF(!strcmp(mod, rows[i].mod) && !strcmp(attr, rows[i].attr) && factory == rows[i].factory,
			       "%s: %s %s %d", rows[i].arg, mod, attr, factory);
	}
	{
		char small[4], attr[8];
		bool f;
		CHECK(app_spec_parse("longmodule:app", small, sizeof(small), attr, sizeof(attr), &f) == -EINVAL);
	}
}

UNIT_TEST(routes_slots_are_bounded)
{
	struct app_routes t = { 0 };
	struct app_route *r;
	char dst[4];
	int ok = 1;

	for (int i = 0; i < APP_ROUTES_MAX; i++) {
		if (!(r = routes_add(&t))) {
			ok = 0;
			break;
		}
		snprintf(r->name, sizeof(r->name), "/r%d", i);
	}
	CHECK(ok && t.nroutes == APP_ROUTES_MAX);
	CHECK(routes_add(&t) == NULL && t.nroutes == APP_ROUTES_MAX);
	/* Growing kept what was written before. */
	CHECK(!strcmp(t.routes[0].name, "/r0") && !strcmp(t.routes[APP_ROUTES_MAX - 1].name, "/r2047"));
	routes_drop_last(&t);
	CHECK(t.nroutes == APP_ROUTES_MAX - 1);
	app_routes_free(&t);
	CHECK(t.routes == NULL && t.nroutes == 0);
	CHECK(routes_copy(dst, sizeof(dst), "abc") == 0 && !strcmp(dst, "abc"));
	CHECK(routes_copy(dst, sizeof(dst), "abcd") == -E2BIG && dst[0] == 0);
	CHECK(routes_method_bit("GET") == APP_M_GET && routes_method_bit("PATCH") == APP_M_PATCH);
	CHECK(routes_method_bit("PROPFIND") == APP_M_OTHER && routes_method_bit("get") == APP_M_OTHER);
}

/* ---- pyobj against a live interpreter ---- */

static const char child_code[] =
	"import sys,time\n"
	"class Base:\n    weight = 50\n"
	"class C(Base):\n"
	"    def __init__(s):\n        s.a = 'x'; s.b = 2; s.c = '\\u00e7'; s.d = None\n"
	"o = C(); del o.b\n"
	"D = {i: str(i) for i in range(300)}\n"
	"E = {'k%d' % i: i for i in range(50)}\n"
	"for i in range(0, 50, 2): del E['k%d' % i]\n"
	"S = {'GET', 'POST', 'PUT'}; S.discard('POST')\n"
	"FS = frozenset({'a'})\n"
	"T = ('t1', -7, True, 1 << 40)\n"
	"U = '\\u00fc\\u2713\\U0001d11e'\n"
	"print('ok', flush=True); time.sleep(30)\n";

struct walk_seen {
	int n;
	uint64_t first_key, last_value;
};

static int seen(struct pyproc *p, uint64_t k, uint64_t v, void *arg)
{
	struct walk_seen *w = arg;
	(void)p;
	if (!w->n++)
		w->first_key = k;
	w->last_value = v;
	return 0;
}

static int find_obj(struct pyproc *p, uint64_t obj, void *arg)
{
	struct walk_seen *w = arg;
	(void)p;
	w->n++;
	return obj == w->first_key;
}

static void check_objects(struct pyproc *p, const char *py)
{
	uint64_t v, items[8], o;
	struct walk_seen w = { 0 };
	char s[64], s2[64];
	int64_t n;
	int cnt;

	CHECKF(!pyobj_module_attr(p, "__main__", "U", &v) && !pyobj_str(p, v, s, sizeof(s)) &&
	       !strcmp(s, "\xc3\xbc\xe2\x9c\x93\xf0\x9d\x84\x9e"), "%s: U '%s'", py, s);
	CHECKF(!pyobj_module_attr(p, "__main__", "T", &v) && !pyobj_seq(p, v, items, 8, &cnt) && cnt == 4, "%s: T", py);
	CHECKF(!pyobj_str(p, items[0], s, sizeof(s)) && !strcmp(s, "t1"), "%s: T[0]", py);
	CHECKF(!pyobj_long(p, items[1], &n) && n == -7, "%s: T[1] %lld", py, (long long)n);
	CHECKF(!pyobj_long(p, items[2], &n) && n == 1, "%s: T[2] True", py);
	CHECKF(!pyobj_long(p, items[3], &n) && n == 1LL << 40, "%s: T[3]", py);
	CHECKF(pyobj_str(p, items[1], s, sizeof(s)) == -EINVAL, "%s: an int is not a str", py);
	CHECKF(!pyobj_module_attr(p, "__main__", "S", &v) && !pyobj_set(p, v, items, 8, &cnt) && cnt == 2 &&
	       !pyobj_str(p, items[0], s, sizeof(s)) && !pyobj_str(p, items[1], s2, sizeof(s2)) &&
	       strcmp(s, s2) && (!strcmp(s, "GET") || !strcmp(s, "PUT")) && (!strcmp(s2, "GET") || !strcmp(s2, "PUT")),
	       "%s: S (%d keys: %s %s)", py, cnt, s, s2);
	CHECKF(!pyobj_module_attr(p, "__main__", "FS", &v) && !pyobj_set(p, v, items, 8, &cnt) && cnt == 1, "%s: FS", py);
	CHECKF(!pyobj_module_attr(p, "__main__", "D", &v) && !pyobj_dict_walk(p, v, seen, &w) && w.n == 300 &&
	       !pyobj_long(p, w.first_key, &n) && n == 0 && !pyobj_str(p, w.last_value, s, sizeof(s)) &&
	       !strcmp(s, "299"), "%s: D (%d entries)", py, w.n);
	memset(&w, 0, sizeof(w));
	CHECKF(!pyobj_module_attr(p, "__main__", "E", &v) && !pyobj_dict_walk(p, v, seen, &w) && w.n == 25 &&
	       !pyobj_str(p, w.first_key, s, sizeof(s)) && !strcmp(s, "k1"), "%s: E (%d entries)", py, w.n);
	CHECKF(pyobj_dict_get(p, v, "k0", &o) == -ENOENT && !pyobj_dict_get(p, v, "k49", &o) &&
	       !pyobj_long(p, o, &n) && n == 49, "%s: E deleted/kept keys", py);
	CHECKF(!pyobj_module_attr(p, "__main__", "o", &o), "%s: o", py);
	CHECKF(!pyobj_attr_str(p, o, "a", s, sizeof(s)) && !strcmp(s, "x"), "%s: o.a", py);
	CHECKF(!pyobj_attr_str(p, o, "c", s, sizeof(s)) && !strcmp(s, "\xc3\xa7"), "%s: o.c", py);
	CHECKF(pyobj_attr(p, o, "b", &v) == -ENOENT, "%s: deleted o.b still read", py);
	CHECKF(!pyobj_attr(p, o, "d", &v) && pyobj_is_none(p, v), "%s: o.d", py);
	CHECKF(!pyobj_attr(p, o, "weight", &v) && !pyobj_long(p, v, &n) && n == 50, "%s: class attr via MRO", py);
	CHECKF(!pyobj_type_name(p, pyobj_type(p, o), s, sizeof(s)) && !strcmp(s, "C"), "%s: type name", py);
	CHECKF(pyobj_module(p, "no_such_module", &v) == -ENOENT, "%s: absent module", py);
	/* The GC lists hold every tracked object: o among them (factory apps are found this way). */
	memset(&w, 0, sizeof(w));
	w.first_key = o;
	CHECKF(pyobj_gc_walk(p, find_obj, &w) == 1, "%s: o not among the %d objects on the GC lists", py, w.n);
	w.first_key = 0, w.n = 0;
	CHECKF(pyobj_gc_walk(p, find_obj, &w) == 0 && w.n > 1000, "%s: %d objects on the GC lists", py, w.n);
}

static void check_live(const char *python)
{
	char buf[64], err[512];
	struct pyproc p;
	pid_t pid = spawn_python(python, child_code, buf, sizeof(buf));

	CHECKF(!strncmp(buf, "ok", 2), "%s did not start", python);
	CHECKF(pyproc_open(pid, &p, err, sizeof(err)) == 0, "%s: %.300s", python, err);
	if (!err[0] || p.cache) {
		check_objects(&p, python);
		pyproc_close(&p);
	}
	reap_python(pid);
}

UNIT_TEST(pyobj_live_interpreters)
{
	char path[96];
	glob_t g;

	if (!access("/usr/bin/python3.11", X_OK))
		check_live("/usr/bin/python3.11");
	for (int minor = 8; minor <= 13; minor++) {
		snprintf(path, sizeof(path), "/root/.pyenv/versions/3.%d.*/bin/python3.%d", minor, minor);
		if (glob(path, 0, NULL, &g)) {
			printf("  (pyobj: no Python 3.%d installed, skipped)\n", minor);
			continue;
		}
		check_live(g.gl_pathv[0]);
		globfree(&g);
	}
}

UNIT_TEST(pyproc_open_refuses_non_python)
{
	struct pyproc p;
	char err[512] = "";

	CHECK(pyproc_open(getpid(), &p, err, sizeof(err)) < 0);
	CHECKF(strstr(err, "not a Python process") != NULL, "err '%s'", err);
	CHECK(app_routes_read(getpid(), &(struct app_routes){ 0 }, err, sizeof(err)) < 0);
}
