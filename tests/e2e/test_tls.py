"""TLS plaintext: the calls a service makes and serves over TLS are read from the libssl it
maps (SSL_read/SSL_write and their _ex forms) and counted exactly as plain ones, against the
same independent truth: the client's own count for gunicorn serving HTTPS, pg_stat_statements
for PostgreSQL with ssl=on (pg_stat_ssl confirms each session is encrypted), INFO commandstats
and keyspace for Redis on its TLS port, the upstream's own count for HTTPS calls. Every server
uses a self-signed certificate made for the test (servers.make_cert). TLS connections must
say so (`tls` on db[] and http_client[] entries, the service's `tls` counts and libraries) and
must not be blind spots; `--no-tls` keeps them blind spots (test_db.py)."""
import http.client
import json
import os
import re
import ssl
import subprocess

import pytest

from conftest import APPS, HOOKS_ARGS, PY, PYVITALS, free_port, routes_by_key, wait_port
from http_client import Truth, drive_mix, request
from servers import make_cert, mariadb_tls, need_module, postgres_tls, redis_server  # noqa: F401 (module fixtures)
from test_db import (LIST_USERS, ORDERS_OF_USER, SYNTAX_ERROR, TLS_LOOP, USER_BY_ID, assert_pg_matches, commandstats,
                     expected_pg, keyspace, peer_entry, print_hooks, run_asyncpg_client, service)
from test_db import db_app  # noqa: F401 (fixture)
from test_db import drive as drive_db
from test_http import assert_matches_truth
from test_http_client import (assert_no_paths, assert_peer_equals_upstream, peer_of,
                              upstream_factory)  # noqa: F401 (fixture)
from test_http_client import drive as drive_calls

ENCRYPTED = "encrypted (TLS)"


def libssl_paths(pids):
    """The libssl files these processes map, named as /proc/PID/maps names them (the truth of
    what must be probed)."""
    out = set()
    for pid in pids:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and "/libssl.so" in fields[5]:
                    out.add(fields[5])
    assert out, f"no libssl mapped by {pids}: the workload does not use OpenSSL"
    return out


def assert_tls_read(svc, libs, label, connections=None, idle_at_most=0):
    """Every TLS connection of the service was read as plaintext (`connections`: how many the
    truth saw) except at most `idle_at_most` that only closed while watched (pooled before
    attach), every libssl its processes map is probed, and no TLS connection is a blind spot."""
    tls = svc.get("tls")
    print(f"{label}: truth: TLS connections {connections}, libssl mapped {sorted(libs)}\n"
          f"{label}: pyvitals tls {tls}")
    assert tls is not None, "the service has no tls object"
    assert tls["connections"] == tls["decrypted"] + tls["closed_idle"] and tls["decrypted"] >= 1, tls
    assert tls["closed_idle"] <= idle_at_most, tls
    if connections is not None:
        assert tls["connections"] == connections, (tls, connections)
    probed = {os.path.realpath(lib["path"]) for lib in tls["libraries"] if lib["probed"] is True}
    assert {os.path.realpath(p) for p in libs} <= probed, tls["libraries"]
    spots = [b for b in svc["blind_spots"] if b["why"].startswith(ENCRYPTED)]
    assert not spots, f"decrypted connections listed as blind spots: {spots}"


# --- HTTPS served by gunicorn ------------------------------------------------------------

