"""The test client: sends a known request mix and keeps its own count, the truth that
pyvitals' numbers are compared with."""
import collections
import http.client
import socket
import time

# (method, path, expected route template, expected status, body)
MIX = [
    ("GET", "/users/{n}", "/users/<int:user_id>", 200, None),
    ("POST", "/items", "/items", 201, b"name=widget&size=" + b"9" * 5000),
    ("GET", "/missing", "/missing", 404, None),
    ("GET", "/fail", "/fail", 500, None),
    ("HEAD", "/users/{n}", "/users/<int:user_id>", 200, None),
    ("GET", "/big", "/big", 200, None),
    ("GET", "/stream", "/stream", 200, None),
    ("GET", "/redirect", "/redirect", 302, None),
    ("GET", "/?q=1", "/", 200, None),
]


class Truth:
    def __init__(self):
        self.counts = collections.Counter()  # (method, route, status class) -> n

    def add(self, method, route, status):
        self.counts[(method, route, f"{status // 100}xx")] += 1

    def routes(self):
        out = collections.defaultdict(lambda: collections.Counter())
        for (m, r, cls), n in self.counts.items():
            out[(m, r)][cls] += n
        return out

    def total(self):
        return sum(self.counts.values())


def request(conn, truth, method, path, route, expect, body=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == expect, f"{method} {path}: got {resp.status}, expected {expect}"
    truth.add(method, route, resp.status)
    return resp


def drive_mix(port, truth, rounds, conn=None):
    """Send MIX `rounds` times over one keep-alive connection (reopened when the server closes)."""
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(rounds):
        for method, path, route, status, body in MIX:
            request(conn, truth, method, path.replace("{n}", str(1000 + i)), route, status, body)
    return conn


def pipelined(port, truth, paths, sock=None):
    """Write several GET requests in one send and read all the responses (on sock if given,
    left open, else on a connection of its own)."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p, _ in paths))
    data = b""
    deadline = time.time() + 20
    while data.count(b"HTTP/1.1 ") < len(paths) or not _complete(data, len(paths)):
        if time.time() > deadline:
            raise AssertionError(f"pipelined responses incomplete: {data[:200]!r}")
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    if not sock:
        s.close()
    for _, route in paths:
        truth.add("GET", route, 200)
    return data


def _complete(data, n):
    # every response has Content-Length; count fully received ones
    got, pos = 0, 0
    while got < n:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return False
        head = data[pos:end].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":")[1])
        if len(data) < end + 4 + length:
            return False
        pos = end + 4 + length
        got += 1
    return True


def split_request(port, truth, path, route):
    """One request written a few bytes at a time, so the service reads it in many pieces."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: split\r\n\r\n".encode()
    for i in range(0, len(raw), 3):
        s.sendall(raw[i:i + 3])
        time.sleep(0.01)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    truth.add("GET", route, 200)
    s.close()
