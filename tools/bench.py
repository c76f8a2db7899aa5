"""make bench: the agent's cost on a real gunicorn/Flask service, written to BENCHMARKS.md.

1. Throughput with and without pyvitals attached: paired wrk runs, alternating, medians and ratio.
2. BPF run time per event from kernel.bpf_stats_enabled (run_time_ns / run_cnt per program).
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import PYVITALS, Gunicorn  # noqa: E402

PAIRS = int(os.environ.get("BENCH_PAIRS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))


def wrk(port, seconds=SECONDS):
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/users/7"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def attach(pid, extra=()):
    p = subprocess.Popen([PYVITALS, "watch", "-p", str(pid), "--json", "--interval", "5", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if not line.startswith("attached"):
        raise SystemExit(f"pyvitals did not attach: {line}{p.stderr.read()}")
    return p


def detach(p):
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    return json.loads(out.splitlines()[-1])


def throughput(g):
    with_, without = [], []
    for i in range(PAIRS):
        # alternate which goes first so drift does not favour one side
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for mode in order:
            if mode == "on":
                p = attach(g.pid)
                with_.append(wrk(g.port))
                detach(p)
            else:
                without.append(wrk(g.port))
    return with_, without


def bpf_prog_stats():
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return {p["id"]: (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in progs}


def per_event_cost(g):
    """Every program pyvitals loads (socket, process, interpreter, SQLite), under the same load."""
    before = set(bpf_prog_stats())
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        p = attach(g.pid)
        wrk(g.port)
        stats = bpf_prog_stats()
        snap = detach(p)
    finally:
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
    rows = sorted((v for k, v in stats.items() if k not in before), key=lambda r: -r[2])
    return rows, snap


def main():
    g = Gunicorn(workers=2, worker_class="gthread", threads=4)
    try:
        wrk(g.port, 2)  # warm-up
        with_, without = throughput(g)
        rows, snap = per_event_cost(g)
    finally:
        g.stop()
    med_on, med_off = statistics.median(with_), statistics.median(without)
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
        "| run | without (req/s) | with pyvitals (req/s) |",
        "|---|---|---|",
    ]
    lines += [f"| {i + 1} | {a:.0f} | {b:.0f} |" for i, (a, b) in enumerate(zip(without, with_))]
    lines += ["", f"Median without: {med_off:.0f} req/s; median with: {med_on:.0f} req/s; "
              f"**ratio {med_on / med_off:.3f}**.", "",
              "## BPF run time per event (kernel.bpf_stats_enabled)", "",
              f"One wrk run with pyvitals attached ({reqs} requests counted).", "",
              "| program | events | total ns | ns per event |", "|---|---|---|---|"]
    for name, ns, cnt in rows:
        lines.append(f"| {name} | {cnt} | {ns} | {ns / cnt:.0f} |" if cnt else f"| {name} | 0 | 0 | - |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
