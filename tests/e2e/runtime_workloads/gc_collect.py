"""With automatic GC disabled, call gc.collect() exactly K times (argv[1], default 25) after
DELAY seconds (argv[2], default 1), each with some cyclic garbage, then idle LINGER seconds
(argv[3], default 30). Prints "ready" and then "done <K>"."""
import gc, sys, time

k = int(sys.argv[1]) if len(sys.argv) > 1 else 25
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
linger = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
gc.disable()
print("ready", flush=True)
time.sleep(delay)
for _ in range(k):
    for _ in range(1000):
        a = []
        a.append(a)
    gc.collect()
print("done %d" % k, flush=True)
time.sleep(linger)
