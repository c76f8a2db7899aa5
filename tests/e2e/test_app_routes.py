"""Route tables read from the running application's own objects (issue #14): `doctor -p PID
--routes` against the table each app computes about itself (url_map.iter_rules(), app.routes).
Flask on every installed interpreter (Debian's stripped static 3.11 and pyenv 3.8-3.13 with
Debian's Flask on PYTHONPATH), plain Starlette with nested Mounts on 3.10+, FastAPI with an APIRouter prefix and a mounted Starlette app under
uvicorn, and a gunicorn factory app that only the GC lists hold."""
import glob
import json
import os
import re
import subprocess
import time

import pytest

from conftest import APPS, PY, PYVITALS, free_port, wait_port

DIST = "/usr/lib/python3/dist-packages"
PYENV = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3"),
               key=lambda p: [int(x) for x in p.split("/")[-3].split(".")])
INTERPRETERS = [PY] + [p for p in PYENV if 8 <= int(p.split("/")[-3].split(".")[1]) <= 13]


def doctor_routes(pid):
    """(summary, [(methods, template)...]) from doctor --routes; methods sorted like the truth."""
    out = subprocess.run([PYVITALS, "doctor", "-p", str(pid), "--routes"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    summary = [l.split("routes:", 1)[1].strip() for l in lines if "routes:" in l]
    assert summary, out.stdout
    table = [l.split(None, 1) for l in lines if l.startswith("    ")]
    return summary[0], [[",".join(sorted(m.split(","))), name] for m, name in table]


def wait_truth(path, proc, timeout=20):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, f"the app exited with {proc.returncode}"
        assert time.time() < deadline, f"{path} not written after {timeout}s"
        time.sleep(0.05)
    with open(path) as f:
        return json.load(f)


@pytest.fixture
def started():
    procs = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def run_app(python, script, started, tmp_path):
    """Start an app that writes its own route table to a file; (its truth, doctor's summary, table)."""
    truth_file = str(tmp_path / "truth.json")
    env = dict(os.environ, PYTHONPATH=DIST) if python != PY else dict(os.environ)
    started.append(subprocess.Popen([python, os.path.join(APPS, script), truth_file], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    truth = wait_truth(truth_file, started[-1])
    return (truth, *doctor_routes(started[-1].pid))


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: "debian" if p == PY else p.split("/")[-3])
def test_flask_table_equals_url_map(python, started, tmp_path):
    truth, summary, table = run_app(python, "routes_flask.py", started, tmp_path)
    print(f"\nroutes e2e: Flask {truth['flask']} on Python {truth['python']} ({python}): {summary}")
    assert re.match(rf"Flask {re.escape(truth['flask'])}, app __main__\.app, {len(truth['routes'])} templates "
                    r"\(read in \d+ ms\)$", summary), summary
    assert table == truth["routes"]


# Debian's Starlette 0.26 uses `X | Y` annotations: it imports on 3.10+ only.
STARLETTE_INTERPRETERS = [p for p in INTERPRETERS if p == PY or int(p.split("/")[-3].split(".")[1]) >= 10]


@pytest.mark.parametrize("python", STARLETTE_INTERPRETERS, ids=lambda p: "debian" if p == PY else p.split("/")[-3])
def test_starlette_mounts_and_router_equal_app_routes(python, started, tmp_path):
    truth, summary, table = run_app(python, "routes_starlette.py", started, tmp_path)
    print(f"\nroutes e2e: Starlette {truth['starlette']} on Python {truth['python']} ({python}): {summary}")
    assert summary.startswith(f"Starlette {truth['starlette']}, app __main__.app, {len(truth['routes'])} "
                              "templates"), summary
    assert table == truth["routes"]


def test_fastapi_prefixes_and_mounts_under_uvicorn(started, tmp_path):
    truth_file, port = str(tmp_path / "truth.json"), free_port()
    started.append(subprocess.Popen([PY, "-m", "uvicorn", "routes_fastapi:app", "--port", str(port)], cwd=APPS,
                                    env=dict(os.environ, ROUTES_TRUTH=truth_file),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    truth = wait_truth(truth_file, started[-1])
    wait_port(port)
    summary, table = doctor_routes(started[-1].pid)
    print(f"\nroutes e2e: FastAPI {truth['fastapi']} on Python {truth['python']}: {summary}")
    # The mounted Starlette sub-app is a candidate of its own: the root must win.
    assert summary.startswith(f"FastAPI {truth['fastapi']}, app routes_fastapi.app, {len(truth['routes'])} "
                              "templates"), summary
    assert table == truth["routes"]
    assert ["GET,HEAD,POST", "/sub/n/{n:int}"] in table and ["DELETE", "/api/users/{user_id}"] in table


def test_gunicorn_factory_app_found_on_the_gc_lists(gunicorn_factory, tmp_path):
    truth_file = str(tmp_path / "truth.json")
    g = gunicorn_factory(workers=1, app="routes_factory:create_app()", env={"ROUTES_TRUTH": truth_file})
    truth = wait_truth(truth_file, g.proc)  # the worker calls the factory after the master listens
    summary, table = doctor_routes(g.worker_pids()[0])
    print(f"\nroutes e2e: gunicorn factory on Python {truth['python']}: {summary}")
    # routes_flask.app (8 rules) is a module global in the worker too: the decoy must lose.
    assert summary.startswith(f"Flask 2.2.2, app routes_factory:create_app(), {len(truth['routes'])} templates"), \
        summary
    assert table == truth["routes"]
    # the master has no framework loaded: doctor reads its worker, as the agent does, and says so
    summary, master_table = doctor_routes(g.pid)
    assert f"in its worker {g.worker_pids()[0]}" in summary and master_table == table, summary


def test_bad_targets_say_why(started):
    started.append(subprocess.Popen(["sleep", "30"]))
    summary, table = doctor_routes(started[-1].pid)
    assert summary == f"cannot read: pid {started[-1].pid} is not a Python process" and table == []
    started.append(subprocess.Popen([PY, "-c", "import time; print('ok', flush=True); time.sleep(30)"],
                                    stdout=subprocess.PIPE))
    started[-1].stdout.readline()
    summary, _ = doctor_routes(started[-1].pid)
    assert summary.startswith("none (no framework module loaded"), summary
    out = subprocess.run([PYVITALS, "doctor", "--routes"], capture_output=True, text=True)
    assert out.returncode == 2 and "--routes needs -p PID" in out.stderr
