"""Independent truth for the route matcher (user/stats/route_table*.c): every table and case of
tests/unit/data/route_cases.txt, the file the C unit test asserts, is built with the real
framework (Werkzeug 2.2 Map, Django 3.2 urlpatterns, Starlette 0.26 routes) and each request
is asked of it. A case whose expected template differs from the framework's answer, or a table
whose regexes differ from what the framework compiles (the reader copies those), fails here.

Run: /usr/bin/python3 -m pytest -p no:cacheprovider tests/e2e/test_route_table_frameworks.py
"""
import asyncio
import os
import random
import re
import subprocess
import sys
import types
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = os.path.join(ROOT, "tests", "unit", "data", "route_cases.txt")
UNMATCHED = "{unmatched}"


def tok(s):
    return "" if s == '""' else s


def load(framework):
    """The table of that framework: routes as dicts, cases as (method, target, expected)."""
    tables, cur = [], None
    with open(CASES) as f:
        for line in f:
            t = [tok(x) for x in line.split()]
            if not t or t[0].startswith("#"):
                continue
            if t[0] == "table":
                cur = {"fw": t[1], "routes": [], "cases": []}
                tables.append(cur)
            elif t[0] == "route" and cur["fw"] == "flask":
                cur["routes"].append({"name": t[1], "methods": t[2], "strict": t[3] == "strict", "vars": []})
            elif t[0] == "route":
                cur["routes"].append({"name": t[1], "methods": t[2], "levels": list(zip(t[3::2], t[4::2]))})
            elif t[0] == "mount_end":
                cur["routes"].append({"mount_end": True, "levels": list(zip(t[1::2], t[2::2]))})
            elif t[0] == "var":
                cur["routes"][-1]["vars"].append((t[1], t[2], int(t[3]), bool(int(t[4]))))
            elif t[0] == "case":
                cur["cases"].append((t[1], t[2], t[3]))
    found = [x for x in tables if x["fw"] == framework]
    assert len(found) == 1, f"{CASES}: {len(found)} {framework} tables"
    return found[0]


def methods(s):
    return None if s == "-" else s.split(",")


def path_of(target):
    """The request path as the server hands it over: up to '?' or '#'."""
    for sep in "?#":
        target = target.split(sep, 1)[0]
    return target


def report(table, truth):
    bad = []
    for method, target, want in table["cases"]:
        got = truth(method, target)
        if got != want:
            bad.append(f"{method} {target}: framework says {got!r}, route_cases.txt says {want!r}")
    assert not bad, "\n".join(bad)
    assert len(table["cases"]) >= 20


# ---- The C matcher on requests nobody wrote down ----

@pytest.fixture(scope="module")
def matcher(tmp_path_factory):
    """tests/e2e/apps/route_table_names.c built from the matcher's sources."""
    exe = str(tmp_path_factory.mktemp("rt") / "route_table_names")
    srcs = [os.path.join(ROOT, "user", "stats", f) for f in sorted(os.listdir(os.path.join(ROOT, "user", "stats")))
            if f.startswith("route_table") and f.endswith(".c")]
    cmd = ["gcc", "-O2", "-std=gnu11", "-D_GNU_SOURCE", "-Wall", "-Werror", *(f"-I{ROOT}/{d}" for d in
           ("user/stats", "user/probes", "tests/unit")), os.path.join(ROOT, "tests/e2e/apps/route_table_names.c"),
           os.path.join(ROOT, "tests/unit/route_cases.c"), *srcs, "-lpcre2-8", "-o", exe]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr

    def names(label, requests):
        out = subprocess.run([exe, CASES, label], input="".join(f"{m} {t}\n" for m, t in requests),
                             capture_output=True, text=True, check=True).stdout.splitlines()
        assert len(out) == len(requests)
        return out
    return names


# Segments the random paths are made of: the tables' own words, values their converters take
# or refuse, and encodings servers decode.
WORDS = ["blog", "post", "new", "edit", "users", "items", "orders", "files", "raw", "static", "lang", "admin",
         "docs", "about", "price", "search", "v2", "status", "articles", "archive", "api", "v1", "health",
         "old", "x", "legacy", "page", "sub", "n", "extra", "slash", "noslash", "empty", "after", "me", "fr",
         "es", "en"]
VALUES = ["42", "7", "0", "2024", "20245", "3.50", "3f2a9c1e-0b7d-4c8e-9a55-1f0e2d3c4b5a",
          "3F2A9C1E-0B7D-4C8E-9A55-1F0E2D3C4B5A", "hello-world", "a.b", "%FF", "caf%C3%A9", "%0A",
          "%2F", "%D9%A3", "%25", "%zz", "", "v7", "b%20c"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "get"]


