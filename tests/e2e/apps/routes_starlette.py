"""Starlette app (no FastAPI, no server) for the route-table reader's version matrix: nested
Mounts and a Router, run as `python routes_starlette.py TRUTH_FILE` with Debian's Starlette on
PYTHONPATH. It writes its own table (joined mount paths + Route.path, methods) and sleeps."""
import json
import sys
import time

import starlette
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router


async def ok(request):
    return PlainTextResponse("ok")


api = Router(routes=[Route("/users/{user_id:int}", ok, methods=["GET", "DELETE"]),
                     Mount("/admin", routes=[Route("/stats", ok), Route("/ü/{name}", ok, methods=["PUT"])])])
app = Starlette(routes=[Route("/", ok), Route("/files/{rest:path}", ok), Mount("/api/v1", app=api),
                        Route("/health", ok, methods=["HEAD"])])


def walk(routes, prefix=""):
    for r in routes:
        if isinstance(r, Mount):
            yield from walk(r.routes, prefix + r.path)
        elif isinstance(r, Route):
            yield [",".join(sorted(r.methods)) if r.methods else "*", prefix + r.path]


if __name__ == "__main__":
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"python": sys.version.split()[0], "starlette": starlette.__version__,
                   "routes": list(walk(app.routes))}, f)
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(120)
