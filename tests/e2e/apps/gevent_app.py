"""A Flask app for gunicorn's gevent workers (issue #15): each request runs in its own greenlet on
one thread, psycopg2 made cooperative with psycogreen, redis-py through gevent's patched sockets.
  GET /pg/<k>     k PostgreSQL queries, a pooled connection per request
  GET /redis/<k>  k Redis GETs
  GET /none       nothing
Every route answers {"calls": k}. Servers come from PG_HOST, PG_PORT, PG_DB, REDIS_PORT."""
import os

import psycogreen.gevent
import psycopg2.pool
import redis
from flask import Flask

psycogreen.gevent.patch_psycopg()  # waits on the socket yield to the hub instead of blocking it
app = Flask(__name__)
pool = psycopg2.pool.ThreadedConnectionPool(1, 32, host=os.environ["PG_HOST"], port=int(os.environ["PG_PORT"]),
                                            user="postgres", dbname=os.environ["PG_DB"])
cache = redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]), max_connections=64)


@app.route("/pg/<int:k>")
def queries(k):
    c = pool.getconn()
    try:
        c.autocommit = True
        with c.cursor() as cur:
            for i in range(k):
                cur.execute("SELECT name FROM users WHERE id = %s", (1 + i % 100,))
                cur.fetchone()
    finally:
        pool.putconn(c)
    return {"calls": k}


@app.route("/redis/<int:k>")
def gets(k):
    for i in range(k):
        cache.get(f"key:{i}")
    return {"calls": k}


@app.route("/none")
def none():
    return {"calls": 0}
