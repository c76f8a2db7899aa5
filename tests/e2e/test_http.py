"""HTTP RED metrics against the client's own count, on real gunicorn/Flask services."""
import http.client
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import APPS, PY, SANITIZED, free_port, require_tool, routes_by_key, wait_port
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
        split_request(g.port, truth, f"/users/{i}", "/users/<int:user_id>")
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
    request(early, uncounted, "GET", "/users/1", "/users/<int:user_id>", 200)  # before attach: not counted
    w = watch_factory("-p", g.pid)
    truth = Truth()
    for i in range(30):
        request(early, truth, "GET", f"/users/{i}", "/users/<int:user_id>", 200)
    drive_mix(g.port, truth, rounds=20)
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
        request(conn, truth, "GET", "/sleep/50", "/sleep/<int:ms>", 200)
    snap = w.stop()
    r = routes_by_key(snap["services"][0])[("GET", "/sleep/<int:ms>")]
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
    # ab counts every request exactly (wrk leaves the ones in flight at its deadline uncounted,
    # hey needs more CPU than these 2 cores spare for 2,000 req/s).
    require_tool("ab", "apache2-utils")
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    url = f"http://127.0.0.1:{g.port}/users/7"
    # Warm the service first, unwatched: a cold gunicorn served its first ab run at 1,666 req/s
    # and the next ones at 3,600-4,500 with no agent at all (this host reclaims idle pages).
    subprocess.run(["ab", "-k", "-n", "5000", "-c", "16", url], capture_output=True, timeout=60)
    w = watch_factory("-p", g.pid)
    # Rounds of 20,000 until 10 s have passed: this host served anywhere from 4,200 to 10,800 req/s
    # from one minute to the next, so no fixed count lasts 10 s everywhere; each round is counted exactly.
    n = complete = failed = 0
    took = 0.0
    while took < 10.0:
        out = subprocess.run(["ab", "-k", "-n", "20000", "-c", "16", url], capture_output=True, text=True,
                             timeout=180).stdout
        n += 20000
        complete += int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
        failed += int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        took += float(re.search(r"Time taken for tests:\s+([\d.]+)", out).group(1))
        assert "Non-2xx" not in out, out
    snap = w.stop()
    rate = n / took
    r = routes_by_key(snap["services"][0])[("GET", "/users/<int:user_id>")]
    print(f"hooks: {snap['hooks']} ab: {complete} complete, {failed} failed in {took:.1f}s at {rate:.0f} req/s; "
          f"pyvitals: {r['requests']} lost_events={snap['lost_events']}")
    assert complete == n and failed == 0
    if SANITIZED and snap["lost_events"]:
        # A sanitized agent (several times slower) may not keep up with 2,000 req/s on 2 cores:
        # then it must say so, never show a short count as exact.
        http_server = snap["services"][0]["http_server"]
        assert not http_server["exact"] and "records_lost" in http_server["inexact_reasons"]
        assert r["requests"] <= n and r["status"]["2xx"] == r["requests"]
        return
    assert rate >= 2000, f"the burst must reach 2,000 req/s; ab reached {rate:.0f}"
    assert r["requests"] == n and r["status"]["2xx"] == n
    assert snap["lost_events"] == 0


def test_pipelined_requests_on_a_stdlib_server(watch_factory):
    # gunicorn does not serve pipelined requests; the standard library's HTTP/1.1 server does.
    port = free_port()
    srv = subprocess.Popen([PY, os.path.join(APPS, "plain_server.py"), str(port)])
    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid)
        truth = Truth()
        for _ in range(10):
            pipelined(port, truth, [("/users/5", "/users/{id}"), ("/", "/"), ("/users/6?x=1", "/users/{id}"),
                                    ("/items/abc", "/items/abc")])
        snap = w.stop()
    finally:
        srv.terminate()
        srv.wait()
    print("hooks:", snap["hooks"])
    assert_matches_truth(snap["services"][0], truth)


