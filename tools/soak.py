"""make soak: pyvitals attached to a real service under a steady load for a long time, its RSS
sampled every second, to show that its memory is flat once warm (the state of closed
connections and exited processes is freed) and that its counts stay exact.

The service: gunicorn (gthread, 2 workers x 4 threads) serving tests/e2e/apps/db_app.py, each
request making real PostgreSQL and Redis calls (servers.Postgres and servers.Redis on loopback
high ports), with --max-requests so that workers exit and new ones fork all along. The load:
a fixed request rate over client threads that each keep at most one connection, reusing it
(keep-alive) or closing it and opening a new one at random, so connections open and close all
along too. pyvitals: `watch -p <master> --json --interval 1`, read line by line.

Checks, after a warm-up of max(30 s, 10% of the run) (pages of the 16 MiB ring buffer, routes,
statements and histograms are created in the first seconds; nothing should grow later):
  rss growth   median VmRSS of the last third of the samples after the warm-up minus the median
               of the first third: medians ignore a single allocator spike, thirds compare the
               start and the end of the steady state, not the noise of two single samples;
  rss slope    least-squares slope over every sample after the warm-up, in KiB/min: a leak of a
               few bytes per connection or per process shows as a steady slope;
  counts       pyvitals' final request count equals the client's, per route too, and its
               PostgreSQL and Redis call counts equal what the app said it made; lost_events 0;
  state        the agent's live connections (connections_open) and processes (pids) stay within
               what the service can have open at once, and at the end equal what is really open;
               the kernel side's maps of sockets and processes hold no more than that either.
Exits 1 naming each failed check and by how much; --out writes the samples (CSV) and a summary.

    /usr/bin/python3 tools/soak.py --duration 600 --rate 300 --out /tmp/soak.csv
"""
import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import HOOKS_ARGS, PYVITALS, Gunicorn, bpf_ids, children  # noqa: E402
from servers import Postgres, Redis  # noqa: E402

WORKERS, THREADS = 2, 4
# path, the route pyvitals names it by, the database its calls go to
PATHS = [("/pg/2", "/pg/<int:n>", "postgresql"), ("/n1/3", "/n1/<int:n>", "postgresql"),
         ("/redis/3", "/redis/<int:n>", "redis"), ("/pid", "/pid", None)]
RESET = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


class Limits:
    """Thresholds. The defaults are for a run of 10 minutes; a short one passes its own."""

    def __init__(self, growth_kib=2048, slope_kib_min=256, warmup_s=None):
        self.growth_kib, self.slope_kib_min, self.warmup_s = growth_kib, slope_kib_min, warmup_s


class Load:
    """`rate` requests per second spread over `conns` threads, each holding at most one
    connection: a request goes on the thread's open connection with probability `keepalive`,
    else that one is closed and a new one opened. A reused connection the server closed
    meanwhile (a worker that exited, its keep-alive timeout) is retried once on a new one: the
    server never read that request. Counts only answered requests, per route and database."""

    def __init__(self, port, rate, conns=8, keepalive=0.5, seed=1):
        self.port, self.rate, self.conns, self.keepalive = port, rate, conns, keepalive
        self.answered = [0] * conns
        self.routes = [dict() for _ in range(conns)]
        self.db_calls = [dict() for _ in range(conns)]
        self.opened = [0] * conns
        self.retries = [0] * conns
        self.failed = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i, random.Random(seed + i)), daemon=True)
                        for i in range(conns)]

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def count(self):
        return sum(self.answered)

    def totals(self):
        routes, db = {}, {}
        for per, out in ((self.routes, routes), (self.db_calls, db)):
            for d in per:
                for k, v in d.items():
                    out[k] = out.get(k, 0) + v
        return routes, db

    def one(self, i, c, path):
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def run(self, i, rnd):
        c, slot = None, i
        while not self.stop.is_set():
            due = self.t0 + slot / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elif now - due > 1:  # fell behind (the box was busy): skip, do not burst
                slot += int((now - due) * self.rate) // self.conns * self.conns
            slot += self.conns
            path, route, db = rnd.choice(PATHS)
            if c is not None and rnd.random() >= self.keepalive:
                c.close()
                c = None
            reused = c is not None
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.opened[i] += 1
            try:
                try:
                    status, body = self.one(i, c, path)
                except RESET:
                    if not reused:
                        raise
                    c.close()
                    self.retries[i] += 1
                    self.opened[i] += 1
                    status, body = self.one(i, c, path)  # http.client reconnects
            except Exception as e:  # counted as failed: the server may or may not have seen it
                self.failed.append(f"{path}: {e!r}")
                c.close()
                c = None
                continue
            self.answered[i] += 1
            self.routes[i][route] = self.routes[i].get(route, 0) + 1
            if db and status == 200:
                self.db_calls[i][db] = self.db_calls[i].get(db, 0) + json.loads(body)["calls"]
        if c is not None:
            c.close()


