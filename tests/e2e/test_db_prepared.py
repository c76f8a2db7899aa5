"""Issue #8: database connections whose first traffic after attach is hard to place.

Statements prepared before pyvitals attached (asyncpg, server-side MySQL statements) are run
by name or id only: their connection must still be classified, on any port, and each call
counted under "<OP> (prepared before attach)", the operation read from the reply. A very
wide result (400 columns) must not cost the calls that follow it. Truth is the server's own
count: pg_stat_statements for PostgreSQL, global Com_* status for MariaDB."""
import pytest

from servers import mariadb, postgres  # noqa: F401 (module fixtures)
from test_db import mariadb_deltas, peer_entry, print_hooks, queries_of, service

BEFORE = " (prepared before attach)"

ASYNCPG_PREPARED = """
import asyncio, sys, asyncpg
port, n = int(sys.argv[1]), int(sys.argv[2])

async def main():
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="app")
    sel = await conn.prepare("SELECT id, name FROM users WHERE id = $1")
    ins = await conn.prepare("INSERT INTO items (v) VALUES ($1)")
    upd = await conn.prepare("UPDATE users SET name = name WHERE id <= $1")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for i in range(n):
        await sel.fetch(1 + i % 100)
        await ins.fetch(i)
        if i % 2:
            await upd.fetch(3)
    # prepared after attach: its Parse names it, so its text is known
    late = await conn.prepare("SELECT count(*) FROM orders WHERE user_id = $1")
    for i in range(n):
        await late.fetchval(1 + i % 100)
    print("done", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def test_asyncpg_statements_prepared_before_attach(postgres, watch_factory, workload):
    """Bind/Execute/Sync only, on a port other than 5432: before the fix 0 calls were seen."""
    n = 40
    work = workload(ASYNCPG_PREPARED, postgres.port, n)
    w = watch_factory("-p", work.pid)
    truth = postgres.connect("postgres")
    postgres.reset_stats(truth)
    assert work.go() == ["done"]
    pgss = postgres.statements(truth)
    truth.close()
    snap = w.stop()
    print_hooks(snap, "asyncpg prepared before attach")
    entry = peer_entry(service(snap), "postgresql", f"127.0.0.1:{postgres.port}")
    got = queries_of(entry)
    print("truth", pgss, "pyvitals", got, entry["operations"])
    sel, ins = "SELECT id, name FROM users WHERE id = ?", "INSERT INTO items (v) VALUES (?)"
    upd, late = "UPDATE users SET name = name WHERE id <= ?", "SELECT count(*) FROM orders WHERE user_id = ?"
    assert pgss.get(sel) == pgss.get(ins) == n and pgss.get(upd) == n // 2, pgss
    # asyncpg's own introspection (if any) is prepared after attach, so pyvitals knows its text
    assert pgss.get(late) == n, pgss
    want = {"SELECT" + BEFORE: (n, 0), "INSERT" + BEFORE: (n, 0), "UPDATE" + BEFORE: (n // 2, 0), late: (n, 0)}
    assert got == want, f"truth {want} pyvitals {got}"
    assert entry["operations"] == {"SELECT": 2 * n, "INSERT": n, "UPDATE": n // 2}, entry["operations"]


# COM_STMT_PREPARE / COM_STMT_EXECUTE written over PyMySQL's connection: no client library in
# Debian 12 does server-side prepared statements (PyMySQL and mysqlclient only send text
# queries), and the binary protocol is small enough to write here.
MY_STMT = """
import struct, sys, pymysql
from pymysql.constants import COMMAND

def prepare(c, sql):
    c._execute_command(COMMAND.COM_STMT_PREPARE, sql)
    p = c._read_packet()  # raises on an error packet
    p.read_uint8()
    stmt_id, ncols, nparams = p.read_uint32(), p.read_uint16(), p.read_uint16()
    for count in (nparams, ncols):
        for _ in range(count):
            c._read_packet()
        if count:  # PyMySQL does not ask for CLIENT_DEPRECATE_EOF: an EOF ends each group
            c._read_packet()
    return stmt_id

def execute(c, stmt_id, value):
    # one BIGINT parameter; returns the rows of a binary result set, or None for an OK
    c._execute_command(COMMAND.COM_STMT_EXECUTE,
                       struct.pack("<IBI", stmt_id, 0, 1) + b"\\x00\\x01\\x08\\x00" + struct.pack("<q", value))
    p = c._read_packet()
    if p.is_ok_packet():
        return None
    ncols, rows = p.read_length_encoded_integer(), 0
    for _ in range(ncols):
        c._read_packet()
    p = c._read_packet()
    if p.is_eof_packet():  # the EOF after the column definitions
        p = c._read_packet()
    while not p.is_eof_packet():
        assert p.read_uint8() == 0  # a binary row
        rows += 1
        p = c._read_packet()
    return rows

