"""Route names (issue #14): the framework's own templates read from the running Flask, Django and
FastAPI applications, and without a framework table (a raw WSGI blog) cardinality folding and
--route patterns; each against the client's own count per route."""
import http.client
import json
import random
import subprocess
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from conftest import APPS, PY, free_port, routes_by_key, wait_port

TAGS = ("python", "rust", "go")


def slug(i):
    words = ("why", "rust", "async", "python", "tips", "guide", "deep", "dive", "notes", "on")
    return f"{words[i % 10]}-{words[(i // 10) % 10]}-{words[(i // 100) % 10]}-post-{chr(97 + i % 26)}"


def drive(port, paths, threads=4):
    """GET each path (keep-alive, a connection per thread); returns Counter of statuses."""
    def run(chunk):
        conn, seen = http.client.HTTPConnection("127.0.0.1", port, timeout=30), Counter()
        for p in chunk:
            conn.request("GET", p)
            r = conn.getresponse()
            r.read()
            seen[r.status] += 1
        conn.close()
        return seen
    chunks = [paths[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as ex:
        return sum(ex.map(run, chunks), Counter())


def blog_paths():
    rng = random.Random(14)
    paths = [f"/post/{slug(i)}" for i in range(600)]                   # 600 distinct slugs
    paths += [f"/post/{slug(rng.randrange(600))}/comments" for _ in range(150)]
    paths += [f"/tag/{TAGS[i % 3]}?page={i % 4}" for i in range(300)]   # three values
    paths += ["/"] * 30
    rng.shuffle(paths)
    return paths


def test_plain_wsgi_slugs_fold_into_one_route_and_tags_stay_literal(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="wsgi_blog:app")
    w = watch_factory("-p", g.pid, interval=0.5)
    paths = blog_paths()
    statuses = drive(g.port, paths)
    assert statuses == Counter({200: len(paths)}), statuses
    snap = w.stop()
    svc = snap["services"][0]
    want = Counter()
    for p in paths:
        parts = p.split("?")[0].strip("/").split("/")
        want[("GET", "/" if parts == [""] else "/post/{var}" if len(parts) == 2 and parts[0] == "post"
              else "/post/{var}/comments" if parts[0] == "post" else f"/tag/{parts[1]}")] += 1
    got = {k: r["requests"] for k, r in routes_by_key(svc).items()}
    print("routes:", got, "folded:", svc["http_server"]["routes_folded"])
    assert got == dict(want), f"pyvitals {got} vs client {dict(want)}"
    assert svc["http_server"]["requests"] == len(paths)
    assert svc["http_server"]["routes_pending"] == 0 and svc["http_server"]["exact"]
    assert svc["http_server"]["routes_folded"] == 1


def test_route_names_never_change_while_watching(gunicorn_factory, watch_factory):
    """Every route name any snapshot showed is one of the final names: nothing is renamed, so
    no Prometheus series churns; requests waiting for a name are in routes_pending meanwhile."""
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=4, app="wsgi_blog:app")
    w = watch_factory("-p", g.pid, interval=0.3)
    paths = blog_paths()
    for i in range(0, len(paths), 100):
        drive(g.port, paths[i:i + 100], threads=2)
    w.stop()
    snaps = w.snapshots
    final = snaps[-1]["services"][0]["http_server"]
    names = {r["route"] for r in final["routes"]}
    pending_seen = 0
    for s in snaps[:-1]:
        h = s["services"][0]["http_server"]
        shown = {r["route"] for r in h["routes"]}
        assert shown <= names, f"renamed or dropped: {shown - names}"
        assert h["requests"] == sum(r["requests"] for r in h["routes"]) + h["routes_pending"], h
        pending_seen = max(pending_seen, h["routes_pending"])
    print("names:", sorted(names), "most requests pending at once:", pending_seen)
    assert "/post/{var}" in names and final["requests"] == len(paths)


def test_route_patterns_from_the_command_line(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="wsgi_blog:app")
    w = watch_factory("-p", g.pid, extra=("--route", "GET /post/{slug}", "--route", "/post/{slug}/comments"))
    paths = [f"/post/{slug(i)}" for i in range(40)] + [f"/post/{slug(i)}/comments" for i in range(7)]
    drive(g.port, paths)
    svc = w.stop()["services"][0]
    got = {k: r["requests"] for k, r in routes_by_key(svc).items()}
    assert got == {("GET", "/post/{slug}"): 40, ("GET", "/post/{slug}/comments"): 7}, got
    assert svc["http_server"]["routes_folded"] == 0


# ---- The framework's own templates (read from the running application) ----

UNMATCHED = "{unmatched}"


def drive_rules(port, reqs, threads=4):
    """Send (method, path, expected) requests on keep-alive connections; returns the client's
    own Counter of (method, route) and one of statuses. The route is the X-Rule header the app
    sets from the rule its framework matched ("" is Django's root, reported as "/"); without
    one (a 404, a 405, a redirect) it is expected, which the test states."""
    def run(chunk):
        conn, names, statuses = http.client.HTTPConnection("127.0.0.1", port, timeout=30), Counter(), Counter()
        for method, path, expected in chunk:
            conn.request(method, path)
            r = conn.getresponse()
            r.read()
            rule = r.getheader("X-Rule")
            name = expected if rule is None else rule or "/"
            assert name is not None, f"{method} {path}: {r.status} and no X-Rule, but no expected name"
            names[(method, name)] += 1
            statuses[r.status] += 1
        conn.close()
        return names, statuses
    chunks = [reqs[i::threads] for i in range(threads)]
    names, statuses = Counter(), Counter()
    with ThreadPoolExecutor(threads) as ex:
        for n, s in ex.map(run, chunks):
            names += n
            statuses += s
    return names, statuses


def assert_routes_are_the_frameworks(snap, truth, nreqs, framework):
    svc = snap["services"][0]
    h = svc["http_server"]
    got = {k: r["requests"] for k, r in routes_by_key(svc).items()}
    print("route table:", h["route_table"], "| why not:", h["route_table_why"])
    print("routes:", sorted(got.items()))
    assert h["route_source"] == "framework" and h["route_table"].startswith(framework), h["route_table"]
    assert got == dict(truth), f"pyvitals {sorted(got.items())}\nclient   {sorted(truth.items())}"
    assert h["requests"] == nreqs and h["routes_pending"] == 0 and h["exact"], h


def uuid_of(i):
    return str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128)))


