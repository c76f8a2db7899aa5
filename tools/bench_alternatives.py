"""make bench, issue #13: what pyvitals costs next to what users would run instead. The bench
service three ways, in paired rounds (the order rotates each round): uninstrumented, watched by
pyvitals (its GIL, GC and SQLite probes on, as by default), and instrumented in process with
prometheus_client (tests/e2e/apps/flask_prom_app.py: one histogram per route, method and status,
multiprocess mode as gunicorn needs). The OpenTelemetry Python SDK is not packaged by Debian 12
(`apt-cache search opentelemetry` finds only the Go SDK), so it is not measured.

BENCH_ONLY=alternatives make bench runs only this and replaces its section of BENCHMARKS.md."""
import os
import shutil
import statistics
import tempfile

from bench import PAIRS, SECONDS, Gunicorn, attach, detach, measured_run, wrk

HEADING = "## Against in-process instrumentation (paired, rotating runs)"
MODES = ("none", "pyvitals", "prometheus_client")


def alternatives_cost():
    """{mode: [Run]} over PAIRS rounds."""
    prom_dir = tempfile.mkdtemp(prefix="pyvitals-prom-")
    plain = Gunicorn(workers=2, worker_class="gthread", threads=4)
    prom = Gunicorn(workers=2, worker_class="gthread", threads=4, app="flask_prom_app:app",
                    env={"PROMETHEUS_MULTIPROC_DIR": prom_dir})
    runs = {m: [] for m in MODES}
    try:
        wrk(plain.port, 2)  # warm both up
        wrk(prom.port, 2)
        for i in range(PAIRS):
            for mode in MODES[i % 3:] + MODES[:i % 3]:
                if mode == "pyvitals":
                    p = attach(plain.pid)
                    run = measured_run(plain, p)
                    runs[mode].append(run._replace(snap=detach(p)))
                else:
                    runs[mode].append(measured_run(prom if mode == "prometheus_client" else plain))
    finally:
        plain.stop()
        prom.stop()
        shutil.rmtree(prom_dir, ignore_errors=True)
    return runs


def alternatives_section(runs, cmd):
    base = statistics.median(r.cpu for r in runs["none"])
    lines = [HEADING, "",
             f"`{cmd}`: the bench service (gunicorn gthread 2x4, Flask, /users/7) under `wrk -t2 -c16 -d{SECONDS}s`, "
             f"{PAIRS} rounds, each running the three in a rotating order: uninstrumented; watched by pyvitals "
             "(GIL, GC and SQLite probes on); instrumented in process with prometheus_client 0.16 "
             "(one histogram per route, method and status in Flask's request hooks, multiprocess mode, "
             "as gunicorn's workers need). CPU per request is the service's processes plus, for pyvitals, "
             "the agent. The OpenTelemetry Python SDK is not packaged by Debian 12, so it is not measured.", "",
             "| round | " + " | ".join(f"{m} req/s | {m} CPU us/req" for m in MODES) + " |",
             "|---|" + "---|---|" * len(MODES)]
    for i in range(PAIRS):
        lines.append(f"| {i + 1} | " + " | ".join(f"{runs[m][i].rate:.0f} | {runs[m][i].cpu:.0f}" for m in MODES) + " |")
    lines.append("")
    for m in MODES[1:]:
        med = statistics.median(r.cpu for r in runs[m])
        pairs = statistics.median(a.cpu / b.cpu for a, b in zip(runs[m], runs["none"]))
        lines.append(f"- {m}: median {med:.0f} us of CPU per request against {base:.0f} uninstrumented: "
                     f"**{100 * (med / base - 1):+.1f}%** (median of per-round ratios {100 * (pairs - 1):+.1f}%), "
                     f"median {statistics.median(r.rate for r in runs[m]):.0f} req/s.")
    diff = [r.snap["services"][0]["http_server"]["requests"] - r.count for r in runs["pyvitals"]]
    lines.append(f"- pyvitals' count minus wrk's per run: {diff} (wrk leaves out the requests in flight at its "
                 "deadline, up to its 16 connections; pyvitals counts those that completed).")
    return "\n".join(lines) + "\n"


def replace_section(path, text, heading=HEADING):
    """Put text in place of heading's section of path (up to the next '## '), or at the end."""
    old = open(path).read() if os.path.exists(path) else ""
    start = old.find(heading)
    if start < 0:
        with open(path, "a") as f:
            f.write("\n" + text)
        return
    end = old.find("\n## ", start + len(heading))
    end = len(old) if end < 0 else end + 1
    with open(path, "w") as f:
        f.write(old[:start] + text + ("\n" + old[end:] if end < len(old) else ""))
