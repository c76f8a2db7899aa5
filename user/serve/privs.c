/* Capability reduction with the raw syscalls (no libcap needed for five calls). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "privs.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int last_cap(void)
{
	int last = CAP_BPF;

	/* the kernel's highest capability: the bounding set answers for every valid one */
	while (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	while (last > 0 && prctl(PR_CAPBSET_READ, last, 0, 0, 0) < 0)
		last--;
	return last;
}

void privs_each_needed(void (*fn)(const char *cap, bool held, const char *why, void *ctx), void *ctx)
{
	static const struct { int cap; const char *name, *why; } needed[] = {
		{ CAP_BPF, "CAP_BPF", "load BPF programs and read their maps (kernels 5.8+)" },
		{ CAP_PERFMON, "CAP_PERFMON", "attach tracepoints and uprobes (kernels 5.8+)" },
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "mount tracefs when missing; BPF on kernels before 5.8" },
		{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "read other users' /proc/PID/maps and interpreter memory" },
		{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "read libraries only their owner may read" },
		{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "raise RLIMIT_MEMLOCK (kernels before 5.11)" },
	};
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	uint64_t eff;

	syscall(SYS_capget, &hdr, data);
	eff = ((uint64_t)data[1].effective << 32) | data[0].effective;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		fn(needed[i].name, eff >> needed[i].cap & 1, needed[i].why, ctx);
}

static const char *cap_name(int c)
{
	return c == CAP_SYS_PTRACE ? "CAP_SYS_PTRACE" : c == CAP_DAC_READ_SEARCH ? "CAP_DAC_READ_SEARCH"
	     : c == CAP_BPF ? "CAP_BPF" : c == CAP_PERFMON ? "CAP_PERFMON" : "CAP_SYS_ADMIN";
}

int privs_drop_for_serving(char *kept, size_t keptlen, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	bool has_bpf = prctl(PR_CAPBSET_READ, CAP_BPF, 0, 0, 0) >= 0; /* kernels 5.8+ */
	int keep[4], nkeep = 0, last = last_cap();
	uint64_t mask = 0;

	keep[nkeep++] = CAP_SYS_PTRACE;
	keep[nkeep++] = CAP_DAC_READ_SEARCH;
	if (has_bpf) {
		keep[nkeep++] = CAP_BPF;
		keep[nkeep++] = CAP_PERFMON;
	} else {
		keep[nkeep++] = CAP_SYS_ADMIN;
	}
	for (int i = 0; i < nkeep; i++)
		mask |= 1ull << keep[i];
	if (syscall(SYS_capget, &hdr, data)) {
		snprintf(err, errlen, "capget: %s", strerror(errno));
		return -1;
	}
	/* What we never had cannot be kept: a reduced start (e.g. systemd's set) stays reduced. */
	mask &= ((uint64_t)data[1].permitted << 32) | data[0].permitted;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* The bounding set needs CAP_SETPCAP, which goes last (with capset below). */
	for (int c = 0; c <= last; c++)
		if (!(mask >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL && errno != EPERM) {
			snprintf(err, errlen, "dropping capability %d from the bounding set: %s", c, strerror(errno));
			return -1;
		}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)mask;
	data[1].effective = data[1].permitted = (uint32_t)(mask >> 32);
	if (syscall(SYS_capset, &hdr, data)) {
		snprintf(err, errlen, "capset: %s", strerror(errno));
		return -1;
	}
	kept[0] = 0;
	for (int i = 0, n = 0; i < nkeep; i++)
		if (mask >> keep[i] & 1)
			n += snprintf(kept + n, (size_t)n < keptlen ? keptlen - n : 0, "%s%s", n ? " " : "",
				      cap_name(keep[i]));
	return 0;
}