def test_gunicorn_https_exact_with_keepalive_opened_before_attach(gunicorn_factory, watch_factory, tmp_path):
    cert, key = make_cert(str(tmp_path))
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, extra=("--certfile", cert, "--keyfile", key))
    context = ssl.create_default_context(cafile=cert)
    opened = []  # the client's own count of TLS connections (http.client reopens a closed one)

    class Conn(http.client.HTTPSConnection):
        def connect(self):
            super().connect()
            opened.append(self.sock.version())

    early = Conn("127.0.0.1", g.port, timeout=30, context=context)
    request(early, Truth(), "GET", "/users/1", "/users/<int:user_id>", 200)  # before attach: not counted
    w = watch_factory("-p", g.pid)
    truth = Truth()
    for i in range(30):
        request(early, truth, "GET", f"/users/{i}", "/users/<int:user_id>", 200)
    for _ in range(2):  # new connections, handshake after attach
        drive_mix(g.port, truth, rounds=8, conn=Conn("127.0.0.1", g.port, timeout=30, context=context))
    libs = libssl_paths(g.worker_pids())
    snap = w.stop()
    print_hooks(snap, "https")
    svc = service(snap)
    print(f"https: client {dict(truth.counts)} over {len(opened)} connections ({set(opened)}); "
          f"pyvitals {({k: (r['requests'], r['status']) for k, r in routes_by_key(svc).items()})}")
    assert len(opened) >= 3 and set(opened) <= {"TLSv1.2", "TLSv1.3"}, opened
    assert_matches_truth(svc, truth)
    assert svc["http_server"]["exact"] is True, svc["http_server"]
    assert_tls_read(svc, libs, "https", connections=len(opened))
    assert snap["lost_events"] == 0


# --- PostgreSQL with ssl=on --------------------------------------------------------------

def test_psycopg2_sslmode_require_equals_pg_stat_statements(postgres_tls, db_app, watch_factory):
    g = db_app(postgres_tls)
    truth = postgres_tls.connect("postgres")
    w = watch_factory("-p", g.pid)
    postgres_tls.reset_stats(truth)
    calls, errors = drive_db(g.port, [f"/pg/{n}" for n in (1, 2, 5, 7) * 5] + ["/n1/4"] * 6 + ["/pg/error"] * 2)
    pgss = postgres_tls.statements(truth)
    sessions, encrypted = postgres_tls.ssl_backends(truth, "db_app")
    truth.close()
    libs = libssl_paths(g.worker_pids())
    snap = w.stop()
    print_hooks(snap, "psycopg2 tls")
    print("TLSDBG", snap["tls"], service(snap)["tls"])
    print(f"psycopg2 tls: truth: pg_stat_statements {pgss}, app calls {calls} errors {errors}, "
          f"pg_stat_ssl {encrypted} of {sessions} sessions encrypted")
    assert (calls, errors) == (75 + 30 + 2, 2)
    assert pgss == {USER_BY_ID: 75, LIST_USERS: 6, ORDERS_OF_USER: 24}, f"the app ran something unplanned: {pgss}"
    assert sessions >= 1 and encrypted == sessions, "the app's sessions are not all encrypted"
    svc = service(snap)
    entry = peer_entry(svc, "postgresql", f"127.0.0.1:{postgres_tls.port}")
    assert_pg_matches(entry, expected_pg(pgss, {SYNTAX_ERROR: 2}), "psycopg2 tls")
    assert entry.get("tls") is True and entry["exact"] is True, entry
    routes = routes_by_key(svc)
    print("routes", {k: (r["requests"], r["db_calls_per_request"], r["db_calls_max"]) for k, r in routes.items()})
    assert svc["db_attribution"] == "per-thread", (svc["db_attribution"], [(b["side"], b["protocol"], b["why"]) for b in svc["blind_spots"]])
    assert routes[("GET", "/n1/<int:n>")]["db_calls_per_request"] == 5
    assert routes[("GET", "/pg/<int:n>")]["db_calls_max"] == 7
    assert_tls_read(svc, libs, "psycopg2 tls", connections=sessions)


def test_asyncpg_ssl_equals_pg_stat_statements(postgres_tls, watch_factory):
    need_module("asyncpg", "python3-asyncpg")
    fetches, rows = 40, 25

    def while_open(truth, pid):
        return postgres_tls.ssl_backends(truth, "asyncpg_client"), libssl_paths([pid])
    done, pgss, ((sessions, encrypted), libs), snap = run_asyncpg_client(postgres_tls, watch_factory, fetches,
                                                                          rows, "tls", while_open=while_open)
    print_hooks(snap, "asyncpg tls")
    print(f"asyncpg tls: truth: pg_stat_statements {pgss}, app {done}, "
          f"pg_stat_ssl {encrypted} of {sessions} sessions encrypted")
    assert done["errors"] == 1 and (sessions, encrypted) == (1, 1), (done, sessions, encrypted)
    assert pgss.get(USER_BY_ID) == fetches and pgss.get("INSERT INTO items (v) VALUES (?)") == rows, pgss
    svc = service(snap)
    entry = peer_entry(svc, "postgresql", f"127.0.0.1:{postgres_tls.port}")
    assert_pg_matches(entry, expected_pg(pgss, {"SELEC ?::int": 1}), "asyncpg tls")
    assert entry.get("tls") is True and entry["exact"] is True, entry
    assert_tls_read(svc, libs, "asyncpg tls", connections=1)