def from_template(name, rnd):
    """A path the template names, or nearly: placeholders filled with random values, then
    perhaps a slash toggled, doubled, or a segment added."""
    path = re.sub(r"<[^>]*>|\{[^}]*\}|\(\?P<\w+>[^)]*\)", lambda m: rnd.choice(VALUES + ["5"] * 5), name)
    path = "/" + path.lstrip("^").rstrip("$").lstrip("/")
    r = rnd.random()
    if r < 0.15:
        path = path[:-1] if path.endswith("/") else path + "/"
    elif r < 0.2:
        path = path.replace("/", "//", 1)
    elif r < 0.3:
        path = path.rstrip("/") + "/" + rnd.choice(WORDS + VALUES)
    return path or "/"


def random_requests(seed, n, names):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        if rnd.random() < 0.5:
            path = from_template(rnd.choice(names), rnd)
        else:
            segs = [rnd.choice(WORDS) if rnd.random() < 0.6 else rnd.choice(VALUES) for _ in range(rnd.randint(0, 5))]
            path = "/" + "/".join(segs)
            if rnd.random() < 0.3:
                path += "/"
            if rnd.random() < 0.05:
                path = "/" + path
        if rnd.random() < 0.1:
            path += "?q=1/2"
        out.append((rnd.choice(METHODS), path))
    return out


def differential(label, table, truth, matcher, n=4000):
    names = [r["name"] for r in table["routes"] if not r.get("mount_end")]
    requests = random_requests(14, n, names)
    got = matcher(label, requests)
    want = [truth(m, t) for m, t in requests]
    bad = [f"{m} {t}: framework {w!r}, matcher {g!r}" for (m, t), g, w in zip(requests, got, want) if g != w]
    assert not bad, f"{len(bad)} of {n} differ:\n" + "\n".join(bad[:30])
    # The sample must reach most templates, or it tests little.
    reached = set(want) - {UNMATCHED}
    assert len(reached) >= 0.8 * len(set(names)), f"only {sorted(reached)} reached"


# ---- Flask / Werkzeug ----

def test_werkzeug_chooses_the_expected_templates():
    report(*werkzeug_truth())


def test_werkzeug_agrees_with_the_matcher_on_random_requests(matcher):
    differential("blog", *werkzeug_truth(), matcher)


def werkzeug_truth():
    from werkzeug.exceptions import MethodNotAllowed, NotFound
    from werkzeug.routing import Map, RequestRedirect, Rule
    from werkzeug.test import create_environ

    table = load("flask")
    routes = table["routes"]
    m = Map([Rule(r["name"], methods=methods(r["methods"]), strict_slashes=r["strict"], endpoint=str(i))
             for i, r in enumerate(routes)])
    # The same rules accepting any method: the first whose path matches names a 405.
    any_method = Map([Rule(r["name"], strict_slashes=r["strict"], endpoint=str(i)) for i, r in enumerate(routes)])
    for r, rule in zip(routes, m.iter_rules()):
        conv = [(n, c.regex, c.weight, c.part_isolating) for n, c in rule._converters.items()]
        assert conv == r["vars"], f"{r['name']}: Werkzeug's converters are {conv}"
        assert sorted(rule.methods) == sorted(methods(r["methods"])), f"{r['name']}: {rule.methods}"

    def adapter(mp, method, target):
        env = create_environ("/", method=method)
        # gunicorn: PATH_INFO is the %-decoded path as latin-1 (Werkzeug decodes it as UTF-8).
        env["PATH_INFO"] = unquote_to_bytes(path_of(target)).decode("latin-1")
        return mp.bind_to_environ(env)

    def truth(method, target):
        try:
            return adapter(m, method, target).match(return_rule=True)[0].rule
        except RequestRedirect as e:
            # Strict slashes or merged slashes: the rule the new path reaches decided it.
            new = urlsplit(e.new_url).path
            return adapter(m, method, new).match(return_rule=True)[0].rule
        except MethodNotAllowed:
            try:
                return adapter(any_method, method, target).match(return_rule=True)[0].rule
            except RequestRedirect as e:  # the 405 came from the merged-slashes retry
                return adapter(any_method, method, urlsplit(e.new_url).path).match(return_rule=True)[0].rule
        except NotFound:
            return UNMATCHED

    return table, truth


# ---- Django ----

def test_django_resolves_to_the_expected_templates():
    report(*django_truth())


