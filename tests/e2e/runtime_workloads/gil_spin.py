"""Two CPU-bound threads fight for the GIL for DURATION seconds (argv[1], default 2), starting
DELAY seconds (argv[2], default 1) after "ready" so the agent can attach first, then idle for
LINGER seconds (argv[3], default 30). Prints "ready", then "done <off-cpu seconds>": the sum over
the spinning threads of wall time minus thread CPU time, an independent bound on GIL wait."""
import sys, threading, time

duration = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
linger = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
off_cpu = []
print("ready", flush=True)
time.sleep(delay)


def spin():
    w0, c0 = time.monotonic(), time.thread_time()
    end = w0 + duration
    n = 0
    while time.monotonic() < end:
        n += 1
    off_cpu.append((time.monotonic() - w0) - (time.thread_time() - c0))


threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done %.3f" % sum(off_cpu), flush=True)
time.sleep(linger)
