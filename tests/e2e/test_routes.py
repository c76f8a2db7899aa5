"""Route names without a framework table (issue #14): cardinality folding and --route patterns,
on a raw WSGI blog under gunicorn, against the client's own count per route."""
import http.client
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from conftest import routes_by_key

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
