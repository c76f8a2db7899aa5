"""A standard-library asyncio HTTP service, so that task attribution can be tried on every
interpreter (pyenv's have no third-party packages). Each request is a task of asyncio.start_server;
its outbound calls go to an upstream over fresh connections (asyncio streams, or http.client on a
thread):
  GET /seq/{k}     k calls, awaited one after the other in the request's task
  GET /gather/{k}  k calls in k sub-tasks (asyncio.gather)
  GET /thread/{k}  k calls from a pool thread the task hands its context to (copy_context().run)
  GET /none        nothing
Every route answers {"calls": k} (keep-alive). Usage: asyncio_plain.py PORT UPSTREAM_PORT"""
import asyncio
import contextvars
import http.client
import json
import sys

UPSTREAM = int(sys.argv[2])


async def call(i):
    reader, writer = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    writer.write(f"GET /item/{i * 5} HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n".encode())
    while await reader.read(65536):  # to the close
        pass
    writer.close()


def call_blocking(k):
    for i in range(k):
        c = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        c.request("GET", f"/item/{i * 5}")
        c.getresponse().read()
        c.close()


async def handle(path):
    parts = path.strip("/").split("/")
    k = int(parts[1]) if len(parts) == 2 else 0
    if parts[0] == "seq":
        for i in range(k):
            await call(i)
    elif parts[0] == "gather":
        await asyncio.gather(*(call(i) for i in range(k)))
    elif parts[0] == "thread":
        ctx = contextvars.copy_context()  # what asyncio.to_thread does (3.9+)
        await asyncio.get_running_loop().run_in_executor(None, ctx.run, call_blocking, k)
    return {"calls": k}


serving = set()  # 3.8's start_server keeps no reference to a connection's task: the GC took them


async def serve(reader, writer):
    serving.add(asyncio.current_task())
    try:
        await serve_requests(reader, writer)
    finally:
        serving.discard(asyncio.current_task())


async def serve_requests(reader, writer):
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            break  # the client closed its keep-alive connection
        body = json.dumps(await handle(head.split(b" ")[1].decode())).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
