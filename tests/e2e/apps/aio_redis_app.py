"""An aiohttp service using redis.asyncio (issue #15): each request is an asyncio task.
  GET /r/{k}      k GETs, awaited one after the other
  GET /fan/{k}    k GETs in k sub-tasks (asyncio.gather)
  GET /none       nothing
Every route answers {"calls": k}. Usage: aio_redis_app.py PORT REDIS_PORT"""
import asyncio
import sys

import redis.asyncio as aioredis
from aiohttp import web


async def sequential(request):
    k = int(request.match_info["k"])
    for i in range(k):
        await request.app["redis"].get(f"key:{i}")
    return web.json_response({"calls": k})


async def fanned(request):
    k = int(request.match_info["k"])
    await asyncio.gather(*(request.app["redis"].get(f"key:{i}") for i in range(k)))
    return web.json_response({"calls": k})


async def none(request):
    return web.json_response({"calls": 0})


async def client(app):
    app["redis"] = aioredis.Redis(host="127.0.0.1", port=int(sys.argv[2]), max_connections=64)
    yield
    await app["redis"].close()


app = web.Application()
app.router.add_get("/r/{k}", sequential)
app.router.add_get("/fan/{k}", fanned)
app.router.add_get("/none", none)
app.cleanup_ctx.append(client)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: None)
