"""A steady request mix for the demo: mostly fast reads, some writes, 404s, 500s and slow calls."""
import http.client
import random
import sys
import time

port = int(sys.argv[1])
paths = [("GET", "/users/{n}")] * 10 + [("POST", "/items"), ("GET", "/missing"), ("GET", "/fail"),
                                         ("GET", "/sleep/20"), ("GET", "/")]
conn = None
while True:
    try:
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        method, path = random.choice(paths)
        conn.request(method, path.replace("{n}", str(random.randint(1, 500))), body=b"x=1" if method == "POST" else None)
        conn.getresponse().read()
        time.sleep(0.004)
    except (OSError, http.client.HTTPException):
        conn = None
        time.sleep(0.2)
