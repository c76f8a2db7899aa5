"""Django's URL patterns read from a gunicorn worker's memory (issue #14), on Debian's python3
and on pyenv interpreters, against the site's own truth: the regexes Django compiled and the
routes resolve() reports (tests/e2e/apps/routes_djsite/truth.py, written in the worker)."""
import glob
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections import Counter

import pytest

from conftest import PY, PYVITALS, ROOT

# make harnesses builds it next to the agent (build/, or build/sanitize/ for make test SANITIZE=...).
BUILD_DIR = os.path.dirname(PYVITALS) if os.path.dirname(PYVITALS).endswith("sanitize") else os.path.join(ROOT, "build")
HARNESS = os.path.join(BUILD_DIR, "pyobj-harness")
URLCONF = "routes_djsite.urls"
PYENV_VERSIONS = ("3.9", "3.12")


def pyenv_python(minor):
    """The newest pyenv interpreter of that minor, or None."""
    pyenv = shutil.which("pyenv") or os.path.expanduser("~/.pyenv/bin/pyenv")
    if not os.path.exists(pyenv):
        return None
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
    found = glob.glob(f"{root}/versions/{minor}.*/bin/python3")
    return max(found, key=lambda p: [int(x) for x in p.split("/")[-3].split(".") if x.isdigit()], default=None)