# --- Redis on its TLS port ---------------------------------------------------------------

def test_redis_tls_commandstats_and_keyspace(redis_server, db_app, watch_factory):
    g = db_app(redis_server)
    r = redis_server.client()
    r.delete("k:miss", "k:miss2")
    w = watch_factory("-p", g.pid)
    r.config_resetstat()
    calls, errors = drive_db(g.port, ["/redis-tls"] * 20)
    stats, (hits, misses) = commandstats(r), keyspace(r)
    opened = r.info("stats")["total_connections_received"]  # since the reset: the app's, over TLS
    sessions = [c for c in r.client_list() if c["laddr"].endswith(f":{redis_server.tls_port}")]
    libs = libssl_paths(g.worker_pids())
    snap = w.stop()
    print_hooks(snap, "redis tls")
    # the test's own connection (plain port) ran CONFIG RESETSTAT, INFO and CLIENT LIST
    truth = {k: v for k, v in stats.items() if not k.startswith(("CONFIG", "INFO", "CLIENT"))}
    print(f"redis tls truth: commandstats {truth} hits {hits} misses {misses} TLS connections {opened} "
          f"({len(sessions)} open)")
    assert (calls, errors) == (280, 20) and sum(c for c, _ in truth.values()) == 280, truth
    assert (hits, misses) == (120, 60), (hits, misses)
    assert opened == len(sessions) >= 1, "the app's TLS connections are not the ones it opened"
    svc = service(snap)
    entry = peer_entry(svc, "redis", f"127.0.0.1:{redis_server.tls_port}")
    print(f"redis tls pyvitals: operations {entry['operations']} calls {entry['calls']} errors {entry['errors']} "
          f"cache {entry.get('cache')} tls {entry.get('tls')}")
    assert entry["operations"] == {k: c for k, (c, _) in truth.items()}
    assert entry["calls"] == 280 and entry["errors"] == sum(e for _, e in truth.values()) == 20, entry
    assert entry["cache"] == {"hits": hits, "misses": misses}, entry
    assert entry.get("tls") is True and entry["exact"] is True, entry
    assert "k:" not in json.dumps(entry), f"a key leaked into the output: {entry}"
    assert routes_by_key(svc)[("GET", "/redis-tls")]["db_calls_per_request"] == 14, \
        (svc["db_attribution"], [(b["peer"], b["why"]) for b in svc["blind_spots"]], snap["tls"])
    assert_tls_read(svc, libs, "redis tls", connections=opened)


# --- HTTPS calls to an upstream ------------------------------------------------------------

