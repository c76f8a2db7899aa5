"""Accuracy matrix (issue #8): every database and cache driver pyvitals parses, with its
connection opened before pyvitals attached and after, each run checked against the server's
own counters. A connection opened before attach is where most silent undercounts hid (a
stream picked up mid-way, statements prepared earlier, a reply shape not recognised); a
connection opened after is the easy case that must stay exact. Every entry must also say
exact: true. The workloads are the same shape for all: 12 reads, 5 writes, 1 error."""
import pytest

from servers import mariadb, memcached, postgres, redis_server  # noqa: F401 (module fixtures)
from test_db import commandstats, peer_entry, print_hooks, service

READS, WRITES = 12, 5

# Each workload: connect (now, or after "go"), then READS reads, WRITES writes, one error.
PRELUDE = """
import sys
port, before = int(sys.argv[1]), sys.argv[2] == "before"
def ready_then_go():
    print("ready", flush=True)
    sys.stdin.readline()
"""
EPILOGUE = """
print("done", flush=True)
sys.stdin.read()
"""

# PyMySQL (pure Python) and MySQLdb (libmariadb) speak the same protocol differently.
MYSQL = """
import %(module)s
connect = lambda: %(connect)s.cursor()
cur = connect() if before else None
ready_then_go()
cur = cur or connect()
for i in range(%%(reads)d):
    cur.execute("SELECT id, name FROM users WHERE id = %%%%s", (1 + i %%%% 3,))
    cur.fetchall()
for i in range(%%(writes)d):
    cur.execute("INSERT INTO events (kind) VALUES (%%%%s)", ("k%%%%d" %%%% i,))
try:
    cur.execute("SELEC 1")
except %(module)s.MySQLError:
    pass
"""

WORKLOADS = {
    "psycopg2": """
import psycopg2
def connect():
    c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="app")
    c.autocommit = True
    return c.cursor()
cur = connect() if before else None
ready_then_go()
cur = cur or connect()
for i in range(%(reads)d):
    cur.execute("SELECT id, name FROM users WHERE id = %%s", (1 + i %% 3,))
    cur.fetchall()
for i in range(%(writes)d):
    cur.execute("INSERT INTO items (v) VALUES (%%s)", (i,))
try:
    cur.execute("SELEC 1")
except psycopg2.Error:
    pass
""",
    "asyncpg": """
import asyncio, asyncpg
async def main():
    connect = lambda: asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="app")
    c = await connect() if before else None
    await asyncio.get_running_loop().run_in_executor(None, ready_then_go)
    c = c or await connect()
    for i in range(%(reads)d):
        await c.fetch("SELECT id, name FROM users WHERE id = $1", 1 + i %% 3)
    for i in range(%(writes)d):
        await c.execute("INSERT INTO items (v) VALUES ($1)", i)
    try:
        await c.execute("SELEC 1")
    except asyncpg.PostgresError:
        pass
asyncio.run(main())
""",
    "pymysql": MYSQL % {"module": "pymysql", "connect": 'pymysql.connect(host="127.0.0.1", port=port, '
                                                         'user="root", database="app", autocommit=True)'},
    "mysqldb": MYSQL % {"module": "MySQLdb", "connect": 'MySQLdb.connect(host="127.0.0.1", port=port, '
                                                        'user="root", db="app", autocommit=True)'},
    "redis-py": """
import redis
connect = lambda: redis.Redis(host="127.0.0.1", port=port)
r = connect() if before else None
if r:
    r.ping()
ready_then_go()
r = r or connect()
for i in range(%(reads)d):
    r.get("acc:%%d" %% (i %% 4))
for i in range(%(writes)d):
    r.set("acc:%%d" %% i, "v")
try:
    r.lpush("acc:0", "x")
except redis.ResponseError:
    pass
""",
    "pymemcache": """
from pymemcache.client.base import Client
connect = lambda: Client(("127.0.0.1", port), default_noreply=False)
c = connect() if before else None
if c:
    c.version()
ready_then_go()
c = c or connect()
for i in range(%(reads)d):
    c.get("acc:%%d" %% (i %% 4))
for i in range(%(writes)d):
    c.set("acc:%%d" %% i, "v")
try:
    c.incr("acc:0", 1)  # not a number: CLIENT_ERROR
except Exception:
    pass
""",
}

SERVER_OF = {"psycopg2": "postgres", "asyncpg": "postgres", "pymysql": "mariadb", "mysqldb": "mariadb",
             "redis-py": "redis_server", "pymemcache": "memcached"}


def truth_before(srv, driver):
    if SERVER_OF[driver] == "postgres":
        conn = srv.connect("postgres")
        srv.reset_stats(conn)
        return conn
    if SERVER_OF[driver] == "mariadb":
        conn = srv.connect()
        return conn, srv.com_status(conn)
    if SERVER_OF[driver] == "redis_server":
        r = srv.client()
        r.config_resetstat()
        return r
    return srv.stats()


def truth_after(srv, driver, t0):
    """{operation: calls} as the server counted them, in pyvitals' operation names."""
    if SERVER_OF[driver] == "postgres":
        pgss = srv.statements(t0)
        t0.close()
        out = {}
        for text, calls in pgss.items():
            out[text.split()[0].upper()] = out.get(text.split()[0].upper(), 0) + calls
        out["SELEC"] = 1  # the syntax error: never reaches pg_stat_statements
        return out
    if SERVER_OF[driver] == "mariadb":
        conn, s0 = t0
        s1 = srv.com_status(conn)
        conn.close()
        d = {k: s1[k] - s0.get(k, 0) for k in ("Com_select", "Com_insert")}
        return {"SELECT": d["Com_select"], "INSERT": d["Com_insert"], "SELEC": 1}
    if SERVER_OF[driver] == "redis_server":
        # the test's own connection ran CONFIG RESETSTAT and INFO
        return {k: c for k, (c, _) in commandstats(t0).items() if not k.startswith(("CONFIG", "INFO"))}
    s1 = srv.stats()
    # memcached keeps no statistic of an incr it refused (a non-numeric value): the app's count
    return {"GET": s1["cmd_get"] - t0["cmd_get"], "SET": s1["cmd_set"] - t0["cmd_set"], "INCR": 1}


@pytest.mark.parametrize("opened", ["before", "after"])
@pytest.mark.parametrize("driver", list(WORKLOADS))
def test_driver_counts_equal_server_counters(driver, opened, request, watch_factory, workload):
    srv = request.getfixturevalue(SERVER_OF[driver])
    script = PRELUDE + WORKLOADS[driver] % {"reads": READS, "writes": WRITES} + EPILOGUE
    work = workload(script, srv.port, opened)
    w = watch_factory("-p", work.pid)
    t0 = truth_before(srv, driver)
    assert work.go() == ["done"]
    truth = truth_after(srv, driver, t0)
    snap = w.stop()
    print_hooks(snap, f"{driver}, connection opened {opened} attach")
    entry = peer_entry(service(snap), {"postgres": "postgresql", "mariadb": "mysql", "redis_server": "redis",
                                       "memcached": "memcached"}[SERVER_OF[driver]], f"127.0.0.1:{srv.port}")
    ops = {k: v for k, v in entry["operations"].items() if k not in ("PING", "VERSION", "HELLO", "SET NAMES")}
    print(f"truth {truth}\npyvitals {entry['operations']} errors {entry['errors']} unparsed {entry['unparsed']}")
    assert sum(truth.values()) == READS + WRITES + 1, truth
    assert ops == truth, f"{driver} ({opened} attach): pyvitals {ops} vs server {truth}"
    assert entry["errors"] == 1 and entry["exact"] is True, entry
