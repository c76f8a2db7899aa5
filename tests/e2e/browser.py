"""Headless Chromium (Debian's chromium) driven over the DevTools protocol, for the dashboard tests.

Chromium's --enable-logging prints every console message at level INFO whatever its real level,
and never prints failed loads; the protocol says which messages are errors or warnings, reports
uncaught exceptions and failed loads, and lets the test wait for the page instead of guessing a
time budget. Needs the Debian packages chromium and python3-websocket."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest


class Chromium:
    def __init__(self, outdir, width=1400, height=1000):
        if shutil.which("chromium") is None:
            pytest.fail("chromium is missing: install the Debian package 'chromium'")
        try:
            import websocket
        except ImportError:
            pytest.fail("the DevTools client needs python3-websocket: install the Debian package 'python3-websocket'")
        self.outdir = outdir
        self.profile = tempfile.mkdtemp(prefix="pyvitals-chromium-")
        self.log = open(os.path.join(outdir, "chromium.log"), "w")
        # root needs --no-sandbox; port 0 lets chromium pick a free port and write it to DevToolsActivePort
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT)
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        # no Origin header: chromium refuses DevTools websockets from origins it was not told about
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=10, suppress_origin=True)
        self.next_id = 0
        self.events = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _devtools_port(self, timeout=20):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"chromium exited {self.proc.returncode}; see {self.log.name}")
            try:
                with open(path) as f:
                    return int(f.readline())
            except (OSError, ValueError):
                time.sleep(0.05)
        pytest.fail(f"chromium opened no DevTools port in {timeout}s; see {self.log.name}")

    def _recv(self, timeout):
        import websocket
        self.ws.settimeout(max(timeout, 0.01))
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None

    def call(self, method, timeout=15, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self._recv(deadline - time.time())
            if msg is None:
                break
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(f"{method}: no answer in {timeout}s")

    def pump(self, seconds):
        """Collects events for a while (the page goes on polling meanwhile)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            msg = self._recv(deadline - time.time())
            if msg and "method" in msg:
                self.events.append(msg)

    def open(self, url):
        self.call("Page.navigate", url=url)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError:
                pass  # the page is between two documents (a reload): not there yet
            self.pump(0.2)
        pytest.fail(f"the page never satisfied `{expression}` in {timeout}s; problems seen: {self.problems()}")

    def problems(self, network=True):
        """Console errors and warnings, uncaught exceptions and (network=True) failed loads, as text."""
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                out.append(f"console.{p['type']}: {args}")
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"uncaught: {d.get('exception', {}).get('description', d.get('text'))}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                if network or p["entry"]["source"] != "network":
                    out.append(f"log {p['entry']['level']} ({p['entry']['source']}): {p['entry']['text']} "
                               f"{p['entry'].get('url', '')}")
        return out

    def dom(self):
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path):
        """The whole page, not only the window: the route tables sit below the charts."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
