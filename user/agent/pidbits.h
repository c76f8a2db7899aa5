/* Userspace side of bpf/pidbits.bpf.h: set or clear a tgid's bit in a BPF object's mmapped
 * bitmap, atomically, as the programs read it concurrently. */
#ifndef PIDBITS_H
#define PIDBITS_H
#include <stdbool.h>
#include <linux/types.h>
#include "pyvitals.h"

static inline void pidbits_set(__u64 *bits, __u32 pid, bool on)
{
	if (pid >= PV_TRACKED_BITS)
		return;
	if (on)
		__atomic_fetch_or(&bits[pid / 64], 1ull << (pid % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&bits[pid / 64], ~(1ull << (pid % 64)), __ATOMIC_SEQ_CST);
}
#endif