def flask_requests():
    rng = random.Random(141)
    reqs = [("GET", "/", None)] * 30
    reqs += [("GET", f"/blog/post/{slug(i)}", None) for i in range(400)]
    reqs += [("GET", f"/blog/post/{slug(i)}/comments", None) for i in range(100)]
    reqs += [("POST", f"/blog/post/{slug(i)}/comments", None) for i in range(50)]
    reqs += [("GET", f"/blog/archive/{2000 + i % 20}/{1 + i % 12}/", None) for i in range(100)]
    reqs += [("GET", f"/users/user{i}/profile", None) for i in range(200)]
    reqs += [("GET", f"/tag/{TAGS[i % 3]}", None) for i in range(150)]      # a parameter with 3 values
    reqs += [("GET", f"/api/v1/orders/{uuid_of(i)}", None) for i in range(150)]
    reqs += [("GET", f"/api/v1/users/{i}", None) for i in range(150)]
    reqs += [("GET", f"/files/{i % 7}/dir{i}/report-{i}.pdf", None) for i in range(100)]
    reqs += [("GET", f"/nope/{i}", UNMATCHED) for i in range(40)]               # 404: no rule
    reqs += [("DELETE", f"/blog/post/{slug(i)}", "/blog/post/<slug>") for i in range(20)]  # 405
    reqs += [("GET", f"/blog/archive/2020/{i + 1}", "/blog/archive/<int:year>/<int:month>/")
             for i in range(12)]                                                 # 308 to the slash
    rng.shuffle(reqs)
    return reqs


def test_flask_routes_are_the_apps_own_templates(gunicorn_factory, watch_factory):
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="blog_flask:app")
    w = watch_factory("-p", g.pid, interval=0.5)
    reqs = flask_requests()
    truth, statuses = drive_rules(g.port, reqs)
    assert statuses == Counter({200: 1430, 404: 40, 405: 20, 308: 12}), statuses
    assert_routes_are_the_frameworks(w.stop(), truth, len(reqs), "Flask")


