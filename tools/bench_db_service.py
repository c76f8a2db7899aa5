"""make bench, issue #13: the budget on a service that talks to databases. gunicorn (gthread 2x4)
serving tests/e2e/apps/db_app.py with real PostgreSQL and Redis on loopback; wrk alternates two
routes (/pg/2: two psycopg2 queries; /redis/3: three redis-py GETs), paired rounds without and
with pyvitals (GIL, GC and SQLite probes on). CPU per request is the gunicorn processes' (with the
BPF programs that run in them) plus the agent's; the database servers' CPU is the same either way.

BENCH_ONLY=dbservice make bench runs only this and replaces its section of BENCHMARKS.md."""
import contextlib
import os
import statistics
import tempfile

from bench import PAIRS, SECONDS, Gunicorn, attach, detach, measured_run, wrk
from servers import Postgres, Redis

HEADING = "## gunicorn + PostgreSQL + Redis (paired, alternating runs)"
MIX = 'paths = {"/pg/2", "/redis/3"}\ni = 0\nrequest = function()\n  i = i % 2 + 1\n' \
      '  return wrk.format("GET", paths[i])\nend\n'


@contextlib.contextmanager
def db_servers(mix):
    """PostgreSQL and Redis on loopback, and wrk sending the paths of a Lua mix (BENCH_WRK_SCRIPT)."""
    pg, redis = Postgres(), Redis()
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    try:
        pg.setup()
        redis.setup()
        script.write(mix)
        script.close()
        os.environ["BENCH_WRK_SCRIPT"] = script.name
        yield pg, redis
    finally:
        os.environ.pop("BENCH_WRK_SCRIPT", None)
        os.unlink(script.name)
        pg.close()
        redis.close()


def db_service_cost():
    g = None
    with_, without = [], []
    with db_servers(MIX) as (pg, redis):
        try:
            g = Gunicorn(workers=2, worker_class="gthread", threads=4, app="db_app:app",
                         env={**pg.env(), **redis.env()})
            wrk(g.port, 2, path="/pg/2")  # warm up: each thread opens its connections
            for i in range(PAIRS):
                for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                    if mode == "on":
                        p = attach(g.pid)
                        run = measured_run(g, p)
                        with_.append(run._replace(snap=detach(p)))
                    else:
                        without.append(measured_run(g))
        finally:
            if g:
                g.stop()
    return with_, without


def db_service_section(runs, cmd):
    with_, without = runs
    lines = [HEADING, "",
             f"`{cmd}`: gunicorn gthread 2x4 serving db_app.py, `wrk -t2 -c16 -d{SECONDS}s` alternating /pg/2 "
             "(two psycopg2 queries) and /redis/3 (three redis-py GETs) against PostgreSQL 15 and Redis 7 on "
             "loopback; CPU per request is the gunicorn processes' plus the agent's.", "",
             "| run | without (req/s) | with pyvitals (req/s) | CPU us/request without | with |", "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {a.rate:.0f} | {b.rate:.0f} | {a.cpu:.0f} | {b.cpu:.0f} |"
              for i, (a, b) in enumerate(zip(without, with_))]
    on, off = statistics.median(r.cpu for r in with_), statistics.median(r.cpu for r in without)
    pairs = statistics.median(a.cpu / b.cpu for a, b in zip(with_, without))
    calls = [sum(d["calls"] for d in r.snap["services"][0]["db"]) / max(1, r.snap["services"][0]["http_server"]["requests"])
             for r in with_]
    lines += ["", f"CPU per request: median {off:.0f} us without, {on:.0f} us with: **{100 * (on / off - 1):+.1f}%** "
              f"(median of per-pair ratios {100 * (pairs - 1):+.1f}%); pyvitals saw {statistics.median(calls):.2f} "
              "database calls per request (2.5 expected)."]
    return "\n".join(lines) + "\n"
