"""Faults (issue #12): what an agent leaves behind when it dies, two agents on one target, a
ring buffer that overflows, servers killed mid-call, sockets closed from another thread, pid
reuse, and 10,000 connections, routes and statements. Truth: bpftool's own lists of the
kernel's BPF programs, maps and links, the servers' own counters and the clients' counts."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import APPS, PY, Watch, free_port, require_tool, routes_by_key, wait_port
from servers import postgres, redis_server  # noqa: F401 (module fixtures)


def bpf_objects():
    """(id, name) of every BPF program, map and link the kernel holds now (ids are never reused
    while an object lives, so a set difference is exact)."""
    out = {}
    for kind in ("prog", "map", "link"):
        r = subprocess.run(["bpftool", "-j", kind, "list"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"bpftool {kind} list: {r.stderr}"
        out[kind] = {(o["id"], o.get("name", o.get("type", ""))) for o in json.loads(r.stdout or "[]")}
    return out


def ours(objs, before):
    return {k: v - before[k] for k, v in objs.items() if v - before[k]}


def drive(port, n, path="/users/3"):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n):
        c.request("GET", path)
        assert c.getresponse().read()
    c.close()


def test_sigkill_leaves_no_program_map_or_link(gunicorn_factory):
    """The kernel frees what a SIGKILLed agent held: every program, map and link is tied to its
    descriptors, nothing is pinned. The watched service keeps serving."""
    require_tool("bpftool", "bpftool")
    g = gunicorn_factory(workers=2)
    before = bpf_objects()
    w = Watch("-p", g.pid)
    drive(g.port, 10)
    during = ours(bpf_objects(), before)
    print("while attached: " + ", ".join(f"{len(v)} {k}s" for k, v in sorted(during.items())))
    assert during.get("prog") and during.get("map"), "the agent's programs and maps are seen while it runs"
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait(10)
    # the kernel frees them once the last descriptor and an RCU grace period go: seconds when idle,
    # tens of seconds on a loaded machine with a few dozen uprobes to unregister
    deadline = time.time() + 60
    left = ours(bpf_objects(), before)
    while left and time.time() < deadline:
        time.sleep(0.5)
        left = ours(bpf_objects(), before)
    assert not left, f"left behind by a SIGKILLed agent: {left}"
    drive(g.port, 10)  # the service is undisturbed


def test_two_agents_on_one_target_both_count_exactly(gunicorn_factory):
    g = gunicorn_factory(workers=2)
    a, b = Watch("-p", g.pid), Watch("-p", g.pid)
    drive(g.port, 120)
    time.sleep(1.5)
    for w in (a, b):
        snap = w.stop()
        svc = snap["services"][0]
        assert routes_by_key(svc)[("GET", "/users/<int:user_id>")]["requests"] == 120, svc["http_server"]
        assert snap["lost_events"] == 0


def test_tracefs_unmounted_while_running(gunicorn_factory):
    """pyvitals' programs reach the kernel through BTF and perf PMUs, not tracefs: unmounting it
    under a running agent changes nothing, and the counts stay exact."""
    g = gunicorn_factory(workers=2)
    w = Watch("-p", g.pid)
    drive(g.port, 50)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        r = subprocess.run(["umount", "/sys/kernel/tracing"], capture_output=True, text=True)
        assert r.returncode == 0, f"umount /sys/kernel/tracing: {r.stderr}"
        assert not os.path.exists("/sys/kernel/tracing/events")
        drive(g.port, 50)
        time.sleep(1)
        snap = w.stop()
    finally:
        subprocess.run([os.path.join(root, "tools", "ensure-tracefs")], check=True)
    assert routes_by_key(snap["services"][0])[("GET", "/users/<int:user_id>")]["requests"] == 100
    assert snap["lost_events"] == 0


def test_target_that_execs_into_another_program_stays_watched(tmp_path):
    """-p PID of a process that exec()s into a Python server: the pid keeps its service and the
    new program's requests are counted, exactly."""
    port = free_port()
    shell = subprocess.Popen(["/bin/sh", "-c", f"sleep 1.5; exec {PY} {os.path.join(APPS, 'plain_server.py')} {port}"])
    try:
        w = Watch("-p", shell.pid)
        wait_port(port)
        drive(port, 30)
        time.sleep(1)
        snap = w.stop()
    finally:
        shell.terminate()
        shell.wait(10)
    svc = snap["services"][0]
    assert shell.pid in svc["pids"], svc["pids"]
    assert routes_by_key(svc)[("GET", "/users/{id}")]["requests"] == 30, svc["http_server"]