def test_deep_pipelining_counts_every_request(watch_factory):
    """Issue #8, item 8: 20 requests pipelined per connection (80 of 100 were counted, and with
    --capture 4096 answered requests were reported as unanswered). The 740-byte batch needs a
    capture that holds it: at the default 512 the requests past it are still lost (item 1)."""
    capture = "4096"
    port = free_port()
    srv = subprocess.Popen([PY, os.path.join(APPS, "plain_server.py"), str(port)])
    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid, extra=("--capture", capture))
        truth = Truth()
        for _ in range(5):
            pipelined(port, truth, [(f"/users/{i}", "/users/{id}") for i in range(20)])
        snap = w.stop()
    finally:
        srv.terminate()
        srv.wait()
    print("hooks:", snap["hooks"], "capture", capture, "parse", snap["parse"])
    assert_matches_truth(snap["services"][0], truth)
    assert snap["parse"]["http_unanswered"] == 0, snap["parse"]


def test_pipelining_past_the_capture_is_marked_then_captured(watch_factory):
    """Issue #8, item 1: at the default 512-byte capture a 20-request batch (740 bytes) hides
    the requests past the capture. Each one is still answered, so its response counts it as an
    unread request (never a silent undercount), and the connection is captured whole from then
    on: its next batch is exact."""
    port = free_port()
    srv = subprocess.Popen([PY, os.path.join(APPS, "plain_server.py"), str(port)])
    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid)
        truth, first = Truth(), Truth()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(5)]
        for s in socks:
            pipelined(port, first, [(f"/users/{i}", "/users/{id}") for i in range(20)], sock=s)
        time.sleep(0.5)  # the capture is raised once pyvitals has read the first batches
        for s in socks:
            pipelined(port, truth, [(f"/orders/{i}", "/orders/{id}") for i in range(20)], sock=s)
            s.close()
        snap = w.stop()
    finally:
        srv.terminate()
        srv.wait()
    http = snap["services"][0]["http_server"]
    got = routes_by_key(snap["services"][0])
    print("hooks:", snap["hooks"], "parse", snap["parse"], "unread", http["unread_requests"])
    assert http["exact"] is False and http["unread_requests"] > 0, http
    seen_first = got.get(("GET", "/users/{id}"), {"requests": 0})["requests"]
    assert seen_first + http["unread_requests"] == first.total(), (seen_first, http["unread_requests"])
    assert got[("GET", "/orders/{id}")]["requests"] == truth.total(), got[("GET", "/orders/{id}")]
    assert http["requests"] + http["unread_requests"] == first.total() + truth.total()


def test_gunicorn_service_reports_runtime_next_to_http(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    w = watch_factory("-p", g.pid)
    truth = Truth()
    drive_mix(g.port, truth, rounds=10)
    snap = w.stop()
    svc = snap["services"][0]
    rt = svc["runtime"]
    print("hooks:", snap["hooks"], "runtime:", rt)
    assert svc["http_server"]["requests"] == truth.total()
    assert rt["python"].startswith("3.11") and rt["executable"].startswith("/usr/bin/python3")
    assert rt["unavailable"] == [] or all(not u.startswith(("gil", "gc")) for u in rt["unavailable"]), rt
    assert rt["gil"]["source"] == "futex" and rt["gil"]["waits"] >= 0 and rt["gil"]["wait_ms"] >= 0
    assert rt["gc"]["source"] == "usdt" and len(rt["gc"]["collections"]) == 3
    # master (1 thread) + 2 workers (main thread + 4 pool threads at most, at least the main one)
    assert 3 <= rt["threads"] <= 1 + 2 * 6, rt["threads"]


def test_uvicorn_asyncio_server_exact_and_nothing_truncated(watch_factory):
    """Issue #8, item 11: on uvicorn (asyncio) every request is counted, and truncated_captures
    counts only I/Os longer than the capture (it counted 430 of 430 small ones before)."""
    require_tool("ab", "apache2-utils")
    if subprocess.run([PY, "-c", "import uvicorn"], capture_output=True).returncode:
        pytest.fail("python module uvicorn is missing: install the Debian package 'python3-uvicorn' (make deps does)")
    port = free_port()
    srv = subprocess.Popen([PY, "-m", "uvicorn", "--app-dir", APPS, "asgi_app:app", "--port", str(port),
                            "--log-level", "warning"])
    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid)
        out = subprocess.run(["ab", "-n", "430", "-c", "4", "-k", f"http://127.0.0.1:{port}/x"],
                             capture_output=True, text=True)
        snap = w.stop()
    finally:
        srv.terminate()
        srv.wait()
    complete = int(re.search(r"Complete requests:\s+(\d+)", out.stdout).group(1))
    http = snap["services"][0]["http_server"]
    print("hooks:", snap["hooks"], "ab complete", complete, "pyvitals", http["requests"], "drops", snap["drops"])
    assert complete == 430 and http["requests"] == complete and http["exact"] is True, http
    assert snap["drops"]["truncated_captures"] == 0, snap["drops"]


