"""FastAPI app for the route-table reader test, run under uvicorn (`routes_fastapi:app`): an
APIRouter with a prefix included under another prefix, and a Starlette app mounted at /sub. It
writes its own table (ROUTES_TRUTH) at import: the joined mount paths + each route's path."""
import json
import os
import sys

import fastapi

from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route


async def sub_item(request):
    return PlainTextResponse(request.path_params["sid"])


sub = Starlette(routes=[
    Route("/items/{sid}", sub_item),
    Route("/n/{n:int}", sub_item, methods=["GET", "POST"]),
    Mount("/deep", routes=[Route("/x/{rest:path}", sub_item)]),
])

users = APIRouter(prefix="/users")


@users.get("/{user_id}")
async def get_user(user_id: int):
    return {"id": user_id}


@users.delete("/{user_id}")
async def delete_user(user_id: int):
    return {}


app = FastAPI()
app.include_router(users, prefix="/api")


@app.get("/health")
async def health():
    return "ok"


@app.post("/orders/{order_id}/items")
async def add_item(order_id: str):
    return {}


app.mount("/sub", sub)


def walk(routes, prefix=""):
    for r in routes:
        if isinstance(r, Mount):
            yield from walk(r.routes, prefix + r.path)
        elif isinstance(r, Route):
            yield [",".join(sorted(r.methods)) if r.methods else "*", prefix + r.path]


if os.environ.get("ROUTES_TRUTH"):
    with open(os.environ["ROUTES_TRUTH"] + ".tmp", "w") as f:
        json.dump({"python": sys.version.split()[0], "fastapi": fastapi.__version__,
                   "routes": list(walk(app.routes))}, f)
    os.rename(os.environ["ROUTES_TRUTH"] + ".tmp", os.environ["ROUTES_TRUTH"])
