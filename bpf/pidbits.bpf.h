/* Bitmaps of tgids (one bit each, up to PV_TRACKED_BITS) that let a hot program turn away
 * the host's other processes with one load instead of a hash lookup. Userspace sets a bit
 * before the process enters the map it stands for and clears it after it leaves; a bit left
 * set only costs the lookup it was meant to save. */
#ifndef PIDBITS_BPF_H
#define PIDBITS_BPF_H

/* tgid's word in such a bitmap, for a tgid < PV_TRACKED_BITS. The mask is a no-op then, but
 * clang may index with a copy of tgid the verifier did not see tested, and would drop a plain
 * mask as redundant. */
static __always_inline __u32 pidbits_word(__u32 tgid)
{
	__u32 word = tgid / 64;

	asm volatile("%0 &= %1" : "+r"(word) : "i"(PV_TRACKED_BITS / 64 - 1));
	return word;
}

/* May tgid be in the map behind bits? tgids past the bitmap (pid_max raised beyond 2^22)
 * always say yes. */
#define pidbits_test(bits, tgid) \
	((tgid) >= PV_TRACKED_BITS || ((bits)[pidbits_word(tgid)] & (1ull << ((tgid) % 64))))

static __always_inline void pidbits_set(__u64 *bits, __u32 tgid, bool on)
{
	if (tgid >= PV_TRACKED_BITS)
		return;
	if (on)
		__sync_fetch_and_or(&bits[pidbits_word(tgid)], 1ull << (tgid % 64));
	else
		__sync_fetch_and_and(&bits[pidbits_word(tgid)], ~(1ull << (tgid % 64)));
}
#endif