def test_django_routes_are_its_url_patterns(gunicorn_factory, watch_factory):
    """Django imports its urlconf on the first request: the agent, attached before it, waits
    for the table (requests are held, not misnamed) and reads it once there."""
    g = gunicorn_factory(workers=2, worker_class="gthread", threads=4, app="blog_django:application")
    w = watch_factory("-p", g.pid, interval=0.5)
    rng = random.Random(142)
    reqs = [("GET", "/", None)] * 30
    reqs += [("GET", f"/articles/{1990 + i % 35}/", None) for i in range(150)]
    reqs += [("GET", f"/articles/{1990 + i % 35}/{slug(i)}/", None) for i in range(500)]
    reqs += [("GET", f"/articles/archive/{1 + i % 12:02d}/", None) for i in range(100)]
    reqs += [("GET", f"/tag/{TAGS[i % 3]}/", None) for i in range(150)]
    reqs += [("GET", f"/api/v{1 + i % 2}/users/{uuid_of(i)}/", None) for i in range(200)]
    reqs += [("GET", f"/api/v1/items/{i}/", None) for i in range(150)]
    reqs += [("GET", f"/files/docs/{i}/notes.txt", None) for i in range(160)]
    reqs += [("GET", f"/nope/{i}/", UNMATCHED) for i in range(40)]
    reqs += [("GET", f"/articles/{2000 + i}", "articles/<int:year>/") for i in range(20)]  # APPEND_SLASH
    rng.shuffle(reqs)
    truth, statuses = drive_rules(g.port, reqs)
    assert statuses == Counter({200: 1440, 404: 40, 301: 20}), statuses
    assert_routes_are_the_frameworks(w.stop(), truth, len(reqs), "Django")


def test_fastapi_routes_are_its_paths(watch_factory):
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "uvicorn", "--app-dir", APPS, "--port", str(port), "--log-level", "warning",
                             "blog_fastapi:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        w = watch_factory("-p", proc.pid, interval=0.5)
        rng = random.Random(143)
        reqs = [("GET", "/", None)] * 30
        reqs += [("GET", f"/api/users/user-{i}", None) for i in range(500)]
        reqs += [("GET", f"/api/items/{i}", None) for i in range(300)]
        reqs += [("POST", f"/api/items/{i}", None) for i in range(100)]
        reqs += [("GET", f"/files/{i % 9}/f{i}.bin", None) for i in range(220)]
        reqs += [("GET", f"/sub/items/{i}", None) for i in range(250)]
        reqs += [("DELETE", f"/api/items/{i}", None) for i in range(30)]            # 405, says its route
        reqs += [("GET", f"/api/items/x{i}", UNMATCHED) for i in range(30)]       # not an int: 404
        reqs += [("GET", f"/sub/other/{i}", UNMATCHED) for i in range(30)]        # inside the mount: 404
        rng.shuffle(reqs)
        truth, statuses = drive_rules(port, reqs)
        assert statuses == Counter({200: 1400, 404: 60, 405: 30}), statuses
        assert_routes_are_the_frameworks(w.stop(), truth, len(reqs), "FastAPI")
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_rule_added_after_attach_is_learned(gunicorn_factory, watch_factory):
    """The table is read again every 10 s: a rule the app adds while serving names its requests
    from then on; those before it are {unmatched}, as Flask answered them (404)."""
    g = gunicorn_factory(workers=1, worker_class="gthread", threads=2, app="blog_flask:app")
    w = watch_factory("-p", g.pid, interval=0.5)

    def templates():
        last = json.loads(w.out[-1]) if w.out else {}
        table = (last.get("services") or [{}])[0].get("http_server", {}).get("route_table") or ""
        return int(table.split(" templates")[0].rsplit(" ", 1)[1]) if "templates" in table else 0

    def wait_templates(n):
        deadline = time.time() + 25
        while templates() != n and time.time() < deadline:
            time.sleep(0.2)
        assert templates() == n, w.out[-1] if w.out else "no snapshot"
    # requests served before a table is read are named by the first one read, which must not be
    # the one with the late rule: wait for the app's own first
    wait_templates(11)
    before, _ = drive_rules(g.port, [("GET", f"/late/{i}", UNMATCHED) for i in range(5)], threads=1)
    added, _ = drive_rules(g.port, [("POST", "/admin/add-rule", None)], threads=1)
    wait_templates(12)
    after, _ = drive_rules(g.port, [("GET", f"/late/{i}", None) for i in range(7)], threads=1)
    got = {k: r["requests"] for k, r in routes_by_key(w.stop()["services"][0]).items()}
    print("routes:", got)
    assert got == dict(before + added + after), got
    assert got[("GET", "/late/<int:n>")] == 7 and got[("GET", UNMATCHED)] == 5
