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

from bench import PAIRS, SECONDS, Gunicorn, attach, cpu_seconds, detach, wrk
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


def learn(name, pid, n=5):
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
        rows.append(learn("Flask blog (blog_flask.py)", g.worker_pids()[0]))
        g = Gunicorn(workers=1, app="many_rules:app", env={"PYTHONPATH": tmp})
        procs.append(g)
        rows.append(learn("Flask, 2,000 generated rules", g.worker_pids()[0]))
        g = Gunicorn(workers=1, app="blog_django:application")
        procs.append(g)
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{g.port}/"], check=True)
        rows.append(learn("Django site (blog_django.py)", g.worker_pids()[0]))
        port = free_port()
        u = subprocess.Popen([PY, "-m", "uvicorn", "--app-dir", APPS, "--port", str(port), "--log-level", "warning",
                              "blog_fastapi:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            rows.append(learn("FastAPI (blog_fastapi.py, uvicorn)", u.pid))
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
    before = cpu_seconds([p.pid])
    rate, count, _ = wrk(g.port, path="/")
    agent_us = (cpu_seconds([p.pid]) - before) * 1e6 / count
    snap = detach(p)
    return rate, agent_us, count, snap


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


def routes_section(cmd):
    learned, runs = learning_costs(), matching_costs()
    lines = [HEADING, "", f"`{cmd}` (tools/bench_routes.py).", "",
             "**Learning** (one read of the table from another process, `pyvitals doctor -p PID --routes`, "
             "median of 5):", "", "| application | templates | read (ms) |", "|---|---|---|"]
    lines += [f"| {name} | {n} | {ms:.1f} |" for name, n, ms in learned]
    lines += ["", "The agent reads each service's table at start and again every 10 s (1 s while it waits "
              "for the first one), in its event loop.", "",
              "**Matching** (the agent's own CPU per request; gunicorn gthread 2x4 serving blog_flask.py, "
              f"`wrk -t2 -c16 -d{SECONDS}s` cycling through 1,200 URLs of its 11 rules and 20 404s; paired "
              "rounds, alternating):", "",
              "| run | table: req/s | agent us/request | --no-route-table: req/s | agent us/request |",
              "|---|---|---|---|---|"]
    for i, (t, p) in enumerate(zip(runs["table"], runs["paths"])):
        lines.append(f"| {i + 1} | {t[0]:.0f} | {t[1]:.2f} | {p[0]:.0f} | {p[1]:.2f} |")
    on = statistics.median(r[1] for r in runs["table"])
    off = statistics.median(r[1] for r in runs["paths"])
    routes = [len(r[3]["services"][0]["http_server"]["routes"]) for r in runs["table"]]
    sources = {r[3]["services"][0]["http_server"]["route_source"] for r in runs["table"]}
    lines += ["", f"Agent CPU per request: median {on:.2f} us naming by the table ({sources}, {max(routes)} routes), "
              f"{off:.2f} us naming from paths: **{on - off:+.2f} us** per request for exact templates."]
    return "\n".join(lines) + "\n"