port, n = int(sys.argv[1]), int(sys.argv[2])
c = pymysql.connect(host="127.0.0.1", port=port, user="root", database="app", autocommit=True)
sel = prepare(c, "SELECT id, name FROM users WHERE id = ?")
upd = prepare(c, "UPDATE users SET name = name WHERE id <= ?")
ins = prepare(c, "INSERT INTO events (kind) VALUES (CONCAT('prep', ?))")
dele = prepare(c, "DELETE FROM events WHERE id = ?")
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    assert execute(c, sel, 1 + i % 100) == 1
    assert execute(c, upd, 3) is None
    execute(c, ins, i)
    assert execute(c, dele, c.insert_id()) is None
# prepared after attach: its COM_STMT_PREPARE names the statement id
late = prepare(c, "SELECT name FROM users WHERE id = ?")
for i in range(n):
    assert execute(c, late, 1 + i % 100) == 1
print("done", flush=True)
sys.stdin.read()
"""


def test_mysql_statements_prepared_before_attach(mariadb, watch_factory, workload):
    """COM_STMT_EXECUTE first: the connection is classified from it, each execution counted,
    its operation read from the reply (a result set, or what the OK packet says)."""
    n = 20
    work = workload(MY_STMT, mariadb.port, n)
    w = watch_factory("-p", work.pid)
    res, d = mariadb_deltas(mariadb, work, ("Com_stmt_execute", "Com_stmt_prepare", "Com_select", "Com_update",
                                            "Com_insert", "Com_delete"))
    assert res == ["done"], res
    snap = w.stop()
    print_hooks(snap, "mysql prepared before attach")
    entry = peer_entry(service(snap), "mysql", f"127.0.0.1:{mariadb.port}")
    got = queries_of(entry)
    print("truth", d, "pyvitals", got, entry["operations"])
    assert d == {"Com_stmt_execute": 5 * n, "Com_stmt_prepare": 1, "Com_select": 2 * n, "Com_update": n,
                 "Com_insert": n, "Com_delete": n}, d
    # a DELETE's OK packet says nothing an UPDATE's or an INSERT's would not: EXECUTE, honestly
    want = {"SELECT" + BEFORE: (n, 0), "UPDATE" + BEFORE: (n, 0), "INSERT" + BEFORE: (n, 0),
            "EXECUTE" + BEFORE: (n, 0), "SELECT name FROM users WHERE id = ?": (n, 0)}
    assert got == want, f"truth {want} pyvitals {got}"
    assert entry["calls"] == d["Com_stmt_execute"], entry


WIDE_COLUMNS = 400
WIDE = """
import sys
driver, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if driver == "pymysql":
    import pymysql
    c = pymysql.connect(host="127.0.0.1", port=port, user="root", database="app", autocommit=True)
else:
    import MySQLdb
    c = MySQLdb.connect(host="127.0.0.1", port=port, user="root", db="app", autocommit=True)
cur = c.cursor()
cur.execute("SELECT 1")
cur.fetchall()
print("ready", flush=True)
sys.stdin.readline()
cur.execute("SELECT * FROM wide")
rows = cur.fetchall()
for i in range(n):
    cur.execute("UPDATE users SET name = name WHERE id = %s", (1 + i,))
print("done", len(rows), len(rows[0]), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def wide_table(mariadb):
    c = mariadb.connect()
    with c.cursor() as cur:
        cols = ", ".join(f"column_number_{i:03d} INT" for i in range(WIDE_COLUMNS))
        cur.execute(f"CREATE TABLE wide (id INT PRIMARY KEY, {cols})")
        for r in range(3):
            cur.execute(f"INSERT INTO wide VALUES ({r}" + f", {r}" * WIDE_COLUMNS + ")")
    c.close()


@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_wide_result_keeps_the_calls_after_it(mariadb, wide_table, watch_factory, workload, driver):
    """Issue #8, item 3: a result of 400 columns (about 30 kB of column definitions over many
    reads) made pyvitals lose 9 of the 20 UPDATEs that followed it."""
    n = 20
    work = workload(WIDE, driver, mariadb.port, n)
    w = watch_factory("-p", work.pid)
    res, d = mariadb_deltas(mariadb, work, ("Com_select", "Com_update"))
    assert res == ["done", "3", str(WIDE_COLUMNS + 1)], res
    snap = w.stop()
    print_hooks(snap, f"wide result {driver}")
    entry = peer_entry(service(snap), "mysql", f"127.0.0.1:{mariadb.port}")
    print("truth", d, "pyvitals", entry["operations"], queries_of(entry))
    assert d == {"Com_select": 1, "Com_update": n}, d
    assert entry["operations"] == {"SELECT": 1, "UPDATE": n}, entry["operations"]
    assert queries_of(entry) == {"SELECT * FROM wide": (1, 0), "UPDATE users SET name = name WHERE id = ?": (n, 0)}
