"""A blog as a raw WSGI application (no framework, so no route table to read): posts by slug,
their comments, tags, and a home page. Served by gunicorn as wsgi_blog:app."""


def app(environ, start_response):
    parts = [p for p in environ.get("PATH_INFO", "/").split("/") if p]
    if not parts:
        status, body = "200 OK", b"home\n"
    elif parts[0] == "post" and len(parts) == 2:
        status, body = "200 OK", f"post {parts[1]}\n".encode()
    elif parts[0] == "post" and len(parts) == 3 and parts[2] == "comments":
        status, body = "200 OK", f"comments of {parts[1]}\n".encode()
    elif parts[0] == "tag" and len(parts) == 2 and parts[1] in ("python", "rust", "go"):
        status, body = "200 OK", f"tag {parts[1]}\n".encode()
    else:
        status, body = "404 Not Found", b"no such page\n"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
