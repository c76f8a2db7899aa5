"""HTTP RED metrics against the client's own count, on real gunicorn/Flask services."""
import http.client
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import PYVITALS, require_tool, routes_by_key
from http_client import MIX, Truth, drive_mix, pipelined, request, split_request


def assert_matches_truth(service, truth):
    got = routes_by_key(service)
    want = truth.routes()
    for key, classes in want.items():
        assert key in got, f"route {key} missing; pyvitals saw {sorted(got)}"
        r = got[key]
        assert r["requests"] == sum(classes.values()), f"{key}: {r['requests']} vs client {dict(classes)}"
        for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            assert r["status"][cls] == classes.get(cls, 0), f"{key} {cls}: {r['status']} vs {dict(classes)}"
    extra = {k: v["requests"] for k, v in got.items() if k not in want and v["requests"]}
    assert not extra, f"routes the client never called: {extra}"
    assert service["http_server"]["requests"] == truth.total()


def test_sync_workers_exact_counts(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="sync")
    w = watch_factory("-p", g.pid)
    truth = Truth()
    drive_mix(g.port, truth, rounds=20)
    for i in range(5):
        split_request(g.port, truth, f"/users/{i}", "/users/{id}")
    snap = w.stop()
    print("hooks:", snap["hooks"], "requests:", snap["services"][0]["http_server"]["requests"])
    svc = snap["services"][0]
    assert svc["name"].startswith("gunicorn"), svc["name"]
    assert svc["root_pid"] == g.pid
    assert set(g.worker_pids()) <= set(svc["pids"]) and g.pid in svc["pids"]
    assert_matches_truth(svc, truth)
    assert snap["lost_events"] == 0


def test_gthread_keepalive_opened_before_attach(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    early = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
    uncounted = Truth()
    request(early, uncounted, "GET", "/users/1", "/users/{id}", 200)  # before attach: not counted
    w = watch_factory("-p", g.pid)
    truth = Truth()
    for i in range(30):
        request(early, truth, "GET", f"/users/{i}", "/users/{id}", 200)
    drive_mix(g.port, truth, rounds=20)
    pipelined(g.port, truth, [("/users/5", "/users/{id}"), ("/", "/"), ("/users/6", "/users/{id}")])
    snap = w.stop()
    print("hooks:", snap["hooks"])
    assert_matches_truth(snap["services"][0], truth)
    assert snap["lost_events"] == 0


def test_sleep_route_latency(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=2)
    w = watch_factory("-p", g.pid)
    truth = Truth()
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
    for _ in range(30):
        request(conn, truth, "GET", "/sleep/50", "/sleep/{id}", 200)
    snap = w.stop()
    r = routes_by_key(snap["services"][0])[("GET", "/sleep/{id}")]
    print("hooks:", snap["hooks"], "sleep/50 latency:", r["latency_ms"])
    assert r["requests"] == 30
    assert 50.0 <= r["latency_ms"]["p50"] <= 60.0, r["latency_ms"]


def test_killed_worker_is_replaced_and_counted(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="sync")
    w = watch_factory("-p", g.pid)
    truth = Truth()
    drive_mix(g.port, truth, rounds=5)
    before = set(g.worker_pids())
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline, replacement = time.time() + 15, None
    while replacement is None and time.time() < deadline:
        fresh = set(g.worker_pids()) - before
        replacement = fresh.pop() if fresh else None
        time.sleep(0.05)
    assert replacement, "gunicorn did not replace the killed worker"
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
    served = 0
    for _ in range(2000):
        conn.request("GET", "/pid")
        r = conn.getresponse()
        body = r.read()
        truth.add("GET", "/pid", r.status)
        served += int(body) == replacement
        if served >= 5:
            break
    assert served >= 5, "the replacement worker never served a request"
    snap = w.stop()
    svc = snap["services"][0]
    print("hooks:", snap["hooks"], "pids:", svc["pids"], "replacement:", replacement)
    assert replacement in svc["pids"], f"replacement worker {replacement} not in {svc['pids']}"
    assert victim not in svc["pids"]
    assert_matches_truth(svc, truth)


def test_burst_counts_equal_load_tool(gunicorn_factory, watch_factory):
    require_tool("hey", "hey")
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    w = watch_factory("-p", g.pid)
    # 16 clients at most 160 req/s each: 28,000 requests take >= 10.9 s at <= 2,560 req/s.
    n = 28000
    out = subprocess.run(["hey", "-n", str(n), "-c", "16", "-q", "160", f"http://127.0.0.1:{g.port}/users/7"],
                         capture_output=True, text=True, timeout=120).stdout
    snap = w.stop()
    codes = dict((int(c), int(k)) for c, k in re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = float(re.search(r"Total:\s+([\d.]+) secs", out).group(1))
    r = routes_by_key(snap["services"][0])[("GET", "/users/{id}")]
    print(f"hooks: {snap['hooks']} hey: {codes} in {total:.1f}s at {rate:.0f} req/s; pyvitals: {r['requests']} "
          f"lost_events={snap['lost_events']}")
    assert codes == {200: n}, out
    assert rate >= 2000, f"the burst must reach 2,000 req/s; hey reached {rate:.0f}"
    assert total >= 10.0, f"the burst lasted {total:.1f}s; it must last 10 s"
    assert r["requests"] == n and r["status"]["2xx"] == n
    assert snap["lost_events"] == 0