def doctor_routes(pid):
    """pyvitals doctor -p PID --routes: (its routes line, the template names it lists)."""
    out = subprocess.run([PYVITALS, "doctor", "-p", str(pid), "--routes"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, f"doctor failed: {out.stdout}{out.stderr}"
    lines = out.stdout.splitlines()
    head = next(l for l in lines if l.strip().startswith("routes:"))
    return head.split("routes:", 1)[1].strip(), [l.split(None, 1)[1] for l in lines if l.startswith("    ")]


def harness_routes(pid):
    """build/pyobj-harness PID --routes (app_routes_read's whole result): returncode, stderr,
    and the routes as [(name, methods, [parts])]."""
    out = subprocess.run([HARNESS, str(pid), "--routes"], capture_output=True, text=True, timeout=20)
    routes = []
    for line in out.stdout.splitlines():
        if m := re.fullmatch(r"route (.*) methods=(\S+) strict=\d+( mount_end)?", line):
            routes.append((m[1], int(m[2], 0), []))
        elif line.startswith("  part "):
            routes[-1][2].append(line[len("  part "):])
    return out.returncode, out.stderr, routes


def stable_routes(pid):
    """harness_routes of a table that no longer changes. Right after its first response the
    worker may still import modules lazily (sys.modules resized under the read): a read that
    fails then is retried, as the agent retries it."""
    for attempt in range(5):
        rc, err, routes = harness_routes(pid)
        if rc != 1:
            break
        print(f"read {attempt + 1} failed, retried: {err.strip()}")
        time.sleep(0.2)
    return rc, err, routes


@pytest.fixture(autouse=True)
def harness_built():
    if not os.path.exists(HARNESS):
        pytest.fail(f"{HARNESS} is not built: run make harnesses (make e2e does)")


@pytest.mark.parametrize("python", ["debian", *(f"pyenv-{v}" for v in PYENV_VERSIONS)])
def test_django_routes_equal_what_django_resolves(python, gunicorn_factory, tmp_path):
    env = {"ROUTES_TRUTH": str(tmp_path / "truth.json")}
    exe = PY
    if python != "debian":
        exe = pyenv_python(python.split("-")[1])
        if exe is None:
            pytest.fail(f"no pyenv Python {python.split('-')[1]} here: this machine's pyenv has 3.8-3.13 "
                        f"(`pyenv install {python.split('-')[1]}` to run this case)")
        env["PYTHONPATH"] = "/usr/lib/python3/dist-packages"   # Debian's Django and gunicorn
    g = gunicorn_factory(workers=1, app="routes_djsite.wsgi:application", argv0=[exe, "-m", "gunicorn"], env=env)
    worker = g.worker_pids()[0]

    # The master listens before the worker has loaded the app: until then Django is not imported,
    # or its settings are not configured, which the reader says too.
    deadline = time.monotonic() + 15
    while re.search("no framework module loaded|not configured yet", (before := doctor_routes(worker))[0]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    # Django imports ROOT_URLCONF on the first request: nothing to read yet, but a table will come.
    assert before == (f"none (Django: ROOT_URLCONF {URLCONF} not imported yet (no request served); "
                      "a table may still come)", []), before

    with urllib.request.urlopen(f"http://127.0.0.1:{g.port}/", timeout=10) as r:
        assert r.status == 200
    truth = json.loads((tmp_path / "truth.json").read_text())
    rc, err, routes = stable_routes(worker)
    head, names = doctor_routes(worker)
    assert rc == 0, err
    read_ms = re.search(r"read in ([\d.]+) ms", head)
    print(f"{python}: Python {truth['python']}, Django {truth['django']}: {len(routes)} routes, "
          f"doctor read them in {read_ms[1] if read_ms else '?'} ms")

    assert head.startswith(f"Django {truth['django']}, app ROOT_URLCONF {URLCONF}, {len(truth['routes'])} templates, "
                           f"{truth['skipped']} not read"), head
    assert names == [r["name"] for r in truth["routes"]]
    got = [(name, parts) for name, _, parts in routes]
    want = [(r["name"], r["parts"]) for r in truth["routes"]]
    assert got == want, "\n".join(f"{g!r:90} {w!r}" for g, w in zip(got + [None] * len(want), want + [None] * len(got))
                                  if g != w)
    assert all(methods == 0 for _, methods, _ in routes)   # Django patterns answer any method
    assert truth["skipped"] == 1   # the i18n_patterns route: counted, not dropped silently


def test_django_routes_read_while_the_worker_rewrites_them(gunicorn_factory, tmp_path):
    """Torn reads: the lists and patterns change and are freed while we read them. Every read
    gives a table of real routes (app_routes_read accepts one only when two reads agree) or an
    error that says so; none crashes or invents a route."""
    env = {"ROUTES_TRUTH": str(tmp_path / "truth.json"), "ROUTES_CHURN": "1"}
    g = gunicorn_factory(workers=1, app="routes_djsite.wsgi:application", env=env)
    with urllib.request.urlopen(f"http://127.0.0.1:{g.port}/", timeout=10) as r:
        assert r.status == 200
    known = {r["name"] for r in json.loads((tmp_path / "truth.json").read_text())["routes"]}
    churned = re.compile(r"churn\d/<int:n>/|inc\d/x\d/<slug:s>|tail\d/")
    outcomes = Counter()
    for _ in range(150):
        rc, err, routes = harness_routes(g.worker_pids()[0])
        assert rc in (0, 1), f"the reader died ({rc}): {err[-2000:]}"
        if rc == 1:
            assert err.strip(), "a failed read must say why"
            outcomes[re.sub(r"\d+", "N", err.strip().splitlines()[-1])[:80]] += 1
            continue
        bad = [name for name, _, _ in routes if name not in known and not churned.fullmatch(name)]
        assert not bad, f"routes no version of the table had: {bad[:5]}"
        assert all(p.startswith("^") for _, _, parts in routes for p in parts)
        outcomes["table"] += 1
    print("150 reads while the urlpatterns churn:", dict(outcomes))
    assert outcomes["table"] > 0, outcomes


@pytest.mark.parametrize("hostile", ["loop,noversion", "loop,odd"])
def test_django_reader_survives_objects_no_pattern_has(hostile, gunicorn_factory, tmp_path):
    """Deterministic torn memory: an object whose type's tp_mro is the object itself (once sent
    pyobj_isinstance and pyobj_seq into each other until the stack ran out), and a path() whose
    _route is an int. The first is skipped and counted; the second fails the read, saying so.
    Without django.__version__ the version comes from django.VERSION."""
    env = {"ROUTES_TRUTH": str(tmp_path / "truth.json"), "ROUTES_HOSTILE": hostile}
    g = gunicorn_factory(workers=1, app="routes_djsite.wsgi:application", env=env)
    with urllib.request.urlopen(f"http://127.0.0.1:{g.port}/", timeout=10) as r:
        assert r.status == 200
    truth = json.loads((tmp_path / "truth.json").read_text())
    rc, err, routes = (harness_routes if "odd" in hostile else stable_routes)(g.worker_pids()[0])
    if "odd" not in hostile:
        assert rc == 0, f"the reader failed ({rc}): {err[-2000:]}"
        assert [(name, parts) for name, _, parts in routes] == [(r["name"], r["parts"]) for r in truth["routes"]]
        head, _ = doctor_routes(g.worker_pids()[0])
        assert head.startswith(f"Django {truth['django']}, app ROOT_URLCONF {URLCONF}, {len(truth['routes'])} "
                               f"templates, {truth['skipped'] + 1} not read"), head
    else:
        assert rc == 1, f"the reader gave {rc}: {err[-2000:]}"
        assert err.strip() == f"Django: walking {URLCONF}.urlpatterns: Invalid argument (the process may have " \
                              "changed them while we read; retry)", err
