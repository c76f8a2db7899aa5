/* The data records' way out, shared by the socket object and the TLS object (which reuses
 * the socket object's maps by fd, so both write one ring buffer, in one order).
 *
 * Bytes of a single-buffer I/O are read from user memory once, straight into a reserved ring
 * slot: a scratch copy then bpf_ringbuf_output() cost a second copy and touched twice the
 * memory per record. (iovec I/Os still go through a scratch record: see emit_iov.) */
#ifndef EMIT_BPF_H
#define EMIT_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Bytes this CPU queued since it last woke the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwoken SEC(".maps");

/* What the records of one I/O share: where lost records are counted, and the counters. */
struct emit_ctx {
	__u32 wakeup_bytes;
	__u32 gap;              /* records of this connection lost before: flag the next one */
	__u32 *lost;            /* the connection's count of them (NULL if it has no entry) */
	__u64 *ringbuf_full;
	__u64 *unreadable;
};

/* Wake the reader only when this CPU queued enough; otherwise it drains on its timer.
 * A per-CPU tally, because asking the ring for its fill level (bpf_ringbuf_query) on every
 * record cost nearly as much as the rest of the program (perf, under load). */
static __always_inline __u64 wakeup_flag(__u32 bytes, __u32 wakeup_bytes)
{
	__u32 zero = 0;
	__u64 *q = bpf_map_lookup_elem(&unwoken, &zero);

	if (!q)
		return 0;
	*q += bytes;
	if (*q < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*q = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* A record the ring had no room for: counted, and told on the connection's next record. */
static __always_inline void record_lost(struct emit_ctx *x)
{
	__sync_fetch_and_add(x->ringbuf_full, 1);
	if (x->lost)
		__sync_fetch_and_add(x->lost, 1);
}

/* A record went out flagged PV_DATA_F_GAP: take back the losses it told of (atomic: another
 * thread's drop on this socket meanwhile stays counted). */
static __always_inline void gap_told(struct emit_ctx *x)
{
	if (x->gap) {
		__sync_fetch_and_add(x->lost, -x->gap);
		x->gap = 0;
	}
}

/* Make the verifier see 1 <= n <= max (a power of two) on the very register passed as a copy
 * size (n is in that range already; a plain comparison can be reordered away by clang). */
#define BOUND_SIZE(n, max) asm volatile("%0 -= 1; %0 &= %1; %0 += 1" : "+r"(n) : "i"((max) - 1))

/* A record with room for n (1..PV_CAPTURE_MAX) data bytes, of the smallest size class that
 * holds them (so a record wastes less than half its data room). One reserve per class: the
 * verifier wants each size as a constant, and the asm after each keeps clang from merging
 * them into one call with a computed size. */
#define RESERVE_CLASS(room)                                                         \
	if (n <= (room)) {                                                          \
		e = bpf_ringbuf_reserve(&events, PV_DATA_HDR_LEN + (room), 0);      \
		BOUND_SIZE(n, room);                                                \
		size = PV_DATA_HDR_LEN + (room);                                    \
		goto reserved;                                                      \
	}

/* Send one record: header h and n (0..PV_CAPTURE_MAX) bytes of user memory at src, with
 * PV_DATA_F_MORE when more of this I/O follows. Returns the data bytes sent, or -1 if the
 * record was lost (ring full: counted, and told on the connection's next record) or the
 * bytes could not be read (the record goes out without them, its I/O still counted).
 * full: reserve the largest class whatever n is (the records after an I/O's first, see
 * emit_user). */
static __always_inline int emit_one(const struct pv_data_event *h, __u64 src, __u32 n, bool more,
				    bool full, struct emit_ctx *x)
{
	struct pv_data_event *e;
	__u32 size = PV_DATA_HDR_LEN + 64;
	int ret = n;

	if (!n) {
		e = bpf_ringbuf_reserve(&events, PV_DATA_HDR_LEN + 64, 0);
	} else if (full) {
		e = bpf_ringbuf_reserve(&events, PV_DATA_HDR_LEN + PV_CAPTURE_MAX, 0);
		BOUND_SIZE(n, PV_CAPTURE_MAX);
		size = PV_DATA_HDR_LEN + PV_CAPTURE_MAX;
	} else {
		RESERVE_CLASS(64)
		RESERVE_CLASS(128)
		RESERVE_CLASS(256)
		RESERVE_CLASS(512)
		RESERVE_CLASS(1024)
		RESERVE_CLASS(2048)
		RESERVE_CLASS(4096)
		RESERVE_CLASS(8192)
		RESERVE_CLASS(16384)
		RESERVE_CLASS(32768)
		RESERVE_CLASS(PV_CAPTURE_MAX)
		return -1;
	}
reserved:
	if (!e) {
		record_lost(x);
		return -1;
	}
	__builtin_memcpy(e, h, PV_DATA_HDR_LEN);
	if (n && bpf_probe_read_user(e->data, n, (void *)src)) {
		__sync_fetch_and_add(x->unreadable, 1);
		n = 0;
		more = false;
		ret = -1;
	}
	e->cap_len = n;
	if (more)
		e->flags |= PV_DATA_F_MORE;
	if (x->gap)
		e->flags |= PV_DATA_F_GAP;
	bpf_ringbuf_submit(e, wakeup_flag(size, x->wakeup_bytes));
	gap_told(x);
	return ret;
}

/* Send want bytes of the user buffer at src as records of up to PV_CAPTURE_MAX bytes (an I/O
 * of one buffer: the TLS plaintext, or a socket's read/write/send/recv). The first record is of
 * the size class its bytes need; the rest (I/Os past 64 KiB: database batches) are all of the
 * largest class, and every one but the last is full, so record i starts at i * PV_CAPTURE_MAX:
 * the verifier then walks the loop once per iteration, not once per size class and offset. */
static __always_inline void emit_user(struct pv_data_event *h, __u64 src, __u32 want, struct emit_ctx *x)
{
	__u32 n = want < PV_CAPTURE_MAX ? want : PV_CAPTURE_MAX;

	h->chunk_off = 0;
	if (emit_one(h, src, n, n < want, false, x) < 0 || n >= want)
		return;
	h->flags &= ~PV_DATA_F_ADDR;   /* the addresses go with the first record only */
	for (__u32 i = 1; i < PV_CHUNK_MAX; i++) {
		__u32 off = i * PV_CAPTURE_MAX;

		n = want - off;
		if (n > PV_CAPTURE_MAX)
			n = PV_CAPTURE_MAX;
		h->chunk_off = off;
		if (emit_one(h, src + off, n, off + n < want, true, x) < 0 || off + n >= want)
			break;
	}
}
#endif
