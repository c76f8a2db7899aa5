"""The service the database end-to-end tests watch: a Flask app whose routes each make a
known number of database and cache calls on the thread serving the request, with real
drivers (psycopg2, PyMySQL, mysqlclient, redis-py, pymemcache, sqlite3). Each worker thread
keeps its own connection open across requests. Servers come from the environment:
PG_HOST/PG_PORT/PG_DB, MY_HOST/MY_PORT/MY_DB, REDIS_PORT, REDIS_TLS_PORT, MC_PORT, SQLITE_PATH, and
PG_SOCKET_DIR, MY_SOCKET, REDIS_SOCKET with DB_VIA_UNIX=1; PG_SSLMODE (require: PostgreSQL over TLS,
its sessions named application_name 'db_app').
Every route answers with the calls it made, so the test can check its own plan."""
import os
import select
import sqlite3  # loaded at start-up, as apps usually do: libsqlite3 is mapped before pyvitals attaches
import struct
import threading

from flask import Flask

app = Flask(__name__)
# DB_VIA_UNIX=1: PostgreSQL, MariaDB (PyMySQL) and Redis through their unix sockets, as local
# servers are usually reached (libpq's default without a host, MySQL's localhost)
VIA_UNIX = os.environ.get("DB_VIA_UNIX") == "1"
local = threading.local()
sqlite_lock = threading.Lock()
sqlite_executes = 0

USER_BY_ID = "SELECT id, name FROM users WHERE id = %s"
ORDERS_OF_USER = "SELECT id, total FROM orders WHERE user_id = %s"


# --- PostgreSQL (psycopg2) ------------------------------------------------------------

def pg():
    """This thread's connection. Before use it is checked without sending anything: a server
    that went away (restart) has closed the socket, which then reads as ready."""
    import psycopg2
    c = getattr(local, "pg", None)
    if c is not None and (c.closed or select.select([c.fileno()], [], [], 0)[0]):
        try:
            c.close()
        except Exception:
            pass
        c = None
    if c is None:
        tls = {"sslmode": os.environ["PG_SSLMODE"], "application_name": "db_app"} if "PG_SSLMODE" in os.environ \
            else {}
        c = psycopg2.connect(host=os.environ["PG_SOCKET_DIR"] if VIA_UNIX else os.environ["PG_HOST"],
                             port=int(os.environ["PG_PORT"]),
                             dbname=os.environ["PG_DB"], user="postgres", **tls)
        c.autocommit = True  # no BEGIN/COMMIT around each statement: one call per execute
        local.pg = c
    return c


@app.get("/pg/<int:n>")
def pg_select(n):
    with pg().cursor() as cur:
        for i in range(n):
            cur.execute(USER_BY_ID, (1 + i % 100,))
            cur.fetchall()
    return {"calls": n, "errors": 0}


@app.get("/n1/<int:n>")
def pg_n_plus_one(n):
    """The N+1 pattern: one query lists n users, then one query per user."""
    with pg().cursor() as cur:
        cur.execute("SELECT id FROM users ORDER BY id LIMIT %s", (n,))
        ids = [r[0] for r in cur.fetchall()]
        for uid in ids:
            cur.execute(ORDERS_OF_USER, (uid,))
            cur.fetchall()
    return {"calls": 1 + len(ids), "errors": 0}


@app.get("/pg/error")
def pg_syntax_error():
    import psycopg2
    try:
        with pg().cursor() as cur:
            cur.execute("SELEC 1")
    except psycopg2.errors.SyntaxError:
        return {"calls": 1, "errors": 1}
    return {"calls": 1, "errors": 0}, 500


@app.get("/pg/unique")
def pg_unique_violation():
    import psycopg2
    try:
        with pg().cursor() as cur:
            cur.execute("INSERT INTO uniq (k) VALUES (%s)", (1,))
    except psycopg2.errors.UniqueViolation:
        return {"calls": 1, "errors": 1}
    return {"calls": 1, "errors": 0}, 500


# --- MariaDB (PyMySQL, mysqlclient) ---------------------------------------------------

