"""An asyncio service (aiohttp server) that calls an upstream with aiohttp's client, all
calls of a request in flight at once. Usage: aio_caller.py PORT UPSTREAM_URL

GET /fanout/<n>: n concurrent GETs of item i for i in range(n), over a pool of up to 16
connections; answers {"calls": n, "status": {"200": n, ...}} as the app saw them."""
import asyncio
import collections
import ssl
import sys

import aiohttp
from aiohttp import web

UPSTREAM = sys.argv[2]


async def fanout(request):
    n = int(request.match_info["n"])
    session = request.app["session"]

    async def one(i):
        async with session.get(f"{UPSTREAM}/item/{i}") as r:
            await r.read()
            return r.status
    statuses = await asyncio.gather(*(one(i) for i in range(n)))
    return web.json_response({"calls": n, "status": dict(collections.Counter(str(s) for s in statuses))})


async def session_ctx(app):
    tls = ssl.create_default_context(cafile=sys.argv[3]) if len(sys.argv) > 3 else None
    app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16, ssl=tls))
    yield
    await app["session"].close()


app = web.Application()
app.router.add_get("/fanout/{n}", fanout)
app.cleanup_ctx.append(session_ctx)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("ready", flush=True),
            access_log=None)