def test_django_agrees_with_the_matcher_on_random_requests(matcher):
    differential("site", *django_truth(), matcher)


def django_urlconf(routes):
    from django.http import HttpResponse
    from django.urls import include, path, re_path

    def view(request, *a, **kw):
        return HttpResponse("ok")

    def mk(src, target):
        kind, _, pattern = src.partition(":")
        pattern = tok(pattern)
        return path(pattern, target) if kind == "path" else re_path(pattern, target)

    def build(rs, level):
        out, i = [], 0
        while i < len(rs):
            lv = rs[i]["levels"]
            if len(lv) == level + 1:
                out.append(mk(lv[level][0], view))
                i += 1
                continue
            j = i
            while j < len(rs) and len(rs[j]["levels"]) > level + 1 and rs[j]["levels"][level] == lv[level]:
                j += 1
            out.append(mk(lv[level][0], include(build(rs[i:j], level + 1))))
            i = j
        return out

    return build(routes, 0)


def django_truth():
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF="route_cases_urls", ALLOWED_HOSTS=["*"], APPEND_SLASH=True,
                           MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
        django.setup()
    from django.core.handlers.wsgi import WSGIRequest
    from django.middleware.common import CommonMiddleware
    from django.test import RequestFactory
    from django.urls import Resolver404, resolve
    from django.urls.resolvers import RegexPattern, RoutePattern

    table = load("django")
    for r in table["routes"]:
        for k, (src, regex) in enumerate(r["levels"]):
            kind, _, pattern = src.partition(":")
            endpoint = k == len(r["levels"]) - 1
            p = (RoutePattern if kind == "path" else RegexPattern)(tok(pattern), is_endpoint=endpoint)
            assert p.regex.pattern == regex, f"{r['name']} level {k}: Django compiles {p.regex.pattern!r}"
    mod = types.ModuleType("route_cases_urls")
    mod.urlpatterns = django_urlconf(table["routes"])
    sys.modules["route_cases_urls"] = mod
    common = CommonMiddleware(lambda request: None)

    factory = RequestFactory()

    def truth(method, target):
        # gunicorn: PATH_INFO is the %-decoded path as latin-1 (Django re-decodes it as UTF-8).
        path_info = unquote_to_bytes(path_of(target)).decode("latin-1")
        request = WSGIRequest(factory._base_environ(PATH_INFO=path_info, REQUEST_METHOD=method))
        try:
            return resolve(request.path_info).route
        except Resolver404:
            pass
        if common.should_redirect_with_slash(request):  # APPEND_SLASH
            return resolve(request.path_info + "/").route
        return UNMATCHED

    return table, truth


# ---- Starlette ----

def test_starlette_dispatches_to_the_expected_templates():
    report(*starlette_truth())


def test_starlette_agrees_with_the_matcher_on_random_requests(matcher):
    differential("api", *starlette_truth(), matcher)


def starlette_truth():
    from starlette.responses import PlainTextResponse
    from starlette.routing import Match, Mount, Route, Router

    table = load("starlette")
    names, routers, handled = {}, [], []
    orig_call, orig_handle = Router.__call__, Route.handle

    async def call_router(self, scope, receive, send):  # which router answered last
        routers.append((self, scope["path"]))
        await orig_call(self, scope, receive, send)

    async def handle(self, scope, receive, send):  # which route answered (200 or its 405)
        handled.append(self)
        await orig_handle(self, scope, receive, send)

    def endpoint(request):
        return PlainTextResponse("ok")

    stack = [[]]  # the route lists of the open Mounts
    opened = []
    for r in table["routes"]:
        chain = r["levels"] if r.get("mount_end") else r["levels"][:-1]
        while len(opened) > len(chain) or opened != chain[:len(opened)]:
            close(stack, opened)
        while len(opened) < len(chain):
            opened.append(chain[len(opened)])
            stack.append([])
        if r.get("mount_end"):
            close(stack, opened)
            continue
        src, regex = r["levels"][-1]
        route = Route(src.partition(":")[2], endpoint, methods=methods(r["methods"]))
        assert route.path_regex.pattern == regex, f"{r['name']}: Starlette compiles {route.path_regex.pattern!r}"
        assert sorted(route.methods) == sorted(methods(r["methods"]))
        names[id(route)] = r["name"]
        stack[-1].append(route)
    while opened:
        close(stack, opened)
    root = Router(routes=stack[0])

    def call(method, path):
        routers.clear()
        handled.clear()
        sent = []
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
                 "headers": [(b"host", b"testserver")], "scheme": "http", "server": ("testserver", 80),
                 "http_version": "1.1"}

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(msg):
            sent.append(msg)

        Router.__call__, Route.handle = call_router, handle
        try:
            asyncio.run(root(scope, receive, send))
        finally:
            Router.__call__, Route.handle = orig_call, orig_handle
        start = sent[0]
        return start["status"], dict(start["headers"])

    def truth(method, target):
        # uvicorn: scope["path"] = unquote(raw path), undecodable bytes replaced.
        status, headers = call(method, unquote(path_of(target)))
        if status in (307, 308):
            router, p = routers[-1]
            new = p.rstrip("/") if p.endswith("/") else p + "/"
            scope = {"type": "http", "method": method, "path": new, "root_path": ""}
            for route in router.routes:
                if route.matches(scope)[0] != Match.NONE:
                    if isinstance(route, Route):
                        return names[id(route)]
                    break  # a Mount: named by where the redirect leads
            status, _ = call(method, unquote(urlsplit(headers[b"location"].decode()).path))
            return names[id(handled[-1])] if handled and status not in (307, 308) else UNMATCHED
        return names[id(handled[-1])] if handled else UNMATCHED

    return table, truth


