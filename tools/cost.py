"""Per-event BPF cost on the bench service, for working on the programs (issue #13).

Starts the bench gunicorn (gthread Flask), attaches pyvitals with kernel.bpf_stats_enabled, drives
ROUNDS x REQUESTS keep-alive requests with ab at concurrency 4, and prints each program's ns per run
(median over rounds) next to its runs per request, and the agent's own CPU per request (reading
the ring, parsing, aggregating). Prints also sched_switch's cost on switches of untracked tasks:
`perf bench sched pipe` pinned to one CPU (2 switches per loop) beside the idle, tracked service,
once by bpf_stats and then without it, as the median difference of paired runs with and without
pyvitals attached (bpf_stats' own clock reads are a good part of a short program's figure).
  /usr/bin/python3 tools/cost.py [ROUNDS] [REQUESTS]
"""
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Gunicorn, attach, bpf_prog_stats, cpu_seconds, detach, prog_ids  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
REQUESTS = int(sys.argv[2]) if len(sys.argv) > 2 else 20000


PIPE_PAIRS = 7


def pipe_loop_us():
    """One perf bench sched pipe run pinned to CPU 1: microseconds per loop of 2 switches."""
    out = subprocess.run(["taskset", "-c", "1", "perf", "bench", "sched", "pipe", "-l", "200000"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) usecs/op", out).group(1))


def delta(before, after, mine):
    out = {}
    for pid in mine:
        name, t1, c1 = after.get(pid, ("?", 0, 0))
        _, t0, c0 = before.get(pid, (name, 0, 0))
        if c1 > c0:
            out[name] = (t1 - t0, c1 - c0)
    return out


def main():
    g = Gunicorn(workers=2, worker_class="gthread", threads=4)
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        p = attach(g.pid)
        mine = prog_ids(p.pid)
        per, agent_us = {}, []
        for _ in range(ROUNDS):
            before, agent0 = bpf_prog_stats(), cpu_seconds([p.pid])
            subprocess.run(["ab", "-k", "-q", "-n", str(REQUESTS), "-c", "4", f"http://127.0.0.1:{g.port}/users/7"],
                           check=True, capture_output=True)
            agent_us.append((cpu_seconds([p.pid]) - agent0) * 1e6 / REQUESTS)
            for name, (ns, cnt) in delta(before, bpf_prog_stats(), mine).items():
                per.setdefault(name, []).append((ns / cnt, cnt / REQUESTS))
        before = bpf_prog_stats()
        pipe_us = pipe_loop_us()
        idle = delta(before, bpf_prog_stats(), mine)
        detach(p)
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
        paired = []
        for i in range(PIPE_PAIRS):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                if mode == "on":
                    p = attach(g.pid)
                    on = pipe_loop_us()
                    detach(p)
                else:
                    off = pipe_loop_us()
            paired.append((on - off) * 1000 / 2)
    finally:
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
        g.stop()
    print(f"{'program':<24} {'ns/run':>8} {'runs/req':>9}   ({ROUNDS} rounds of {REQUESTS} requests, ab -k -c4)")
    for name, v in sorted(per.items(), key=lambda kv: -statistics.median(x[1] for x in kv[1])):
        print(f"{name:<24} {statistics.median(x[0] for x in v):8.0f} {statistics.median(x[1] for x in v):9.2f}")
    # over all rounds: /proc counts CPU time in clock ticks (10 ms), coarse for one round
    print(f"{'agent (userspace)':<24} {sum(agent_us) / len(agent_us) * 1000:8.0f} ns of CPU per request")
    for name, (ns, cnt) in idle.items():
        print(f"untracked {name:<14} {ns / cnt:8.0f} ns over {cnt} runs ({pipe_us:.3f} us/op pipe, bpf_stats on)")
    print(f"untracked switch, paired {statistics.median(paired):8.0f} ns more per switch with pyvitals "
          f"(median of {PIPE_PAIRS} pairs: {', '.join(f'{x:.0f}' for x in paired)})")


if __name__ == "__main__":
    main()
