"""make bench, issue #14: what naming routes by the application's own table costs.

1. Learning: `pyvitals doctor -p PID --routes` reads the table of a worker of each app (the Flask
   blog, the Django site, the FastAPI service, and a generated Flask app of 2,000 rules); the time
   of the read as doctor reports it, median of 5.
2. Matching: the agent's CPU per request, paired rounds on gunicorn gthread 2x4 serving
   tests/e2e/apps/blog_flask.py under wrk cycling through 1,200 distinct URLs of every rule:
   pyvitals naming from the table against pyvitals --no-route-table (names from paths).

BENCH_ONLY=routes make bench runs only this and replaces its section of BENCHMARKS.md."""
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid

from bench import PAIRS, ROOT, SECONDS, Gunicorn, attach, cpu_seconds, detach, wrk
from conftest import APPS, PY, PYVITALS, free_port, wait_port

HEADING = "## Routes from the framework's table (issue #14)"
MANY_RULES = """from flask import Flask
app = Flask(__name__)
def view(**kw):
    return "x"
for i in range(2000):
    app.add_url_rule(f"/r{i}/<int:item_id>/item/<slug>", f"e{i}", view)
"""


def blog_paths():
    """1,200 URLs over every rule of blog_flask.py, some 404s among them."""
    paths = [f"/blog/post/post-{i}" for i in range(400)]
    paths += [f"/blog/archive/{2000 + i % 20}/{1 + i % 12}/" for i in range(100)]
    paths += [f"/users/user{i}/profile" for i in range(200)]
    paths += [f"/tag/{('python', 'rust', 'go')[i % 3]}" for i in range(100)]
    paths += [f"/api/v1/orders/{uuid.UUID(int=i * 7919 + 1)}" for i in range(150)]
    paths += [f"/api/v1/users/{i}" for i in range(150)]
    paths += [f"/files/{i % 7}/dir{i}/report.pdf" for i in range(80)]
    paths += [f"/nope/{i}" for i in range(20)]
    return paths


