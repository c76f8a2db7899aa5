/* After the probes are attached, pyvitals serve keeps only what attaching to processes that start
 * later needs (README "Privileges"): CAP_BPF and CAP_PERFMON (bpf() and uprobe perf events; on
 * kernels without them, CAP_SYS_ADMIN), CAP_SYS_PTRACE (read /proc/PID/maps, exe and interpreter
 * memory of other users' processes) and CAP_DAC_READ_SEARCH (their libraries through
 * /proc/PID/root, files only root may read). Everything else goes from the effective, permitted,
 * inheritable, ambient and bounding sets, and no_new_privs is set. */
#ifndef PRIVS_H
#define PRIVS_H
#include <stdbool.h>
#include <stddef.h>

/* Call on the thread that will keep running the agent, before any other thread exists (the
 * capability sets are per thread). 0, with the kept set named in kept; or -1 with err. */
int privs_drop_for_serving(char *kept, size_t keptlen, char *err, size_t errlen);
/* Which of the capabilities pyvitals uses this process holds (effective set), with what each is
 * for: one line each through fn. */
void privs_each_needed(void (*fn)(const char *cap, bool held, const char *why, void *ctx), void *ctx);
#endif