def test_requests_session_calls_to_plain_and_https_upstreams(upstream_factory, gunicorn_factory, watch_factory,
                                                             monkeypatch, tmp_path):
    cert, key = make_cert(str(tmp_path))
    plain, secure = upstream_factory(), upstream_factory(tls=(cert, key))
    monkeypatch.setenv("UPSTREAM", f"{plain.url} {secure.url}")
    monkeypatch.setenv("UPSTREAM_CA", cert)
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="caller_app:app")
    drive_calls(g.port, ["/fanout/2"] * 8)  # keep-alive upstream connections, TLS ones too, opened before attach
    before = {u: u.counts() for u in (plain, secure)}
    w = watch_factory("-p", g.pid)
    n, fanouts, drops = 8, 16, 2
    seen = drive_calls(g.port, [f"/fanout/{n}"] * fanouts + ["/calldrop"] * drops)
    served = {u: u.counts() - before[u] for u in (plain, secure)}
    libs = libssl_paths(g.worker_pids())
    snap = w.stop()
    print_hooks(snap, "requests")
    svc = service(snap)
    print(f"requests: truth: the app saw {seen}; served {[(u.url, dict(served[u])) for u in (plain, secure)]}")
    # the app's own view agrees with the upstreams': the truth is consistent
    assert seen["calls"] == 2 * (n * fanouts + 2 * drops), seen
    assert seen["failed"] == 2 * drops == served[plain]["drop"] + served[secure]["drop"], (seen, served)
    for u, tls in ((plain, False), (secure, True)):
        entry = peer_of(svc, f"127.0.0.1:{u.port}")
        assert_peer_equals_upstream(entry, served[u], u.url)
        assert entry["host"] == f"127.0.0.1:{u.port}" and entry.get("tls") is tls, entry
    routes = routes_by_key(svc)
    print("routes", {k: (r["requests"], r["http_calls_per_request"]) for k, r in routes.items()})
    assert routes[("GET", "/fanout/<int:n>")]["requests"] == fanouts
    assert routes[("GET", "/fanout/<int:n>")]["http_calls_per_request"] == 2 * n  # n to each upstream
    assert routes[("GET", "/calldrop")]["http_calls_per_request"] == 4
    assert svc["http_attribution"] == "per-thread", svc["http_attribution"]
    assert_tls_read(svc, libs, "requests")
    assert_no_paths(snap)