def close(stack, opened):
    from starlette.routing import Mount

    routes = stack.pop()
    src, regex = opened.pop()
    mount = Mount(src.partition(":")[2], routes=routes)
    assert mount.path_regex.pattern == regex, f"{src}: Starlette compiles {mount.path_regex.pattern!r}"
    stack[-1].append(mount)


# ---- The tables are what real apps produce ----

def test_flask_app_with_blueprints_has_the_tables_rules():
    """The Flask table, registered as an app would (two blueprints with url_prefix): its
    url_map holds the same rules, methods and slash settings, in the same order."""
    from flask import Blueprint, Flask

    def view(**kw):
        return ""

    app = Flask("route_cases")  # adds /static/<path:filename> first
    app.add_url_rule("/", "index", view)
    blog = Blueprint("blog", "route_cases", url_prefix="/blog")
    blog.add_url_rule("/", "index", view)
    blog.add_url_rule("/post/<slug>", "post", view)
    blog.add_url_rule("/post/<int:pid>/edit", "edit", view, methods=["GET", "POST"])
    blog.add_url_rule("/post/new", "new", view)
    app.register_blueprint(blog)
    for rule, allowed in [("/users/<username>", None), ("/users/<int:user_id>", None), ("/items/<int:id>", None),
                          ("/items/<name>", ["POST"]), ("/orders/<uuid:oid>", None), ("/files/<path:name>", None),
                          ("/files/<path:name>/raw", None), ("/lang/<any(en,fr,de):l>/", None)]:
        app.add_url_rule(rule, rule, view, methods=allowed)
    admin = Blueprint("admin", "route_cases", url_prefix="/admin")
    admin.add_url_rule("/", "index", view)
    admin.add_url_rule("/users/<int:uid>", "user", view)
    app.register_blueprint(admin)
    app.add_url_rule("/docs/<page>/", "docs", view, strict_slashes=False)
    app.add_url_rule("/about", "about", view, strict_slashes=False)
    for rule in ("/price/<float:amount>", "/v<int:version>/status", "/search", "/range/<int:a>-<int:b>",
                 "/wiki/<path:page>/rev/<int:n>", "/range/<a>-<b>"):
        app.add_url_rule(rule, rule, view)

    got = [(r.rule, sorted(r.methods), r.strict_slashes) for r in app.url_map.iter_rules()]
    want = [(r["name"], sorted(methods(r["methods"])), r["strict"]) for r in load("flask")["routes"]]
    assert got == want


def test_fastapi_routes_compile_like_the_starlette_table():
    """FastAPI's APIRoute under include_router prefixes has the path and regex the Starlette
    table holds (its methods lack the HEAD Starlette adds: the reader copies what it finds)."""
    from fastapi import APIRouter, FastAPI

    users = APIRouter(prefix="/users")
    users.get("/{user_id}")(lambda user_id: None)
    users.get("/me")(lambda: None)
    api = APIRouter()
    api.include_router(users)
    app = FastAPI()
    app.include_router(api, prefix="/api")
    table = {r["name"]: r["levels"][-1][1] for r in load("starlette")["routes"] if not r.get("mount_end")}
    got = {r.path: r.path_regex.pattern for r in app.routes if r.path.startswith("/api/")}
    assert got == {p: table[p] for p in ("/api/users/{user_id}", "/api/users/me")}
    assert all(r.methods == {"GET"} for r in app.routes if r.path.startswith("/api/"))
