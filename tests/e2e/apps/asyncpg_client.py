"""A plain asyncio script (no HTTP) that talks to PostgreSQL with asyncpg: extended query
protocol, a prepared statement fetched many times, executemany (pipelined Bind/Execute with
one Sync) and an error. It waits for "go" on stdin, so the test can attach pyvitals and reset
pg_stat_statements first, prints its own counts as one JSON line, then waits for "exit".
Usage: asyncpg_client.py PORT DB FETCHES ROWS [tls]
tls: over TLS (the certificate not verified), its session named application_name 'asyncpg_client'."""
import asyncio
import json
import ssl
import sys

import asyncpg


async def main(port, db, fetches, rows, tls):
    sys.stdin.readline()
    extra = {}
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        extra = {"ssl": ctx, "server_settings": {"application_name": "asyncpg_client"}}
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=db, **extra)
    stmt = await conn.prepare("SELECT id, name FROM users WHERE id = $1")
    for i in range(fetches):
        await stmt.fetch(1 + i % 100)
    await conn.executemany("INSERT INTO items (v) VALUES ($1)", [(i,) for i in range(rows)])
    for i in range(fetches):
        await conn.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", 1 + i % 100)
    errors = 0
    try:
        await conn.fetch("SELEC $1::int", 1)
    except asyncpg.PostgresSyntaxError:
        errors += 1
    print(json.dumps({"fetches": fetches, "rows": rows, "errors": errors}), flush=True)
    sys.stdin.readline()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:] == ["tls"]))
