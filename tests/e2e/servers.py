"""Real database and cache servers for the end-to-end tests: each one a throw-away instance
in a temp dir, listening on a free loopback high port, started once per test session and
stopped at its end (also when a test fails). A server that cannot start fails the test that
asked for it, naming what is missing; nothing is skipped."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, wait_port

# The Debian packages these servers and the test apps need (make deps installs them).
PACKAGES = {
    "postgresql": ["postgresql", "python3-psycopg2", "python3-asyncpg"],
    "mariadb": ["mariadb-server", "python3-pymysql", "python3-mysqldb"],
    "redis": ["redis-server", "python3-redis", "openssl"],
    "memcached": ["memcached", "python3-pymemcache"],
    "nginx": ["nginx-light"],
}


def missing(what, package):
    pytest.fail(f"{what} is missing: install the Debian package '{package}' (make deps does)")


def need_binary(path_or_name, package):
    found = shutil.which(path_or_name) or (os.path.isabs(path_or_name) and os.access(path_or_name, os.X_OK))
    if not found:
        missing(path_or_name, package)
    return path_or_name if os.path.isabs(path_or_name) else shutil.which(path_or_name)


def need_module(name, package):
    try:
        return __import__(name)
    except ImportError:
        missing(f"python module {name}", package)


def log_tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no log)"


def stop_proc(proc, sig=signal.SIGTERM, timeout=20):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_cert(directory, owner=None):
    """A self-signed certificate for 127.0.0.1 (also its own CA: clients may verify against it)
    and its key, written to directory as cert.pem and key.pem; returns their paths. owner: an
    OS user to give both files to (a server that reads them as that user)."""
    openssl = need_binary("openssl", "openssl")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    r = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"openssl could not make a test certificate: {r.stderr[-1000:]}")
    if owner:
        for f in (cert, key):
            shutil.chown(f, owner, owner)
    os.chmod(key, 0o600)
    return cert, key


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as e:  # the server is still starting
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s: {last}")


class Postgres:
    """PostgreSQL 15 run as the `postgres` OS user (it refuses root), with pg_stat_statements
    loaded and tracking every statement, its unix socket in the temp dir. Database `app`
    is the one the apps use; truth queries run in database `postgres`, so they are easy to
    leave out of pg_stat_statements."""
    tls = False

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        if not bins:
            missing("PostgreSQL server (/usr/lib/postgresql/*/bin/postgres)", "postgresql")
        self.bindir = os.path.dirname(bins[-1])
        need_module("psycopg2", "python3-psycopg2")
        self.dir = tempfile.mkdtemp(prefix="pyvitals-pg-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.proc = None

    def setup(self):
        if self.tls:
            self.cert, self.key = make_cert(self.dir, owner="postgres")
        r = subprocess.run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                            "--no-sync", "-E", "UTF8"], user="postgres", group="postgres",
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr[-2000:]}")
        self.start()
        c = self.connect("postgres")
        with c.cursor() as cur:
            cur.execute("CREATE EXTENSION pg_stat_statements")
            cur.execute("CREATE DATABASE app")
        c.close()
        c = self.connect("app")
        with c.cursor() as cur:
            cur.execute("CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)")
            cur.execute("INSERT INTO users SELECT g, 'user' || g FROM generate_series(1, 100) g")
            cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL, total int)")
            cur.execute("INSERT INTO orders (user_id, total) SELECT 1 + g % 100, g FROM generate_series(1, 500) g")
            cur.execute("CREATE TABLE uniq (k int PRIMARY KEY)")
            cur.execute("INSERT INTO uniq VALUES (1)")
            cur.execute("CREATE TABLE items (id serial PRIMARY KEY, v int)")
        c.close()

    def start(self):
        cmd = [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
               "-c", "listen_addresses=127.0.0.1", "-c", "shared_preload_libraries=pg_stat_statements",
               "-c", "pg_stat_statements.track=all", "-c", "pg_stat_statements.save=off",
               "-c", "pg_stat_statements.max=10000", "-c", "fsync=off", "-c", "synchronous_commit=off",
               "-c", "full_page_writes=off", "-c", "max_connections=100"]
        if self.tls:
            cmd += ["-c", "ssl=on", "-c", f"ssl_cert_file={self.cert}", "-c", f"ssl_key_file={self.key}"]
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, user="postgres", group="postgres", stdout=logf, stderr=logf,
                                     cwd=self.dir)
        logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}: {log_tail(self.log)}")
            c = self.connect("postgres")
            c.close()
            return True
        wait_until(ready, 30, "postgres")

    def stop(self):
        stop_proc(self.proc, signal.SIGINT)  # SIGINT: fast shutdown, clients are disconnected

    def restart(self):
        self.stop()
        self.start()

    def env(self):
        # PG_SOCKET_DIR: where libpq finds .s.PGSQL.<port> (the app's DB_VIA_UNIX picks it)
        return {"PG_HOST": "127.0.0.1", "PG_PORT": str(self.port), "PG_DB": "app", "PG_SOCKET_DIR": self.dir}

    def connect(self, db="postgres"):
        import psycopg2
        c = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=db)
        c.autocommit = True
        return c

    # truth
    def reset_stats(self, conn):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_statements_reset()")

    def statements(self, conn):
        """{normalized text: calls} for what ran in database `app` since the last reset,
        with pg_stat_statements' $n placeholders written as pyvitals writes them (?)."""
        import re
        with conn.cursor() as cur:
            cur.execute("SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                        "WHERE d.datname = 'app'")
            out = {}
            for q, calls in cur.fetchall():
                key = re.sub(r"\$\d+", "?", " ".join(q.split()))
                out[key] = out.get(key, 0) + calls
            return out

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresTLS(Postgres):
    """The same with ssl=on and a certificate of its own; db_app connects to it with
    sslmode=require (PG_SSLMODE) under application_name 'db_app'."""
    tls = True

    def env(self):
        return {**super().env(), "PG_SSLMODE": "require"}

    def ssl_backends(self, conn, application_name):
        """(connections, of them encrypted) the server has open for that application_name."""
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_ssl s "
                        "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = %s", (application_name,))
            return cur.fetchone()


