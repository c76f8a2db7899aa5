"""Interpreter health (issue #4) on every installed CPython: GC counts against an exact truth,
GIL wait against the threads' own off-CPU time, thread counts, and stripped/unsupported
interpreters reported as unavailable with a reason. Prints a matrix of version -> what was
reported (also written to build/runtime-matrix.txt); a missing pyenv version is named there
and skipped with a reason, Debian's /usr/bin/python3.11 is mandatory.

The agent is `pyvitals watch -p PID --json --duration S --interval S`; set
PYVITALS_RUNTIME_AGENT=harness to drive tools/runtime-harness.c instead (built here)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

from conftest import HOOKS_ARGS, PYVITALS, ROOT

WORKLOADS = os.path.join(ROOT, "tests", "e2e", "runtime_workloads")
HARNESS = os.path.join(ROOT, "build", "runtime-harness")
AGENT = os.environ.get("PYVITALS_RUNTIME_AGENT", "watch")
GC_CALLS = 25


def interpreters():
    rows = [("debian-3.11", "/usr/bin/python3.11")]
    for minor in range(8, 14):
        found = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        rows.append((f"pyenv-3.{minor}", found[-1] if found else None))
    return rows


INTERPRETERS = interpreters()
MATRIX = {name: {} for name, _ in INTERPRETERS}


@pytest.fixture(scope="session", autouse=True)
def print_matrix(request):
    yield
    cols = ["python", "gc", "gc_source", "gc_p50_ms", "gc_auto", "gc_truth", "gil_wait_ms", "blocked_ms", "off_cpu_ms", "gil_threads",
            "io_wait_ratio"]
    lines = ["runtime matrix (%s):" % AGENT, "%-12s " % "interpreter" + " ".join("%-12s" % c for c in cols)]
    for name, path in INTERPRETERS:
        row = MATRIX[name]
        if path is None:
            lines.append("%-12s MISSING (not installed)" % name)
            continue
        lines.append("%-12s " % name + " ".join("%-12s" % str(row.get(c, "-")) for c in cols))
    text = "\n".join(lines) + "\n"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        sys.stdout.write("\n" + text)
    try:
        os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
        with open(os.path.join(ROOT, "build", "runtime-matrix.txt"), "w") as f:
            f.write(text)
    except OSError:
        pass


@pytest.fixture(scope="session")
def agent():
    if AGENT == "harness":
        r = subprocess.run(["make", "-C", ROOT, "harnesses"], capture_output=True, text=True)
        assert r.returncode == 0, f"building the runtime harness failed:\n{r.stdout}{r.stderr}"
        return [HARNESS]
    assert os.access(PYVITALS, os.X_OK), "build ./pyvitals first (make)"
    return [PYVITALS, "watch", *HOOKS_ARGS]


def need(path, name):
    if path is None:
        if name == "debian-3.11":
            pytest.fail("/usr/bin/python3.11 (Debian 12's python3.11) is required for this matrix")
        pytest.fail(f"{name} is not installed (named MISSING in the runtime matrix): install it with "
                    f"pyenv, which this machine kind provides for 3.8 to 3.13")


class Run:
    """A workload that waits for "go", and the agent watching it; lines of both collected."""

    def __init__(self, agent_cmd, python, script, args, duration, env=None):
        self.work = subprocess.Popen([python, os.path.join(WORKLOADS, script), *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.work.stdout.readline().strip() == "ready", f"{python} {script} did not start"
        self.agent = subprocess.Popen([*agent_cmd, "-p", str(self.work.pid), "--json", "--duration", str(duration),
                                       "--interval", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        self.err, self.out = [], []
        self.attached = threading.Event()
        threading.Thread(target=self._read_err, daemon=True).start()
        threading.Thread(target=lambda: self.out.extend(self.agent.stdout), daemon=True).start()
        if not self.attached.wait(30):
            self.stop()
            pytest.fail("the agent never printed 'attached':\n" + "".join(self.err))

    def _read_err(self):
        for line in self.agent.stderr:
            self.err.append(line)
            if line.startswith("attached"):
                self.attached.set()

    def go(self, marker="done"):
        """Start the workload; returns its lines up to the one starting with marker."""
        self.work.stdin.write("go\n")
        self.work.stdin.flush()
        lines = []
        for line in self.work.stdout:
            lines.append(line.strip())
            if line.startswith(marker):
                break
        return lines

    def finish(self, timeout=60):
        """Wait for the agent's final line; returns every JSON object it printed."""
        try:
            self.agent.wait(timeout)
        finally:
            self.stop()
        objs = [json.loads(l) for l in self.out if l.strip().startswith("{")]
        assert objs and objs[-1].get("final") is True, "no final JSON line; stderr:\n" + "".join(self.err)
        return objs

    def stop(self):
        if self.work.poll() is None:
            # EOF on stdin ends every workload (and its forked workers) cleanly.
            try:
                self.work.stdin.close()
                self.work.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for p in (self.agent, self.work):
            if p.poll() is None:
                p.kill()
                p.wait()


