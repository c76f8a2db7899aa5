"""make bench: the agent's cost on a real gunicorn/Flask service, written to BENCHMARKS.md.

1. Throughput with and without pyvitals attached: paired wrk runs, alternating, medians and ratio.
2. BPF run time per event from kernel.bpf_stats_enabled (run_time_ns / run_cnt per program).
3. nginx in front of gunicorn on a unix socket (issue #9): paired wrk runs through nginx.
4. Database batches, captured whole (up to 1 MiB per I/O in 64 KiB records): a redis-py
   pipeline timed with and without pyvitals, paired, and the socket programs' cost per I/O.
5. TLS (issue #10): the same service over HTTPS and a redis-py ssl=True client loop, paired;
   the BPF time per SSL_* probe hit, and what the traps cost an SSL call of any process.

6. Against in-process instrumentation (prometheus_client), paired rounds (bench_alternatives.py).
7. Scale: request rates to the highest with nothing lost, agent RSS with 10,000 connections and
   100 processes (bench_scale.py).
8. The budget on gunicorn + PostgreSQL + Redis, paired (bench_db_service.py).
9. Routes from the framework's table: learning and matching (bench_routes.py).
10. Per-task attribution on FastAPI + asyncpg under uvicorn's asyncio loop (bench_async.py).

BENCH_ONLY=tls runs only 5, BENCH_ONLY=alternatives only 6, BENCH_ONLY=scale only 7,
BENCH_ONLY=dbservice only 8, BENCH_ONLY=routes only 9, BENCH_ONLY=async only 10, replacing their sections in
BENCHMARKS.md and keeping the others.
"""
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import PY, PYVITALS, Gunicorn, bpf_ids  # noqa: E402
from servers import Nginx, Redis, make_cert  # noqa: E402

