"""Plants secrets in traffic of every protocol pyvitals parses (issue #12): an HTTP request to the
service (header value, cookie, query string, body) whose response echoes them, and database and
cache calls carrying them as SQL literals, Redis and memcached keys and values, and a Redis AUTH
password. Usage: secrets_client.py HTTP_PORT SECRET (servers from the environment, as db_app's)."""
import http.client
import os
import sys

port, secret = int(sys.argv[1]), sys.argv[2]
sys.stdin.readline()  # the test says when every agent is attached

c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("POST", f"/echo?token={secret}q", body=f"{{\"card\": \"{secret}b\"}}",
          headers={"Authorization": f"Bearer {secret}h", "Cookie": f"session={secret}c",
                   "Content-Type": "application/json"})
assert c.getresponse().read()
c.close()

import psycopg2  # noqa: E402
pg = psycopg2.connect(host="127.0.0.1", port=int(os.environ["PG_PORT"]), user="postgres", dbname="postgres")
with pg.cursor() as cur:
    cur.execute("SELECT %s, length(%s)", (f"{secret}pg", f"{secret}pg2"))  # literals on the wire
    cur.fetchall()
pg.close()

import pymysql  # noqa: E402
my = pymysql.connect(host="127.0.0.1", port=int(os.environ["MY_PORT"]), user="root", autocommit=True)
with my.cursor() as cur:
    cur.execute("SELECT %s", (f"{secret}my",))
    cur.fetchall()
my.close()

import redis  # noqa: E402
r = redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]), socket_timeout=10)
try:
    r.execute_command("AUTH", f"{secret}pw")  # no password is set: an error reply, the secret still went
except redis.ResponseError:
    pass
r.set(f"{secret}rk", f"{secret}rv")
assert r.get(f"{secret}rk") == f"{secret}rv".encode()
r.close()

from pymemcache.client.base import Client  # noqa: E402
mc = Client(("127.0.0.1", int(os.environ["MC_PORT"])), timeout=10)
mc.set(f"{secret}mk", f"{secret}mv", noreply=False)
assert mc.get(f"{secret}mk") == f"{secret}mv".encode()
mc.close()
print("planted")
