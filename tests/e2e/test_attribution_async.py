"""Per-request attribution where requests share a thread (issue #15): asyncio tasks under uvicorn
and aiohttp, anyio's and asyncio's thread hand-offs behind FastAPI, gevent greenlets under
gunicorn. 16 requests in flight, routes interleaved; each route's calls per request against the
app's own plan and the servers' own counts (pg_stat_statements, Redis INFO commandstats), and
the HTTP request counts exact."""
import collections
import concurrent.futures
import glob
import http.client
import json
import os
import subprocess

import pytest

from conftest import APPS, PY, free_port, routes_by_key, wait_port
from test_http_client import upstream_factory  # noqa: F401 (fixture)
from servers import need_module, postgres, redis_server  # noqa: F401 (module fixtures)

CLIENTS = 16
PER_ROUTE = 200


def drive(port, paths):
    """Every path once over CLIENTS keep-alive connections; the calls the app says it made, per path."""
    def run(chunk):
        conn, calls = http.client.HTTPConnection("127.0.0.1", port, timeout=60), collections.Counter()
        for p in chunk:
            conn.request("GET", p)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, f"GET {p}: {r.status} {body[:300]!r}"
            calls[p] += json.loads(body)["calls"]
        return calls
    total = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        for c in ex.map(run, [paths[i::CLIENTS] for i in range(CLIENTS)]):
            total.update(c)
    return +total  # paths that made no calls left out


def interleaved(paths, n=PER_ROUTE):
    return [p for _ in range(n) for p in paths]


def redis_calls(server, command):
    return server.client().info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def service(snap):
    assert snap["lost_events"] == 0, snap["lost_events"]
    assert len(snap["services"]) == 1
    return snap["services"][0]


def summary(svc):
    for r in svc["http_server"]["routes"]:
        print(f"  {r['method']} {r['route']}: requests {r['requests']} db/request {r['db_calls_per_request']} "
              f"max {r['db_calls_max']} http/request {r['http_calls_per_request']}")
    print(f"  db_attribution {svc['db_attribution']!r}; untied db {svc['db_calls_untied']} http "
          f"{svc['http_calls_untied']}: {svc['untied_why']}")


def statement_calls(svc, needle):
    return sum(q["calls"] for peer in svc["db"] for q in peer["queries"] if needle in q["text"])