def my():
    import pymysql
    c = getattr(local, "my", None)
    if c is None:
        # autocommit=True matches the server default, so PyMySQL sends no SET on connect
        c = pymysql.connect(host=os.environ["MY_HOST"], port=int(os.environ["MY_PORT"]), user="root",
                            unix_socket=os.environ["MY_SOCKET"] if VIA_UNIX else None,
                            database=os.environ["MY_DB"], autocommit=True)
        local.my = c
        local.my_stmt = None
    return c


def mydb():
    import MySQLdb
    c = getattr(local, "mydb", None)
    if c is None:
        # autocommit=None: mysqlclient then sends no SET autocommit on connect
        c = MySQLdb.connect(host=os.environ["MY_HOST"], port=int(os.environ["MY_PORT"]), user="root",
                            db=os.environ["MY_DB"], autocommit=None)
        local.mydb = c
    return c


@app.get("/my/<int:n>")
def my_select(n):
    c = my()
    with c.cursor() as cur:
        for i in range(n):
            cur.execute(USER_BY_ID, (1 + i % 100,))
            cur.fetchall()
        cur.execute("INSERT INTO events (kind) VALUES (%s)", ("pymysql",))
    return {"calls": n + 1, "errors": 0}


@app.get("/mydb/<int:n>")
def mydb_select(n):
    c = mydb()
    cur = c.cursor()
    for i in range(n):
        cur.execute(USER_BY_ID, (1 + i % 100,))
        cur.fetchall()
    cur.execute("INSERT INTO events (kind) VALUES (%s)", ("mysqlclient",))
    cur.close()
    return {"calls": n + 1, "errors": 0}


def _read_until_eof(c):
    while not c._read_packet().is_eof_packet():
        pass


def _stmt_prepare(c, sql):
    """COM_STMT_PREPARE on PyMySQL's connection (it has no server-side statements itself)."""
    from pymysql.constants import COMMAND
    c._execute_command(COMMAND.COM_STMT_PREPARE, sql)
    p = c._read_packet()  # raises on an error packet
    p.read_uint8()
    stmt_id, ncols, nparams = p.read_uint32(), p.read_uint16(), p.read_uint16()
    if nparams:
        for _ in range(nparams):
            c._read_packet()
        _read_until_eof(c)
    if ncols:
        for _ in range(ncols):
            c._read_packet()
        _read_until_eof(c)
    return stmt_id


def _stmt_execute(c, stmt_id, value):
    """COM_STMT_EXECUTE with one BIGINT parameter; returns the number of rows."""
    from pymysql.constants import COMMAND
    payload = (struct.pack("<IBI", stmt_id, 0, 1) + b"\x00" + b"\x01" + b"\x08\x00" + struct.pack("<q", value))
    c._execute_command(COMMAND.COM_STMT_EXECUTE, payload)
    p = c._read_packet()
    if p.is_ok_packet():
        return 0
    ncols = p.read_length_encoded_integer()
    for _ in range(ncols):
        c._read_packet()
    _read_until_eof(c)
    rows = 0
    while not c._read_packet().is_eof_packet():
        rows += 1
    return rows


@app.get("/myprep/<int:n>")
def my_prepared(n):
    """A server-side prepared statement (prepared once per connection), executed n times."""
    c = my()
    calls = 0
    if local.my_stmt is None:
        local.my_stmt = _stmt_prepare(c, "SELECT id, name FROM users WHERE id = ?")
        calls += 1
    for i in range(n):
        _stmt_execute(c, local.my_stmt, 1 + i % 100)
    return {"calls": calls + n, "errors": 0}


# --- Redis (redis-py) ------------------------------------------------------------------

def rds():
    import redis
    c = getattr(local, "redis", None)
    if c is None:
        c = (redis.Redis(unix_socket_path=os.environ["REDIS_SOCKET"], socket_timeout=10) if VIA_UNIX else
             redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]), socket_timeout=10))
        local.redis = c
    return c


@app.get("/redis")
def redis_mix():
    return _redis_mix(rds())


