"""pyvitals serve against real parts: a gunicorn Flask service, a real Prometheus scraping us
(PromQL counts equal the client's), promtool on a live scrape, Redis INFO commandstats as the truth
for the database metrics, the /health verdict turning critical and back, the token, hostile
clients, --all-python following processes that start and exit, and the reduced capabilities."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import APPS, HOOKS_ARGS, PY, PYVITALS, free_port, require_tool, wait_port
from servers import redis_server  # noqa: F401 (module fixture)


class Serve:
    """pyvitals serve on a free loopback port."""

    def __init__(self, *args, token_file=None, config=None):
        self.port = free_port()
        self.cmd = [PYVITALS, "serve", *map(str, args), "--listen", f"127.0.0.1:{self.port}", *HOOKS_ARGS]
        if token_file:
            self.cmd += ["--auth-token-file", token_file]
        if config:
            self.cmd += ["--config", config]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = [self.proc.stderr.readline(), self.proc.stderr.readline()]
        if not lines[0].startswith("attached") or "serving" not in lines[1]:
            rest = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"pyvitals serve did not start: {''.join(lines)}{rest}")
        print(f"pyvitals {lines[0].strip()} / {lines[1].strip()}")
        self.serving_line = lines[1]
        # stderr must keep draining: a full pipe would block the agent
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, token=None, timeout=10):
        """(status, headers, body) of GET path."""
        req = urllib.request.Request(self.url(path))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def json(self, path, token=None):
        status, _, body = self.get(path, token)
        assert status in (200, 503), f"{path}: {status} {body}"
        return json.loads(body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def serve_factory():
    started = []

    def start(*args, **kw):
        s = Serve(*args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def hit(port, path, n):
    """n GETs on one keep-alive connection; the statuses the client saw."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = {}
    for _ in range(n):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        seen[r.status] = seen.get(r.status, 0) + 1
    c.close()
    return seen