class Agent:
    """pyvitals watch --json --interval 1 on the service; its snapshots read as they come."""

    def __init__(self, pid, binary=PYVITALS):
        self.proc = subprocess.Popen([binary, "watch", "-p", str(pid), "--json", "--interval", "1", *HOOKS_ARGS],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if not line.startswith("attached"):
            raise RuntimeError(f"pyvitals did not attach: {line}{self.proc.stderr.read()}")
        self.pid = self.proc.pid
        self.last = None
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.last = json.loads(line)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.reader.join(30)
        self.proc.wait(30)
        err = self.proc.stderr.read()
        if self.proc.returncode != 0:
            raise RuntimeError(f"pyvitals exited {self.proc.returncode}: {err[-2000:]}")
        if not self.last or not self.last.get("final"):
            raise RuntimeError("pyvitals' last snapshot does not say final")
        return self.last

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def status_kib(pid):
    """(VmRSS, RssAnon) of pid in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    return out["VmRSS"], out["RssAnon"]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established(pids):
    """TCP connections in state ESTABLISHED held by these processes (ss -tnp), the truth the
    agent's connections_open is compared with once the load has stopped."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if any(f"pid={p}," in line for p in pids))


def bpf_map_entries(agent_pid, names):
    """{map name: entries} of the agent's own BPF maps (found by its map fds) among names."""
    out = {}
    for mid in bpf_ids(agent_pid, "map_id"):
        info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(mid)],
                                         capture_output=True, text=True).stdout or "{}")
        if info.get("name") in names:
            dump = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(mid)], capture_output=True, text=True)
            out[info["name"]] = len(json.loads(dump.stdout or "[]"))
    return out


def median(v):
    return statistics.median(v) if v else 0.0


