"""Pre-fork workers: after a line on stdin the parent forks N workers (argv[1], default 2);
each, with automatic GC off, makes exactly K gc.collect() calls (argv[2], default 10) and runs
two CPU-bound threads for SPIN seconds (argv[3], default 1). Prints "ready", then
"done <worker pids>" once every worker has finished (they stay alive, single-threaded, for
the thread count), then waits for stdin EOF and reaps them. Workers also exit when the
parent dies (EOF on a pipe), so a killed test leaves nothing behind."""
import gc, os, sys, threading, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
spin_s = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
gc.disable()
print("ready", flush=True)
sys.stdin.readline()


def spin():
    end = time.monotonic() + spin_s
    while time.monotonic() < end:
        pass


def worker(w, alive):
    for _ in range(k):
        gc.collect()
    threads = [threading.Thread(target=spin) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(w, b"x")
    os.read(alive, 1)  # EOF when the parent is gone


r, w = os.pipe()
alive_r, alive_w = os.pipe()
pids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(alive_w)
        worker(w, alive_r)
        os._exit(0)
    pids.append(pid)
for _ in range(n):
    os.read(r, 1)
print("done " + " ".join(map(str, pids)), flush=True)
sys.stdin.read()
os.close(alive_w)
for pid in pids:
    os.waitpid(pid, 0)