def runtime_of(obj):
    rt = obj["services"][0].get("runtime")
    assert rt is not None, f"no runtime key in services[0]: {obj}"
    return rt


@pytest.mark.parametrize("name,python", INTERPRETERS, ids=[n for n, _ in INTERPRETERS])
def test_gc_counts_exactly_the_collections(agent, name, python):
    need(python, name)
    run = Run(agent, python, "gc_collect.py", [GC_CALLS], duration=3)
    run.go()
    rt = runtime_of(run.finish()[-1])
    row = MATRIX[name]
    row["python"] = rt.get("python")
    assert rt["python"].startswith(name.split("-")[1]), rt
    assert rt["gc"] is not None, f"GC unavailable: {rt['unavailable']}"
    row["gc"] = "/".join(map(str, rt["gc"]["collections"]))
    row["gc_source"] = rt["gc"]["source"]
    row["gc_p50_ms"] = rt["gc"]["pause_ms"]["p50"]
    # Automatic GC is off: every collection is one of our gc.collect() calls, of generation 2.
    assert rt["gc"]["collections"] == [0, 0, GC_CALLS], rt["gc"]
    assert rt["gc"].get("unknown_generation", 0) == 0
    assert 0 < rt["gc"]["pause_ms"]["p50"] <= rt["gc"]["pause_ms"]["max"]
    assert rt["gc"]["total_pause_ms"] >= rt["gc"]["pause_ms"]["max"]
    assert rt["gc"]["source"] == ("usdt" if name == "debian-3.11" else "uprobe")
    assert rt["threads"] == 1
    assert rt["unavailable"] == [], rt["unavailable"]


@pytest.mark.parametrize("name,python", INTERPRETERS, ids=[n for n, _ in INTERPRETERS])
def test_automatic_gc_generations_match_the_interpreter(agent, name, python):
    """Automatic collections of every generation, attributed as the interpreter counts them
    itself (gc.get_stats): checks the generation argument, and 3.8's counter-based method."""
    need(python, name)
    run = Run(agent, python, "gc_auto.py", [300000], duration=4)
    truth = [int(x) for x in run.go()[-1].split()[1:4]]
    gc = runtime_of(run.finish()[-1])["gc"]
    MATRIX[name]["gc_auto"] = "/".join(map(str, gc["collections"]))
    MATRIX[name]["gc_truth"] = "/".join(map(str, truth))
    assert gc["collections"] == truth, (gc, truth)
    assert gc.get("unknown_generation", 0) == 0


@pytest.mark.parametrize("name,python", INTERPRETERS, ids=[n for n, _ in INTERPRETERS])
def test_gil_wait_of_two_cpu_bound_threads(agent, name, python):
    need(python, name)
    run = Run(agent, python, "gil_spin.py", [2], duration=4.5)
    lines = run.go()
    objs = run.finish()
    off_cpu_ms, blocked_ms, steal_ms = (float(x) * 1000 for x in lines[-1].split()[1:4])
    gil = runtime_of(objs[-1])["gil"]
    assert gil is not None, runtime_of(objs[-1])["unavailable"]
    threads = max(runtime_of(o)["threads"] or 0 for o in objs)
    MATRIX[name].update(gil_wait_ms=round(gil["wait_ms"]), off_cpu_ms=round(off_cpu_ms),
                        blocked_ms=round(blocked_ms), gil_threads=threads)
    print(name, gil, "off-CPU ms", off_cpu_ms, "blocked ms", blocked_ms, "steal ms", steal_ms)
    assert gil["source"] == "futex"
    # Truth from the threads themselves: blocked - steal <= GIL wait + forced-switch handoff <=
    # off-CPU (the main thread adds a few ms). Run-queue delay (a loaded machine) is off-CPU time
    # that is not GIL wait, and so is time the hypervisor stole from a running spinner: it was
    # 7.5-20% of the blocked time in clean-clone CI runs on this VM (2,125 ms blocked, 1,790 ms
    # on the GIL) and ~0 in quiet local runs.
    on_gil = gil["wait_ms"] + gil["handoff_ms"]
    assert 0.95 * (blocked_ms - steal_ms) - 50 <= on_gil <= off_cpu_ms + 200, (gil, off_cpu_ms, blocked_ms, steal_ms)
    assert gil["wait_ms"] >= 1000, f"{gil}: under 1 s; run-queue delay was {off_cpu_ms - blocked_ms:.0f} ms"
    assert gil["waits"] > 0 and gil["wait_ratio"] > 0
    assert threads == 3, "main + 2 spinning threads expected while they ran"


