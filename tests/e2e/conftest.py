"""Shared pieces of the end-to-end tests: real gunicorn services, a pyvitals watch
process read as the public JSON contract, and free loopback ports."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# make test SANITIZE=... points this at the sanitized build.
PYVITALS = os.environ.get("PYVITALS") or os.path.join(ROOT, "pyvitals")
APPS = os.path.join(ROOT, "tests", "e2e", "apps")
PY = "/usr/bin/python3"
# make vmtest runs the suite once per socket hook set a kernel offers; unset means --hooks=auto.
HOOKS = os.environ.get("PYVITALS_HOOKS", "")
HOOKS_ARGS = ["--hooks", HOOKS] if HOOKS else []
# make test SANITIZE=...: the agent runs several times slower; tests of throughput say so.
SANITIZED = "sanitized build" in subprocess.run([PYVITALS, "--version"], capture_output=True, text=True).stdout \
    if os.path.exists(PYVITALS) else False
# A sanitized agent writes each report to a file here (its stderr is often not read): a test
# during which a new report appeared fails with it. Other programs ignore these variables.
SANITIZER_LOGS = "/tmp/pyvitals-sanitizer"
os.makedirs(SANITIZER_LOGS, exist_ok=True)
os.environ["ASAN_OPTIONS"] = f"log_path={SANITIZER_LOGS}/asan:detect_leaks=1"
os.environ["UBSAN_OPTIONS"] = f"log_path={SANITIZER_LOGS}/ubsan:print_stacktrace=1"


def require_tool(name, package):
    if shutil.which(name) is None:
        pytest.fail(f"{name} is missing: install the Debian package '{package}' (make deps does)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_unix(path, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path} after {timeout}s")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Gunicorn:
    """gunicorn serving tests/e2e/apps/flask_app.py on a loopback port."""

    def __init__(self, workers=2, worker_class="sync", threads=1, app="flask_app:app", unix=None, extra=(),
                 env=None, argv0=None):
        """unix: a socket path to bind instead of a loopback port (gunicorn's recommended setup
        behind nginx); extra: more gunicorn options; env: added to the environment; argv0
        replaces `python3 -m gunicorn` (a script of another name gives another comm)."""
        self.port, self.unix = (None, unix) if unix else (free_port(), None)
        cmd = [*(argv0 or [PY, "-m", "gunicorn"]), "--chdir", APPS,
               "-b", f"unix:{unix}" if unix else f"127.0.0.1:{self.port}", "-w", str(workers),
               "-k", worker_class, "--threads", str(threads), "--keep-alive", "30", "--log-level", "warning",
               *extra, app]
        self.proc = subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.workers = workers
        # 30 s: under make vmtest's emulated kernels gunicorn once took over 15 s to listen
        if unix:
            wait_unix(unix, 30)
        else:
            wait_port(self.port, 30)
        deadline = time.time() + 15
        while len(children(self.proc.pid)) < workers and time.time() < deadline:
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def worker_pids(self):
        return children(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Watch:
    """pyvitals watch --json on a target; stop() returns the final snapshot."""

    def __init__(self, *target_args, interval=0.5, extra=()):
        self.cmd = [PYVITALS, "watch", *map(str, target_args), "--json", "--interval", str(interval), *HOOKS_ARGS,
                    *extra]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if not line.startswith("attached"):
            rest = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"pyvitals did not attach: {line}{rest}")
        self.attached_line = line.strip()
        print(f"pyvitals {self.attached_line}")
        # Drain both pipes as a real consumer would: an unread stdout fills its 64 KB after a few
        # dozen snapshots, the agent then blocks writing and stops reading its ring (lost events).
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True),
                        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True)]
        for t in self.readers:
            t.start()

    def stop(self, timeout=20):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        for t in self.readers:
            t.join(timeout)
        assert self.proc.returncode == 0, f"pyvitals exited {self.proc.returncode}: {''.join(self.err)}"
        snaps = self.snapshots = [json.loads(l) for l in self.out if l.strip()]
        assert snaps and snaps[-1]["final"] is True, "the last snapshot must say final"
        return snaps[-1]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def bpf_ids(pid, kind):
    """Ids of the BPF objects process pid holds open, kind "prog_id" or "map_id" (from its fds),
    told apart from those of another pyvitals running meanwhile, which have the same names."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(rf"^{kind}:\s+(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def routes_by_key(service):
    return {(r["method"], r["route"]): r for r in service["http_server"]["routes"]}


@pytest.fixture
def gunicorn_factory():
    started = []

    def start(**kw):
        g = Gunicorn(**kw)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def watch_factory():
    started = []

    def start(*args, **kw):
        w = Watch(*args, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


@pytest.fixture(autouse=True)
def no_sanitizer_report():
    before = set(os.listdir(SANITIZER_LOGS))
    yield
    new = sorted(set(os.listdir(SANITIZER_LOGS)) - before)
    if new:
        with open(os.path.join(SANITIZER_LOGS, new[0]), errors="replace") as f:
            pytest.fail(f"sanitizer report from the agent ({len(new)} file(s), first {new[0]}):\n{f.read()[:6000]}")


def pytest_configure(config):
    if not os.path.exists(PYVITALS):
        raise pytest.UsageError(f"{PYVITALS} is not built: run make first")


def pytest_report_header(config):
    out = subprocess.run([PYVITALS, "doctor", *HOOKS_ARGS], capture_output=True, text=True).stdout
    hooks = [l.split(None, 3)[-1] for l in out.splitlines() if "socket hooks (" in l]
    return (f"pyvitals hook mode: {hooks[0] if hooks else 'unknown (doctor failed: ' + out[-200:] + ')'}"
            f"{' (PYVITALS_HOOKS)' if HOOKS else ''}; kernel {os.uname().release}")


class Workload:
    """A `python -c` script that prints "ready ...", does its work when sent a line, prints one
    result line, then waits for EOF: pyvitals attaches between the two."""

    def __init__(self, script, *args, env=None):
        self.proc = subprocess.Popen([PY, "-c", script, *map(str, args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.ready = self.proc.stdout.readline().split()
        assert self.ready[:1] == ["ready"], self.ready

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self):
        return self.proc.stdout.readline().split()

    def go(self):
        """Start the work and wait for it; returns the words of its result line."""
        self.start()
        return self.result()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def workload():
    started = []

    def start(script, *args, env=None):
        started.append(Workload(script, *args, env=env))
        return started[-1]

    yield start
    for w in started:
        w.stop()
