"""A Flask app that imports sqlite3 only inside a request, as lazy apps do: libsqlite3 is
mapped after pyvitals attached (first request of each worker, respawned workers too).
Each response says how many statement executions it made and in which worker, so the
test's truth is the sum of what the app says it did. SQLITE_PATH names the database."""
import os
import sys
import threading
import time

from flask import Flask

app = Flask(__name__)
local = threading.local()


def db():
    import sqlite3  # the late load under test
    c = getattr(local, "db", None)
    if c is None:
        c = sqlite3.connect(os.environ["SQLITE_PATH"], isolation_level=None)  # no implicit BEGIN
        local.db = c
    return c


@app.get("/late/<int:n>")
def late(n):
    first = "sqlite3" not in sys.modules
    t0 = time.monotonic()
    c = db()
    for i in range(n):
        c.execute("SELECT id, name FROM users WHERE id = ?", (1 + i % 100,)).fetchall()
    # imported_at: CLOCK_MONOTONIC of the load, for the test's latency check.
    return {"calls": n, "pid": os.getpid(), "first_load": first, "imported_at": t0 if first else None}


@app.get("/import")
def import_only():
    """Load the library without a single call: a later request's calls must all be seen."""
    first = "sqlite3" not in sys.modules
    t0 = time.monotonic()
    import sqlite3  # noqa: F401
    return {"calls": 0, "pid": os.getpid(), "first_load": first, "imported_at": t0}
