"""make bench, issue #15: what per-task attribution costs on an asyncio service. uvicorn (its
asyncio loop, one process) serving tests/e2e/apps/async_app.py (FastAPI + asyncpg, PostgreSQL on
loopback); wrk alternates /q/3 (three awaited queries) and /none. Rotating rounds: no agent;
pyvitals following tasks (Context reads at each socket call, a uretprobe on PyContext_CopyCurrent);
pyvitals with PYVITALS_TASKS=off (requests told apart by thread only, so no calls per request).
CPU per request is the uvicorn process's (with the BPF programs and traps that run in it) plus the
agent's. Then one run with kernel.bpf_stats_enabled for the copies per request and their BPF time.

BENCH_ONLY=async make bench runs only this and replaces its section of BENCHMARKS.md."""
import os
import statistics
import subprocess
import sys

from bench import PAIRS, SECONDS, attach, bpf_prog_stats, detach, measured_run, prog_ids, wrk
from bench_db_service import db_servers
from conftest import APPS, PY, free_port, wait_port

HEADING = "## Per-task attribution on FastAPI + asyncpg (paired, rotating runs)"
MIX = 'paths = {"/q/3", "/none"}\ni = 0\nrequest = function()\n  i = i % 2 + 1\n' \
      '  return wrk.format("GET", paths[i])\nend\n'
MODES = ("none", "tasks", "threads")


class Uvicorn:
    """The service, shaped like bench.Gunicorn for measured_run: one process, no workers."""

    def __init__(self, env):
        self.port = free_port()
        self.proc = subprocess.Popen([PY, "-m", "uvicorn", "async_app:app", "--app-dir", APPS, "--port",
                                      str(self.port), "--loop", "asyncio", "--log-level", "warning"],
                                     env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, 30)
        self.pid = self.proc.pid

    def worker_pids(self):
        return []

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run_mode(app, mode):
    if mode == "none":
        return measured_run(app)
    if mode == "threads":
        os.environ["PYVITALS_TASKS"] = "off"
    try:
        p = attach(app.pid)
    finally:
        os.environ.pop("PYVITALS_TASKS", None)
    run = measured_run(app, p)
    return run._replace(snap=detach(p))


def copies_per_request(app):
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        p = attach(app.pid)
        _, count, _ = wrk(app.port)
        stats, mine = bpf_prog_stats(), prog_ids(p.pid)
        detach(p)
    finally:
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
    rows = {name: (ns, cnt) for pid_, (name, ns, cnt) in stats.items() if pid_ in mine}
    return rows, count


COPY_LOOP = """import asyncio, contextvars, sys, time
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    for _ in range(200000):
        contextvars.copy_context()
    print((time.perf_counter() - t) / 200000 * 1e9, flush=True)
"""


def copy_cost():
    """ns per contextvars.copy_context() in a process running asyncio, paired: unwatched, then
    watched (the uretprobe's two traps and its program), PAIRS times."""
    p = subprocess.Popen([PY, "-c", COPY_LOOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()

    def loop():
        p.stdin.write("go\n")
        p.stdin.flush()
        return float(p.stdout.readline())
    off, on = [], []
    try:
        for _ in range(PAIRS):
            off.append(loop())
            w = attach(p.pid)
            on.append(loop())
            detach(w)
    finally:
        p.kill()
        p.wait()
    return off, on


def async_cost():
    app, runs = None, {m: [] for m in MODES}
    with db_servers(MIX) as (pg, redis):
        try:
            app = Uvicorn({**pg.env(), **redis.env()})
            wrk(app.port, 2)  # warm up: the pool's connections and statements
            for i in range(PAIRS):
                for mode in MODES[i % 3:] + MODES[:i % 3]:
                    runs[mode].append(run_mode(app, mode))
            rows, count = copies_per_request(app)
            copies = copy_cost()
        finally:
            if app:
                app.stop()
    return runs, rows, count, copies


def async_section(result, cmd):
    runs, rows, count, (copy_off, copy_on) = result
    lines = [HEADING, "",
             f"`{cmd}`: uvicorn (asyncio loop, one process) serving tests/e2e/apps/async_app.py, `wrk -t2 -c16 "
             f"-d{SECONDS}s` alternating /q/3 (three asyncpg queries, awaited) and /none, PostgreSQL 15 on loopback; "
             "rounds rotate the order of: no agent; pyvitals following tasks; pyvitals with PYVITALS_TASKS=off "
             "(told apart by thread: no calls per request on this server). CPU per request is the uvicorn "
             "process's plus the agent's.", "",
             "| round | none req/s | none CPU us/req | tasks req/s | tasks CPU us/req | threads req/s | threads CPU us/req |",
             "|---|---|---|---|---|---|---|"]
    for i in range(len(runs["none"])):
        lines.append(f"| {i + 1} | " + " | ".join(f"{runs[m][i].rate:.0f} | {runs[m][i].cpu:.0f}" for m in MODES) + " |")
    med = {m: statistics.median(r.cpu for r in runs[m]) for m in MODES}
    attributed = [next(r for r in s.snap["services"][0]["http_server"]["routes"] if r["route"] == "/q/{k}")
                  ["db_calls_per_request"] for s in runs["tasks"]]
    copy_ns, copies = rows.get("unit_copy_exit", (0, 0))
    send_ns, sends = rows.get("tp_sock_send", (0, 1))
    recv_ns, recvs = rows.get("tp_sock_recv", (0, 1))
    lines += ["",
              f"- Median CPU per request: {med['none']:.0f} us without pyvitals, {med['threads']:.0f} us watched by "
              f"thread, **{med['tasks']:.0f} us following tasks** ({100 * (med['tasks'] / med['none'] - 1):+.1f}% "
              f"against none, {100 * (med['tasks'] / med['threads'] - 1):+.1f}% against thread-only); /q/{{k}} "
              f"showed {attributed} queries per request when following tasks (3 + the pool's reset; lost events "
              f"{[r.snap['lost_events'] for r in runs['tasks']]}, untied calls "
              f"{[r.snap['services'][0]['db_calls_untied'] for r in runs['tasks']]}).",
              f"- One run with kernel.bpf_stats_enabled ({count} requests): {copies / max(1, count):.1f} Context copies "
              f"per request (uretprobe unit_copy_exit, {copy_ns / max(1, copies):.0f} ns of BPF per copy); socket "
              f"programs {send_ns / sends:.0f} ns per send, {recv_ns / recvs:.0f} ns per receive (with the Context "
              "read).",
              "- What a copy costs, traps included (bpf_stats leaves them out): `contextvars.copy_context()` in a "
              "loop in a process running asyncio, paired unwatched/watched (ns per call): "
              + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(copy_off, copy_on))
              + f"; median **+{(statistics.median(copy_on) - statistics.median(copy_off)) / 1000:.2f} us per copy**, so "
              f"~{copies / max(1, count) * (statistics.median(copy_on) - statistics.median(copy_off)) / 1000:.0f} us "
              "per request here. The rounds above swing by more than that between runs of the same mode (this "
              "2-core VM runs wrk, PostgreSQL, the service and the agent at once)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit("run through make bench (BENCH_ONLY=async make bench)")