def test_aiohttp_16_in_flight_to_an_https_upstream(upstream_factory, watch_factory, tmp_path):
    need_module("aiohttp", "python3-aiohttp")
    cert, key = make_cert(str(tmp_path))
    up = upstream_factory(tls=(cert, key))
    port = free_port()
    proc = subprocess.Popen([PY, os.path.join(APPS, "aio_caller.py"), str(port), up.url, cert],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        drive_calls(port, ["/fanout/16"] * 2, clients=2)  # pooled TLS connections opened before attach
        before = up.counts()
        w = watch_factory("-p", proc.pid)
        requests = 12
        seen = drive_calls(port, ["/fanout/16"] * requests, clients=4)
        served = up.counts() - before
        libs = libssl_paths([proc.pid])
        snap = w.stop()
    finally:
        proc.kill()
        proc.wait()
    print_hooks(snap, "aiohttp")
    svc = service(snap)
    print(f"aiohttp: truth: the app saw {seen}; the upstream served {dict(served)}")
    assert seen["calls"] == 16 * requests == sum(served.values()), (seen, served)
    entry = peer_of(svc, f"127.0.0.1:{up.port}")
    assert_peer_equals_upstream(entry, served, "aiohttp https")
    assert entry.get("tls") is True, entry
    route = routes_by_key(svc)[("GET", "/fanout/{id}")]
    assert route["requests"] == requests
    assert route["http_calls_per_request"] == 16, route  # gather's sub-tasks, tied by their Context copies
    assert svc["http_attribution"] == "per-task", svc["http_attribution"]
    assert svc["http_calls_untied"] == 0, (svc["http_calls_untied"], svc["untied_why"])
    # The 16 pooled connections opened before attach expire after aiohttp's 15 s keep-alive when
    # attaching is slow (a QEMU guest): then they only close while watched, and new ones serve.
    assert_tls_read(svc, libs, "aiohttp", idle_at_most=16)
    assert_no_paths(snap)


# --- doctor --------------------------------------------------------------------------------

def test_doctor_lists_the_libssl_a_pid_maps(redis_server, workload):
    """doctor -p names each libssl the process maps and says it is probed; its TLS Redis
    connection is then read, not a blind spot."""
    work = workload(TLS_LOOP, redis_server.tls_port)
    work.start()
    libs = libssl_paths([work.pid])
    out = subprocess.run([PYVITALS, "doctor", "-p", str(work.pid), "--duration", "1.5", *HOOKS_ARGS],
                         capture_output=True, text=True, timeout=60)
    print(f"truth: libssl mapped {sorted(libs)}\n{out.stdout[-1500:]}")
    assert out.returncode == 0, out.stderr
    for path in libs:
        lines = [line for line in out.stdout.splitlines() if path in line]
        assert any(re.search(r"(?<!not )\bprobed\b", line) for line in lines), \
            f"doctor does not say {path} is probed: {lines}"
    assert ENCRYPTED not in out.stdout, "a decrypted connection is listed as a blind spot"


# --- a private libssl (a wheel's copy, a venv's LD_LIBRARY_PATH) ---------------------------

PRIVATE_LIBSSL = """
import sys, time
port, n, late = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "late"
if not late:
    import redis  # imports ssl: the private libssl is mapped before attach
print("ready", flush=True)
sys.stdin.readline()
if late:
    import redis  # the private libssl is mapped only now, after attach
r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_cert_reqs=None)
for i in range(n):
    r.get("priv:hit")
    r.get("priv:miss")
    time.sleep(0.005)
print("done", flush=True)
sys.stdin.read()
"""


def private_libssl(tmp_path):
    """A copy of the system libssl in a directory of its own, as a wheel or a venv ships one."""
    src = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
    if not os.path.exists(src):
        src = subprocess.run(["sh", "-c", "ldconfig -p | awk '/libssl.so.3 /{print $NF; exit}'"],
                             capture_output=True, text=True).stdout.strip()
    assert src and os.path.exists(src), "no system libssl.so.3: install the Debian package libssl3"
    libdir = tmp_path / "privlib"
    libdir.mkdir()
    dst = libdir / "libssl.so.3"
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(f.read())
    return str(dst), dict(os.environ, LD_LIBRARY_PATH=str(libdir))


@pytest.mark.parametrize("when", ["before", "late"])
def test_private_libssl_copy_is_probed(redis_server, watch_factory, workload, tmp_path, when):
    """Issue #10: a process that loads its own copy of libssl (a wheel's, a venv's) is read through
    probes on that file. Loaded before attach it is exact; loaded after attach it is probed at once
    when its first TLS connection starts, and the calls it may have made before that must show: all
    counted, or a blind spot that says so (never fewer calls presented as complete)."""
    lib, env = private_libssl(tmp_path)
    n = 50
    r = redis_server.client()
    r.set("priv:hit", "v")
    r.delete("priv:miss")
    work = workload(PRIVATE_LIBSSL, redis_server.tls_port, n, when, env=env)
    if when == "before":
        assert lib in libssl_paths([work.pid]), "the private copy is not the one the process maps"
    w = watch_factory("-p", work.pid)
    r.config_resetstat()
    assert work.go() == ["done"]
    gets = commandstats(r).get("GET", (0, 0))[0]
    maps = libssl_paths([work.pid])
    snap = w.stop()
    print_hooks(snap, f"private libssl ({when})")
    svc = service(snap)
    peer = f"127.0.0.1:{redis_server.tls_port}"
    entry = next((e for e in svc["db"] if e["system"] == "redis" and e["peer"] == peer), None)
    seen = entry["operations"].get("GET", 0) if entry else 0
    spots = [(b["protocol"], b["why"]) for b in svc["blind_spots"]]
    print(f"private libssl ({when}): truth GET {gets}, maps {sorted(maps)}; pyvitals {entry} tls {svc['tls']} "
          f"blind {spots}")
    assert gets == 2 * n and lib in maps
    probed = {lib_["path"] for lib_ in svc["tls"]["libraries"] if lib_["probed"]}
    assert lib in probed, svc["tls"]["libraries"]
    if when == "before":
        assert entry and entry["operations"] == {"GET": 2 * n} and entry["exact"] is True, entry
        assert entry["cache"] == {"hits": n, "misses": n} and entry["tls"] is True, entry
        assert not spots, spots
        return
    # loaded late: the calls before the probes went in may be missed (all of them when the
    # process is quick), and then the connection must say so
    assert entry is None or entry["tls"] is True, entry
    if seen != 2 * n:
        assert any("probed late" in why for _, why in spots), (seen, spots)
        assert svc["db_attribution"].startswith("unavailable"), svc["db_attribution"]


# --- OpenSSL linked into the executable -------------------------------------------------------

def test_openssl_linked_into_the_executable_is_found_by_symbol(upstream_factory, watch_factory, tmp_path):
    """Issue #10: OpenSSL linked statically into a program (no libssl mapped at all) is found by
    its symbols in the executable and read like a shared libssl: calls per status equal to what
    the HTTPS upstream served, the executable listed as the probed library."""
    gcc = subprocess.run(["which", "gcc"], capture_output=True, text=True).stdout.strip()
    assert gcc, "gcc is missing: install the Debian package gcc"
    exe = str(tmp_path / "tlsget")
    built = subprocess.run([gcc, "-O2", "-o", exe, os.path.join(APPS, "tlsget.c"), "-Wl,-Bstatic", "-lssl",
                            "-lcrypto", "-Wl,-Bdynamic", "-lpthread", "-ldl"], capture_output=True, text=True)
    assert built.returncode == 0, f"building the static TLS client failed (needs libssl-dev): {built.stderr[-800:]}"
    cert, key = make_cert(str(tmp_path))
    up = upstream_factory(tls=(cert, key))
    n = 40
    proc = subprocess.Popen([exe, str(up.port), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert not libssl_paths_or_none(proc.pid), "the client maps a libssl: it is not the static case"
        w = watch_factory("-p", proc.pid)
        before = up.counts()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        served = up.counts() - before
        snap = w.stop()
    finally:
        proc.kill()
        proc.wait()
    svc = snap["services"][0]
    entry = peer_of(svc, f"127.0.0.1:{up.port}")
    print(f"static openssl: truth {dict(served)}; pyvitals {entry['status']} tls {svc['tls']}")
    assert sum(served.values()) == n
    assert_peer_equals_upstream(entry, served, "static openssl")
    assert entry["tls"] is True, entry
    assert [(lib["path"], lib["probed"]) for lib in svc["tls"]["libraries"]] == [(exe, True)], svc["tls"]


def libssl_paths_or_none(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[5] for line in f if len(line.split()) >= 6 and "/libssl.so" in line.split()[5]}


# --- MySQL/MariaDB over TLS -------------------------------------------------------------------

MARIADB_TLS = """
import ssl, sys, pymysql
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl._create_unverified_context()
def conn():
    return pymysql.connect(host="127.0.0.1", port=port, user="root", database="app", ssl=ctx, autocommit=True)
before = conn()  # negotiated TLS before attach
print("ready", flush=True)
sys.stdin.readline()
after = conn()   # negotiates TLS (the server's SSL request switch) with pyvitals watching
cipher = []
for c in (before, after):
    with c.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        cipher.append(cur.fetchall()[0][1])
        for i in range(n):
            cur.execute("SELECT name FROM users WHERE id = %s", (i % 100 + 1,))
            cur.fetchall()
print("done", *cipher, flush=True)
sys.stdin.read()
"""


def test_mariadb_over_tls_before_and_after_attach(mariadb_tls, watch_factory, workload):
    """Issue #10: MySQL's TLS starts inside its own handshake (the client's SSL request, then TLS
    on the same socket); the plaintext after it is parsed as MySQL, on a connection negotiated
    before attach and on one negotiated while watching. Truth: the server's Com_select."""
    n = 25
    truth = mariadb_tls.connect()
    work = workload(MARIADB_TLS, mariadb_tls.port, n)
    w = watch_factory("-p", work.pid)
    s0 = mariadb_tls.com_status(truth)
    res = work.go()
    s1 = mariadb_tls.com_status(truth)
    snap = w.stop()
    truth.close()
    print_hooks(snap, "mariadb tls")
    selects = s1["Com_select"] - s0["Com_select"]
    svc = service(snap)
    entry = peer_entry(svc, "mysql", f"127.0.0.1:{mariadb_tls.port}")
    queries = {q["text"]: q["calls"] for q in entry["queries"]}
    print(f"mariadb tls: truth Com_select {selects}, ciphers {res[1:]}; pyvitals {queries} tls {svc['tls']}")
    assert res[0] == "done" and all(c.startswith("TLS") for c in res[1:]), res
    assert selects == 2 * n, selects
    assert queries.get("SELECT name FROM users WHERE id = ?") == 2 * n, queries
    assert entry["tls"] is True and entry["exact"] is True, entry
    assert svc["tls"]["connections"] == svc["tls"]["decrypted"] == 2, svc["tls"]
    assert not [b for b in svc["blind_spots"] if b["why"].startswith(ENCRYPTED)], svc["blind_spots"]
