"""uWSGI serving tests/e2e/apps/flask_app.py (issue #9): behind nginx `uwsgi_pass` (the uwsgi
binary protocol in, HTTP out), on its own `--http-socket`, and with workers respawned by
--max-requests. Per-route counts and status classes must equal the client's own count. All real
parts: Debian's nginx-light, uwsgi and uwsgi-plugin-python3; a missing one fails the test."""
import collections
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import pytest

from conftest import APPS, children, free_port, routes_by_key, wait_port
from http_client import MIX, Truth, drive_mix, request
from conftest import wait_unix
from servers import Nginx, log_tail, missing, need_binary, stop_proc
from test_http import assert_matches_truth

# The Debian packages these tests need (make deps installs them; Makefile DEPS).
PACKAGES = ["nginx-light", "uwsgi", "uwsgi-plugin-python3", "curl"]
UWSGI_PLUGIN = "/usr/lib/uwsgi/plugins/python3_plugin.so"


class Uwsgi:
    """uwsgi --master with N workers on a loopback port or, with unix=True, a unix socket
    (`addr` is what nginx connects to), in the foreground (proc.pid is the master). mode is
    "--socket" (uwsgi protocol), "--http-socket" or "--http11-socket"."""

    def __init__(self, mode, workers=2, max_requests=0, unix=False):
        self.bin = need_binary("uwsgi", "uwsgi")
        if not os.path.exists(UWSGI_PLUGIN):
            missing(UWSGI_PLUGIN, "uwsgi-plugin-python3")
        self.dir = tempfile.mkdtemp(prefix="pyvitals-uwsgi-")
        self.log = os.path.join(self.dir, "uwsgi.log")
        self.port = None if unix else free_port()
        self.unix = os.path.join(self.dir, "uwsgi.sock") if unix else None
        self.addr = f"unix:{self.unix}" if unix else f"127.0.0.1:{self.port}"
        cmd = [self.bin, "--plugin", "python3", mode, self.unix or f"127.0.0.1:{self.port}", "--master", "--processes",
               str(workers), "--chdir", APPS, "--module", "flask_app:app", "--die-on-term",
               "--disable-logging", "--logto", self.log]
        if max_requests:
            # uWSGI 2.0 recycles no worker younger than --min-worker-lifetime (60 s by default)
            cmd += ["--max-requests", str(max_requests), "--min-worker-lifetime", "1"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_unix(self.unix) if unix else wait_port(self.port)
            deadline = time.time() + 15
            while len(self.worker_pids()) < workers and time.time() < deadline:
                time.sleep(0.05)
            if len(self.worker_pids()) < workers:
                raise RuntimeError(f"uwsgi started {self.worker_pids()}, not {workers} workers")
        except RuntimeError as e:
            self.stop()
            pytest.fail(f"uwsgi did not start: {e}\n{log_tail(self.log)}")

    @property
    def pid(self):
        return self.proc.pid

    def worker_pids(self):
        return children(self.proc.pid)

    def stop(self):
        stop_proc(self.proc, signal.SIGINT)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def stack():
    """Starts uwsgi (and nginx in front when asked); stops all of them at the end."""
    started = []

    def start(mode="--socket", nginx=True, **kw):
        u = Uwsgi(mode, **kw)
        started.append(u)
        n = None
        if nginx:
            n = Nginx(u.addr, via="uwsgi_pass")
            started.append(n)
        return u, n

    yield start
    for s in reversed(started):
        s.stop()


def timed_requests(port, truth, path, route, n):
    """n GETs on one keep-alive connection; returns the client's own latency of each, in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        request(conn, truth, "GET", path, route, 200)
        took.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return took


def one_connection_each(port, truth, rounds):
    """MIX with a new connection per request: uWSGI's --http-socket closes after each response
    without saying so (no Connection: close), so a kept connection would fail."""
    for i in range(rounds):
        for method, path, route, status, body in MIX:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            request(conn, truth, method, path.replace("{n}", str(1000 + i)), route, status, body)
            conn.close()


def check_exact(snap, truth):
    svc = snap["services"][0]
    http_server = svc["http_server"]
    print("hooks:", snap["hooks"], "pyvitals:", http_server["requests"], "client:", truth.total(),
          "status:", http_server["status"], "parse:", snap["parse"])
    assert_matches_truth(svc, truth)
    assert http_server["exact"] is True and http_server["unread_requests"] == 0, http_server
    assert http_server["dropped_requests"] == 0, http_server
    assert snap["lost_events"] == 0
    return svc


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_behind_nginx_uwsgi_pass(stack, watch_factory, unix):
    u, n = stack("--socket", unix=unix)
    w = watch_factory("-p", u.pid)
    truth = Truth()
    drive_mix(n.port, truth, rounds=15)
    took = timed_requests(n.port, truth, "/sleep/20", "/sleep/<int:ms>", 30)
    snap = w.stop()
    svc = check_exact(snap, truth)
    assert svc["name"].startswith("uwsgi"), svc["name"]
    assert set(u.worker_pids()) <= set(svc["pids"]) and u.pid in svc["pids"]
    # Latency runs from uWSGI's first request byte to its last response byte: at least the
    # sleep, at most what the client saw through nginx (within the histogram's 5% error).
    p50 = routes_by_key(svc)[("GET", "/sleep/<int:ms>")]["latency_ms"]["p50"]
    client_p50 = statistics.median(took)
    print(f"/sleep/20 p50: pyvitals {p50} ms, client {client_p50:.2f} ms")
    assert 20.0 * 0.95 <= p50 <= client_p50 * 1.05, (p50, client_p50)


@pytest.mark.parametrize("mode", ["--http-socket", "--http11-socket"])
def test_uwsgi_http_socket(stack, watch_factory, mode):
    u, _ = stack(mode, nginx=False)
    w = watch_factory("-p", u.pid)
    truth = Truth()
    if mode == "--http-socket":
        one_connection_each(u.port, truth, rounds=10)
    else:
        drive_mix(u.port, truth, rounds=10)
    took = timed_requests(u.port, truth, "/sleep/20", "/sleep/<int:ms>", 20) if mode == "--http11-socket" else None
    snap = w.stop()
    svc = check_exact(snap, truth)
    if took:
        p50 = routes_by_key(svc)[("GET", "/sleep/<int:ms>")]["latency_ms"]["p50"]
        assert 20.0 * 0.95 <= p50 <= statistics.median(took) * 1.05, (p50, statistics.median(took))


def test_respawned_workers_are_counted(stack, watch_factory):
    """--max-requests 25: each worker is replaced by a fresh fork of the master after 25
    requests; the replacements' requests count (pyvitals follows the master's forks)."""
    u, n = stack("--socket", workers=2, max_requests=25)
    before = set(u.worker_pids())
    w = watch_factory("-p", u.pid)
    truth = Truth()
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=30)
    served_by = collections.Counter()
    deadline = time.time() + 30
    while sum(c for pid, c in served_by.items() if pid not in before) < 20 and time.time() < deadline:
        conn.request("GET", "/pid")
        r = conn.getresponse()
        served_by[int(r.read())] += 1
        truth.add("GET", "/pid", r.status)
    drive_mix(n.port, truth, rounds=5, conn=conn)
    # a respawned worker can itself be replaced by the end (25 requests each): the live ones are listed
    live = set(u.worker_pids())
    snap = w.stop()
    fresh = set(served_by) - before
    print("workers at attach:", sorted(before), "requests served by pid:", dict(served_by), "live:", sorted(live))
    assert sum(served_by[p] for p in fresh) >= 20, f"respawned workers served too little: {dict(served_by)}"
    svc = check_exact(snap, truth)
    assert live - before and live <= set(svc["pids"]), f"live workers {sorted(live)} not all in {svc['pids']}"


def test_behind_nginx_for_http2_clients(stack, watch_factory):
    """An HTTP/2 client of nginx makes it pass SERVER_PROTOCOL HTTP/2.0, and uWSGI writes that
    back as its status line ("HTTP/2.0 200 OK"): those answers must be read too."""
    curl = need_binary("curl", "curl")
    u, n = stack("--socket")
    w = watch_factory("-p", u.pid)
    truth = Truth()
    urls = [(f"/users/{i}", "/users/<int:user_id>") for i in range(20)] + [("/missing", "/missing")] * 5
    for path, route in urls:
        # one curl per URL: curl 7.88 sends nothing for a second URL on a prior-knowledge h2 connection
        out = subprocess.run([curl, "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                              f"http://127.0.0.1:{n.h2_port}{path}"], capture_output=True, text=True, timeout=30)
        version, code = out.stdout.split() if out.returncode == 0 else ("?", "?")
        assert version == "2", f"curl {path}: rc {out.returncode} {out.stdout!r} {out.stderr!r}"
        truth.add("GET", route, int(code))
    check_exact(w.stop(), truth)


@pytest.mark.parametrize("capture", ["512", "4096"])
def test_vars_past_the_capture_are_counted_not_hidden(stack, watch_factory, capture):
    """nginx sends QUERY_STRING first: a 600-byte query pushes the method and path past the default
    512-byte capture. Those requests are counted from their answers as unread (exact false), never
    dropped silently; a capture that holds the vars reads them exactly."""
    u, n = stack("--socket")
    w = watch_factory("-p", u.pid, extra=("--capture", capture))
    truth = Truth()
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=30)
    for i in range(10):
        request(conn, truth, "GET", f"/users/{i}?q=" + "a" * 600, "/users/<int:user_id>", 200)
    snap = w.stop()
    http_server = snap["services"][0]["http_server"]
    print("capture", capture, "hooks:", snap["hooks"], "requests", http_server["requests"],
          "unread", http_server["unread_requests"], "parse", snap["parse"])
    if capture == "512":
        assert http_server["exact"] is False and http_server["unread_requests"] == 10, http_server
        assert http_server["requests"] == 0, http_server
    else:
        check_exact(snap, truth)