def slope_per_min(ts, ys):
    """Least-squares slope of ys over ts (seconds), per minute."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return 60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var else 0.0


def rss_figures(samples, warmup_s):
    """samples: dicts with t and rss_kib. RSS at the end of the warm-up, the medians of the first
    and last thirds after it, the max after it, the slope after it and the growth."""
    post = [s for s in samples if s["t"] >= warmup_s]
    third = max(1, len(post) // 3)
    first, last = [s["rss_kib"] for s in post[:third]], [s["rss_kib"] for s in post[-third:]]
    f = {"warmup_s": warmup_s, "post_samples": len(post),
         "rss_at_warmup_kib": post[0]["rss_kib"] if post else 0,
         "rss_first_third_kib": median(first), "rss_last_third_kib": median(last),
         "rss_max_kib": max((s["rss_kib"] for s in post), default=0),
         "rss_anon_first_third_kib": median([s["rss_anon_kib"] for s in post[:third]]),
         "rss_anon_last_third_kib": median([s["rss_anon_kib"] for s in post[-third:]]),
         "slope_kib_per_min": slope_per_min([s["t"] for s in post], [s["rss_kib"] for s in post])}
    f["growth_kib"] = f["rss_last_third_kib"] - f["rss_first_third_kib"]
    return f


def routes_of(svc):
    return {r["route"]: r["requests"] for r in svc["http_server"]["routes"]}


def db_calls_of(svc):
    out = {}
    for p in svc["db"]:
        out[p["system"]] = out.get(p["system"], 0) + p["calls"]
    return out


def soak(duration, rate, limits=None, out=None, binary=PYVITALS, pg=None, redis=None, log=print):
    """Run the soak; returns (summary dict, failures: list of strings). pg and redis: servers
    already running (a test's fixtures), else started here and stopped at the end."""
    limits = limits or Limits()
    warmup = limits.warmup_s if limits.warmup_s is not None else max(30.0, duration / 10)
    own = []
    if pg is None:
        pg = Postgres()
        own.append(pg)
        pg.setup()
    if redis is None:
        redis = Redis()
        own.append(redis)
        redis.setup()
    # each worker is replaced after ~10 s of its share of the load
    max_req = max(100, int(rate / WORKERS * 10))
    g = agent = load = None
    samples = []
    try:
        g = Gunicorn(workers=WORKERS, worker_class="gthread", threads=THREADS, app="db_app:app",
                     extra=["--max-requests", str(max_req), "--max-requests-jitter", str(max_req // 5)],
                     env={**pg.env(), **redis.env()})
        agent = Agent(g.pid, binary)
        load = Load(g.port, rate)
        t0 = time.monotonic()
        load.start()
        pids_seen = set()
        next_t = t0
        while True:
            next_t += 1
            time.sleep(max(0, next_t - time.monotonic()))
            t = time.monotonic() - t0
            rss, anon = status_kib(agent.pid)
            snap = agent.last or {}
            svc = (snap.get("services") or [{}])[0]
            pids = svc.get("pids", [])
            pids_seen.update(pids)
            s = {"t": round(t, 2), "rss_kib": rss, "rss_anon_kib": anon, "requests": load.count(),
                 "agent_requests": svc.get("http_server", {}).get("requests", 0),
                 "connections_open": snap.get("connections_open", 0), "pids": len(pids),
                 "agent_cpu_s": round(cpu_s(agent.pid), 2)}
            samples.append(s)
            if len(samples) % 60 == 0:
                log(f"soak: {t:.0f}s rss {rss} KiB, {s['requests']} requests, "
                    f"{s['connections_open']} connections open, {len(pids)} pids")
            if t >= duration:
                break
        load.finish()
        load_s = time.monotonic() - t0
        time.sleep(2)  # the last records drained, idle keep-alive connections closed by the server
        live = [g.pid] + children(g.pid)
        truth_conns = established(live)
        maps = bpf_map_entries(agent.pid, ("conns", "tracked", "rt_procs"))
        cpu = cpu_s(agent.pid)
        final = agent.stop()
    finally:
        if load:
            load.stop.set()
        if agent:
            agent.kill()
        if g:
            g.stop()
        for srv in own:
            srv.close()

    svc = final["services"][0]
    routes, db = load.totals()
    fig = rss_figures(samples, warmup)
    post = [s for s in samples if s["t"] >= warmup]
    # at most: each client thread's connection, and each worker thread's PostgreSQL and Redis
    # ones for the workers running plus one being replaced (its connections not yet closed)
    conn_bound = load.conns + (WORKERS + 1) * THREADS * 2
    pid_bound = 1 + WORKERS + 1
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "duration_s": duration, "load_s": round(load_s, 1),
        "rate": rate, "client_requests": load.count(), "agent_requests": svc["http_server"]["requests"],
        "achieved_rate": round(load.count() / load_s, 1), "client_connections": sum(load.opened),
        "client_retries": sum(load.retries), "client_failed": len(load.failed),
        "routes_client": routes, "routes_agent": routes_of(svc), "db_calls_client": db, "db_calls_agent": db_calls_of(svc),
        "lost_events": final["lost_events"], "exact": svc["http_server"]["exact"],
        "processes_seen": len(pids_seen), "processes_exited": len(pids_seen - set(live)),
        "max_requests": max_req, "pids_max": max((s["pids"] for s in post), default=0), "pid_bound": pid_bound,
        "connections_open_max": max((s["connections_open"] for s in post), default=0), "connection_bound": conn_bound,
        "connections_open_end": final["connections_open"], "established_end": truth_conns,
        "pids_end": sorted(svc["pids"]), "live_end": sorted(live), "bpf_map_entries_end": maps,
        "agent_cpu_s": round(cpu, 2), "agent_cpu_pct": round(100 * cpu / load_s, 2), **fig,
        "limits": {"growth_kib": limits.growth_kib, "slope_kib_per_min": limits.slope_kib_min},
    }
    failures = check(summary, limits)
    summary["failures"] = failures
    if out:
        with open(out, "w") as f:
            keys = list(samples[0])
            f.write(",".join(keys) + "\n")
            for s in samples:
                f.write(",".join(str(s[k]) for k in keys) + "\n")
        with open(os.path.splitext(out)[0] + ".summary.json", "w") as f:
            json.dump(summary, f, indent=1)
    return summary, failures


def check(s, limits):
    bad = []
    if s["post_samples"] < 6:
        bad.append(f"too few samples after the warm-up of {s['warmup_s']:.0f}s: {s['post_samples']}")
    if s["growth_kib"] > limits.growth_kib:
        bad.append(f"RSS grew {s['growth_kib']:.0f} KiB after the warm-up (median of the last third "
                   f"{s['rss_last_third_kib']:.0f} vs first {s['rss_first_third_kib']:.0f}), limit {limits.growth_kib}: "
                   f"over by {s['growth_kib'] - limits.growth_kib:.0f} KiB")
    if s["slope_kib_per_min"] > limits.slope_kib_min:
        bad.append(f"RSS slope {s['slope_kib_per_min']:.0f} KiB/min after the warm-up, limit {limits.slope_kib_min}: "
                   f"over by {s['slope_kib_per_min'] - limits.slope_kib_min:.0f} KiB/min")
    if s["agent_requests"] != s["client_requests"]:
        bad.append(f"requests: pyvitals counted {s['agent_requests']}, the client {s['client_requests']} "
                   f"(off by {s['agent_requests'] - s['client_requests']:+d})")
    if s["routes_agent"] != s["routes_client"]:
        bad.append(f"requests per route: pyvitals {s['routes_agent']}, the client {s['routes_client']}")
    if s["db_calls_agent"] != s["db_calls_client"]:
        bad.append(f"database calls: pyvitals {s['db_calls_agent']}, the app's own {s['db_calls_client']}")
    if s["lost_events"]:
        bad.append(f"lost_events {s['lost_events']} (0 expected)")
    if not s["exact"]:
        bad.append("pyvitals says its counts are not exact")
    if s["client_failed"]:
        bad.append(f"{s['client_failed']} requests failed in the client (the counts cannot be compared exactly)")
    if s["processes_exited"] < 2:
        bad.append(f"only {s['processes_exited']} worker(s) exited: the run did not recycle processes")
    if s["pids_max"] > s["pid_bound"]:
        bad.append(f"pyvitals listed up to {s['pids_max']} pids, the service never has more than {s['pid_bound']}")
    if s["pids_end"] != s["live_end"]:
        bad.append(f"pids at the end: pyvitals {s['pids_end']}, alive {s['live_end']}")
    if s["connections_open_max"] > s["connection_bound"]:
        bad.append(f"connections_open reached {s['connections_open_max']}, the service never has more than "
                   f"{s['connection_bound']} open: over by {s['connections_open_max'] - s['connection_bound']}")
    if s["connections_open_end"] > s["established_end"]:
        bad.append(f"connections_open {s['connections_open_end']} at the end, {s['established_end']} established: "
                   f"state of {s['connections_open_end'] - s['established_end']} closed connection(s) kept")
    m = s["bpf_map_entries_end"]
    if m.get("conns", 0) > s["connection_bound"]:
        bad.append(f"the kernel map of sockets holds {m['conns']} entries, bound {s['connection_bound']}")
    for name in ("tracked", "rt_procs"):
        if m.get(name, 0) > len(s["live_end"]):
            bad.append(f"the kernel map {name} holds {m[name]} processes, {len(s['live_end'])} alive")
    return bad


def paragraph(s):
    return (f"soak {s['duration_s']}s at {s['rate']} req/s (achieved {s['achieved_rate']}): "
            f"{s['client_requests']} requests over {s['client_connections']} client connections "
            f"({s['client_retries']} retried after a server close), {s['processes_exited']} worker processes exited "
            f"(--max-requests {s['max_requests']}). Agent RSS {s['rss_at_warmup_kib']} KiB at the end of the "
            f"{s['warmup_s']:.0f}s warm-up, median {s['rss_first_third_kib']:.0f} KiB in the first third after it, "
            f"{s['rss_last_third_kib']:.0f} KiB in the last (growth {s['growth_kib']:+.0f} KiB; anon "
            f"{s['rss_anon_first_third_kib']:.0f} -> {s['rss_anon_last_third_kib']:.0f}), max {s['rss_max_kib']} KiB, "
            f"slope {s['slope_kib_per_min']:+.1f} KiB/min. Counts: pyvitals {s['agent_requests']} requests vs "
            f"client {s['client_requests']}, db calls {s['db_calls_agent']} vs {s['db_calls_client']}, lost_events "
            f"{s['lost_events']}. State: connections_open max {s['connections_open_max']} (bound "
            f"{s['connection_bound']}), {s['connections_open_end']} at the end vs {s['established_end']} established; "
            f"pids max {s['pids_max']}; kernel maps at the end {s['bpf_map_entries_end']}. Agent CPU "
            f"{s['agent_cpu_s']}s ({s['agent_cpu_pct']}% of one core).")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--rate", type=float, default=300, help="requests per second (default 300)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds (default max(30, 10%% of the run))")
    ap.add_argument("--max-growth-kib", type=float, default=2048)
    ap.add_argument("--max-slope-kib-min", type=float, default=256)
    ap.add_argument("--out", help="CSV of the samples; the summary goes next to it (.summary.json)")
    a = ap.parse_args()
    s, bad = soak(a.duration, a.rate, Limits(a.max_growth_kib, a.max_slope_kib_min, a.warmup), a.out)
    print(paragraph(s))
    for b in bad:
        print(f"FAILED: {b}", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
