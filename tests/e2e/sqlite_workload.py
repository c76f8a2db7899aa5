"""SQLite workload for tools/sqlite-harness and the e2e tests: a known number of statement
executions through Python's sqlite3 module, started once the tracer is attached.

    sqlite_workload.py DBPATH [--inserts N] [--implicit-tx] [--warm] [--late-import] [--linger S]
    sqlite_workload.py :memory: --bench N [--bench-kind insert|select]

Waits for a line on stdin (the tracer is attached), runs the workload, then prints one JSON
line with what the tracer must have seen: {"calls": K, "errors": E, "codes": {...}}.
--late-import imports sqlite3 (and connects) only after the go line, then waits 1.5 s: a
tracer that re-adds the pid every second must pick the library up.
--warm runs WARM_SQL once before attach, so that its execution after attach comes from
Python's statement cache (no prepare for the tracer to see).
--bench N instead times N executes of a cached INSERT and prints {"us_per_execute": X}.

As a driver (root): --harness build/sqlite-harness runs the workload in a child, attaches the
harness to it, and checks the harness's "total calls=N errors=E" against the workload's own
count (exit 1 on a mismatch). With --bench N --pairs P it runs P pairs of timed children,
probes off and on in alternating order, and prints the medians of the paired differences.
"""
import argparse
import json
import importlib
import os
import statistics
import subprocess
import sys
import time

sqlite3 = None  # imported in main(): before attach, or after it with --late-import

DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WARM_SQL = "SELECT name FROM sqlite_master WHERE type = ?"


def workload(db, inserts, implicit, warm):
    calls = errors = 0
    codes = {}
    cur = db.cursor()

    def run(sql, params=(), expect_error=None):
        nonlocal calls, errors
        calls += 1
        # Outside autocommit the module runs its own BEGIN before a DML statement when no
        # transaction is open (after the statement compiled): one more execution.
        if implicit and not db.in_transaction and sql.split()[0].upper() in DML and \
                not sql.startswith("SELEC "):
            calls += 1
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        except sqlite3.Error as e:
            if not expect_error:
                raise
            errors += 1
            codes[expect_error] = codes.get(expect_error, 0) + 1
            return None
        if expect_error:
            raise AssertionError("expected an error from %r" % sql)
        return rows

    if warm:
        run(WARM_SQL, ("table",))
    run("DROP TABLE IF EXISTS items")
    run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)")
    for i in range(inserts):
        run("INSERT INTO items (id, name, qty) VALUES (?, ?, ?)", (i, "item%d" % i, i * 2))
    if implicit:
        db.commit()  # the module's COMMIT is one more execution
        calls += 1
    rows = run("SELECT id, name, qty FROM items WHERE qty >= ?", (0,))
    assert len(rows) == inserts
    # A statement abandoned after its first row: reset by the module, counted once.
    calls += 1
    cur.execute("SELECT name FROM items ORDER BY id")
    cur.fetchone()
    cur.close()
    cur = db.cursor()
    run("SELEC name FROM items", expect_error="ERROR")          # syntax error, fails in prepare
    run("INSERT INTO items (id, name) VALUES (?, ?)", (1, "dup"), expect_error="CONSTRAINT")
    run("SELECT count(*) FROM items")
    if implicit:
        db.commit()  # the failed INSERT's BEGIN left a transaction open: COMMIT ends it
        calls += 1
    return {"calls": calls, "errors": errors, "codes": codes}


