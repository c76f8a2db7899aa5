"""A FastAPI service for the route-table tests (issue #14): an APIRouter with a prefix, typed
path parameters ({item_id:int}, {name:path}), methods (a 405) and a mounted Starlette app.
X-Rule carries scope["route"].path, the template Starlette matched (mount prefix included
for the mounted app's routes, which set it themselves): the test's truth. Served by uvicorn as
blog_fastapi:app."""
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

app = FastAPI()
router = APIRouter(prefix="/api")


@app.middleware("http")
async def say_rule(request, call_next):
    resp = await call_next(request)
    route = request.scope.get("route")
    if route is not None and "x-rule" not in resp.headers:  # the mounted app's routes say it themselves
        resp.headers["X-Rule"] = route.path
    return resp


@app.get("/")
async def home():
    return {"home": True}


@router.get("/users/{user_id}")
async def user(user_id: str):
    return {"user": user_id}


@router.get("/items/{item_id:int}")
async def item(item_id: int):
    return {"item": item_id}


@router.post("/items/{item_id:int}")
async def put_item(item_id: int):
    return {"stored": item_id}


@app.get("/files/{name:path}")
async def files(name: str):
    return {"file": name}


async def sub_item(request):
    return PlainTextResponse(f"sub {request.path_params['sid']}\n", headers={"X-Rule": "/sub/items/{sid}"})


app.include_router(router)
app.mount("/sub", Starlette(routes=[Route("/items/{sid}", sub_item)]))
