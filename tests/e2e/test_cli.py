"""Commands, bad input and failure paths: one clear message, non-zero exit, nothing left attached."""
import glob
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import APPS, PY, PYVITALS, Gunicorn, free_port, wait_port


# Loading every hook set takes doctor ~26 s in a 6.1 guest under QEMU without KVM (the
# verifier, emulated), and longer on a busy CI machine: the limit only catches a hang.
def run(*args, timeout=120):
    return subprocess.run([PYVITALS, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def orphan_bpf_programs():
    """Loaded programs with pyvitals' names that no live process holds (through a program or
    link fd): what a crashed or careless run would leave attached. Other pyvitals runs on the
    machine hold theirs, so they do not count."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    names = ("tp_sock_send", "tp_sock_recv", "tp_sock_state", "tp_fork", "tp_exit", "tp_exec")
    ids = {p["id"] for p in json.loads(out) if p.get("name") in names}
    held = set()
    for info in glob.glob("/proc/[0-9]*/fdinfo/*"):
        try:
            with open(info) as f:
                held.update(int(m) for m in re.findall(r"^prog_id:\s+(\d+)", f.read(), re.M))
        except OSError:
            pass
    return ids - held


@pytest.fixture(autouse=True)
def nothing_left_attached():
    before = orphan_bpf_programs()
    yield
    deadline = time.time() + 5  # the kernel frees a closed program after an RCU grace period
    while (left := orphan_bpf_programs() - before) and time.time() < deadline:
        time.sleep(0.1)
    assert not left, f"programs left loaded after the test: {sorted(left)}"


def test_doctor_reports_kernel_and_hooks():
    r = run("doctor")
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "socket hooks (auto)" in r.stdout and "pyvitals can run here" in r.stdout
    for what in ("BTF", "tracefs", "fentry/fexit", "kprobes", "uprobes", "lockdown"):
        assert what in r.stdout


def test_doctor_describes_a_pid():
    r = run("doctor", "-p", os.getpid())
    assert r.returncode == 0
    assert f"process {os.getpid()}" in r.stdout and "executable" in r.stdout


def test_unknown_pid_fails_clearly():
    for cmd in (["watch", "-p", 4194303, "--json"], ["doctor", "-p", 4194303]):
        r = run(*cmd)
        assert r.returncode != 0, (cmd, r.stdout)
        assert "no process with pid 4194303" in r.stderr, (cmd, r.stderr)


def test_bad_flag_values():
    cases = [
        (["watch", "-p", "abc"], "expected a process id"),
        (["watch", "-p", "1", "--interval", "0"], "--interval"),
        (["watch", "-p", "1", "--duration", "-3"], "--duration"),
        (["watch", "-p", "1", "--hooks", "magic"], "one of auto, tracepoint, kprobe, fentry"),
        (["watch", "-p", "1", "--capture", "99999"], "--capture"),
        (["watch", "--comm", "a-name-longer-than-15"], "1 to 15 characters"),
        (["watch", "-p", "1", "--route", "post/{slug}"], "must start with '/'"),
        (["watch", "-p", "1", "--route", "/a/{x:float}"], "is not {name}, {name:int} or {name:path}"),
        (["watch", "-p", "1", "--route", "get /a"], "upper-case method"),
        (["watch", "--bogus"], "unknown option"),
        (["watch"], "no target"),
        (["frobnicate"], "unknown command"),
    ]
    for args, message in cases:
        r = run(*args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) <= 12, r.stderr


def doctor_hook_sets():
    """{mode: (loads, detail)} from doctor's 'sockets, MODE set' lines, which come from really
    loading and attaching each set."""
    out = run("doctor").stdout
    sets = {}
    for m in re.finditer(r"^  sockets, (\w+) set\s+(yes|no)\s+(.*)$", out, re.M):
        sets[m.group(1)] = (m.group(2) == "yes", m.group(3).strip())
    assert set(sets) == {"tracepoint", "fentry", "kprobe"}, "doctor must report every hook set:\n" + out
    return sets


def test_every_hook_mode_does_what_doctor_says():
    """Kernel-aware: a set doctor says loads must attach in watch; a refused one is refused by
    watch with doctor's reason, in one clear message."""
    sets = doctor_hook_sets()
    print("kernel", os.uname().release, {m: ok for m, (ok, _) in sets.items()})
    assert any(ok for ok, _ in sets.values()), f"no hook set loads here: {sets}"
    for mode, (ok, detail) in sets.items():
        if ok:
            r = run("watch", "-p", os.getpid(), "--hooks", mode, "--duration", "0.5", "--interval", "0.5", "--json")
            assert r.returncode == 0 and f"attached: hooks={mode}" in r.stderr, (mode, r.stderr)
        else:
            r = run("watch", "-p", os.getpid(), "--hooks", mode)
            assert r.returncode != 0 and f"hooks={mode}" in r.stderr and detail in r.stderr, (mode, detail, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
            d = run("doctor", "--hooks", mode)
            assert d.returncode != 0 and detail in d.stdout, d.stdout


def test_duration_ends_with_final_snapshot_and_detaches():
    g = Gunicorn(workers=1)
    try:
        r = run("watch", "-p", g.pid, "--json", "--interval", "0.5", "--duration", "2")
        assert r.returncode == 0, r.stderr
        snaps = [json.loads(l) for l in r.stdout.splitlines()]
        assert snaps[-1]["final"] is True and all(not s["final"] for s in snaps[:-1])
        assert len(snaps) >= 3
        for key in ("time", "interval_s", "lost_events", "services"):
            assert key in snaps[-1]
        assert r.stderr.startswith("attached")
    finally:
        g.stop()


def test_exits_when_targets_exit():
    g = Gunicorn(workers=1)
    w = subprocess.Popen([PYVITALS, "watch", "-p", str(g.pid), "--json", "--interval", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert w.stderr.readline().startswith("attached")
    g.stop()
    out, _ = w.communicate(timeout=15)
    assert w.returncode == 0
    assert json.loads(out.splitlines()[-1])["final"] is True


def test_comm_tracks_processes_started_later(tmp_path):
    script = tmp_path / "pvcommsrv"
    port = free_port()
    script.write_text(f"#!{PY}\nimport sys; sys.path.insert(0, {APPS!r})\n"
                      f"from flask_app import app\napp.run(host='127.0.0.1', port={port}, threaded=True)\n")
    script.chmod(0o755)
    w = subprocess.Popen([PYVITALS, "watch", "--comm", "pvcommsrv", "--json", "--interval", "0.5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert w.stderr.readline().startswith("attached")
    srv = subprocess.Popen([str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(7):
            c.request("GET", f"/users/{i}")
            c.getresponse().read()
    finally:
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=15)
        srv.terminate()
        srv.wait()
    snap = json.loads(out.splitlines()[-1])
    svc = snap["services"][0]
    assert srv.pid in svc["pids"], svc
    assert svc["http_server"]["requests"] == 7, svc


def test_comm_splits_applications_by_command_line(tmp_path):
    """Issue #8, item 10: --comm with two different applications of the same name (one running
    before attach, one started after) gives one service each, named as -p names them, each
    with its own requests; before, both were merged into one service named after one of them."""
    script = tmp_path / "pvtwoapps"
    script.write_text(f"#!{PY}\nimport sys; sys.path.insert(0, {APPS!r})\n"
                      f"from flask_app import app\napp.run(host='127.0.0.1', port=int(sys.argv[2]), threaded=True)\n")
    script.chmod(0o755)
    ports = {"alpha": free_port(), "beta": free_port()}
    sent = {"alpha": 5, "beta": 9}
    srvs = {"alpha": subprocess.Popen([str(script), "alpha", str(ports["alpha"])], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)}
    wait_port(ports["alpha"])
    w = subprocess.Popen([PYVITALS, "watch", "--comm", "pvtwoapps", "--json", "--interval", "0.5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert w.stderr.readline().startswith("attached")
    srvs["beta"] = subprocess.Popen([str(script), "beta", str(ports["beta"])], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    try:
        import http.client
        for name, port in ports.items():
            wait_port(port)
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(sent[name]):
                c.request("GET", f"/users/{i}")
                c.getresponse().read()
    finally:
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=15)
        for s in srvs.values():
            s.terminate()
            s.wait()
    snap = json.loads(out.splitlines()[-1])
    by_name = {s["name"]: s for s in snap["services"]}
    print("services:", {n: (s["pids"], s["http_server"]["requests"]) for n, s in by_name.items()})
    assert set(by_name) == {"pvtwoapps alpha", "pvtwoapps beta"}, sorted(by_name)
    for name, srv in srvs.items():
        svc = by_name[f"pvtwoapps {name}"]
        assert svc["pids"] == [srv.pid], svc["pids"]
        assert svc["http_server"]["requests"] == sent[name], svc["http_server"]


def test_doctor_names_each_capability_it_holds():
    """doctor lists the capabilities pyvitals uses, held or not (here one is taken away)."""
    full = run("doctor").stdout
    assert re.search(r"^\s+CAP_SYS_PTRACE\s+yes\s", full, re.M), full
    r = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace", "--", PYVITALS, "doctor"], capture_output=True,
                       text=True, timeout=120)
    assert re.search(r"^\s+CAP_SYS_PTRACE\s+no\s+read other users' /proc/PID/maps", r.stdout, re.M), r.stdout
    assert re.search(r"^\s+CAP_BPF\s+yes\s", r.stdout, re.M), r.stdout
