"""Automatic GC under allocation of cyclic garbage (ROUNDS, argv[1], default 300000 cycles).
Prints "ready", waits for a line on stdin, runs, then prints "done g0 g1 g2": the
interpreter's own count of collections per generation during the run (gc.get_stats()),
the truth the agent's per-generation counts are compared with. Then waits for stdin EOF."""
import gc, sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
print("ready", flush=True)
sys.stdin.readline()
before = [s["collections"] for s in gc.get_stats()]
for _ in range(rounds):
    a = []
    a.append(a)
after = [s["collections"] for s in gc.get_stats()]
print("done " + " ".join(str(b - a) for a, b in zip(before, after)), flush=True)
sys.stdin.read()
