/* The data records' way out, shared by the socket object and the TLS object (which reuses
 * the socket object's maps by fd, so both write one ring buffer, in one order). */
#ifndef EMIT_BPF_H
#define EMIT_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* One record is too large for the BPF stack, and for a per-CPU map (32 KiB per value at most):
 * an array with one slot per CPU, sized by userspace. The data area is twice the capture so
 * that the verifier accepts a copy at offset off (< 64 KiB, masked) of n bytes (1..64 KiB,
 * masked), although off + n never exceeds PV_CAPTURE_MAX. */
struct scratch_record {
	struct pv_data_event ev;
	__u8 slack[PV_CAPTURE_MAX];
	__u64 unwoken;                      /* bytes this CPU queued since it last woke the reader */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);             /* set to the number of possible CPUs before load */
	__type(key, __u32);
	__type(value, struct scratch_record);
} scratch SEC(".maps");

/* Make the verifier see 1 <= n <= PV_CAPTURE_MAX on the very register passed as a copy size
 * (n is in that range already; a plain comparison can be reordered away by clang). */
#define BOUND_SIZE(n) asm volatile("%0 -= 1; %0 &= 0xffff; %0 += 1" : "+r"(n))

/* Wake the reader only when this CPU queued enough; otherwise it drains on its timer.
 * A per-CPU tally, because asking the ring for its fill level (bpf_ringbuf_query) on every
 * record cost nearly as much as the rest of the program (perf, under load). */
static __always_inline __u64 wakeup_flag(struct scratch_record *s, __u32 bytes, __u32 wakeup_bytes)
{
	s->unwoken += bytes;
	if (s->unwoken < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	s->unwoken = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* Send the I/O described by e, whose first n bytes are in e->data already, as records of up
 * to PV_CAPTURE_MAX bytes: want bytes in all, the records after the first copied on from
 * plain (the user buffer the I/O used; only when it used one, else want == n). lost is the
 * connection's count of records the ring had no room for (NULL if it has no entry): a record
 * dropped adds to it, and the next record sent says so and takes back what it reported. */
static __always_inline void emit_records(struct pv_data_event *e, __u32 n, __u32 want, __u64 plain,
					 __u32 wakeup_bytes, __u64 *ringbuf_full, __u64 *unreadable,
					 __u32 *lost)
{
	__u32 off = 0, gap = lost ? *lost : 0;

	if (gap)
		e->flags |= PV_DATA_F_GAP;

	for (int i = 0; i < PV_CHUNK_MAX; i++) {
		if (i) {
			n = want - off;
			if (n > PV_CAPTURE_MAX)
				n = PV_CAPTURE_MAX;
			BOUND_SIZE(n);
			if (bpf_probe_read_user(e->data, n, (void *)(plain + off))) {
				__sync_fetch_and_add(unreadable, 1);
				break;
			}
			e->flags &= ~PV_DATA_F_ADDR;
		}
		asm volatile("%0 &= 0x1ffff" : "+r"(n));
		e->cap_len = n;
		e->chunk_off = off;
		if (off + n < want)
			e->flags |= PV_DATA_F_MORE;
		else
			e->flags &= ~PV_DATA_F_MORE;
		if (bpf_ringbuf_output(&events, e, PV_DATA_HDR_LEN + n,
				       wakeup_flag((struct scratch_record *)e, PV_DATA_HDR_LEN + n, wakeup_bytes))) {
			__sync_fetch_and_add(ringbuf_full, 1);
			if (lost)
				__sync_fetch_and_add(lost, 1);
			break;
		}
		if (gap) {
			/* atomic: another thread's drop on this socket meanwhile stays counted */
			__sync_fetch_and_add(lost, -gap);
			gap = 0;
			e->flags &= ~PV_DATA_F_GAP;
		}
		off += n;
		if (off >= want)
			break;
	}
}
#endif