def samples(text, name):
    """{frozenset(labels): value} of one metric's samples in an exposition."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = re.match(r'^[a-z_]+(?:\{(.*)\})? (\S+)$', line)
        assert m, f"unparseable sample line: {line}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        out[labels] = float(m.group(2))
    return out


def wait_for(check, timeout, what):
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last})")


def test_prometheus_scrapes_exact_request_counts(gunicorn_factory, serve_factory, tmp_path):
    """A real Prometheus scrapes pyvitals during a gunicorn run; PromQL's counts equal the client's."""
    prometheus = require_tool("prometheus", "prometheus") or "prometheus"
    require_tool("promtool", "prometheus")
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    s = serve_factory("-p", g.pid)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: pyvitals\n    static_configs:\n      - targets: ['127.0.0.1:{s.port}']\n")
    prom = subprocess.Popen([prometheus, f"--config.file={tmp_path}/prometheus.yml",
                             f"--storage.tsdb.path={tmp_path}/data", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))
    try:
        wait_port(prom_port, 30)
        truth = {}
        for path, n in (("/", 300), ("/users/7", 200), ("/missing", 50), ("/fail", 25)):
            for status, count in hit(g.port, path, n).items():
                truth[(path, str(status))] = truth.get((path, str(status)), 0) + count
        # a path with a quote and a backslash: its label value must come out escaped
        with socket.create_connection(("127.0.0.1", g.port)) as c:
            c.sendall(b'GET /we"ird\\path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            # read it all before closing: a close with the body unread resets the connection,
            # the server's write of the body may fail, and the response is rightly not counted
            resp = b""
            while chunk := c.recv(4096):
                resp += chunk
            assert resp.startswith(b"HTTP/1.1 200"), resp
        route = {"/": "/", "/users/7": "/users/<int:user_id>", "/missing": "/missing", "/fail": "/fail"}
        want = {(route[p], st): c for (p, st), c in truth.items()}
        print(f"client: {want}")

        # promtool lints a live scrape (names, types, help, units), one with the odd route in it
        label = 'http_route="/we\\"ird\\\\path"'
        status, headers, body = wait_for(lambda: (lambda r: r if label in r[2] else None)(s.get("/metrics")), 10,
                                         "the route with a quote and a backslash, escaped, in /metrics")
        assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), \
            f"promtool check metrics: {lint.stdout}{lint.stderr}"

        query = ('sum by (http_route, http_response_status_code) '
                 '(http_server_request_duration_seconds_count{job="pyvitals", http_route!~".*ird.*"})')

        def promql():
            u = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            with urllib.request.urlopen(u, timeout=5) as r:
                res = json.load(r)["data"]["result"]
            got = {(x["metric"]["http_route"], x["metric"]["http_response_status_code"]): int(float(x["value"][1]))
                   for x in res}
            return got if got == want else None
        got = wait_for(promql, 30, f"PromQL {query} to equal the client's counts {want}")
        print(f"PromQL: {got}")
        assert got == want
        text = s.get("/metrics")[2]
        info = samples(text, "pyvitals_build_info")
        assert len(info) == 1 and dict(next(iter(info)))["version"], info
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait(20)


def test_db_and_cache_metrics_match_redis_commandstats(redis_server, gunicorn_factory, serve_factory,  # noqa: F811
                                                       monkeypatch):
    """db_client_operation_duration_seconds counts per operation and error type, and the cache
    hit/miss counters, equal Redis' own INFO commandstats and keyspace figures."""
    for k, v in redis_server.env().items():
        monkeypatch.setenv(k, v)
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="db_app:app")
    r = redis_server.client()
    r.delete("k:miss", "k:miss2")
    s = serve_factory("-p", g.pid)
    r.config_resetstat()
    assert hit(g.port, "/redis", 20) == {200: 20}
    stats = {name[len("cmdstat_"):].upper(): v for name, v in r.info("commandstats").items()}
    truth = {k: v["calls"] for k, v in stats.items() if not k.startswith(("CONFIG", "INFO"))}
    errors = sum(v.get("failed_calls", 0) for k, v in stats.items() if not k.startswith(("CONFIG", "INFO")))
    ks = r.info("stats")
    peer = {("server_address", "127.0.0.1"), ("server_port", str(redis_server.port)), ("db_system_name", "redis")}

    def metrics():
        text = s.get("/metrics")[2]
        ops = {}
        errs = 0
        for labels, v in samples(text, "db_client_operation_duration_seconds_count").items():
            if peer <= labels:
                d = dict(labels)
                ops[d["db_operation_name"]] = ops.get(d["db_operation_name"], 0) + int(v)
                errs += int(v) if "error_type" in d else 0
        cache = {dict(l)["result"]: int(v) for l, v in samples(text, "pyvitals_cache_requests_total").items()
                 if peer <= l}
        return (ops, errs, cache) if ops == truth else None
    ops, errs, cache = wait_for(metrics, 15, f"db operations to equal commandstats {truth}")
    print(f"redis truth {truth} errors {errors} hits {ks['keyspace_hits']} misses {ks['keyspace_misses']}")
    print(f"/metrics: {ops} errors {errs} cache {cache}")
    assert errs == errors == 20
    assert cache == {"hit": ks["keyspace_hits"], "miss": ks["keyspace_misses"]} == {"hit": 120, "miss": 60}
    # the error type is Redis' own error prefix
    text = s.get("/metrics")[2]
    typed = [dict(l)["error_type"] for l in samples(text, "db_client_operation_duration_seconds_count")
             if peer <= l and "error_type" in dict(l)]
    assert typed == ["WRONGTYPE"], typed


def test_health_turns_critical_on_5xx_and_recovers(gunicorn_factory, serve_factory, tmp_path):
    """A burst of 5xx on one route makes /health critical (503); once the window has passed
    without errors it is ok (200) again."""
    cfg = tmp_path / "pyvitals.ini"
    cfg.write_text("[health]\nwindow_s = 6\nmin_requests = 5\n")
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=4)
    s = serve_factory("-p", g.pid, config=str(cfg))
    hit(g.port, "/", 50)
    h = wait_for(lambda: (lambda x: x if x["services"] and x["services"][0]["checks"] else None)(s.json("/health")),
                 10, "health checks for the service")
    assert s.get("/health")[0] == 200 and h["status"] == "ok", h
    assert hit(g.port, "/fail", 20) == {500: 20}
    hit(g.port, "/", 20)

    def critical():
        status, _, body = s.get("/health")
        doc = json.loads(body)
        return (status, doc) if doc["status"] == "critical" else None
    status, doc = wait_for(critical, 10, "/health to turn critical")
    assert status == 503
    svc = doc["services"][0]
    bad = [c for c in svc["checks"] if c["status"] == "critical"]
    print(f"critical: {bad}")
    assert svc["status"] == "critical"
    assert any(c["check"] == "http_5xx_ratio" and c["route"] == "GET /fail" and c["value"] == 1 for c in bad), bad
    assert all(c["route"] == "GET /fail" for c in bad), "only the failing route is critical"
    metrics = s.get("/metrics")[2]
    assert list(samples(metrics, "pyvitals_health_status").values()) == [2]
    # healthy traffic only, for longer than the window
    deadline = time.time() + 6 + 5
    while time.time() < deadline and s.get("/health")[0] != 200:
        hit(g.port, "/", 5)
        time.sleep(0.5)
    status, _, body = s.get("/health")
    assert status == 200 and json.loads(body)["status"] == "ok", body


