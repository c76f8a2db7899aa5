"""Independent truth for the route matcher (user/stats/route_table*.c): every table and case of
tests/unit/data/route_cases.txt, the file the C unit test asserts, is built with the real
framework (Werkzeug 2.2 Map, Django 3.2 urlpatterns, Starlette 0.26 routes) and each request
is asked of it. A case whose expected template differs from the framework's answer, or a table
whose regexes differ from what the framework compiles (the reader copies those), fails here.

Run: /usr/bin/python3 -m pytest -p no:cacheprovider tests/e2e/test_route_table_frameworks.py
"""
import asyncio
import os
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


# ---- Flask / Werkzeug ----

def test_werkzeug_chooses_the_expected_templates():
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
            return adapter(any_method, method, target).match(return_rule=True)[0].rule
        except NotFound:
            return UNMATCHED

    report(table, truth)


# ---- Django ----

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


def test_django_resolves_to_the_expected_templates():
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF="route_cases_urls", ALLOWED_HOSTS=["*"], APPEND_SLASH=True,
                           MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
        django.setup()
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

    def truth(method, target):
        request = RequestFactory().generic(method, target)
        try:
            return resolve(request.path_info).route
        except Resolver404:
            pass
        if common.should_redirect_with_slash(request):  # APPEND_SLASH
            return resolve(request.path_info + "/").route
        return UNMATCHED

    report(table, truth)


# ---- Starlette ----

def test_starlette_dispatches_to_the_expected_templates():
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

    report(table, truth)


def close(stack, opened):
    from starlette.routing import Mount

    routes = stack.pop()
    src, regex = opened.pop()
    mount = Mount(src.partition(":")[2], routes=routes)
    assert mount.path_regex.pattern == regex, f"{src}: Starlette compiles {mount.path_regex.pattern!r}"
    stack[-1].append(mount)
