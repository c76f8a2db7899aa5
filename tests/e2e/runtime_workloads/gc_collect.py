"""With automatic GC disabled, exactly K gc.collect() calls (argv[1], default 25), each with
some cyclic garbage. Prints "ready", waits for a line on stdin (the agent is attached), runs,
prints "done <K>", then waits for stdin EOF."""
import gc, sys

k = int(sys.argv[1]) if len(sys.argv) > 1 else 25
gc.disable()
print("ready", flush=True)
sys.stdin.readline()
for _ in range(k):
    for _ in range(1000):
        a = []
        a.append(a)
    gc.collect()
print("done %d" % k, flush=True)
sys.stdin.read()