def test_token_is_required_on_data_endpoints(gunicorn_factory, serve_factory, tmp_path):
    token = "s3cret-" + os.urandom(8).hex()
    tf = tmp_path / "token"
    tf.write_text(token + "\n")
    tf.chmod(0o600)
    g = gunicorn_factory(workers=1)
    s = serve_factory("-p", g.pid, token_file=str(tf))
    for path in ("/metrics", "/health", "/api/snapshot"):
        assert s.get(path)[0] == 401, f"{path} without a token"
        assert s.get(path, token="wrong")[0] == 401, f"{path} with a wrong token"
        assert s.get(path, token=token[:-1])[0] == 401, f"{path} with a prefix of the token"
        status, headers, _ = s.get(path)
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert s.get(path, token=token)[0] in (200, 503), f"{path} with the token"
    # the page and its files hold no data: served without the token (the page asks for it)
    assert s.get("/")[0] == 200 and s.get("/static/dygraph.min.js")[0] == 200


def test_huge_and_trickling_requests_do_not_block_scrapes(gunicorn_factory, serve_factory):
    g = gunicorn_factory(workers=1)
    s = serve_factory("-p", g.pid)
    trickles = []
    for _ in range(8):  # a byte a second, never finishing the head
        c = socket.create_connection(("127.0.0.1", s.port))
        c.send(b"GET /metrics HTTP/1.1\r\n")
        trickles.append(c)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for c in trickles:
                try:
                    c.send(b"X")
                except OSError:
                    pass
            time.sleep(1)
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        # 10 MB body: refused, quickly
        big = socket.create_connection(("127.0.0.1", s.port))
        big.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
        try:
            big.sendall(b"x" * (10 << 20))
        except OSError:
            pass  # the server closed it: fine
        big.settimeout(5)
        assert big.recv(64).startswith(b"HTTP/1.1 413"), "a request with a body is refused"
        big.close()
        # a 10 MB head: refused
        head = socket.create_connection(("127.0.0.1", s.port))
        try:
            head.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * (10 << 20) + b"\r\n\r\n")
        except OSError:
            pass
        head.close()
        worst = 0
        for _ in range(20):
            t0 = time.time()
            status, _, body = s.get("/metrics", timeout=5)
            worst = max(worst, time.time() - t0)
            assert status == 200 and "http_server_request_duration_seconds" in body
        print(f"slowest of 20 scrapes next to 8 trickling clients: {worst * 1000:.1f} ms")
        assert worst < 2
        # the agent kept counting meanwhile
        hit(g.port, "/", 10)
        snap = wait_for(lambda: (lambda x: x if x["services"][0]["http_server"]["requests"] == 10 else None)(
            s.json("/api/snapshot")), 10, "10 requests in the snapshot")
        assert snap["services"][0]["http_server"]["exact"] is True
    finally:
        stop.set()
        for c in trickles:
            c.close()


