"""No output carries what the traffic carried (issue #12): secrets planted in every protocol pyvitals
parses (HTTP header values, cookies, query strings, request and response bodies; PostgreSQL and MySQL
literals; Redis keys, values and an AUTH password; memcached keys and values) appear in none of the
outputs: watch --json, the text table, stderr, and serve's /metrics, /health and /api/snapshot."""
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request

from conftest import APPS, HOOKS_ARGS, PY, PYVITALS, free_port
from servers import mariadb, memcached, postgres, redis_server  # noqa: F401 (module fixtures)


def test_no_output_contains_a_planted_secret(gunicorn_factory, postgres, mariadb, redis_server,  # noqa: F811
                                             memcached, tmp_path):
    secret = "S3CR" + secrets.token_hex(6)
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=2)
    port = free_port()
    env = dict(os.environ, **postgres.env(), **mariadb.env(), **redis_server.env(), **memcached.env())
    # the client waits on stdin so that every agent is attached before it sends anything
    client = subprocess.Popen([PY, os.path.join(APPS, "secrets_client.py"), str(g.port), secret], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    targets = ["-p", str(g.pid), "-p", str(client.pid)]
    agents = {name: subprocess.Popen([PYVITALS, *cmd, *targets, *HOOKS_ARGS], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
              for name, cmd in (("watch --json", ["watch", "--json", "--interval", "0.5"]),
                                ("top (text)", ["top", "--interval", "0.5"]),
                                ("serve", ["serve", "--listen", f"127.0.0.1:{port}"]))}
    first = {}
    for name, p in agents.items():
        first[name] = p.stderr.readline()
        assert first[name].startswith("attached"), f"{name}: {first[name]}{p.stderr.read()}"
    first["serve"] += agents["serve"].stderr.readline()
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0 and "planted" in out, err
    time.sleep(2)
    outputs = {}
    for path in ("/metrics", "/api/snapshot", "/health"):
        try:
            outputs[path] = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read().decode()
        except urllib.error.HTTPError as e:  # /health is 503 when a check is critical
            outputs[path] = e.read().decode()
    for name, p in agents.items():
        p.send_signal(signal.SIGINT)
        o, e = p.communicate(timeout=30)
        assert p.returncode == 0, f"{name} exited {p.returncode}: {e}"
        outputs[f"{name} stdout"], outputs[f"{name} stderr"] = o, first[name] + e
    snap = json.loads(outputs["watch --json stdout"].splitlines()[-1])
    svc = {s["name"]: s for s in snap["services"]}
    print({n: (s["http_server"]["requests"], [(d["system"], d["calls"]) for d in s["db"]]) for n, s in svc.items()})
    # the traffic was seen: the planted calls are in the figures
    systems = {d["system"] for s in snap["services"] for d in s["db"]}
    assert {"postgresql", "mysql", "redis", "memcached"} <= systems, systems
    assert any(r["route"] == "/echo" for s in snap["services"] for r in s["http_server"]["routes"])
    leaks = {name: text.count(secret) for name, text in outputs.items() if secret in text}
    assert not leaks, f"the secret {secret} leaked into: {leaks}"
