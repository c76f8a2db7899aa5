"""GIL contention: two CPU-bound threads for DURATION seconds (argv[1], default 2).
Prints "ready", waits for a line on stdin (the agent is attached), runs, then prints
"done <off-cpu s> <blocked s> <steal s>" summed over the spinning threads: off-CPU = wall - CPU
time, an upper bound on their GIL wait; blocked = off-CPU - run-queue delay (schedstat), a lower
bound (the GIL wait also holds the run-queue delay after each wake-up), except for the time the
hypervisor stole from a running spinner (in a VM a task's CPU time leaves steal out, so it lands
in blocked): steal = the host-wide steal time of the run (/proc/stat), which bounds it. Then
waits for EOF."""
import sys, threading, time

duration = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
off_cpu, blocked = [], []
# Keep every page resident and warm the code the spinners run: this host reclaims idle pages
# (kdamond), and a page fault that sleeps is blocked time the truth would count as GIL wait.
import ctypes
ctypes.CDLL(None, use_errno=True).mlockall(3)  # MCL_CURRENT | MCL_FUTURE; as root, no limit
warm_end = time.monotonic() + 0.1
while time.monotonic() < warm_end:
    time.thread_time()
print("ready", flush=True)
sys.stdin.readline()


def run_delay():
    with open("/proc/self/task/%d/schedstat" % threading.get_native_id()) as f:
        return int(f.read().split()[1]) / 1e9


def spin():
    w0, c0, q0 = time.monotonic(), time.thread_time(), run_delay()
    end = w0 + duration
    n = 0
    while time.monotonic() < end:
        n += 1
    off = (time.monotonic() - w0) - (time.thread_time() - c0)
    off_cpu.append(off)
    blocked.append(off - (run_delay() - q0))


def steal():
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / __import__("os").sysconf("SC_CLK_TCK")


s0 = steal()
threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
# The main thread only joins: waking up mid-run to do anything else would queue it for the
# GIL behind the spinners, a GIL wait the truth above (the spinners' own) does not hold.
for t in threads:
    t.join()
print("done %.3f %.3f %.3f" % (sum(off_cpu), sum(blocked), steal() - s0), flush=True)
sys.stdin.read()