KEEP_FROM = "## Where the CPU goes"
TLS_FROM = "## HTTPS served by gunicorn"
PAIRS = int(os.environ.get("BENCH_PAIRS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))


def wrk(port, seconds=SECONDS, path="/users/7", scheme="http"):
    """(req/s, requests, wrk's own CPU seconds: over https it calls the probed libssl too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    script = ["-s", os.environ["BENCH_WRK_SCRIPT"]] if os.environ.get("BENCH_WRK_SCRIPT") else []
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", *script, f"{scheme}://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), \
        int(re.search(r"(\d+) requests in", out).group(1)), \
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def cpu_seconds(pids):
    """utime + stime of these processes (BPF programs run in the traced task's context, so
    their time is in the service's own figure)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


# One wrk run: req/s, CPU us per request of the service plus the agent, wrk's CPU us per
# request, wrk's request count, and pyvitals' final snapshot when it was attached.
Run = namedtuple("Run", "rate cpu client_cpu count snap", defaults=(None,))


def measured_run(g, agent=None, port=None, scheme="http"):
    """port: where wrk sends its load (nginx in front), the service's own by default."""
    pids = [g.pid] + g.worker_pids() + ([agent.pid] if agent else [])
    before = cpu_seconds(pids)
    rate, count, client = wrk(port or g.port, scheme=scheme)
    return Run(rate, (cpu_seconds(pids) - before) * 1e6 / count, client * 1e6 / count, count)


def prog_ids(pid):
    return bpf_ids(pid, "prog_id")


def attach(pid, extra=(), interval=5):
    p = subprocess.Popen([PYVITALS, "watch", "-p", str(pid), "--json", "--interval", str(interval), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if not line.startswith("attached"):
        raise SystemExit(f"pyvitals did not attach: {line}{p.stderr.read()}")
    return p


def detach(p):
    """Stop pyvitals and wait until the kernel has freed its programs: its uprobes outlive the
    process by up to ~2 s, and a run without pyvitals right after would pay for them."""
    ids = prog_ids(p.pid)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    deadline = time.time() + 15
    while ids & set(bpf_prog_stats()) and time.time() < deadline:
        time.sleep(0.1)
    return json.loads(out.splitlines()[-1])


def throughput(g, port=None, scheme="http"):
    """Paired runs (Run each)."""
    with_, without = [], []
    for i in range(PAIRS):
        # alternate which goes first so drift does not favour one side
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for mode in order:
            if mode == "on":
                p = attach(g.pid)
                run = measured_run(g, p, port, scheme)
                with_.append(run._replace(snap=detach(p)))
            else:
                without.append(measured_run(g, port=port, scheme=scheme))
    return with_, without


def bpf_prog_stats():
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return {p["id"]: (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in progs}


def bpf_stats_during(pid, work):
    """pyvitals attached to pid while work() runs with kernel.bpf_stats_enabled: the (name,
    run_time_ns, run_cnt) of every program it loaded, most run first, and its final snapshot."""
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        p = attach(pid)
        work()
        stats, mine = bpf_prog_stats(), prog_ids(p.pid)
        snap = detach(p)
    finally:
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
    return sorted((v for k, v in stats.items() if k in mine), key=lambda r: -r[2]), snap


def per_event_cost(g, port=None, scheme="http"):
    """Every program pyvitals loads (socket, process, interpreter, SQLite, TLS), under the same load."""
    return bpf_stats_during(g.pid, lambda: wrk(port or g.port, scheme=scheme))


PIPELINE = """
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]))
r.ping()
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set("bench:%d" % i, "v" * 100)
    for i in range(2000):
        p.get("bench:%d" % i)
    p.execute()
    print("%.3f" % ((time.perf_counter() - t) * 1000), flush=True)
"""


def db_batch_cost():
    """Paired timings of a 2,000 SET + 2,000 GET pipeline (about 270 KB each way: 6 KB sends,
    64 KB reads), the socket programs' run time per I/O meanwhile, and pyvitals' count."""
    srv = Redis()
    srv.setup()
    client = subprocess.Popen([PY, "-c", PIPELINE, str(srv.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert client.stdout.readline().strip() == "ready"

    def one():
        client.stdin.write("go\n")
        client.stdin.flush()
        return float(client.stdout.readline())
    try:
        for _ in range(3):
            one()  # warm-up
        with_, without, agent_cpu = [], [], []
        for i in range(PAIRS):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                if mode == "off":
                    without.append(statistics.median(one() for _ in range(5)))
                    continue
                p = attach(client.pid)
                cpu0 = cpu_seconds([p.pid])
                with_.append(statistics.median(one() for _ in range(5)))
                time.sleep(0.3)  # the agent drains every 100 ms
                agent_cpu.append((cpu_seconds([p.pid]) - cpu0) * 1000 / 5)
                detach(p)
        stats, snap = bpf_stats_during(client.pid, lambda: [one() for _ in range(5)])
    finally:
        client.kill()
        client.wait()
        srv.close()
    rows = {name: (ns, cnt) for name, ns, cnt in stats}
    db = snap["services"][0]["db"]
    return with_, without, rows, db[0] if db else {}, statistics.median(agent_cpu)


def nginx_unix_cost():
    """gunicorn gthread on a unix socket behind nginx (upstream keep-alive): paired wrk runs
    through nginx, the service's CPU per request (nginx's own is the same either way)."""
    import tempfile
    sock = os.path.join(tempfile.mkdtemp(prefix="pyvitals-bench-"), "gunicorn.sock")
    g = Gunicorn(workers=2, worker_class="gthread", threads=4, unix=sock)
    nginx = Nginx(f"unix:{sock}")
    try:
        wrk(nginx.port, 2)  # warm-up
        pairs = throughput(g, nginx.port)
        rows, _ = per_event_cost(g, nginx.port)
        return pairs, {name: (ns, cnt) for name, ns, cnt in rows}
    finally:
        nginx.stop()
        g.stop()


TLS_COMMANDS = int(os.environ.get("BENCH_TLS_COMMANDS", "5000"))
SSL_CALL_LOOP = """
import ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
for line in sys.stdin:
    t = time.perf_counter()
    for _ in range(int(line)):
        try:
            s.read(1)  # SSL_read_ex with nothing to read: returns at once
        except ssl.SSLWantReadError:
            pass
    print((time.perf_counter() - t) * 1e9 / int(line), flush=True)
"""
TLS_CLIENT = """
import sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), ssl=True, ssl_cert_reqs=None)
r.ping()
print("ready", flush=True)
for line in sys.stdin:
    t, c = time.perf_counter(), time.process_time()
    for i in range(int(line) // 2):
        r.set("bench:%d" % (i % 100), "v" * 100)
        r.get("bench:%d" % (i % 100))
    print(time.perf_counter() - t, time.process_time() - c, flush=True)
"""


def https_cost():
    """The bench service over HTTPS (a self-signed certificate, --keep-alive 30 from the Gunicorn
    helper: wrk's connections live through a run): paired wrk runs, one under bpf_stats, then one
    more run with gunicorn's access log as the truth of the requests it answered (a log line per
    request costs the service CPU, so the measured runs go without it)."""
    tmp = tempfile.mkdtemp(prefix="pyvitals-bench-")
    cert, key = make_cert(tmp)
    log = os.path.join(tmp, "access.log")
    tls = ("--certfile", cert, "--keyfile", key)
    try:
        g = Gunicorn(workers=2, worker_class="gthread", threads=4, extra=tls)
        try:
            wrk(g.port, 2, scheme="https")  # warm-up
            with_, without = throughput(g, scheme="https")
            rows, snap = per_event_cost(g, scheme="https")
        finally:
            g.stop()
        g = Gunicorn(workers=2, worker_class="gthread", threads=4, extra=(*tls, "--access-logfile", log))
        try:
            wrk(g.port, 1, scheme="https")
            time.sleep(1)  # the warm-up's last log lines
            logged = sum(1 for _ in open(log))
            p = attach(g.pid)
            run = measured_run(g, p, scheme="https")
            time.sleep(1)  # gunicorn writes its log line after the response
            truth = (sum(1 for _ in open(log)) - logged, run.count, detach(p))
        finally:
            g.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return with_, without, rows, snap, truth


def ssl_call_cost(pid, cert, key):
    """ns per SSL_read_ex call in a process pyvitals does not watch, paired runs without and with
    pyvitals watching pid: what the uprobes cost every other process calling the probed libssl
    (the trap at entry, the one at return, a map lookup in each program)."""
    loop = subprocess.Popen([PY, "-c", SSL_CALL_LOOP, cert, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)

    def one():
        times = []
        for _ in range(3):
            loop.stdin.write("30000\n")
            loop.stdin.flush()
            times.append(float(loop.stdout.readline()))
        return statistics.median(times)
    try:
        one()  # warm-up
        with_, without = [], []
        for i in range(PAIRS):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                if mode == "off":
                    without.append(one())
                    continue
                p = attach(pid)
                with_.append(one())
                detach(p)
    finally:
        loop.kill()
        loop.wait()
    return with_, without


def redis_entry(snap, port):
    found = [d for s in snap["services"] for d in s["db"] if d["peer"] == f"127.0.0.1:{port}"]
    return found[0] if found else {}


def redis_tls_cost():
    """A redis-py ssl=True client, its connection opened before attach, running TLS_COMMANDS
    SETs and GETs per loop on servers.Redis's TLS port. Per run, in us per command: the median of
    3 loops as the client times them (wall, CPU), redis-server's CPU (not watched, but it maps the
    probed libssl) and the agent's; pyvitals' count of the run's commands. Then 3 loops under
    bpf_stats."""
    srv = Redis()
    srv.setup()
    client = subprocess.Popen([PY, "-c", TLS_CLIENT, str(srv.tls_port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "ready"

    def loops(agent=None):
        pids = [srv.proc.pid] + ([agent.pid] if agent else [])
        cpu0 = [cpu_seconds([pid]) for pid in pids]
        times = []
        for _ in range(3):
            client.stdin.write(f"{TLS_COMMANDS}\n")
            client.stdin.flush()
            times.append([float(x) * 1e6 / TLS_COMMANDS for x in client.stdout.readline().split()])
        if agent:
            time.sleep(0.3)  # the agent drains every 100 ms
        others = [(cpu_seconds([pid]) - c) * 1e6 / (3 * TLS_COMMANDS) for pid, c in zip(pids, cpu0)]
        return (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times), *others)
    try:
        loops()  # warm-up
        with_, without, counted = [], [], []
        for i in range(PAIRS):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                if mode == "off":
                    without.append(loops())
                    continue
                p = attach(client.pid)
                with_.append(loops(p))
                counted.append(redis_entry(detach(p), srv.tls_port))
        rows, snap = bpf_stats_during(client.pid, loops)
        counted.append(redis_entry(snap, srv.tls_port))
        calls = ssl_call_cost(client.pid, os.path.join(srv.dir, "cert.pem"), os.path.join(srv.dir, "key.pem"))
    finally:
        client.kill()
        client.wait()
        srv.close()
    return with_, without, counted, {name: (ns, cnt) for name, ns, cnt in rows}, calls


def tls_sections(https, rtls, cmd):
    with_, without, rows, snap, (logged, wrk_count, truth_snap) = https
    r_with, r_without, counted, r_rows, (call_on, call_off) = rtls
    med = statistics.median
    rate_on, rate_off = med(r.rate for r in with_), med(r.rate for r in without)
    cpu_on, cpu_off = med(r.cpu for r in with_), med(r.cpu for r in without)
    wrk_on, wrk_off = med(r.client_cpu for r in with_), med(r.client_cpu for r in without)
    lines = ["## HTTPS served by gunicorn (paired, alternating runs)", "",
             f"Produced by `{cmd}` (tools/bench.py) on {time.strftime('%Y-%m-%d')}. The bench service over HTTPS: "
             "gunicorn gthread 2x4 with `--certfile/--keyfile` (a self-signed certificate from servers.make_cert, "
             f"`--keep-alive 30`), `wrk -t2 -c16 -d{SECONDS}s https://...`. pyvitals reads the plaintext with "
             "uprobes on SSL_read/SSL_write(_ex) in libssl.so.3. wrk maps the same file, so its SSL calls take "
             "the traps too (and are dropped after one map lookup): wrk's CPU per request is shown apart.", "",
             "| run | without (req/s) | with (req/s) | CPU us/request without | with (service + agent) "
             "| wrk CPU us/request without | with |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {a.rate:.0f} | {b.rate:.0f} | {a.cpu:.0f} | {b.cpu:.0f} | {a.client_cpu:.0f} "
              f"| {b.client_cpu:.0f} |" for i, (a, b) in enumerate(zip(without, with_))]
    http = [r.snap["services"][0]["http_server"] for r in with_]
    tls = [r.snap["services"][0]["tls"] for r in with_]
    truth = truth_snap["services"][0]["http_server"]
    lines += ["", f"Median without: {rate_off:.0f} req/s; with: {rate_on:.0f} req/s: **ratio of medians "
              f"{rate_on / rate_off:.3f}**. CPU per request (service + agent): {cpu_off:.0f} us without, "
              f"{cpu_on:.0f} us with (**+{100 * (cpu_on / cpu_off - 1):.1f}%**); wrk's own: {wrk_off:.0f} us "
              f"without, {wrk_on:.0f} us with (**+{wrk_on - wrk_off:.0f} us**).",
              "Requests pyvitals counted / wrk's count in each run with it: "
              + ", ".join(f"{h['requests']}/{r.count}" for h, r in zip(http, with_))
              + "; wrk does not count the responses in flight when it stops and closes its connections, and "
              "pyvitals lists the requests whose response could not be sent then as dropped ("
              + ", ".join(str(h["dropped_requests"]) for h in http) + "), which makes http_server.exact false: "
              + ", ".join(str(h["exact"]).lower() for h in http) + ". TLS connections read "
              "(decrypted/connections): " + ", ".join(f"{t['decrypted']}/{t['connections']}" for t in tls)
              + "; lost events: " + ", ".join(str(r.snap["lost_events"]) for r in with_) + ".",
              f"Against the service's own truth, in one more {SECONDS} s run with gunicorn's access log on: "
              f"gunicorn logged {logged} responses, pyvitals counted {truth['requests']} requests "
              f"(**{'equal' if logged == truth['requests'] else 'NOT equal'}**; {truth['dropped_requests']} more "
              f"dropped), wrk {wrk_count}.", "",
              "## HTTPS: BPF run time per event (kernel.bpf_stats_enabled)", ""]
    reqs = snap["services"][0]["http_server"]["requests"]
    lines += [f"One wrk run over https with pyvitals attached ({reqs} requests counted; SSL calls of other "
              f"processes on the probed libssl, wrk's here: {snap['tls']['other_process_hits']}). Every program "
              "that ran; the socket programs also run for wrk's sockets (a lookup, then out):", "",
              "| program | events | per request | ns per event |", "|---|---|---|---|"]
    lines += [f"| {name} | {cnt} | {cnt / reqs:.2f} | {ns / cnt:.0f} |" for name, ns, cnt in rows if cnt]
    runs = {name: cnt for name, _, cnt in rows}
    # the entry programs run for every process's SSL calls; the other processes' are counted apart
    other = snap["tls"]["other_process_hits"]
    own = sum(runs.get(p, 0) for p in ("tls_read_enter", "tls_read_ex_enter", "tls_write_enter",
                                        "tls_write_ex_enter")) - other
    lines += ["", f"SSL calls per request: {own / reqs:.2f} by the service, {other / reqs:.2f} by wrk. "
              f"BPF time per request, all programs: {sum(ns for _, ns, _ in rows) / reqs / 1000:.1f} us. "
              "A TLS connection's socket I/O copies 16 bytes (enough to tie the plaintext to its socket); the "
              "plaintext is copied by tls_exit."]

    wall_on, wall_off = med(r[0] for r in r_with), med(r[0] for r in r_without)
    ccpu_on, ccpu_off = med(r[1] for r in r_with), med(r[1] for r in r_without)
    srv_on, srv_off = med(r[2] for r in r_with), med(r[2] for r in r_without)
    expected = {"SET": 3 * TLS_COMMANDS // 2, "GET": 3 * TLS_COMMANDS // 2}
    exact = [e.get("operations") == expected and e.get("exact") is True and e.get("tls") is True for e in counted]
    lines += ["", "## Redis over TLS (redis-py ssl=True, paired, alternating runs)", "",
              f"A redis-py client with `ssl=True, ssl_cert_reqs=None` on servers.Redis's TLS port, its connection "
              f"opened before pyvitals attaches, runs loops of {TLS_COMMANDS:,} commands (SET and GET of 100-byte "
              "values in turn). Per run, in us per command: the median of 3 loops as the client times them (wall, "
              "its own CPU), redis-server's CPU (not watched, but it maps the probed libssl) and the agent's.", "",
              "| run | wall without | wall with | client CPU without | with | redis-server CPU without | with "
              "| agent CPU |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {a[0]:.1f} | {b[0]:.1f} | {a[1]:.1f} | {b[1]:.1f} | {a[2]:.1f} | {b[2]:.1f} | {b[3]:.1f} |"
              for i, (a, b) in enumerate(zip(r_without, r_with))]
    lines += ["", f"Medians per command: wall {wall_off:.1f} -> {wall_on:.1f} us (**+{wall_on - wall_off:.1f} us**, "
              f"+{100 * (wall_on / wall_off - 1):.0f}%), client CPU {ccpu_off:.1f} -> {ccpu_on:.1f} us "
              f"(**+{ccpu_on - ccpu_off:.1f} us**), redis-server CPU {srv_off:.1f} -> {srv_on:.1f} us "
              f"(+{srv_on - srv_off:.1f} us), agent {med(r[3] for r in r_with):.1f} us.",
              f"pyvitals' count of each run's {3 * TLS_COMMANDS:,} commands (the last one under bpf_stats): "
              + ", ".join(f"SET {e.get('operations', {}).get('SET')} GET {e.get('operations', {}).get('GET')}"
                          for e in counted)
              + f"; **{sum(exact)} of {len(exact)} runs exact**: operations {expected}, exact true, tls true."]

    commands = 3 * TLS_COMMANDS
    lines += ["", "## Cost per SSL_* call", "",
              f"BPF run time per probe hit, kernel.bpf_stats_enabled, during 3 loops of the Redis TLS client "
              f"({commands:,} commands) with pyvitals attached. Python's _ssl calls SSL_read_ex/SSL_write_ex (the "
              "watched client: the call kept at entry, its plaintext copied at return); redis-server calls "
              "SSL_read/SSL_write (not watched: one map lookup). tls_exit is the return probe of all four.", "",
              "| program | hits | per command | ns per hit |", "|---|---|---|---|"]
    lines += [f"| {name} | {cnt} | {cnt / commands:.2f} | {ns / cnt:.0f} |" for name, (ns, cnt) in
              sorted(r_rows.items()) if cnt and name.startswith(("tls_", "tp_sock_"))]
    c_on, c_off = med(call_on), med(call_off)
    bpf_us = sum(ns for ns, _ in r_rows.values()) / commands / 1000
    lines += ["", f"BPF time per command, all programs: {bpf_us:.2f} us. "
              "The traps themselves are not in bpf_stats. Measured apart: an SSL_read_ex call with nothing to read, "
              "in a Python process pyvitals does not watch, paired runs of 3 x 30,000 calls without and with "
              "pyvitals attached elsewhere (ns per call): "
              + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(call_off, call_on))
              + f"; medians {c_off:.0f} -> {c_on:.0f} ns: **+{(c_on - c_off) / 1000:.1f} us per SSL call** (the trap "
              "at entry, the one at return, a map lookup in each program), paid by every process on the host that "
              f"calls the probed libssl while pyvitals runs: at {(own + other) / reqs:.0f} SSL calls per HTTPS request (the "
              f"service's and wrk's), ~{(own + other) / reqs * (c_on - c_off) / 1000:.0f} us of traps per request. "
              "Debian 12's libssl.so.3 starts SSL_read, SSL_write and their _ex "
              "forms with `sub $imm,%rsp`, which x86 uprobes single-step (+19 us per call when those were "
              "probed); pyvitals probes the internal functions both forms call, which start with a push the "
              "kernel emulates (`pyvitals doctor -p PID` names the points). "
              "/work/shared/reference/measured-here.md (uprobe costs on this kind of machine, 2026-11) measured "
              "~0.6 us per hit where the kernel emulates the first instruction (`push`), ~1.95 us for an entry + "
              "return pair on take_gil, and ~14.7 us where the first instruction must be single-stepped (`lea`)."]
    return "\n".join(lines) + "\n"


def write_benchmarks(measured, tls):
    """measured: the sections before the TLS ones (None keeps the file's own); hand-made sections
    (a perf profile, probe costs from paired loops) are kept as they are."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    old = open(path).read() if os.path.exists(path) else ""
    kept = old[old.find(KEEP_FROM):] if KEEP_FROM in old else ""
    if measured is None:
        end = min(i for i in (old.find(TLS_FROM), old.find(KEEP_FROM), len(old)) if i >= 0)
        measured = old[:end].rstrip("\n") + "\n"
    # A BENCH_ONLY run appends a section it did not find; the full run writes it again above.
    written = {line for line in (measured + tls).splitlines() if line.startswith("## ")}
    kept = "".join(sec for sec in re.split(r"(?m)^(?=## )", kept)
                   if sec and sec.splitlines()[0] not in written)
    with open(path, "w") as f:
        f.write(measured + "\n" + tls + ("\n" + kept if kept else ""))


def main():
    import bench_alternatives
    import bench_async
    import bench_db_service
    import bench_routes
    import bench_scale
    only = os.environ.get("BENCH_ONLY")
    if only in ("alternatives", "scale", "dbservice", "routes", "async"):
        if only == "alternatives":
            text = bench_alternatives.alternatives_section(bench_alternatives.alternatives_cost(),
                                                           "BENCH_ONLY=alternatives make bench")
        elif only == "routes":
            text = bench_routes.routes_section("BENCH_ONLY=routes make bench")
        elif only == "async":
            text = bench_async.async_section(bench_async.async_cost(), "BENCH_ONLY=async make bench")
        elif only == "dbservice":
            text = bench_db_service.db_service_section(bench_db_service.db_service_cost(),
                                                       "BENCH_ONLY=dbservice make bench")
        else:
            text = bench_scale.scale_section("BENCH_ONLY=scale make bench")
        bench_alternatives.replace_section(os.path.join(ROOT, "BENCHMARKS.md"), text,
                                           text.splitlines()[0])
        print(text)
        return
    if os.environ.get("BENCH_ONLY") == "tls":
        tls = tls_sections(https_cost(), redis_tls_cost(), "BENCH_ONLY=tls make bench")
        write_benchmarks(None, tls)
        print(tls)
        return
    (with_ng, without_ng), ng_rows = nginx_unix_cost()
    with_db, without_db, db_rows, db_entry, agent_ms = db_batch_cost()
    g = Gunicorn(workers=2, worker_class="gthread", threads=4)
    try:
        wrk(g.port, 2)  # warm-up
        with_, without = throughput(g)
        rows, snap = per_event_cost(g)
    finally:
        g.stop()
    alternatives = bench_alternatives.alternatives_section(bench_alternatives.alternatives_cost(), "make bench")
    scale = bench_scale.scale_section("make bench")
    dbservice = bench_db_service.db_service_section(bench_db_service.db_service_cost(), "make bench")
    routes = bench_routes.routes_section("make bench")
    asyncs = bench_async.async_section(bench_async.async_cost(), "make bench")
    tls = tls_sections(https_cost(), redis_tls_cost(), "make bench")
    med_on, med_off = statistics.median(r.rate for r in with_), statistics.median(r.rate for r in without)
    pair_ratio = statistics.median(a.rate / b.rate for a, b in zip(with_, without))
    cpu_on, cpu_off = statistics.median(r.cpu for r in with_), statistics.median(r.cpu for r in without)
    reqs = snap["services"][0]["http_server"]["requests"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (tools/bench.py) on {time.strftime('%Y-%m-%d')}, kernel {os.uname().release}, "
        f"{os.cpu_count()} cores. Service: gunicorn gthread 2 workers x 4 threads, Flask JSON route; "
        f"load: `wrk -t2 -c16 -d{SECONDS}s` on loopback. Noisy VM: compare medians of paired runs.",
        "",
        "## Throughput with and without pyvitals (paired, alternating runs)",
        "",
        "| run | without (req/s) | with pyvitals (req/s) | CPU us/request without | with (service + agent) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {i + 1} | {a[0]:.0f} | {b[0]:.0f} | {a[1]:.0f} | {b[1]:.0f} |"
              for i, (a, b) in enumerate(zip(without, with_))]
    lines += ["", f"Median without: {med_off:.0f} req/s; median with: {med_on:.0f} req/s; "
              f"**ratio of medians {med_on / med_off:.3f}**, median of per-pair ratios {pair_ratio:.3f}.",
              f"CPU per request (service processes, including the BPF programs that run in them, plus the "
              f"agent): median {cpu_off:.0f} us without, {cpu_on:.0f} us with: **+{100 * (cpu_on / cpu_off - 1):.1f}%**. "
              "Throughput on this shared 2-core VM swings by more than the agent's cost; the CPU per request "
              "is the steadier figure.", "",
              alternatives,
              "## BPF run time per event (kernel.bpf_stats_enabled)", "",
              f"One wrk run with pyvitals attached ({reqs} requests counted).", "",
              "| program | events | total ns | ns per event |", "|---|---|---|---|"]
    for name, ns, cnt in rows:
        lines.append(f"| {name} | {cnt} | {ns} | {ns / cnt:.0f} |" if cnt else f"| {name} | 0 | 0 | - |")
    lines += ["", "## nginx in front of gunicorn on a unix socket (paired, alternating runs)", "",
              "gunicorn gthread 2x4 bound to a unix socket, nginx (upstream keep-alive) in front, "
              f"`wrk -t2 -c16 -d{SECONDS}s` through nginx; CPU per request is the service's plus the agent's.", "",
              "| run | without (req/s) | with pyvitals (req/s) | CPU us/request without | with |", "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {a[0]:.0f} | {b[0]:.0f} | {a[1]:.0f} | {b[1]:.0f} |"
              for i, (a, b) in enumerate(zip(without_ng, with_ng))]
    ng_on, ng_off = statistics.median(r.rate for r in with_ng), statistics.median(r.rate for r in without_ng)
    ng_cpu_on, ng_cpu_off = statistics.median(r.cpu for r in with_ng), statistics.median(r.cpu for r in without_ng)
    lines += ["", f"Median without: {ng_off:.0f} req/s; with: {ng_on:.0f} req/s: **ratio of medians "
              f"{ng_on / ng_off:.3f}**; CPU per request {ng_cpu_off:.0f} us without, {ng_cpu_on:.0f} us with "
              f"(**+{100 * (ng_cpu_on / ng_cpu_off - 1):.1f}%**). Unix sockets go through the same programs as TCP; "
              "per event during one wrk run through nginx: "
              + ", ".join(f"{n} {ns / cnt:.0f} ns ({cnt} events)" for n, (ns, cnt) in ng_rows.items()
                          if n in ("tp_sock_send", "tp_sock_recv") and cnt)
              + ". The fexit and kprobe sets add unix_stream_sendmsg/recvmsg programs, not measured here "
              "(this kernel refuses both sets; timings under QEMU's TCG say nothing about hardware)."]
    lines += ["", "## Database batches captured whole (redis-py pipeline)", "",
              "A 2,000 SET + 2,000 GET pipeline of 100-byte values (about 270 KB each way, sent in 6 KB "
              "writes and read in 64 KB reads), the median of 5 per run, runs alternating without and with "
              "pyvitals attached to the client. Every byte of a database connection is copied (up to 1 MiB "
              "per I/O, in 64 KiB ring-buffer records) so that each command is counted.", "",
              "| run | without (ms) | with pyvitals (ms) |", "|---|---|---|"]
    lines += [f"| {i + 1} | {a:.2f} | {b:.2f} |" for i, (a, b) in enumerate(zip(without_db, with_db))]
    med_db_on, med_db_off = statistics.median(with_db), statistics.median(without_db)
    lines += ["", f"Median without: {med_db_off:.2f} ms; with: {med_db_on:.2f} ms: **+{100 * (med_db_on / med_db_off - 1):.1f}%** "
              f"per pipeline ({1000 * (med_db_on - med_db_off) / 4000:.2f} us per command). The agent's own CPU "
              f"(parsing all 8,000 messages): {agent_ms:.1f} ms per pipeline, on a 2-core machine that the client "
              f"and redis-server already keep busy, so most of the difference is the agent competing for a core."]
    for name in ("tp_sock_send", "tp_sock_recv", "fexit_tcp_sendmsg", "fexit_tcp_recvmsg", "fexit_tcp_recvmsg4"):
        ns, cnt = db_rows.get(name, (0, 0))
        if cnt:
            lines.append(f"{name} during 5 pipelines: {cnt} I/Os, {ns / cnt / 1000:.1f} us per I/O.")
    ops = db_entry.get("operations", {})
    lines.append(f"pyvitals counted {ops} over the 5 pipelines (exact: {db_entry.get('exact')}).")
    lines += ["", dbservice, routes, asyncs, scale]
    text = "\n".join(lines) + "\n"
    write_benchmarks(text, tls)
    print(text + "\n" + tls)


if __name__ == "__main__":
    main()
