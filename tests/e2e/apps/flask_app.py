"""The service the end-to-end tests and the demo watch: a small Flask app with routes
for every case the HTTP tests need (ids in paths, bodies, errors, slow and large responses)."""
import os
import time

from flask import Flask, Response, abort, request

app = Flask(__name__)


@app.get("/")
def index():
    return "ok\n"


@app.get("/users/<int:user_id>")
def user(user_id):
    return {"id": user_id, "name": f"user{user_id}"}


@app.post("/items")
def create_item():
    body = request.get_data()
    return {"received": len(body)}, 201


@app.post("/echo")
def echo():
    """Everything the request carried, back in the body and a cookie (the secrets test)."""
    sent = f"{request.args.get('token')} {request.headers.get('Authorization')} {request.cookies.get('session')}"
    r = Response(request.get_data() + sent.encode(), mimetype="text/plain")
    r.set_cookie("echo", request.args.get("token") or "")
    return r


@app.get("/missing")
def missing():
    abort(404)


@app.get("/fail")
def fail():
    raise RuntimeError("deliberate failure for the tests")


@app.get("/sleep/<int:ms>")
def sleep(ms):
    time.sleep(ms / 1000.0)
    return "slept\n"


@app.get("/big")
def big():
    return "x" * (256 * 1024)


@app.get("/stream")
def stream():
    def parts():
        for i in range(20):
            yield f"part {i} " + "y" * 3000 + "\n"
    return Response(parts(), mimetype="text/plain")


@app.get("/redirect")
def redirect():
    return "", 302, {"Location": "/"}


@app.get('/we"ird\\path')
def weird():
    """A rule with a quote and a backslash: its route label must come out escaped (test_serve)."""
    return "weird\n"


@app.get("/pid")
def pid():
    return str(os.getpid())