def test_unix_response_ended_by_close_counts_before_the_next_sweep(gunicorn_factory, watch_factory, tmp_path):
    """A response of unknown length on a unix socket ends when gunicorn closes the socket, which
    no kernel event reports (the agent finds it gone from /proc/PID/net/unix): requests answered
    so just before the run ends are counted in the final figures (CI lost one this way)."""
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=2, unix=str(tmp_path / "gunicorn.sock"))
    w = watch_factory("-p", g.pid, interval=30)
    bodies = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(g.unix)
        s.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        bodies.append(data)
    assert all(b.startswith(b"HTTP/1.0 200") and b"part 19" in b and b"content-length" not in b.lower()
               for b in bodies), bodies[0][:300]
    snap = w.stop()
    svc = snap["services"][0]
    print("hooks:", snap["hooks"], "routes", svc["http_server"]["routes"])
    assert routes_by_key(svc).get(("GET", "/stream"), {}).get("requests") == 3, svc["http_server"]


@pytest.mark.parametrize("keepalive", [True, False], ids=["upstream-keepalive", "connection-per-request"])
def test_nginx_in_front_of_gunicorn_on_a_unix_socket(gunicorn_factory, watch_factory, tmp_path, keepalive):
    """Issue #9: nginx proxying to gunicorn bound to a unix socket (gunicorn's recommended
    deployment), nginx keeping its upstream connections alive (some opened before attach) or
    opening one per request (gunicorn closes each first: no end of stream is read): every
    route, status class and the latency of /sleep/20 as the client saw them."""
    from servers import Nginx
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, unix=str(tmp_path / "gunicorn.sock"))
    nginx = Nginx(f"unix:{g.unix}", keepalive=keepalive)
    try:
        warm = Truth()
        drive_mix(nginx.port, warm, rounds=3)  # opens nginx's upstream keep-alive connections
        w = watch_factory("-p", g.pid)
        truth = Truth()
        conn = drive_mix(nginx.port, truth, rounds=15)
        sleeps = []
        for i in range(20):
            t = time.perf_counter()
            request(conn, truth, "GET", "/sleep/20", "/sleep/<int:ms>", 200, None)
            sleeps.append((time.perf_counter() - t) * 1000)
        snap = w.stop()
    finally:
        nginx.stop()
    svc = snap["services"][0]
    print("hooks:", snap["hooks"], "requests", svc["http_server"]["requests"], "blind", svc["blind_spots"])
    assert_matches_truth(svc, truth)
    assert svc["http_server"]["exact"] is True and svc["blind_spots"] == [], svc["http_server"]
    p50 = routes_by_key(svc)[("GET", "/sleep/<int:ms>")]["latency_ms"]["p50"]
    client_p50 = sorted(sleeps)[len(sleeps) // 2]
    print(f"/sleep/20 p50: pyvitals {p50} ms, client {client_p50:.2f} ms")
    # the service's own time is inside the client's (nginx and the network add to the latter),
    # within the histogram's error either way
    assert 20 * 0.95 <= p50 <= client_p50 * 1.05, (p50, client_p50)
