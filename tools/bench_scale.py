"""make bench, issue #13: how the agent scales. BENCH_ONLY=scale make bench runs only this and
replaces its section of BENCHMARKS.md.

1. Request rate: nginx answering by itself (the fastest server here, so the agent, not the
   service, is what runs out first), paced by hey to about 500, 1k, 2k and 4k requests/s, then
   wrk unpaced. Per step: the rate reached, lost events, whether pyvitals'
   count equals wrk's (give or take the requests in flight at wrk's deadline), and the agent's
   CPU per 1,000 requests/s.
2. Agent RSS with 0 to 10,000 keep-alive connections open to that nginx.
3. Agent RSS with 1, 10 and 100 tracked Python processes (one parent's forked children)."""
import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import time

from bench import PY, attach, cpu_seconds
from servers import Nginx

HEADING = "## Scale (rate, connections, processes)"
STEP_SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNS = 16


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def watch(pid):
    return attach(pid, interval=1)


def final(p):
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    return json.loads(out.splitlines()[-1])


def paced(port, rate):
    """About rate requests/s from hey's token buckets (None: wrk as fast as it goes; hey itself
    needs more CPU than the agent above a few thousand per second): (req/s, answered)."""
    if rate:
        out = subprocess.run(["hey", "-z", f"{STEP_SECONDS}s", "-c", str(CONNS), "-q", f"{rate / CONNS:.2f}",
                              f"http://127.0.0.1:{port}/ok"], capture_output=True, text=True, check=True).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), \
            int(re.search(r"\[200\]\s+(\d+) responses", out).group(1))
    out = subprocess.run(["wrk", "-t2", f"-c{CONNS}", f"-d{STEP_SECONDS}s", f"http://127.0.0.1:{port}/ok"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), int(re.search(r"(\d+) requests in", out).group(1))


def rate_steps():
    nginx = Nginx(None)
    rows = []
    try:
        for rate in (500, 1000, 2000, 4000, None):
            agent = watch(nginx.proc.pid)
            cpu0 = cpu_seconds([agent.pid])
            got, count = paced(nginx.port, rate)
            cpu = cpu_seconds([agent.pid]) - cpu0
            time.sleep(1)
            snap = final(agent)
            counted = sum(s["http_server"]["requests"] for s in snap["services"])
            rows.append((rate, got, count, counted, snap["lost_events"], cpu / STEP_SECONDS / (got / 1000)))
    finally:
        nginx.stop()
    return rows


def connection_steps():
    nginx = Nginx(None, worker_connections=12000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 12000), max(hard, 12000)))
    subprocess.run(["prlimit", f"--pid={nginx.proc.pid}", "--nofile=12000"], check=True)
    for w in open(f"/proc/{nginx.proc.pid}/task/{nginx.proc.pid}/children").read().split():
        subprocess.run(["prlimit", f"--pid={w}", "--nofile=12000"], check=True)
    rows = []
    agent = watch(nginx.proc.pid)

    async def main():
        conns = []
        for target in (0, 1000, 5000, 10000):
            while len(conns) < target:
                r, w = await asyncio.open_connection("127.0.0.1", nginx.port)
                w.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
                await r.readuntil(b"ok\n")
                conns.append((r, w))
            await asyncio.sleep(2.5)  # a few of the agent's drains
            rows.append((target, rss_kib(agent.pid)))
        for _, w in conns:
            w.close()
    try:
        asyncio.run(main())
        snap = final(agent)
    finally:
        nginx.stop()
    return rows, sum(s["http_server"]["requests"] for s in snap["services"])


FORKER = """
import os, sys, time
kids = []
for _ in range(int(sys.argv[1]) - 1):
    pid = os.fork()
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
sys.stdin.readline()
for pid in kids:
    os.kill(pid, 9)
"""


def process_steps():
    rows = []
    for n in (1, 10, 100):
        parent = subprocess.Popen([PY, "-c", FORKER, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        assert parent.stdout.readline().strip() == "ready"
        t0 = time.time()
        agent = watch(parent.pid)
        attach_s = time.time() - t0
        time.sleep(3)
        rss = rss_kib(agent.pid)
        snap = final(agent)
        parent.stdin.write("\n")  # it kills its children and exits
        parent.stdin.flush()
        parent.wait(30)
        rows.append((n, len(snap["services"][0]["pids"]), rss, attach_s))
    return rows


def scale_section(cmd):
    rates = rate_steps()
    conns, conn_reqs = connection_steps()
    procs = process_steps()
    lines = [HEADING, "", f"`{cmd}` on {time.strftime('%Y-%m-%d')}.", "",
             f"Request rate: nginx answering by itself (worker_processes 1), `hey -z {STEP_SECONDS}s -c {CONNS} -q R/{CONNS}` "
             f"paced, then `wrk -t2 -c{CONNS} -d{STEP_SECONDS}s` unpaced; pyvitals watching nginx. Counts are "
             f"compared with the client's, which leaves out the requests in flight at its deadline (up to {CONNS}).", "",
             "| target req/s | reached req/s | client's count | pyvitals' count | lost events | agent CPU ms per s per 1,000 req/s |",
             "|---|---|---|---|---|---|"]
    for rate, got, count, counted, lost, cpu in rates:
        lines.append(f"| {rate or 'unpaced'} | {got:.0f} | {count} | {counted} | {lost} | {1000 * cpu:.1f} |")
    clean = [r for r in rates if r[4] == 0 and 0 <= r[3] - r[2] <= CONNS]
    top = max(clean, key=lambda r: r[1]) if clean else None
    lines += ["", "Highest rate with zero lost events and every request counted: "
              + (f"**{top[1]:.0f} req/s**" + (" (wrk unpaced: the most this machine drives)" if top[0] is None else "")
                 if top else "none of the steps") + ".", "",
              "Agent RSS with keep-alive connections open to the same nginx (each made one request; "
              f"{conn_reqs} counted in all):", "",
              "| connections open | agent RSS MiB |", "|---|---|"]
    lines += [f"| {n} | {kib / 1024:.1f} |" for n, kib in conns]
    if len(conns) >= 2 and conns[-1][0] > conns[0][0]:
        per = (conns[-1][1] - conns[0][1]) * 1024 / (conns[-1][0] - conns[0][0])
        lines += ["", f"About {per:.0f} bytes of agent memory per open connection."]
    lines += ["", "Agent RSS with tracked Python processes (a parent and its forked children, `-p PARENT`):", "",
              "| processes | pids pyvitals tracks | agent RSS MiB | attach s |", "|---|---|---|---|"]
    lines += [f"| {n} | {seen} | {kib / 1024:.1f} | {secs:.1f} |" for n, seen, kib, secs in procs]
    return "\n".join(lines) + "\n"


