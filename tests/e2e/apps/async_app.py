"""The service the event-loop attribution tests watch (issue #15): one ASGI app (FastAPI) whose
routes make a known number of database and cache calls per request, each way an event-loop
service makes them. Run it under uvicorn (--loop asyncio or uvloop) or hypercorn.
  GET /q/{k}       k asyncpg queries in the request's own task, an await between each
  GET /gather/{k}  k asyncpg queries in k sub-tasks (asyncio.gather), each on its own connection
  GET /sync/{k}    a plain `def` endpoint: k psycopg2 queries on a thread of anyio's pool
  GET /to_thread/{k}  the same through asyncio.to_thread (which copies the task's context)
  GET /executor/{k}   the same through loop.run_in_executor (which does not: nothing ties them)
  GET /redis/{k}   k redis.asyncio GETs
  GET /none        nothing
Every route answers {"calls": k}, so the test checks its own plan. Servers come from the
environment: PG_HOST, PG_PORT, PG_DB, REDIS_PORT."""
import asyncio
import os
import threading

import asyncpg
import psycopg2
import redis.asyncio as aioredis
from fastapi import FastAPI

app = FastAPI()
PG = dict(host=os.environ["PG_HOST"], port=int(os.environ["PG_PORT"]), user="postgres",
          database=os.environ["PG_DB"])
state = {}
local = threading.local()


@app.on_event("startup")
async def startup():
    state["pool"] = await asyncpg.create_pool(min_size=16, max_size=40, **PG)
    state["redis"] = aioredis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]), max_connections=64)


@app.get("/q/{k}")
async def queries(k: int):
    async with state["pool"].acquire() as conn:
        for i in range(k):
            await conn.fetchval("SELECT name FROM users WHERE id = $1", 1 + i % 100)
            await asyncio.sleep(0)
    return {"calls": k}


@app.get("/gather/{k}")
async def gathered(k: int):
    async def one(i):
        async with state["pool"].acquire() as conn:
            return await conn.fetchval("SELECT total FROM orders WHERE id = $1", 1 + i)
    await asyncio.gather(*(one(i) for i in range(k)))
    return {"calls": k}


def pg_queries(k):
    c = getattr(local, "pg", None)
    if c is None:
        c = local.pg = psycopg2.connect(host=PG["host"], port=PG["port"], user="postgres", dbname=PG["database"])
        c.autocommit = True
    with c.cursor() as cur:
        for i in range(k):
            cur.execute("SELECT id FROM users WHERE id = %s", (1 + i % 100,))
            cur.fetchone()
    return {"calls": k}


@app.get("/sync/{k}")
def in_thread_pool(k: int):
    return pg_queries(k)


@app.get("/to_thread/{k}")
async def to_thread(k: int):
    return await asyncio.to_thread(pg_queries, k)


@app.get("/executor/{k}")
async def executor(k: int):
    return await asyncio.get_running_loop().run_in_executor(None, pg_queries, k)


@app.get("/redis/{k}")
async def cache(k: int):
    for i in range(k):
        await state["redis"].get(f"key:{i}")
    return {"calls": k}


@app.get("/none")
async def none():
    return {"calls": 0}