def start_app(argv, env):
    port = free_port()
    proc = subprocess.Popen([a.replace("PORT", str(port)) for a in argv], env=dict(os.environ, **env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 30)
    except Exception:
        proc.kill()
        raise
    return proc, port


def uvicorn(loop):
    need_module("fastapi", "python3-fastapi")
    need_module("uvicorn", "python3-uvicorn")
    need_module("asyncpg", "python3-asyncpg")
    if loop == "uvloop":
        need_module("uvloop", "python3-uvloop")
    return [PY, "-m", "uvicorn", "async_app:app", "--app-dir", APPS, "--port", "PORT", "--loop", loop,
            "--log-level", "warning"]


def test_fastapi_asyncpg_on_uvicorn_asyncio_calls_per_request_exact(postgres, redis_server, watch_factory):
    """Queries awaited in the request's task, in gather's sub-tasks, on anyio's pool threads (a
    plain def endpoint) and through asyncio.to_thread are each tied to their request; those sent
    through loop.run_in_executor, which hands no context on, are counted as untied."""
    proc, port = start_app(uvicorn("asyncio"), {**postgres.env(), **redis_server.env()})
    truth = postgres.connect("postgres")
    try:
        postgres.reset_stats(truth)
        gets = redis_calls(redis_server, "get")
        w = watch_factory("-p", proc.pid)
        routes = {"/q/12": 12, "/none": 0, "/gather/5": 5, "/sync/4": 4, "/to_thread/2": 2, "/redis/3": 3,
                  "/executor/3": 3}
        seen = drive(port, interleaved(list(routes)))
        snap = w.stop()
        stmts = postgres.statements(truth)
        gets = redis_calls(redis_server, "get") - gets
    finally:
        proc.kill()
        proc.wait()
        truth.close()
    svc = service(snap)
    summary(svc)
    assert seen == {p: k * PER_ROUTE for p, k in routes.items() if k}, seen
    assert gets == 3 * PER_ROUTE
    # asyncpg's pool resets a connection on each release: c statements per acquire, from the truth
    acquires = PER_ROUTE * (1 + 5)
    resets = sum(n for q, n in stmts.items() if "pg_advisory_unlock_all" in q)
    print(f"truth: {stmts}; resets {resets} for {acquires} acquires")
    assert resets and resets % acquires == 0, (resets, acquires)
    c = resets // acquires
    assert statement_calls(svc, "pg_advisory_unlock_all") == resets  # the reset is shown as such
    expect = {"/q/{k}": 12 + c, "/none": 0, "/gather/{k}": 5 * (1 + c), "/sync/{k}": 4, "/to_thread/{k}": 2,
              "/redis/{k}": 3, "/executor/{k}": 0}
    by_route = {route: r for (method, route), r in routes_by_key(svc).items()}
    assert set(by_route) == set(expect), by_route.keys()
    for route, n in expect.items():
        r = by_route[route]
        assert r["requests"] == PER_ROUTE, (route, r)
        assert r["db_calls_per_request"] == n and r["db_calls_max"] == n, (route, n, r)
    assert svc["http_server"]["requests"] == PER_ROUTE * len(routes)
    assert svc["db_attribution"] == "per-task", svc["db_attribution"]
    assert svc["db_calls_untied"] == 3 * PER_ROUTE, (svc["db_calls_untied"], svc["untied_why"])
    assert "without a copy of its context" in svc["untied_why"]
    f = {(x["route"], x["statement"]): x for x in svc["findings"]}
    n1 = f.get(("GET /q/{k}", "SELECT name FROM users WHERE id = ?"))
    assert n1 and n1["kind"] == "n_plus_one" and n1["count"] == 12 and n1["requests"] == PER_ROUTE, svc["findings"]
    assert not [x for x in svc["findings"] if x["route"] != "GET /q/{k}"], svc["findings"]


def test_fastapi_on_uvloop_counts_exact_and_says_why_calls_are_not_tied(postgres, redis_server, watch_factory):
    """uvloop makes every socket call from its own loop, after the task that asked has yielded:
    no Context tells requests apart, so calls per request are null with that reason."""
    proc, port = start_app(uvicorn("uvloop"), {**postgres.env(), **redis_server.env()})
    try:
        w = watch_factory("-p", proc.pid)
        seen = drive(port, interleaved(["/q/3", "/none"], 100))
        snap = w.stop()
    finally:
        proc.kill()
        proc.wait()
    svc = service(snap)
    summary(svc)
    assert seen == {"/q/3": 300}
    routes = routes_by_key(svc)
    for key in (("GET", "/q/{k}"), ("GET", "/none")):
        assert routes[key]["requests"] == 100, routes[key]
        assert routes[key]["db_calls_per_request"] is None, routes[key]
    assert svc["db_attribution"].startswith("unavailable") and "uvloop" in svc["db_attribution"], \
        svc["db_attribution"]
    assert svc["db_calls_untied"] is None  # no request takes any call: db_attribution says why


def test_aiohttp_redis_asyncio_calls_per_request_exact(redis_server, watch_factory):
    need_module("aiohttp", "python3-aiohttp")
    proc, port = start_app([PY, os.path.join(APPS, "aio_redis_app.py"), "PORT", str(redis_server.port)], {})
    try:
        gets = redis_calls(redis_server, "get")
        w = watch_factory("-p", proc.pid)
        seen = drive(port, interleaved(["/r/5", "/fan/4", "/none"]))
        snap = w.stop()
        gets = redis_calls(redis_server, "get") - gets
    finally:
        proc.kill()
        proc.wait()
    svc = service(snap)
    summary(svc)
    assert seen == {"/r/5": 5 * PER_ROUTE, "/fan/4": 4 * PER_ROUTE}
    assert gets == 9 * PER_ROUTE, gets
    by_prefix = {r["route"].split("/")[1]: r for r in svc["http_server"]["routes"]}
    for prefix, n in (("r", 5), ("fan", 4), ("none", 0)):
        r = by_prefix[prefix]
        assert r["requests"] == PER_ROUTE and r["db_calls_per_request"] == n and r["db_calls_max"] == n, r
    assert svc["db_attribution"] == "per-task", svc["db_attribution"]
    assert svc["db_calls_untied"] == 0, svc["untied_why"]


def test_gunicorn_gevent_psycogreen_and_redis_calls_per_request_exact(postgres, redis_server, gunicorn_factory,
                                                                      watch_factory, monkeypatch):
    for module, package in (("gevent", "python3-gevent"), ("psycogreen", "python3-psycogreen")):
        need_module(module, package)
    for k, v in {**postgres.env(), **redis_server.env()}.items():
        monkeypatch.setenv(k, v)
    g = gunicorn_factory(workers=2, worker_class="gevent", app="gevent_app:app")
    truth = postgres.connect("postgres")
    try:
        postgres.reset_stats(truth)
        gets = redis_calls(redis_server, "get")
        w = watch_factory("-p", g.pid)
        seen = drive(g.port, interleaved(["/pg/6", "/redis/3", "/none"]))
        snap = w.stop()
        stmts = postgres.statements(truth)
        gets = redis_calls(redis_server, "get") - gets
    finally:
        truth.close()
    svc = service(snap)
    summary(svc)
    assert seen == {"/pg/6": 6 * PER_ROUTE, "/redis/3": 3 * PER_ROUTE}
    assert stmts.get("SELECT name FROM users WHERE id = ?") == 6 * PER_ROUTE, stmts
    assert gets == 3 * PER_ROUTE, gets
    routes = routes_by_key(svc)
    for path, n in (("/pg/<int:k>", 6), ("/redis/<int:k>", 3), ("/none", 0)):
        r = routes[("GET", path)]
        assert r["requests"] == PER_ROUTE and r["db_calls_per_request"] == n and r["db_calls_max"] == n, r
    assert svc["db_attribution"] == "per-greenlet", svc["db_attribution"]
    assert svc["db_calls_untied"] == 0, svc["untied_why"]


PYENV = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3"),
               key=lambda p: [int(x) for x in p.split("/")[-3].split(".")])