def wrk_script(paths):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write("paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\ni = 0\nrequest = function()\n"
            "  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
    f.close()
    return f.name


def read_time(pid):
    """(templates, ms) of one table read, as doctor reports it."""
    out = subprocess.run([PYVITALS, "doctor", "-p", str(pid), "--routes"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"routes: .*?(\d+) templates.*?read in ([\d.]+) ms", out)
    if not m:
        raise SystemExit(f"doctor -p {pid} --routes read no table:\n{out}")
    return int(m.group(1)), float(m.group(2))


def learn(name, pid, n=5, port=None):
    if port:  # one answered request: the worker has imported the app (and Django its urlconf)
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"], check=True)
    runs = [read_time(pid) for _ in range(n)]
    return name, runs[0][0], statistics.median(ms for _, ms in runs)


def learning_costs():
    rows, procs = [], []
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "many_rules.py"), "w") as f:
        f.write(MANY_RULES)
    try:
        g = Gunicorn(workers=1, app="blog_flask:app")
        procs.append(g)
        rows.append(learn("Flask blog (blog_flask.py)", g.worker_pids()[0], port=g.port))
        g = Gunicorn(workers=1, app="many_rules:app", env={"PYTHONPATH": tmp})
        procs.append(g)
        rows.append(learn("Flask, 2,000 generated rules", g.worker_pids()[0], port=g.port))
        g = Gunicorn(workers=1, app="blog_django:application")
        procs.append(g)
        rows.append(learn("Django site (blog_django.py)", g.worker_pids()[0], port=g.port))
        port = free_port()
        u = subprocess.Popen([PY, "-m", "uvicorn", "--app-dir", APPS, "--port", str(port), "--log-level", "warning",
                              "blog_fastapi:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            rows.append(learn("FastAPI (blog_fastapi.py, uvicorn)", u.pid, port=port))
        finally:
            u.terminate()
            u.wait(10)
    finally:
        for g in procs:
            g.stop()
    return rows


def agent_run(g, extra):
    p = attach(g.pid, extra)
    time.sleep(1)  # the table is read at start: measure the steady state
    service = [g.pid] + g.worker_pids()
    before, before_svc = cpu_seconds([p.pid]), cpu_seconds(service)
    rate, count, _ = wrk(g.port, path="/")
    agent_us = (cpu_seconds([p.pid]) - before) * 1e6 / count
    service_us = (cpu_seconds(service) - before_svc) * 1e6 / count
    snap = detach(p)
    return rate, agent_us, count, snap, service_us


def matching_costs():
    script = wrk_script(blog_paths())
    os.environ["BENCH_WRK_SCRIPT"] = script
    g = Gunicorn(workers=2, worker_class="gthread", threads=4, app="blog_flask:app")
    runs = {"table": [], "paths": []}
    try:
        wrk(g.port, 2, path="/")  # warm-up
        for i in range(PAIRS):
            for mode in (("table", "paths") if i % 2 == 0 else ("paths", "table")):
                runs[mode].append(agent_run(g, () if mode == "table" else ("--no-route-table",)))
    finally:
        os.environ.pop("BENCH_WRK_SCRIPT", None)
        os.unlink(script)
        g.stop()
    return runs


def match_ns():
    """build/route-table-bench: ns per request named, 100-template tables, in one thread."""
    subprocess.run(["make", "-s", "build/route-table-bench"], check=True, cwd=ROOT)
    out = subprocess.run([os.path.join(ROOT, "build", "route-table-bench"), "500000"],
                         capture_output=True, text=True, check=True).stdout
    return [l for l in out.splitlines() if " ns " in l]


def routes_section(cmd):
    learned, runs, matched = learning_costs(), matching_costs(), match_ns()
    lines = [HEADING, "", f"`{cmd}` (tools/bench_routes.py).", "",
             "**Learning** (one read of the table from another process, `pyvitals doctor -p PID --routes`, "
             "median of 5):", "", "| application | templates | read (ms) |", "|---|---|---|"]
    lines += [f"| {name} | {n} | {ms:.1f} |" for name, n, ms in learned]
    lines += ["", "**Matching alone** (`build/route-table-bench 500000`: tables of 100 templates, one thread, "
              "best of 7 rounds):", "", "```", *matched, "```"]
    lines += ["", "The agent reads each service's table at start and again every 10 s (1 s while it waits "
              "for the first one), in its event loop.", "",
              "**Matching** (the agent's own CPU per request; gunicorn gthread 2x4 serving blog_flask.py, "
              f"`wrk -t2 -c16 -d{SECONDS}s` cycling through 1,180 URLs of its rules and 20 that no rule matches; paired "
              "rounds, alternating):", "",
              "| run | table: req/s | agent us/request | service us/request | --no-route-table: req/s | agent "
              "us/request | service us/request |", "|---|---|---|---|---|---|---|"]
    for i, (t, p) in enumerate(zip(runs["table"], runs["paths"])):
        lines.append(f"| {i + 1} | {t[0]:.0f} | {t[1]:.2f} | {t[4]:.0f} | {p[0]:.0f} | {p[1]:.2f} | {p[4]:.0f} |")
    on = statistics.median(r[1] for r in runs["table"])
    off = statistics.median(r[1] for r in runs["paths"])
    routes = [len(r[3]["services"][0]["http_server"]["routes"]) for r in runs["table"]]
    sources = {r[3]["services"][0]["http_server"]["route_source"] for r in runs["table"]}
    rate_on = statistics.median(r[0] for r in runs["table"])
    rate_off = statistics.median(r[0] for r in runs["paths"])
    svc_on = statistics.median(r[4] for r in runs["table"])
    svc_off = statistics.median(r[4] for r in runs["paths"])
    lines += ["", f"Throughput (the service's, on a 2-core VM shared with wrk and the agent): median {rate_on:.0f} "
              f"req/s with the table, {rate_off:.0f} with --no-route-table; the service's CPU per request (its "
              f"processes, with the BPF programs that run in them): median {svc_on:.0f} us and {svc_off:.0f} us."]
    lines += ["", f"Agent CPU per request: median {on:.2f} us naming by the table ({sources}, {max(routes)} routes), "
              f"{off:.2f} us naming from paths: {on - off:+.2f} us, within the noise of these runs (the pairs "
              "differ by more than the matcher's few hundred ns above)."]
    return "\n".join(lines) + "\n"
