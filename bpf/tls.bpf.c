// SPDX-License-Identifier: GPL-2.0
/* TLS plaintext of tracked processes, from uprobes on OpenSSL's SSL_read, SSL_read_ex,
 * SSL_write and SSL_write_ex, or on the internal functions both forms call with the _ex
 * arguments (OpenSSL 3: their first instruction is emulated, the wrappers' is single-stepped).
 * user/probes/tls_probe.c attaches them to each libssl file once, for all processes (as the
 * SQLite probes), so every program starts with the tracked lookup.
 *
 * The entry probe keeps the call's arguments per thread; the return probe copies the bytes
 * the call moved and sends them as PV_EV_TLS records into the socket object's ring buffer
 * (maps shared by fd), so they arrive in order with the socket records of the same thread.
 * The SSL * is not tied to a socket here: userspace does it from those socket records (the
 * I/O made inside the call, or, for an SSL over memory BIOs as asyncio's, the thread's I/O
 * around it). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyvitals.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct pv_tls_config tls_cfg = {};
struct pv_tls_counters tls_counters = {};

#include "tracked.bpf.h"
#include "emit.bpf.h"
#include "units.bpf.h"

/* A call in progress, from entry to return. LRU: a thread killed inside a call leaves its
 * entry behind. */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 out;      /* SSL_*_ex: where the call stores the byte count; 0 for SSL_read/write */
	__u64 start;
	__u32 dir;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);                 /* tid */
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pv_tls_key);
	__type(value, struct pv_tls_info);
} tls_ssl SEC(".maps");

static __always_inline int enter(void *ssl, void *buf, void *out, __u32 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct tls_call c = { .ssl = (__u64)ssl, .buf = (__u64)buf, .out = (__u64)out, .dir = dir };

	if (!bpf_map_lookup_elem(&tracked, &tgid)) {
		__sync_fetch_and_add(&tls_counters.untracked, 1);
		return 0;
	}
	c.start = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&tls_calls, &tid, &c, BPF_ANY))
		__sync_fetch_and_add(&tls_counters.calls_full, 1);
	return 0;
}

static __always_inline int leave(int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, moved, want;
	struct tls_call *cp = bpf_map_lookup_elem(&tls_calls, &tid), c;
	struct pv_tls_key key = {};
	struct pv_tls_info *info, fresh = {};
	struct pv_proc_info *proc;
	__u64 hbuf[PV_DATA_HDR_LEN / 8] = {};  /* the records' header (see on_sock_io) */
	struct pv_data_event *h = (struct pv_data_event *)hbuf;
	struct emit_ctx x = { .wakeup_bytes = tls_cfg.wakeup_bytes, .ringbuf_full = &tls_counters.ringbuf_full,
			      .unreadable = &tls_counters.unreadable };

	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&tls_calls, &tid);
	if (c.out) {
		__u64 got = 0;

		/* _ex and the internal functions: > 0 on success, the count in *out */
		if (ret <= 0)
			return 0;
		if (bpf_probe_read_user(&got, sizeof(got), (void *)c.out)) {
			__sync_fetch_and_add(&tls_counters.unreadable, 1);
			return 0;
		}
		moved = got > 0x7fffffff ? 0x7fffffff : (__u32)got;
	} else {
		if (ret <= 0)
			return 0;
		moved = ret;
	}
	proc = bpf_map_lookup_elem(&tracked, &tgid);
	if (!moved || !proc)
		return 0;
	key.ssl = c.ssl;
	key.tgid = tgid;
	info = bpf_map_lookup_elem(&tls_ssl, &key);
	if (info) {
		want = info->capture;
	} else {
		/* the side that writes first is a client: capture its batches whole from the start */
		want = c.dir == PV_DIR_SEND ? tls_cfg.client_capture : tls_cfg.capture_len;
		fresh.capture = want;
		bpf_map_update_elem(&tls_ssl, &key, &fresh, BPF_NOEXIST);
		info = bpf_map_lookup_elem(&tls_ssl, &key);
	}
	if (info) { /* NULL: the map is full, no gap is told */
		x.lost = &info->lost;
		x.gap = info->lost;
	}
	if (!want)
		want = tls_cfg.capture_len;
	if (want > moved)
		want = moved;
	if (want < moved)
		__sync_fetch_and_add(&tls_counters.truncated, 1);
	h->type = PV_EV_TLS;
	h->service = proc->service;
	h->ts_ns = bpf_ktime_get_ns();
	h->start_ns = c.start;
	h->sk = c.ssl;
	h->tgid = tgid;
	h->tid = tid;
	h->len = moved;
	h->dir = c.dir;
	h->flags = PV_DATA_F_TLS;
	h->unit = py_unit(tgid);
	emit_user(h, c.buf, want, &x);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_write_enter, void *ssl, const void *buf, int num)
{
	return enter(ssl, (void *)buf, NULL, PV_DIR_SEND);
}

SEC("uprobe")
int BPF_KPROBE(tls_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return enter(ssl, (void *)buf, written, PV_DIR_SEND);
}

SEC("uprobe")
int BPF_KPROBE(tls_read_enter, void *ssl, void *buf, int num)
{
	return enter(ssl, buf, NULL, PV_DIR_RECV);
}

SEC("uprobe")
int BPF_KPROBE(tls_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return enter(ssl, buf, readbytes, PV_DIR_RECV);
}

/* One return probe for the four: the entry said which call it was. */
SEC("uretprobe")
int BPF_KRETPROBE(tls_exit, int ret)
{
	return leave(ret);
}