def test_ten_thousand_distinct_routes_are_capped_not_lost(gunicorn_factory):
    """10,000 requests over 1,000 distinct paths that no template folds (ten words at each of three
    levels: no segment takes more than 16 values under one prefix, so none becomes {var}): the first
    500 paths are routes, the other 500 count under {overflow}; nothing is lost and the agent's memory
    stays bounded. (Past ROUTE_NODES_MAX prefixes the namer folds instead; 1,110 stay under it.)"""
    import http.client
    # a raw WSGI app: no framework table, whose 404s would all be one {unmatched} route
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=2, app="wsgi_blog:app")
    w = Watch("-p", g.pid)
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    for i in range(10000):  # /alpha/bravo/charlie: letters only, no id to fold (404s)
        c.request("GET", "/" + "/".join(words[(i % 1000 // 10 ** k) % 10] for k in range(3)))
        c.getresponse().read()
    c.close()
    time.sleep(1)
    with open(f"/proc/{w.proc.pid}/status") as f:
        rss_kb = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    snap = w.stop()
    http_server = snap["services"][0]["http_server"]
    routes = http_server["routes"]
    overflow = [r for r in routes if r["route"] == "{overflow}"]
    print(f"{len(routes)} routes, overflow {overflow[0]['requests'] if overflow else 0}, agent RSS {rss_kb // 1024} MB")
    assert http_server["requests"] == 10000 and sum(r["requests"] for r in routes) == 10000
    assert len(routes) == 501 and overflow and overflow[0]["requests"] == 5000
    assert all(r["requests"] == 10 for r in routes if r["route"] != "{overflow}")
    found = [f for f in snap["services"][0]["findings"] if f["kind"] == "route_overflow"]
    assert found and found[0]["requests"] == 5000 and found[0]["max_routes"] == 500, found
    assert rss_kb < 256 * 1024, f"agent RSS {rss_kb} kB"


def test_ring_buffer_overflow_is_counted_and_no_wrong_figure_is_shown(gunicorn_factory):
    """The agent is stopped (SIGSTOP) while keep-alive connections move 64 KiB captures: the
    16 MiB ring fills and records are lost. The loss is counted and shown (drops.ringbuf_full,
    lost_events, exact false with "records_lost"); no response is paired with the wrong request
    (each route keeps only its own status); and the same connections are parsed exactly again
    once the agent runs (each connection's next record says records were lost before it)."""
    import http.client
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4)
    w = Watch("-p", g.pid, extra=["--capture", "65536"])
    conns = [http.client.HTTPConnection("127.0.0.1", g.port, timeout=30) for _ in range(4)]

    def run(paths):  # round robin: no connection idles long enough for the keep-alive timeout
        for p in paths:
            for c in conns:
                c.request("GET", p)
                c.getresponse().read()

    run(["/users/3"] * 25)  # 100, all seen: the agent runs
    time.sleep(1.5)
    w.proc.send_signal(signal.SIGSTOP)
    try:
        run(["/big", "/missing"] * 150)  # 600 x 256 KiB responses (64 KiB of each captured), 600 404s
    finally:
        w.proc.send_signal(signal.SIGCONT)
    time.sleep(1.5)
    run(["/sleep/0"] * 50)  # 200 on the same connections, after the loss
    for c in conns:
        c.close()
    time.sleep(1)
    snap = w.stop()
    svc = snap["services"][0]
    http_server = svc["http_server"]
    routes = routes_by_key(svc)
    print(f"ringbuf_full={snap['drops']['ringbuf_full']} lost_events={snap['lost_events']} "
          f"ring_gaps={snap['parse']['ring_gaps']} counted={http_server['requests']} of 1500; routes: " +
          ", ".join(f"{k[1]} {r['requests']} {r['status']}" for k, r in routes.items()))
    assert snap["drops"]["ringbuf_full"] > 0, "the burst must overflow the ring for this test to mean anything"
    assert snap["lost_events"] >= snap["drops"]["ringbuf_full"]
    assert http_server["exact"] is False and "records_lost" in http_server["inexact_reasons"]
    assert snap["parse"]["ring_gaps"] >= 1
    assert set(routes) <= {("GET", "/users/<int:user_id>"), ("GET", "/big"), ("GET", "/missing"), ("GET", "/sleep/<int:ms>")}
    assert routes[("GET", "/users/<int:user_id>")]["requests"] == 100
    assert routes[("GET", "/sleep/<int:ms>")]["requests"] == 200, "parsing resumes exactly after the loss"
    for key, status in ((("GET", "/big"), "2xx"), (("GET", "/missing"), "4xx")):
        r = routes.get(key)
        if r:  # counted or lost, never answered with another request's response
            assert r["requests"] <= 600 and r["status"][status] == r["requests"], (key, r)
    assert http_server["requests"] < 1500


BLOCKED_ON_REDIS = """
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]), socket_timeout=30)
r.ping()
print("ready", flush=True)
sys.stdin.readline()
for i in range(20):
    r.set("k%d" % i, "v")
try:
    r.blpop("never", timeout=20)  # blocks: the server is killed meanwhile
    print("answered", flush=True)
except redis.ConnectionError:
    print("killed", flush=True)
sys.stdin.readline()  # the server is back
gets = 0
while gets < 30:
    try:
        r.get("k%d" % gets)
        gets += 1
    except redis.ConnectionError:
        time.sleep(0.1)
print("done", flush=True)
sys.stdin.read()
"""


def test_cache_server_killed_mid_call(redis_server, watch_factory, workload):
    """redis-server is SIGKILLed while the service waits in BLPOP: that call is one call, an error
    ("closed"); the agent lives on, and the calls to the restarted server are counted exactly
    (Redis INFO commandstats of the new server)."""
    work = workload(BLOCKED_ON_REDIS, redis_server.port)
    w = watch_factory("-p", work.pid)
    work.start()
    truth = redis_server.client()
    deadline = time.time() + 15
    while not any(c.get("cmd") == "blpop" for c in truth.client_list()):
        assert time.time() < deadline, "the workload never blocked in BLPOP"
        time.sleep(0.05)
    truth.close()
    redis_server.proc.kill()  # SIGKILL: no goodbye on the wire, the kernel resets the connection
    redis_server.proc.wait()
    assert work.result() == ["killed"]
    redis_server.start()
    work.start()
    assert work.result() == ["done"]
    truth = redis_server.client()
    gets = int(truth.info("commandstats")["cmdstat_get"]["calls"])
    truth.close()
    assert w.proc.poll() is None, "pyvitals died with the server"
    snap = w.stop()
    entry = next(d for d in snap["services"][0]["db"] if d["system"] == "redis")
    print(f"redis killed mid-call: pyvitals {entry['operations']} errors {entry['errors']} "
          f"{entry.get('errors_by_code')}; GET on the new server {gets}")
    assert gets == 30
    assert entry["operations"] == {"SET": 20, "BLPOP": 1, "GET": 30}, entry["operations"]
    assert entry["errors"] == 1 and entry["exact"] is True, entry


TEN_THOUSAND_STATEMENTS = """
import sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT 1")
print("ready", flush=True)
sys.stdin.readline()
for i in range(10000):  # 10,000 statements no normalization folds: each names its column
    cur.execute("SELECT %%s AS c%d" % i, (i,))
    cur.fetchall()
print("done", flush=True)
sys.stdin.read()
"""


def test_ten_thousand_distinct_statements_are_capped_not_lost(postgres, watch_factory, workload):
    """10,000 distinct statements on one connection: the first --max-queries (1000) are kept, the
    rest count under {overflow}; every call is counted (the client's count) and the agent's
    memory stays bounded."""
    work = workload(TEN_THOUSAND_STATEMENTS, postgres.port)
    w = watch_factory("-p", work.pid)
    assert work.go() == ["done"]
    time.sleep(1)
    with open(f"/proc/{w.proc.pid}/status") as f:
        rss_kb = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    snap = w.stop()
    entry = next(d for d in snap["services"][0]["db"] if d["system"] == "postgresql")
    queries = {q["text"]: q for q in entry["queries"]}
    overflow = queries.get("{overflow}")
    print(f"{len(queries)} statements, {entry['calls']} calls, overflow {overflow and overflow['calls']}, "
          f"agent RSS {rss_kb // 1024} MB")
    assert entry["calls"] == 10000 and entry["errors"] == 0 and entry["exact"], entry["calls"]
    assert sum(q["calls"] for q in entry["queries"]) == 10000
    assert len(queries) == 1001 and overflow and overflow["calls"] == 9000
    assert queries["SELECT ? AS c0"]["calls"] == 1 and queries["SELECT ? AS c999"]["calls"] == 1
    assert rss_kb < 256 * 1024, f"agent RSS {rss_kb} kB"


def test_ten_thousand_concurrent_connections(watch_factory):
    """10,000 keep-alive connections open at once on an asyncio server (uvicorn): each makes a
    request, all stay open, then each makes a second one. Every request is counted (the client's
    count), nothing is lost, and the agent's memory stays bounded."""
    import asyncio
    import resource
    n = 10000
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 2048, n + 2048))
    if subprocess.run([PY, "-c", "import uvicorn"], capture_output=True).returncode:
        pytest.fail("python module uvicorn is missing: install the Debian package 'python3-uvicorn' (make deps does)")
    port = free_port()
    srv = subprocess.Popen(["prlimit", f"--nofile={n + 2048}", PY, "-m", "uvicorn", "--app-dir", APPS,
                            "asgi_app:app", "--port", str(port), "--log-level", "warning", "--backlog", "4096",
                            "--timeout-keep-alive", "300"])
    answered = 0

    async def request(reader, writer, i):
        nonlocal answered
        writer.write(f"GET /c/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await reader.readuntil(b"\r\n0\r\n\r\n")  # uvicorn chunks a body of unknown length
        answered += 1

    async def main():
        gate = asyncio.Semaphore(256)

        async def opened(i):
            async with gate:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await request(reader, writer, i)
                return reader, writer
        conns = await asyncio.gather(*(opened(i) for i in range(n)))
        held = len(conns)
        with open(f"/proc/{w.proc.pid}/status") as f:
            rss = int(next(l for l in f if l.startswith("VmRSS")).split()[1])

        async def again(i):
            async with gate:
                await request(*conns[i], i)
        await asyncio.gather(*(again(i) for i in range(n)))
        for _, writer in conns:
            writer.close()
        return held, rss

    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid)
        held, rss_kb = asyncio.run(main())
        time.sleep(1.5)
        snap = w.stop()
    finally:
        srv.terminate()
        srv.wait(30)
    http_server = snap["services"][0]["http_server"]
    print(f"{held} connections held open, {answered} answered; pyvitals {http_server['requests']} requests, "
          f"lost_events {snap['lost_events']}, agent RSS {rss_kb // 1024} MB with all open")
    assert held == n and answered == 2 * n
    assert http_server["requests"] == 2 * n and http_server["exact"] is True, http_server["inexact_reasons"]
    assert routes_by_key(snap["services"][0])[("GET", "/c/{id}")]["requests"] == 2 * n
    assert snap["lost_events"] == 0
    assert rss_kb < 256 * 1024, f"agent RSS {rss_kb} kB with {n} connections open"


def spawn_at_pid(pid, argv):
    """Start argv as process `pid` (free now): the kernel hands out ns_last_pid + 1 next, so
    set it and fork, again until no other fork on the host took that number first."""
    for _ in range(200):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
    pytest.fail(f"could not start a process as pid {pid} (ns_last_pid) in 200 tries")


def test_pid_of_an_exited_worker_reused_by_another_program(gunicorn_factory):
    """A gunicorn worker is killed and its pid is given to an unrelated Python server: that
    server is not the service (not in its pids, its requests not counted), and the service's
    counts stay exact."""
    g = gunicorn_factory(workers=2)
    w = Watch("-p", g.pid)
    drive(g.port, 20)
    victim = int(open(f"/proc/{g.pid}/task/{g.pid}/children").read().split()[0])
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 15
    while os.path.exists(f"/proc/{victim}"):  # reaped by the master, which forks a replacement
        assert time.time() < deadline, f"worker {victim} was not reaped"
        time.sleep(0.05)
    port = free_port()
    other = spawn_at_pid(victim, [PY, os.path.join(APPS, "plain_server.py"), str(port)])
    try:
        wait_port(port)
        drive(port, 25, "/reused/1")
        drive(g.port, 20)
        time.sleep(1.5)
        snap = w.stop()
    finally:
        other.terminate()
        other.wait(10)
    svc = snap["services"][0]
    print(f"pid {victim} reused by plain_server.py; service pids {svc['pids']}, "
          f"routes {[(r['route'], r['requests']) for r in svc['http_server']['routes']]}")
    assert victim not in svc["pids"], svc["pids"]
    assert svc["http_server"]["requests"] == 40, svc["http_server"]["routes"]
    assert routes_by_key(svc)[("GET", "/users/<int:user_id>")]["requests"] == 40


def test_all_python_pid_reused_by_another_python_program(tmp_path):
    """--all-python: a Python server exits and another Python program starts under its pid.
    The new program is its own service (named by its command line) with only its own requests;
    nothing of it is added to the old one."""
    port_a, port_b = free_port(), free_port()
    a = subprocess.Popen([PY, os.path.join(APPS, "plain_server.py"), str(port_a)])
    b = None
    try:
        wait_port(port_a)
        w = Watch("--all-python", interval=0.5)
        time.sleep(2)  # found by its first scan
        drive(port_a, 10, "/first/1")
        a.kill()
        a.wait()
        b = spawn_at_pid(a.pid, [PY, os.path.join(APPS, "plain_server.py"), str(port_b)])
        wait_port(port_b)
        time.sleep(2.5)  # within the next scans
        drive(port_b, 15, "/second/1")
        time.sleep(1.5)
        snap = w.stop()
    finally:
        for p in (a, b):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    mine = {s["name"]: s for s in snap["services"] if s["name"].startswith("plain_server.py")}
    print(f"pid {a.pid} reused; services {[(n, s['pids'], s['http_server']['requests']) for n, s in mine.items()]}")
    new = mine.get(f"plain_server.py {port_b}")
    assert new and new["pids"] == [a.pid], mine.keys()
    assert new["http_server"]["requests"] == 15
    assert [r["route"] for r in new["http_server"]["routes"]] == ["/second/{id}"]
    old = mine.get(f"plain_server.py {port_a}")
    assert old is None or (a.pid not in old["pids"] and old["http_server"]["requests"] == 10), old


REAPING_SERVER = """
import socket, sys, threading, time
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
idle = {}  # socket -> when its last response went out
lock = threading.Lock()

def serve(s):
    buf = b""
    while True:
        try:
            data = s.recv(4096)  # blocked here when the reaper shuts the socket down
        except OSError:
            return
        if not data:
            return
        buf += data
        while b"\\r\\n\\r\\n" in buf:
            _, buf = buf.split(b"\\r\\n\\r\\n", 1)
            with lock:
                idle.pop(s, None)
            s.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n")
            with lock:
                idle[s] = time.monotonic()

def reaper():  # closes keep-alive connections idle for 0.3 s, from its own thread
    while True:
        time.sleep(0.05)
        with lock:
            old = [s for s, t in idle.items() if time.monotonic() - t > 0.3]
            for s in old:
                del idle[s]
        for s in old:
            s.shutdown(socket.SHUT_RDWR)
            s.close()

threading.Thread(target=reaper, daemon=True).start()
while True:
    s, _ = srv.accept()
    threading.Thread(target=serve, args=(s,), daemon=True).start()
"""


def test_server_sockets_closed_from_another_thread(watch_factory):
    """A server whose reaper thread shuts down and closes idle keep-alive sockets while their
    handler threads are blocked reading them: every request is counted once, as the client
    counted, and nothing is dropped or left unread."""
    import http.client
    port = free_port()
    srv = subprocess.Popen([PY, "-c", REAPING_SERVER, str(port)])
    reaped = 0
    try:
        wait_port(port)
        w = watch_factory("-p", srv.pid)
        for i in range(20):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(3):
                c.request("GET", f"/items/{i}")
                assert c.getresponse().read() == b"ok\n"
            time.sleep(0.45)  # reaped meanwhile: the next request finds the connection closed
            try:
                c.request("GET", f"/items/{i}")
                c.getresponse().read()
                pytest.fail("the server did not reap the idle connection")
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                reaped += 1
            c.close()
        time.sleep(1.5)
        snap = w.stop()
    finally:
        srv.kill()
        srv.wait()
    http_server = snap["services"][0]["http_server"]
    print(f"{reaped} connections reaped by another thread; pyvitals {http_server['requests']} requests, "
          f"unread {http_server['unread_requests']} dropped {http_server['dropped_requests']}")
    assert reaped == 20
    assert http_server["requests"] == 60 and http_server["exact"] is True, http_server["inexact_reasons"]
    assert routes_by_key(snap["services"][0])[("GET", "/items/{id}")]["requests"] == 60
    assert snap["lost_events"] == 0


CLOSED_UNDER_A_CALL = """
import socket, sys, threading, time
port = int(sys.argv[1])
def cmd(*words):
    return b"*%d\\r\\n" % len(words) + b"".join(b"$%d\\r\\n%s\\r\\n" % (len(w), w) for w in words)
s = socket.create_connection(("127.0.0.1", port))
print("ready", flush=True)
sys.stdin.readline()
for i in range(5):
    s.sendall(cmd(b"GET", b"k%d" % i))
    s.recv(100)
def closer():  # another thread closes the socket under the call waiting on it
    time.sleep(0.5)
    s.shutdown(socket.SHUT_RDWR)
    s.close()
threading.Thread(target=closer).start()
s.sendall(cmd(b"BLPOP", b"never", b"10"))
got = s.recv(100)
t = socket.create_connection(("127.0.0.1", port))
for i in range(5):
    t.sendall(cmd(b"GET", b"k%d" % i))
    t.recv(100)
t.close()
print("closed" if got == b"" else "answered", flush=True)
sys.stdin.read()
"""


def test_client_socket_closed_from_another_thread_mid_call(redis_server, watch_factory, workload):
    """A thread closes the Redis socket another thread waits on in BLPOP: the call is one call,
    an error; the calls before and after on the same and a new connection are counted exactly
    (Redis INFO commandstats)."""
    truth = redis_server.client()
    before = {k: int(v["calls"]) for k, v in truth.info("commandstats").items()}
    work = workload(CLOSED_UNDER_A_CALL, redis_server.port)
    w = watch_factory("-p", work.pid)
    assert work.go() == ["closed"]
    after = {k: int(v["calls"]) for k, v in truth.info("commandstats").items()}
    truth.close()
    time.sleep(1)
    snap = w.stop()
    entry = next(d for d in snap["services"][0]["db"] if d["system"] == "redis")
    delta = {k[len("cmdstat_"):].upper(): after[k] - before.get(k, 0) for k in after
             if after[k] != before.get(k, 0) and k not in ("cmdstat_info", "cmdstat_client|list")}
    print(f"closed from another thread: pyvitals {entry['operations']} errors {entry['errors']}; redis {delta}")
    assert delta == {"GET": 10, "BLPOP": 1}
    assert entry["operations"] == delta and entry["errors"] == 1 and entry["exact"] is True, entry