@app.get("/redis-tls")
def redis_tls_mix():
    """The same 14 commands over TLS."""
    return _redis_mix(rds_tls())


def _redis_mix(r):
    """14 commands (MULTI, SET, GET, EXEC among them); 6 hits, 3 misses, 1 WRONGTYPE error."""
    import redis
    r.set("k:hit", "v")                          # SET
    r.get("k:hit")                               # GET hit
    r.get("k:miss")                              # GET miss
    r.mget(["k:hit", "k:miss", "k:hit"])         # MGET 2 hits, 1 miss
    r.hset("h", "f", "v")                        # HSET
    r.hget("h", "f")                             # HGET hit
    p = r.pipeline(transaction=False)
    p.incr("cnt")                                # INCR
    p.get("k:hit")                               # GET hit
    p.get("k:miss2")                             # GET miss
    p.execute()
    p = r.pipeline(transaction=True)             # MULTI
    p.set("a", "1")                              # SET
    p.get("a")                                   # GET hit
    p.execute()                                  # EXEC
    errors = 0
    try:
        r.lpush("k:hit", "x")                    # LPUSH on a string: WRONGTYPE
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e
        errors += 1
    return {"calls": 14, "errors": errors, "hits": 6, "misses": 3}


def rds_tls():
    """This thread's connection to the TLS port (a managed Redis)."""
    import redis
    c = getattr(local, "redis_tls", None)
    if c is None:
        c = local.redis_tls = redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_TLS_PORT"]), ssl=True,
                                          ssl_cert_reqs=None, socket_timeout=10)
    return c


@app.get("/redis-tls/<int:n>")
def redis_tls_gets(n):
    """n GETs over TLS (a managed Redis)."""
    c = rds_tls()
    for i in range(n):
        c.get("k:hit")
    return {"calls": n, "errors": 0}


@app.get("/redis/<int:n>")
def redis_gets(n):
    r = rds()
    for i in range(n):
        r.get("k:hit")
    return {"calls": n, "errors": 0}


# --- memcached (pymemcache) ------------------------------------------------------------

def mc():
    from pymemcache.client.base import Client
    c = getattr(local, "mc", None)
    if c is None:
        c = Client(("127.0.0.1", int(os.environ["MC_PORT"])), timeout=10, connect_timeout=10)
        local.mc = c
    return c


@app.get("/mc")
def mc_mix():
    """8 commands: 2 set (noreply, pymemcache's default), get_many (2 hits, 1 miss), get hit,
    get miss, delete hit, delete miss, incr on a non-numeric value (CLIENT_ERROR)."""
    from pymemcache.exceptions import MemcacheClientError
    c = mc()
    c.set("mk1", "v1")
    c.set("mtext", "abc")
    c.get_many(["mk1", "mtext", "mnone"])
    c.get("mk1")
    c.get("mnone2")
    c.set("mk2", "v2", noreply=False)
    c.delete("mk2", noreply=False)
    c.delete("mnone3", noreply=False)
    errors = 0
    try:
        c.incr("mtext", 1)
    except MemcacheClientError:
        errors += 1
    return {"calls": 9, "errors": errors, "hits": 3, "misses": 2, "gets": 3}


# --- SQLite (sqlite3) ------------------------------------------------------------------

def lite():
    c = getattr(local, "lite", None)
    if c is None:
        c = sqlite3.connect(os.environ["SQLITE_PATH"], isolation_level=None)  # no implicit BEGIN
        local.lite = c
    return c


@app.get("/sqlite/<int:n>")
def sqlite_select(n):
    global sqlite_executes
    c = lite()
    for i in range(n):
        c.execute("SELECT id, name FROM users WHERE id = ?", (1 + i % 100,)).fetchall()
        with sqlite_lock:
            sqlite_executes += 1
    return {"calls": n, "errors": 0}


@app.get("/sqlite/count")
def sqlite_count():
    return {"executes": sqlite_executes, "pid": os.getpid()}


@app.get("/pid")
def pid():
    return str(os.getpid())
