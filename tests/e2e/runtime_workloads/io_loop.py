"""A single-threaded I/O loop (pipe write+read, a short sleep now and then) for DURATION
seconds (argv[1], default 2): no GIL contention. Prints "ready", waits for a line on stdin,
runs, prints "done <iterations>", then waits for stdin EOF."""
import os, sys, time

duration = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
print("ready", flush=True)
sys.stdin.readline()
r, w = os.pipe()
n = 0
end = time.monotonic() + duration
while time.monotonic() < end:
    os.write(w, b"x" * 64)
    os.read(r, 64)
    n += 1
    if n % 1000 == 0:
        time.sleep(0.001)
print("done %d" % n, flush=True)
sys.stdin.read()