@pytest.mark.parametrize("name,python", INTERPRETERS, ids=[n for n, _ in INTERPRETERS])
def test_single_threaded_io_has_no_gil_wait(agent, name, python):
    need(python, name)
    run = Run(agent, python, "io_loop.py", [2], duration=3)
    run.go()
    gil = runtime_of(run.finish()[-1])["gil"]
    assert gil is not None
    MATRIX[name]["io_wait_ratio"] = gil["wait_ratio"]
    assert gil["wait_ratio"] < 0.05, gil


def test_stripped_libpython_reports_gc_unavailable(agent):
    """pyenv 3.12 with its libpython stripped to .dynsym: GIL still works (_PyRuntime is
    exported), GC has no probe point and says why."""
    found = sorted(glob.glob("/root/.pyenv/versions/3.12.*/bin/python3.12"))
    if not found:
        pytest.fail("pyenv 3.12 is not installed: this test strips its libpython; install it with pyenv")
    lib = glob.glob(os.path.join(os.path.dirname(os.path.dirname(found[0])), "lib", "libpython3.12.so.1.0"))[0]
    with tempfile.TemporaryDirectory() as d:
        stripped = os.path.join(d, "libpython3.12.so.1.0")
        shutil.copy(lib, stripped)
        subprocess.run(["strip", "--strip-all", stripped], check=True)
        env = dict(os.environ, LD_LIBRARY_PATH=d)
        run = Run(agent, found[0], "gc_collect.py", [3], duration=2, env=env)
        run.go()
        rt = runtime_of(run.finish()[-1])
    assert rt["gc"] is None
    assert any(u.startswith("gc:") and "stripped" in u for u in rt["unavailable"]), rt["unavailable"]
    assert rt["gil"] is not None and rt["threads"] == 1


def test_unsupported_version_lists_every_signal_as_unavailable(agent):
    found = sorted(glob.glob("/root/.pyenv/versions/3.7.*/bin/python3.7"))
    if not found:
        pytest.fail("pyenv 3.7 is not installed: this test needs an unsupported CPython; install it with pyenv")
    run = Run(agent, found[0], "gc_collect.py", [3], duration=2)
    run.go()
    rt = runtime_of(run.finish()[-1])
    assert rt["python"].startswith("3.7")
    assert rt["gil"] is None and rt["gc"] is None and rt["threads"] is None
    for signal in ("gil", "gc", "threads"):
        assert any(u.startswith(signal + ":") and "not supported" in u for u in rt["unavailable"]), rt


@pytest.mark.parametrize("name,python", [INTERPRETERS[0], INTERPRETERS[5]], ids=["debian-3.11", "pyenv-3.12"])
def test_forked_workers_count_from_their_first_collection(agent, name, python):
    """Workers forked after attach: GC probes (pid -1, filtered by the tracked map in BPF) and
    the GIL range (copied at fork in the kernel) see them at once; threads and processes are
    found from the tracked map at the next snapshot."""
    need(python, name)
    workers, calls = 2, 10
    run = Run(agent, python, "fork_workers.py", [workers, calls, 1], duration=4)
    run.go()
    rt = runtime_of(run.finish()[-1])
    print(name, rt)
    assert rt["processes"] == 1 + workers, rt
    assert rt["gc"]["collections"] == [0, 0, workers * calls], rt["gc"]
    assert rt["gil"]["wait_ms"] >= 500, rt["gil"]
    assert rt["threads"] == 1 + workers, rt
