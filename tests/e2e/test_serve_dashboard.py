"""The dashboard of pyvitals serve in a real browser: headless Chromium opens the page while a
gunicorn Flask service takes traffic on two routes. The test reads the rendered DOM (the verdict,
a row per live route, the charts), the console over the DevTools protocol (no error, no warning,
no uncaught exception) and saves a screenshot and the DOM into the test's tmp_path, printed in
the log. Needs the Debian packages chromium and python3-websocket."""
import html.parser
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from browser import Chromium
from conftest import HOOKS_ARGS, PYVITALS, free_port, wait_port

# the two routes the traffic takes: route as the agent names it -> path sent
ROUTES = {"GET /users/<int:user_id>": "/users/{n}", "GET /": "/"}


class Traffic(threading.Thread):
    """Requests on both routes, steadily, until stop(): the page must draw live figures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.done, self.sent = port, threading.Event(), 0

    def run(self):
        conn, n = None, 0
        while not self.done.is_set():
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                path = list(ROUTES.values())[n % len(ROUTES)].replace("{n}", str(n % 50))
                conn.request("GET", path)
                conn.getresponse().read()
                n, self.sent = n + 1, self.sent + 1
            except (OSError, http.client.HTTPException):
                conn = None
            time.sleep(0.02)  # ~50 requests/s: live, without starving Chromium of the 2 cores

    def stop(self):
        self.done.set()
        self.join(15)


class Serve:
    """./pyvitals serve on a free loopback port, its output kept in outdir/serve.log."""

    def __init__(self, pid, outdir, token=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.token = token
        extra = []
        if token:
            path = os.path.join(outdir, "token")
            with open(path, "w") as f:
                f.write(token + "\n")
            os.chmod(path, 0o600)
            extra = ["--auth-token-file", path]
        self.log = open(os.path.join(outdir, "serve.log"), "w")
        self.proc = subprocess.Popen([PYVITALS, "serve", "-p", str(pid), "--listen", f"127.0.0.1:{self.port}",
                                      *extra, *HOOKS_ARGS], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, timeout=30)
        except RuntimeError:
            self.stop()
            pytest.fail(f"pyvitals serve does not listen: {open(self.log.name).read()[-2000:]}")

    def get(self, path, token=None):
        """(status, body) of a GET, with the agent's token unless another is given."""
        token = self.token if token is None else token
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_routes(self, timeout=30):
        """Until the snapshot shows requests on both routes: the page then has rows to draw."""
        deadline, seen = time.time() + timeout, set()
        while time.time() < deadline:
            status, body = self.get("api/snapshot")
            if status == 200:
                snap = json.loads(body)
                seen = {f"{r['method']} {r['route']}" for s in snap["services"]
                        for r in s["http_server"]["routes"] if r["requests"]}
                if set(ROUTES) <= seen:
                    return
            time.sleep(0.3)
        pytest.fail(f"api/snapshot shows no requests on {sorted(set(ROUTES) - seen)} after {timeout}s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RenderedPage(html.parser.HTMLParser):
    """What a reader of the rendered DOM sees: the verdict, services, route rows (cell texts), charts shown."""

    def __init__(self, dom):
        super().__init__()
        self.verdict, self.services, self.rows, self.charts = None, [], {}, set()
        self._row, self._cell = None, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "verdict":
            self.verdict = a.get("data-status")
        if tag == "section" and "data-service" in a:
            self.services.append(a["data-service"])
        if tag == "tr" and "data-route" in a:
            self._row = self.rows.setdefault(a["data-route"], [])
        if tag == "td" and self._row is not None:
            self._cell = ""
        if "data-chart" in a and "hidden" not in a:
            self.charts.add(a["data-chart"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        if tag == "tr":
            self._row = None


def rows_expression():
    keys = ", ".join(f'"{k}"' for k in ROUTES)
    return f"[{keys}].every(k => document.querySelector(`tr[data-route=\"${{k}}\"]`))"


def verdict(b):
    return b.evaluate("document.getElementById('verdict').dataset.status")


def page_problems(b, network=True):
    """The browser's complaints, less the one the contract makes: health answers 503 when critical,
    which the browser logs as a failed load although the page reads the verdict from it."""
    critical = verdict(b) == "critical"
    return [p for p in b.problems(network) if not (critical and "status of 503" in p and "/health" in p)]


@pytest.fixture
def chromium(tmp_path):
    print(f"dashboard test output (screenshot, DOM, chromium and serve logs): {tmp_path}")
    b = Chromium(str(tmp_path))
    yield b
    b.close()


@pytest.fixture
def service(gunicorn_factory):
    g = gunicorn_factory(workers=2)
    traffic = Traffic(g.port)
    traffic.start()
    yield g
    traffic.stop()
    assert traffic.sent, "the traffic thread sent no request"


def test_dashboard_shows_verdict_and_live_routes(service, chromium, tmp_path):
    serve = Serve(service.pid, str(tmp_path))
    try:
        serve.wait_routes()
        chromium.open(serve.url)
        chromium.wait_for(rows_expression())
        chromium.pump(3)  # 2-3 more polls: the charts get lines, rows update in place
        dom = chromium.dom()
        with open(tmp_path / "dashboard.html", "w") as f:
            f.write(dom)
        chromium.screenshot(str(tmp_path / "dashboard.png"))
        print(f"screenshot: {tmp_path / 'dashboard.png'}")

        page = RenderedPage(dom)
        assert page.verdict in ("ok", "degraded", "critical"), f"verdict: {page.verdict}"
        assert page.services == ["gunicorn flask_app:app"], page.services
        for route in ROUTES:
            cells = page.rows.get(route)
            assert cells, f"no row for {route}: rows {sorted(page.rows)}"
            method, path, rate, requests = cells[:4]
            assert f"{method} {path}" == route and int(requests) > 0, cells
        assert {"rate", "err", "p50", "p99"} <= page.charts, f"charts shown: {sorted(page.charts)}"
        assert not page_problems(chromium), page_problems(chromium)

        # the agent goes away: the page says so and throws nothing (failed loads are expected now)
        chromium.events.clear()
        serve.stop()
        chromium.wait_for("document.getElementById('verdict').dataset.status === 'unreachable'", timeout=15)
        chromium.pump(1.5)
        assert "agent unreachable" in chromium.evaluate("document.getElementById('verdict').textContent")
        assert not chromium.problems(network=False), chromium.problems(network=False)
    finally:
        serve.stop()


def test_dashboard_with_token(service, chromium, tmp_path):
    token = "t0k+en/with=odd&chars"
    serve = Serve(service.pid, str(tmp_path), token=token)
    try:
        serve.wait_routes()
        assert serve.get("health", token="wrong")[0] == 401
        # the page and its scripts hold no data: served without the token
        for path in ("", "static/dashboard.js", "static/dashboard.css", "static/dygraph.min.js",
                     "static/dygraph.min.css"):
            status, _ = serve.get(path, token="")
            assert status == 200, f"/{path} without a token: HTTP {status}"

        chromium.open(serve.url + "#token=" + urllib.parse.quote(token, safe=""))
        chromium.wait_for(rows_expression())
        chromium.pump(2)
        assert chromium.evaluate("location.hash") == "", "the token must leave the address bar"
        assert verdict(chromium) in ("ok", "degraded", "critical")
        assert not page_problems(chromium), page_problems(chromium)
        chromium.screenshot(str(tmp_path / "dashboard-token.png"))

        # a tab without the token: the page asks for it, then shows the data
        chromium.events.clear()
        chromium.evaluate("sessionStorage.clear(); location.reload(); true")
        chromium.wait_for("document.getElementById('auth') && !document.getElementById('auth').hidden")
        assert verdict(chromium) == "unauthorized"
        chromium.evaluate(f"document.getElementById('auth-token').value = {json.dumps(token)}; "
                          "document.getElementById('auth').requestSubmit(); true")
        chromium.wait_for(rows_expression())
        chromium.pump(1.5)
        # the 401s before the form are failed loads the browser logs; the page itself stays quiet
        assert not chromium.problems(network=False), chromium.problems(network=False)
        assert not [p for p in page_problems(chromium) if "status of 401" not in p], page_problems(chromium)
    finally:
        serve.stop()