def test_all_python_follows_processes_that_start_and_exit(serve_factory, tmp_path):
    """--all-python picks up a Python service started after pyvitals (within 2 s), counts its
    requests, gives it the interpreter probes despite the reduced capabilities, and drops it
    once it exits."""
    s = serve_factory("--all-python")
    port = free_port()
    app = subprocess.Popen([PY, os.path.join(APPS, "plain_server.py"), str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        t0 = time.time()

        def listed():
            snap = s.json("/api/snapshot")
            return next((x for x in snap["services"] if app.pid in x["pids"]), None)
        found = wait_for(listed, 10, f"pid {app.pid} in the services")
        print(f"found as {found['name']!r} after {time.time() - t0:.1f} s")
        assert found["name"] == f"plain_server.py {port}" and found["pids"] == [app.pid], \
            "a program started by a Python process (pytest) is a service of its own"
        assert time.time() - t0 < 2 + 1.2, "picked up within 2 s (+ one snapshot)"
        assert hit(port, "/", 40) == {200: 40}

        def counted():
            x = listed()
            return x if x and x["http_server"]["requests"] == 40 else None
        svc = wait_for(counted, 10, "40 requests counted")
        assert svc["runtime"]["gc"] is not None and svc["runtime"]["python"], svc["runtime"]
        assert svc["name"] in s.get("/metrics")[2]
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(10)
    gone_at = time.time()
    wait_for(lambda: listed() is None and f" {app.pid}" not in json.dumps(s.json("/health")), 10,
             "the exited service to be dropped")
    print(f"dropped {time.time() - gone_at:.1f} s after exit")
    assert s.stop() == 0, "serve ends cleanly on SIGINT (the HTTP thread must not take the signal)"


def test_serving_agent_keeps_only_the_capabilities_it_needs(gunicorn_factory, serve_factory):
    g = gunicorn_factory(workers=1)
    s = serve_factory("-p", g.pid)
    with open(f"/proc/{s.proc.pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    print({k: status[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")})
    want = (1 << 2) | (1 << 19) | (1 << 38) | (1 << 39)  # DAC_READ_SEARCH, SYS_PTRACE, PERFMON, BPF
    for k in ("CapPrm", "CapEff", "CapBnd"):
        assert int(status[k], 16) == want, f"{k} {status[k]}, want {want:016x}"
    assert int(status["CapInh"], 16) == 0 and int(status["CapAmb"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert "CAP_BPF CAP_PERFMON" in s.serving_line
    # still attaching: a worker gunicorn starts now is followed and counted
    os.kill(g.worker_pids()[0], signal.SIGKILL)
    time.sleep(2)
    assert hit(g.port, "/", 10) == {200: 10}
    wait_for(lambda: s.json("/api/snapshot")["services"][0]["http_server"]["requests"] == 10, 10,
             "requests of the respawned worker")


def test_serve_refuses_bad_settings_clearly(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text("[health]\nwindow_s = 60\nhttp_5xx_ratio_degradd = 0.1\n")
    r = subprocess.run([PYVITALS, "serve", "--all-python", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "line 3" in r.stderr and "http_5xx_ratio_degradd" in r.stderr, r.stderr
    cfg.write_text("[health]\nhttp_5xx_ratio_degraded = 0.5\nhttp_5xx_ratio_critical = 0.1\n")
    r = subprocess.run([PYVITALS, "serve", "--all-python", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "critical must be the higher" in r.stderr, r.stderr
    r = subprocess.run([PYVITALS, "serve", "--all-python", "--listen", "localhost"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1 and "ADDR:PORT" in r.stderr, r.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    r = subprocess.run([PYVITALS, "serve", "--all-python", "--listen", f"127.0.0.1:{busy.getsockname()[1]}"],
                       capture_output=True, text=True, timeout=10)
    busy.close()
    assert r.returncode == 1 and "another process listens there" in r.stderr, r.stderr
    r = subprocess.run([PYVITALS, "watch", "--all-python", "--listen", "127.0.0.1:1"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--listen is an option of 'pyvitals serve' only" in r.stderr, r.stderr


def test_version_names_the_build():
    out = subprocess.run([PYVITALS, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.match(r"pyvitals (\d+\.\d+\.\d+) \(commit (\S+), built (\S+), libbpf (v?\d+\.\d+\S*)\)", out)
    assert m, out
    head = subprocess.run(["git", "-C", os.path.dirname(PYVITALS), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    if head:  # a checkout: the commit built is the one checked out
        assert m.group(2).split("-")[0] == head, (m.group(2), head)
    doctor = subprocess.run([PYVITALS, "doctor"], capture_output=True, text=True, timeout=60).stdout
    assert doctor.splitlines()[0] == out.splitlines()[0]