def bench(db, n, kind):
    """Time n executes of one cached statement: an INSERT (one step to DONE, then the next
    execute's reset) or a one-row SELECT read with fetchall (ROW, DONE, reset)."""
    db.execute("CREATE TABLE IF NOT EXISTS b (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("INSERT INTO b (v) VALUES ('x')")
    cur = db.cursor()
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "insert":
        for _ in range(n):
            cur.execute("INSERT INTO b (v) VALUES (?)", ("x",))
    else:
        for _ in range(n):
            cur.execute("SELECT v FROM b WHERE id = ?", (1,)).fetchall()
    # CPU time too: uprobe handling is charged to the traced thread (system time), and CPU
    # time is less disturbed than wall time by other tenants of a small VM.
    return {"us_per_execute": (time.perf_counter() - t0) / n * 1e6,
            "cpu_us_per_execute": (time.process_time() - c0) / n * 1e6}


def run_child(argv, harness):
    """One workload child, optionally traced by the harness: (child's JSON, harness totals)."""
    child = subprocess.Popen([sys.executable, __file__] + argv, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    ready = child.stdout.readline()
    assert ready.startswith("ready"), ready
    tracer = None
    if harness:
        tracer = subprocess.Popen([harness, "-p", str(child.pid), "--quiet"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = tracer.stderr.readline()
        assert line.startswith("attached"), line + tracer.stderr.read()
    child.stdin.write("go\n")
    child.stdin.flush()
    out = json.loads(child.stdout.readline())
    child.wait()
    totals = None
    if tracer:
        # The harness exits by itself once its target is gone, after a last drain.
        text, _ = tracer.communicate(timeout=30)
        last = [l for l in text.splitlines() if l.startswith("total ")][-1]
        totals = dict(kv.split("=") for kv in last.split()[1:])
    return out, totals


def drive(args, child_argv):
    if not args.bench:
        out, totals = run_child(child_argv, args.harness)
        print("workload", json.dumps(out), "harness", totals)
        ok = int(totals["calls"]) == out["calls"] and int(totals["errors"]) == out["errors"] \
            and totals["lost"] == "0"
        print("OK" if ok else "MISMATCH")
        return 0 if ok else 1
    rows = []
    for i in range(args.pairs):
        order = (None, args.harness) if i % 2 == 0 else (args.harness, None)
        res = {h: run_child(child_argv, h)[0] for h in order}
        rows.append((res[None], res[args.harness]))
    for key in ("us_per_execute", "cpu_us_per_execute"):
        off = statistics.median(r[0][key] for r in rows)
        add = statistics.median(r[1][key] - r[0][key] for r in rows)
        print("%s: off %.2f, added by the probes %.2f (median of %d paired differences)"
              % (key, off, add, len(rows)))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--inserts", type=int, default=50)
    ap.add_argument("--implicit-tx", action="store_true")
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--linger", type=float, default=0.5,
                    help="seconds to stay alive (connection open) after the workload: a tracer "
                         "reads what was set up before attach from the live process")
    ap.add_argument("--bench", type=int, default=0)
    ap.add_argument("--bench-kind", choices=("insert", "select"), default="insert")
    ap.add_argument("--late-import", action="store_true")
    ap.add_argument("--harness", help="drive: run the workload in a child traced by this harness")
    ap.add_argument("--pairs", type=int, default=9)
    args = ap.parse_args()
    if args.harness:
        child_argv, skip = [], False
        for a in sys.argv[1:]:
            if skip:
                skip = False
            elif a in ("--harness", "--pairs"):
                skip = True
            elif not a.startswith(("--harness=", "--pairs=")):
                child_argv.append(a)
        sys.exit(drive(args, child_argv))
    global sqlite3
    if not args.late_import:
        sqlite3 = importlib.import_module("sqlite3")
        db = sqlite3.connect(args.db, isolation_level="" if args.implicit_tx else None)
        if args.warm:
            db.execute(WARM_SQL, ("table",)).fetchall()
    print("ready %d" % os.getpid(), flush=True)
    sys.stdin.readline()
    if args.late_import:
        sqlite3 = importlib.import_module("sqlite3")
        time.sleep(1.5)
        db = sqlite3.connect(args.db, isolation_level="" if args.implicit_tx else None)
    if args.bench:
        out = bench(db, args.bench, args.bench_kind)
    else:
        out = workload(db, args.inserts, args.implicit_tx, args.warm)
    print(json.dumps(out), flush=True)
    time.sleep(args.linger)
    db.close()


if __name__ == "__main__":
    main()
