"""The upstream the outbound-call tests call: a standard-library HTTP/1.1 server (keep-alive)
on a loopback port or a unix socket, whose own count of what it served is the truth.
Usage: upstream.py PORT [CERT KEY] | upstream.py unix:PATH
With CERT and KEY it serves HTTPS: each accepted connection's handshake runs on its own thread.

GET or POST /item/N answers by N: 404 when N % 5 == 3, 500 when N % 7 == 6, else 200; its
body is chunked when N % 4 == 1 (else Content-Length). /drop closes the connection without
answering (the caller sees a reset call). /__counts (not counted) returns the counts as JSON:
{"GET 200": n, ..., "drop": n}."""
import collections
import json
import os
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = collections.Counter()
lock = threading.Lock()


def count(key):
    with lock:
        counts[key] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, chunked=False):
        self.send_response(status)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(body) // 2
            for part in (body[:half], body[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def serve(self):
        if self.path == "/__counts":
            with lock:
                self.answer(200, json.dumps(counts).encode())
            return
        if self.path == "/drop":
            count("drop")
            self.close_connection = True  # no response at all: the caller's call fails
            return
        n = int(self.path.rsplit("/", 1)[-1].split("?")[0])
        status = 404 if n % 5 == 3 else 500 if n % 7 == 6 else 200
        count(f"{self.command} {status}")
        self.answer(status, (f"item {n} " + "z" * (n * 37 % 3000)).encode(), chunked=n % 4 == 1)

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.serve()

    def log_message(self, *args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port) address


class TLSServer(ThreadingHTTPServer):
    def __init__(self, address, cert, key):
        super().__init__(address, Handler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)

    def finish_request(self, request, client_address):
        # on the connection's thread: a slow handshake holds no other connection
        with self.context.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)


if __name__ == "__main__":
    # callers open dozens of connections at once (a fan-out per request): with the default
    # backlog of 5 their SYNs are dropped and retried seconds later
    socketserver.TCPServer.request_queue_size = 256
    where = sys.argv[1]
    if where.startswith("unix:"):
        path = where[5:]
        if os.path.exists(path):
            os.unlink(path)
        server = UnixServer(path, Handler)
    elif len(sys.argv) == 4:
        server = TLSServer(("127.0.0.1", int(where)), sys.argv[2], sys.argv[3])
    else:
        server = ThreadingHTTPServer(("127.0.0.1", int(where)), Handler)
    print("ready", flush=True)
    server.serve_forever()
