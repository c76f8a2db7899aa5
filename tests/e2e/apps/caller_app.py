"""A Flask service that calls upstreams (tests/e2e/apps/upstream.py) while serving each
request, as web services call their APIs. UPSTREAM is one or more base URLs separated by
spaces: http://HOST:PORT or https://HOST:PORT (called with one requests.Session per thread;
UPSTREAM_CA, when set, is the certificate the HTTPS ones are verified against), or a single
unix:PATH (called with http.client over a connected AF_UNIX socket: requests cannot speak to
unix sockets without extra packages).

GET /fanout/<n>: n calls to each upstream, item i for i in range(n), POST for i % 6 == 5, else GET.
GET /calldrop: to each upstream, a call it drops without answering, then one good call.
Each answers with what the app itself saw: {"calls": n, "status": {"200": n, ...}, "failed": n}."""
import collections
import http.client
import os
import socket
import threading

import requests
from flask import Flask

app = Flask(__name__)
UPSTREAMS = os.environ["UPSTREAM"].split()
local = threading.local()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("upstream.local", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(base, method, path, body=None):
    """One call; returns its status, or None when the connection failed without a response."""
    if base.startswith("unix:"):
        if getattr(local, "conn", None) is None:
            local.conn = UnixHTTPConnection(base[5:])
        try:
            local.conn.request(method, path, body=body)
            r = local.conn.getresponse()
            r.read()
            return r.status
        except (http.client.HTTPException, OSError):
            local.conn.close()
            local.conn = None
            return None
    if getattr(local, "session", None) is None:
        local.session = requests.Session()
    # per call: REQUESTS_CA_BUNDLE in the environment would override a Session.verify
    verify = os.environ.get("UPSTREAM_CA") or True
    try:
        return local.session.request(method, base + path, data=body, timeout=30, verify=verify).status_code
    except requests.ConnectionError:  # requests' SSLError is one too
        return None


def run(calls):
    seen = collections.Counter()
    for base, method, path, body in calls:
        status = call(base, method, path, body)
        seen[str(status) if status else "failed"] += 1
    return {"calls": len(calls), "status": {k: v for k, v in seen.items() if k != "failed"},
            "failed": seen["failed"]}


@app.get("/fanout/<int:n>")
def fanout(n):
    return run([(base, "POST", f"/item/{i}", b"x" * 100) if i % 6 == 5 else
                (base, "GET", f"/item/{i}?user=secret", None) for i in range(n) for base in UPSTREAMS])


@app.get("/calldrop")
def calldrop():
    return run([(base, "GET", path, None) for base in UPSTREAMS for path in ("/drop", "/item/0")])