class MariaDB:
    """MariaDB in a temp datadir, TCP on 127.0.0.1 only, grant tables skipped (any user)."""

    def __init__(self):
        install = need_binary("mariadb-install-db", "mariadb-server")
        server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        need_binary(server, "mariadb-server")
        need_module("pymysql", "python3-pymysql")
        self.dir = tempfile.mkdtemp(prefix="pyvitals-my-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "mysqld.sock")
        self.log = os.path.join(self.dir, "mariadb.log")
        self.port = free_port()
        self.install, self.server, self.proc = install, server, None

    def setup(self):
        install, server = self.install, self.server
        r = subprocess.run([install, "--no-defaults", "--user=root", f"--datadir={self.data}",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"mariadb-install-db failed: {r.stdout[-1000:]}{r.stderr[-1000:]}")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([server, "--no-defaults", "--user=root", f"--datadir={self.data}",
                                      f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.sock}",
                                      f"--pid-file={self.dir}/mariadb.pid", "--skip-grant-tables",
                                      "--skip-log-bin", "--innodb-buffer-pool-size=32M",
                                      "--innodb-flush-log-at-trx-commit=0", "--skip-name-resolve",
                                      f"--log-error={self.log}", *self.extra_args()], stdout=logf, stderr=logf)
        logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited {self.proc.returncode}: {log_tail(self.log)}")
            self.connect(None).close()
            return True
        wait_until(ready, 60, "mariadb")
        c = self.connect(None)
        with c.cursor() as cur:
            cur.execute("CREATE DATABASE app")
            cur.execute("CREATE TABLE app.users (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)")
            cur.execute("INSERT INTO app.users VALUES " + ", ".join(f"({i}, 'user{i}')" for i in range(1, 101)))
            cur.execute("CREATE TABLE app.events (id INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(32))")
        c.close()

    def extra_args(self):
        return []

    def env(self):
        return {"MY_HOST": "127.0.0.1", "MY_PORT": str(self.port), "MY_DB": "app", "MY_SOCKET": self.sock}

    def connect(self, db="app"):
        import pymysql
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", database=db, autocommit=True)

    def com_status(self, conn):
        """Global Com_* counters. Each call runs one SHOW (Com_show_status), nothing else."""
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com\\_%'")
            return {k: int(v) for k, v in cur.fetchall()}

    def close(self):
        stop_proc(self.proc, signal.SIGTERM, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDBTLS(MariaDB):
    """MariaDB that also accepts TLS (as managed MySQL/MariaDB services require it)."""

    def extra_args(self):
        cert, key = make_cert(self.dir)
        return [f"--ssl-cert={cert}", f"--ssl-key={key}"]

    def connect_tls(self, db="app"):
        import pymysql
        import ssl
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", database=db, autocommit=True,
                               ssl=ssl._create_unverified_context())


class Redis:
    def __init__(self):
        server = need_binary("redis-server", "redis-server")
        need_module("redis", "python3-redis")
        self.dir = tempfile.mkdtemp(prefix="pyvitals-redis-")
        self.log = os.path.join(self.dir, "redis.log")
        self.port, self.tls_port = free_port(), free_port()
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")  # make_cert's names
        self.cmd = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", self.dir, "--logfile", self.log, "--daemonize", "no",
                    # a TLS port too, as managed Redis offers
                    "--tls-port", str(self.tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
                    "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
                    "--unixsocket", os.path.join(self.dir, "redis.sock"), "--unixsocketperm", "700"]
        self.proc = None

    def setup(self):
        make_cert(self.dir)
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode}: {log_tail(self.log)}")
            return self.client().ping()
        wait_until(ready, 15, "redis")

    def stop(self):
        stop_proc(self.proc, signal.SIGTERM)

    def restart(self):
        self.stop()
        self.start()

    def env(self):
        return {"REDIS_PORT": str(self.port), "REDIS_TLS_PORT": str(self.tls_port),
                "REDIS_SOCKET": os.path.join(self.dir, "redis.sock")}

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Memcached:
    def __init__(self):
        server = need_binary("memcached", "memcached")
        need_module("pymemcache", "python3-pymemcache")
        self.port = free_port()
        self.server, self.proc = server, None

    def setup(self):
        server = self.server
        self.proc = subprocess.Popen([server, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-u", "root",
                                      "-m", "64"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except RuntimeError:
            raise RuntimeError(f"memcached did not listen on 127.0.0.1:{self.port}")

    def env(self):
        return {"MC_PORT": str(self.port)}

    def stats(self):
        """`stats` over a fresh connection: {name: int} for the numeric counters."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        out = {}
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                try:
                    out[parts[1]] = int(parts[2])
                except ValueError:
                    pass
        return out

    def close(self):
        stop_proc(self.proc)


def _session_server(cls):
    server = cls()  # fails the test, naming the package, when a binary or module is missing
    try:
        server.setup()
    except Exception as e:
        server.close()
        pytest.fail(f"could not start {cls.__name__}: {e}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def postgres():
    yield from _session_server(Postgres)


@pytest.fixture(scope="module")
def postgres_tls():
    yield from _session_server(PostgresTLS)


@pytest.fixture(scope="module")
def mariadb():
    yield from _session_server(MariaDB)


@pytest.fixture(scope="module")
def mariadb_tls():
    yield from _session_server(MariaDBTLS)


@pytest.fixture(scope="module")
def redis_server():
    yield from _session_server(Redis)


@pytest.fixture(scope="module")
def memcached():
    yield from _session_server(Memcached)


class Nginx:
    """nginx (Debian nginx-light) on a loopback port (and an h2c one, `h2_port`) in front of
    one upstream, its own prefix, config, pid file and logs in a temp dir. `upstream` is an
    nginx address ("unix:/path" or "127.0.0.1:port"); `via` the directive passing requests:
    "proxy_pass" (HTTP/1.1, upstream connections kept alive unless keepalive=False, nginx's
    default) or "uwsgi_pass" (the uwsgi protocol, Debian's uwsgi_params). Clients may keep
    their connections. upstream None: nginx answers every request itself ("ok", the fastest
    server this machine has, for make bench's scale runs). stop() ends it."""

    def __init__(self, upstream, via="proxy_pass", keepalive=True, worker_connections=256):
        binary = need_binary("/usr/sbin/nginx", "nginx-light")
        params = "/etc/nginx/uwsgi_params"
        if via == "uwsgi_pass" and not os.path.exists(params):
            missing(params, "nginx-light")
        self.dir = tempfile.mkdtemp(prefix="pyvitals-nginx-")
        self.port, self.h2_port = free_port(), free_port()
        self.error_log = os.path.join(self.dir, "error.log")
        if upstream is None:
            passing, pool = 'return 200 "ok\\n";', None
        elif via == "uwsgi_pass":
            passing, pool = f"include {params}; uwsgi_pass app;", ""
        elif keepalive:
            passing, pool = "proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\";", \
                " keepalive 8;"
        else:
            passing, pool = "proxy_pass http://app;", ""
        temps = " ".join(f"{k}_temp_path {self.dir}/{k};" for k in ("client_body", "proxy", "uwsgi", "fastcgi", "scgi"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""user root; master_process on; worker_processes 1; pid {self.dir}/nginx.pid;
error_log {self.error_log} warn;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off; keepalive_timeout 60s; keepalive_requests 100000; {temps}
  {"" if pool is None else f"upstream app {{ server {upstream};{pool} }}"}
  server {{
    listen 127.0.0.1:{self.port}; listen 127.0.0.1:{self.h2_port} http2;
    location / {{ {passing} }}
  }}
}}
""")
        self.proc = subprocess.Popen([binary, "-p", self.dir, "-c", conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            pytest.fail(f"nginx did not start: {log_tail(self.error_log)}")

    def stop(self):
        stop_proc(self.proc, signal.SIGQUIT)
        shutil.rmtree(self.dir, ignore_errors=True)
