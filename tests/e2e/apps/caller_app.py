"""A Flask service that calls an upstream (tests/e2e/apps/upstream.py) while serving each
request, as web services call their APIs. UPSTREAM is http://HOST:PORT (called with one
requests.Session per thread) or unix:PATH (called with http.client over a connected AF_UNIX
socket: requests cannot speak to unix sockets without extra packages).

GET /fanout/<n>: n calls, item i for i in range(n), POST for i % 6 == 5, else GET.
GET /calldrop: a call the upstream drops without answering, then one good call.
Each answers with what the app itself saw: {"calls": n, "status": {"200": n, ...}, "failed": n}."""
import collections
import http.client
import os
import socket
import threading

import requests
from flask import Flask

app = Flask(__name__)
UPSTREAM = os.environ["UPSTREAM"]
local = threading.local()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("upstream.local", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(method, path, body=None):
    """One call; returns its status, or None when the connection failed without a response."""
    if UPSTREAM.startswith("unix:"):
        if getattr(local, "conn", None) is None:
            local.conn = UnixHTTPConnection(UPSTREAM[5:])
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
    try:
        return local.session.request(method, UPSTREAM + path, data=body, timeout=30).status_code
    except requests.ConnectionError:
        return None


def run(calls):
    seen = collections.Counter()
    for method, path, body in calls:
        status = call(method, path, body)
        seen[str(status) if status else "failed"] += 1
    return {"calls": len(calls), "status": {k: v for k, v in seen.items() if k != "failed"},
            "failed": seen["failed"]}


@app.get("/fanout/<int:n>")
def fanout(n):
    return run([("POST", f"/item/{i}", b"x" * 100) if i % 6 == 5 else ("GET", f"/item/{i}?user=secret", None)
                for i in range(n)])


@app.get("/calldrop")
def calldrop():
    return run([("GET", "/drop", None), ("GET", "/item/0", None)])