INTERPRETERS = [PY] + [p for p in PYENV if 8 <= int(p.split("/")[-3].split(".")[1]) <= 13]


def interpreter_id(path):
    return "debian-3.11" if path == PY else "pyenv-" + path.split("/")[-3]


def test_interpreters_found():
    """The matrix below must cover CPython 3.8-3.13: say which ran, fail when one is missing."""
    minors = sorted({int(p.split("/")[-3].split(".")[1]) for p in INTERPRETERS[1:]})
    print("task attribution matrix:", ", ".join(interpreter_id(p) for p in INTERPRETERS))
    assert minors == list(range(8, 14)), f"pyenv interpreters 3.8-3.13 expected under /root/.pyenv, found {minors}"


@pytest.mark.parametrize("python", INTERPRETERS, ids=interpreter_id)
def test_stdlib_asyncio_outbound_calls_per_request_exact(python, upstream_factory, watch_factory):
    """asyncio.start_server tasks calling an upstream in the task, in gather's sub-tasks and from
    a pool thread given the task's context: each call tied to its request, on every interpreter."""
    up = upstream_factory()
    proc, port = start_app([python, os.path.join(APPS, "asyncio_plain.py"), "PORT", str(up.port)], {})
    try:
        before = up.counts()
        w = watch_factory("-p", proc.pid)
        routes = {"/seq/3": 3, "/gather/4": 4, "/thread/2": 2, "/none": 0}
        seen = drive(port, interleaved(list(routes), 50))
        snap = w.stop()
        served = up.counts() - before
    finally:
        proc.kill()
        proc.wait()
    svc = service(snap)
    print(interpreter_id(python))
    summary(svc)
    assert seen == {p: 50 * k for p, k in routes.items() if k}, seen
    assert sum(served.values()) == 50 * 9, served
    by_prefix = {r["route"].split("/")[1]: r for r in svc["http_server"]["routes"]}
    for prefix, n in (("seq", 3), ("gather", 4), ("thread", 2), ("none", 0)):
        r = by_prefix[prefix]
        assert r["requests"] == 50 and r["http_calls_per_request"] == n, (prefix, r)
    assert svc["http_attribution"] == "per-task", svc["http_attribution"]
    assert svc["http_calls_untied"] == 0, svc["untied_why"]
