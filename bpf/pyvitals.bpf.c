// SPDX-License-Identifier: GPL-2.0
/* Socket I/O and process membership of the watched services.
 *
 * Socket data comes from one of three hook sets, chosen by userspace at start-up
 * (the others are not loaded): the sock:sock_{send,recv}_length tracepoints (fire only
 * for socket I/O, in the caller's context, no host-wide syscall tax), fexit on
 * tcp_{send,recv}msg, or kprobes on the same with the result from the syscall's exit
 * tracepoint. All three end in on_sock_io(),
 * which copies a bounded prefix of the user buffer straight from the syscall's
 * registers. Processes join a service at attach (userspace), by fork from a member,
 * or by exec of a watched comm, all followed here so no first request is missed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "pyvitals.h"
#include "syscalls.bpf.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

char LICENSE[] SEC("license") = "GPL";

const volatile struct pv_config cfg = {};
struct pv_counters counters = {};
/* The tracked map's membership as bits (see maybe_tracked), and its generation: bumped, here
 * and by userspace, whenever a process leaves the map or changes service. */
__u64 tracked_bits[PV_TRACKED_BITS / 64] = {};
__u32 tracked_gen = 0;
/* tgids that may have a py_units entry (see units.bpf.h): the others skip its lookup */
__u64 unit_bits[PV_TRACKED_BITS / 64] = {};

#include "tracked.bpf.h"
#include "pidbits.bpf.h"

/* Sockets a tracked process did I/O on: TCP ones so their close can be reported, the
 * others so they are passed over after one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);                 /* struct sock * */
	__type(value, struct pv_conn_info);
} conns SEC(".maps");

#include "emit.bpf.h"
#include "units.bpf.h"

/* kprobe mode: tcp_*msg arguments, from entry to the syscall's exit, per thread. */
struct kprobe_args {
	__u64 sk;
	__s32 flags;
	__u32 dir;
	__s64 nr;       /* the syscall the call came from */
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);                 /* tid */
	__type(value, struct kprobe_args);
} kprobe_stash SEC(".maps");

/* I/Os through iovecs (sendmsg, writev, recvmsg, readv) are gathered in a per-CPU scratch
 * record and sent as one: copied straight into ring slots, iovec after iovec, the verifier
 * followed every size class through every iovec, past its limit on 6.1. They are rarer than
 * single-buffer I/Os. The data area is twice the capture so that the verifier accepts a copy
 * at offset off (< 64 KiB, masked) of n bytes (1..64 KiB), though off + n never passes it. */
struct iov_record {
	struct pv_data_event ev;
	__u8 slack[PV_CAPTURE_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);             /* set to the number of possible CPUs before load */
	__type(key, __u32);
	__type(value, struct iov_record);
} iov_scratch SEC(".maps");

/* Send the I/O's bytes (up to want) from the iovecs at iov_addr, in order, as one record. */
static __always_inline void emit_iov(struct pv_data_event *h, __u64 iov_addr, __u32 want, struct emit_ctx *x)
{
	__u32 cpu = bpf_get_smp_processor_id(), off = 0, n;
	struct pv_data_event *e = bpf_map_lookup_elem(&iov_scratch, &cpu);

	if (!e)
		return;
	if (want > PV_CAPTURE_MAX) {
		if (want == h->len) /* else counted as truncated already */
			__sync_fetch_and_add(&counters.truncated, 1);
		want = PV_CAPTURE_MAX;
	}
	for (int i = 0; i < PV_IOV_MAX; i++) {
		struct iovec iov;

		if (off >= want)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(iov_addr + i * sizeof(iov)))) {
			__sync_fetch_and_add(&counters.unreadable, 1);
			break;
		}
		if (!iov.iov_len)
			continue;
		n = iov.iov_len < want - off ? iov.iov_len : want - off;
		asm volatile("%0 &= 0xffff" : "+r"(off));
		BOUND_SIZE(n, PV_CAPTURE_MAX);
		if (bpf_probe_read_user(e->data + off, n, iov.iov_base)) {
			__sync_fetch_and_add(&counters.unreadable, 1);
			break;
		}
		off += n;
	}
	__builtin_memcpy(e, h, PV_DATA_HDR_LEN);
	asm volatile("%0 &= 0x1ffff" : "+r"(off));
	e->cap_len = off;
	e->chunk_off = 0;
	if (x->gap)
		e->flags |= PV_DATA_F_GAP;
	if (bpf_ringbuf_output(&events, e, PV_DATA_HDR_LEN + off, wakeup_flag(PV_DATA_HDR_LEN + off, x->wakeup_bytes)))
		record_lost(x);
	else
		gap_told(x);
}

/* Send the I/O's records, reading its bytes (up to want) from the syscall's buffers: the
 * buffer is the second argument of every syscall below; a BTF pointer to the registers, so
 * plain loads. */
static __always_inline void emit_io(struct pv_data_event *h, __u32 want, struct emit_ctx *x)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 nr = SYSCALL_NR(regs), arg = PT_REGS_PARM2_SYSCALL(regs);
	struct user_msghdr msg;

	switch (nr) {
	case NR_read: case NR_write: case NR_sendto: case NR_recvfrom:
		emit_user(h, arg, want, x);
		return;
	case NR_sendmsg: case NR_recvmsg:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)arg)) {
			__sync_fetch_and_add(&counters.unreadable, 1);
			break;
		}
		emit_iov(h, (__u64)msg.msg_iov, want, x);
		return;
	case NR_readv: case NR_writev:
		emit_iov(h, arg, want, x);
		return;
	default: /* not a syscall we know the buffers of (sendfile, splice, io_uring) */
		__sync_fetch_and_add(&counters.no_syscall, 1);
		break;
	}
	emit_one(h, 0, 0, false, false, x); /* counted, without its bytes */
}

static __always_inline void fill_addresses(struct pv_data_event *e, struct sock *sk)
{
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->laddr, &l, 4);
		__builtin_memcpy(e->raddr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline void emit_close(__u64 key);

/* The socket's inode: a unix socket's identity beyond its (reusable) address. */
static __always_inline __u64 sock_ino(struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

/* Tell userspace a unix stream socket's path, before its first data record. */
static __always_inline void emit_unix(struct sock *sk, __u64 key, __u32 service, __u64 ino)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_address *a = BPF_CORE_READ(u, addr);
	struct pv_unix_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	int len;

	if (!e) {
		__sync_fetch_and_add(&counters.ringbuf_full, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = PV_EV_UNIX;
	e->service = service;
	e->sk = key;
	e->ino = ino;
	e->ours = a != NULL;
	if (!a) {
		struct sock *peer = BPF_CORE_READ(u, peer);

		a = peer ? BPF_CORE_READ((struct unix_sock *)peer, addr) : NULL;
	}
	if (a) {
		len = BPF_CORE_READ(a, len) - (int)sizeof(short); /* sun_family comes first */
		if (len > PV_UNIX_PATH_MAX)
			len = PV_UNIX_PATH_MAX;
		if (len > 0 && !bpf_probe_read_kernel(e->path, PV_UNIX_PATH_MAX, &a->name[0].sun_path))
			e->len = len;
	}
	bpf_ringbuf_submit(e, 0);
}

/* May tgid be tracked? Its bit is set before a process enters the tracked map and cleared
 * when it leaves, so that the I/O of every other process on the host costs one load rather
 * than a hash lookup. */
static __always_inline bool maybe_tracked(__u32 tgid)
{
	return pidbits_test(tracked_bits, tgid);
}

/* Who last did I/O on a socket, in one word (written at once, so never half updated): tgid,
 * its service, and the tracked map's generation then. While the generation stands, the
 * process is still tracked in that service, and its next I/O skips the tracked lookup. */
static __always_inline __u64 owner_word(__u32 tgid, __u32 service)
{
	return tgid | (__u64)(service & 0xffff) << 32 | (__u64)(tracked_gen & 0xffff) << 48;
}

static __always_inline int on_sock_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid(), key = (__u64)sk, owner;
	__u32 tgid = id >> 32, service, want;
	struct pv_conn_info *known, info = {};
	struct pv_proc_info *proc;
	/* the header of the records, built once; a whole pv_data_event is too large for the stack */
	__u64 hbuf[PV_DATA_HDR_LEN / 8] = {};
	struct pv_data_event *h = (struct pv_data_event *)hbuf;
	struct emit_ctx x = { .wakeup_bytes = cfg.wakeup_bytes, .ringbuf_full = &counters.ringbuf_full,
			      .unreadable = &counters.unreadable };

	if (ret < 0 || !sk || !maybe_tracked(tgid))
		return 0;
	if (dir == PV_DIR_RECV && (flags & MSG_PEEK))
		return 0;
	known = bpf_map_lookup_elem(&conns, &key);
	if (known && (__u32)known->owner == tgid && owner_word(tgid, 0) >> 48 == known->owner >> 48) {
		service = (known->owner >> 32) & 0xffff;
	} else {
		proc = bpf_map_lookup_elem(&tracked, &tgid);
		if (!proc)
			return 0;
		service = proc->service;
	}
	owner = owner_word(tgid, service);
	/* before the skip: a skipped unix socket (a worker's socketpair, say) that died leaves its
	 * entry, and a socket accepted later at its address must not inherit the skip */
	if (known && known->ino) {
		/* a unix socket: its end of stream is its close (no state change says so), and a
		 * new socket at the address of a dead one is told by its inode */
		if (ret == 0 && dir == PV_DIR_RECV) {
			emit_close(key);
			return 0;
		}
		if (sock_ino(sk) != known->ino) {
			emit_close(key);
			known = NULL;
		}
	}
	if (ret == 0 || (known && known->skip))
		return 0;
	if (!known) {
		h->family = BPF_CORE_READ(sk, __sk_common.skc_family);
		info.service = service;
		info.owner = owner;
		if (h->family == AF_UNIX) {
			info.skip = BPF_CORE_READ(sk, sk_type) != SOCK_STREAM;
			info.ino = sock_ino(sk);
		} else {
			info.skip = (h->family != AF_INET && h->family != AF_INET6) ||
				    BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP;
		}
		/* A socket that speaks first is a client (a database driver, mostly): its
		 * batches are parsed message by message, so capture more from the start,
		 * before userspace has had a chance to classify it. */
		info.capture = dir == PV_DIR_SEND ? cfg.client_capture : 0;
		if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY))
			__sync_fetch_and_add(&counters.conn_map_full, 1);
		if (info.skip)
			return 0;
		known = bpf_map_lookup_elem(&conns, &key); /* where its lost records are counted */
		if (h->family == AF_UNIX) {
			emit_unix(sk, key, service, info.ino);
		} else {
			fill_addresses(h, sk);
			h->flags = PV_DATA_F_ADDR;
		}
	} else if (known->owner != owner) {
		known->owner = owner;
	}

	h->type = PV_EV_DATA;
	h->service = service;
	h->ts_ns = bpf_ktime_get_ns();
	h->sk = key;
	h->tgid = tgid;
	h->tid = (__u32)id;
	h->len = ret;
	h->dir = dir;
	if (pidbits_test(unit_bits, tgid))
		h->unit = py_unit(tgid);
	if (known) {
		x.lost = &known->lost;
		x.gap = known->lost;
	}

	want = known ? known->capture : info.capture;  /* known is NULL here if the map was full */
	if (!want)
		want = cfg.capture_len;
	if (want > (__u32)ret)
		want = ret;
	if (want < (__u32)ret)
		__sync_fetch_and_add(&counters.truncated, 1);
	emit_io(h, want, &x);
	return 0;
}

/* ---- hook set 1: tracepoints ---- */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_sock_send, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, PV_DIR_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_sock_recv, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, PV_DIR_RECV);
}

/* ---- hook set 2: fexit ---- */
SEC("fexit/tcp_sendmsg")
int BPF_PROG(fexit_tcp_sendmsg, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	return on_sock_io(sk, ret, 0, PV_DIR_SEND);
}

/* tcp_recvmsg(sk, msg, len, flags, addr_len) from 5.19; recent kernels dropped addr_len. The
 * return value comes after the parameters, so userspace loads the variant whose prototype
 * matches this kernel's BTF (cfg.recvmsg_params). */
SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_tcp_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	return on_sock_io(sk, ret, flags, PV_DIR_RECV);
}

SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_tcp_recvmsg4, struct sock *sk, struct msghdr *msg, size_t len, int flags, int ret)
{
	return on_sock_io(sk, ret, flags, PV_DIR_RECV);
}

/* Unix stream sockets: the tracepoints above cover every family; fexit and kprobes hook the
 * unix protocol's own functions. */
SEC("fexit/unix_stream_sendmsg")
int BPF_PROG(fexit_unix_sendmsg, struct socket *sock, struct msghdr *msg, size_t len, int ret)
{
	return on_sock_io(BPF_CORE_READ(sock, sk), ret, 0, PV_DIR_SEND);
}

SEC("fexit/unix_stream_recvmsg")
int BPF_PROG(fexit_unix_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	return on_sock_io(BPF_CORE_READ(sock, sk), ret, flags, PV_DIR_RECV);
}

/* ---- hook set 3: kprobes ---- */
/* The entry kprobes keep the socket per thread; the result comes from the exit tracepoint of the
 * syscall that made the call. Not from kretprobes: the kernel follows at most max(10, 2 x CPUs)
 * of a kretprobe's calls at once and silently drops the returns past that, and a threaded
 * server keeps more threads than that blocked in tcp_recvmsg (4 of 12 requests were lost). */
static __always_inline int stash_args(struct sock *sk, int flags, __u8 dir)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, tid = (__u32)bpf_get_current_pid_tgid();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct kprobe_args a = { .sk = (__u64)sk, .flags = flags, .dir = dir, .nr = SYSCALL_NR(regs) };

	if (maybe_tracked(tgid) && bpf_map_lookup_elem(&tracked, &tgid))
		bpf_map_update_elem(&kprobe_stash, &tid, &a, BPF_ANY);
	return 0;
}

/* syscalls:sys_exit_*: the common fields, then the syscall number and its result. */
struct sys_exit_args {
	__u64 common;
	__s32 nr;
	__s32 pad;
	__s64 ret;
};

static __always_inline int unstash_args(const struct sys_exit_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kprobe_args *a = bpf_map_lookup_elem(&kprobe_stash, &tid);

	if (!a)
		return 0;
	/* the call came from this syscall (not io_uring or sendfile, which leave no exit here) */
	if (a->nr == ctx->nr)
		on_sock_io((struct sock *)a->sk, (int)ctx->ret, a->flags, a->dir);
	bpf_map_delete_elem(&kprobe_stash, &tid);
	return 0;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(kp_tcp_sendmsg, struct sock *sk)
{
	return stash_args(sk, 0, PV_DIR_SEND);
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(kp_tcp_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags)
{
	return stash_args(sk, flags, PV_DIR_RECV);
}

/* Before 5.19 a 'nonblock' parameter came before flags; userspace loads this variant there. */
SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(kp_tcp_recvmsg6, struct sock *sk, struct msghdr *msg, size_t len, int nonblock, int flags)
{
	return stash_args(sk, flags, PV_DIR_RECV);
}

SEC("kprobe/unix_stream_sendmsg")
int BPF_KPROBE(kp_unix_sendmsg, struct socket *sock)
{
	return stash_args(BPF_CORE_READ(sock, sk), 0, PV_DIR_SEND);
}

SEC("kprobe/unix_stream_recvmsg")
int BPF_KPROBE(kp_unix_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	return stash_args(BPF_CORE_READ(sock, sk), flags, PV_DIR_RECV);
}

/* The syscalls whose buffers emit_io reads. */
SEC("tp/syscalls/sys_exit_read")
int kx_read(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_write")
int kx_write(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_readv")
int kx_readv(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_writev")
int kx_writev(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_sendto")
int kx_sendto(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_recvfrom")
int kx_recvfrom(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_sendmsg")
int kx_sendmsg(struct sys_exit_args *ctx) { return unstash_args(ctx); }
SEC("tp/syscalls/sys_exit_recvmsg")
int kx_recvmsg(struct sys_exit_args *ctx) { return unstash_args(ctx); }

/* ---- connection end, all modes ---- */
static __always_inline void emit_close(__u64 key)
{
	struct pv_conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	struct pv_close_event *e;

	if (!conn)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->type = PV_EV_CLOSE;
		e->service = conn->service;
		e->ts_ns = bpf_ktime_get_ns();
		e->sk = key;
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	} else {
		__sync_fetch_and_add(&counters.ringbuf_full, 1);
	}
	bpf_map_delete_elem(&conns, &key);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	/* Our side can send nothing more once it entered FIN_WAIT1 or LAST_ACK: that comes from
	 * the process's own close(), after its last write. A reset (-> CLOSE) comes from softirq,
	 * possibly in the middle of a write that is reported after it (loopback delivers the peer's
	 * RST inside the sender's send), so with tcp_destroy_sock that end waits for the socket's
	 * destruction, which follows the process's close(). */
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK ||
	    (newstate == TCP_CLOSE && !cfg.close_at_destroy))
		emit_close((__u64)sk);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(tp_sock_destroy, struct sock *sk)
{
	emit_close((__u64)sk);
	return 0;
}

/* ---- process membership ---- */
/* Before the tracked map gets the process: its I/O must never find its bit clear. */
static __always_inline void set_tracked_bit(__u32 tgid)
{
	pidbits_set(tracked_bits, tgid, true);
}

static __always_inline void emit_proc(__u32 service, __u32 kind, __u32 pid, __u32 ppid)
{
	struct pv_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&counters.ringbuf_full, 1);
		return;
	}
	e->type = PV_EV_PROC;
	e->service = service;
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->pid = pid;
	e->ppid = ppid;
	e->pad = 0;
	/* Membership changes are rare and userspace wants them promptly. */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

/* A forked worker runs the same interpreter at the same addresses: its I/O is told apart by
 * task from its first request, before userspace has looked at it. */
static __always_inline void copy_units(__u32 ptgid, __u32 ctgid)
{
	struct pv_unit_cfg *u = bpf_map_lookup_elem(&py_units, &ptgid);

	if (!u)
		return;
	pidbits_set(unit_bits, ctgid, true);
	bpf_map_update_elem(&py_units, &ctgid, u, BPF_ANY);
}

/* After exec or exit the entry describes a program that is gone. */
static __always_inline void drop_units(__u32 tgid)
{
	if (bpf_map_delete_elem(&py_units, &tgid) == 0)
		pidbits_set(unit_bits, tgid, false);
}

/* PyContext_CopyCurrent returned: attached per process (userspace, when it publishes py_units),
 * so only services running asyncio pay the two traps. The parent is still current: a copy is
 * entered later, by the task or thread that runs it. */
SEC("uretprobe")
int BPF_KRETPROBE(unit_copy_exit, void *child) /* pt_regs, as a uretprobe */
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pv_unit_copy_event *e;
	__u64 parent;

	if (!child || !pidbits_test(unit_bits, tgid) || !(parent = py_unit(tgid)))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&counters.ringbuf_full, 1);
		__sync_fetch_and_add(&counters.unit_copies_lost, 1);
		return 0;
	}
	e->type = PV_EV_UNIT_COPY;
	e->tgid = tgid;
	e->tid = (__u32)id;
	e->pad = 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->parent = parent;
	e->child = (__u64)child;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	struct pv_proc_info *proc;

	if (ctgid == ptgid) /* a new thread, already covered by its tgid */
		return 0;
	proc = bpf_map_lookup_elem(&tracked, &ptgid);
	if (!proc)
		return 0;
	set_tracked_bit(ctgid);
	if (bpf_map_update_elem(&tracked, &ctgid, proc, BPF_ANY)) {
		__sync_fetch_and_add(&counters.proc_map_full, 1);
		return 0;
	}
	copy_units(ptgid, ctgid);
	emit_proc(proc->service, PV_PROC_FORK, ctgid, ptgid);
	return 0;
}

/* Only the task: the group_dead argument exists on recent kernels alone (6.1 and 6.12 lack
 * it). The last thread out has already dropped signal->live to zero when this fires. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct pv_proc_info *proc;
	__u32 service;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	drop_units(tgid);
	proc = bpf_map_lookup_elem(&tracked, &tgid);
	if (!proc)
		return 0;
	service = proc->service;
	bpf_map_delete_elem(&tracked, &tgid);
	pidbits_set(tracked_bits, tgid, false);
	__sync_fetch_and_add(&tracked_gen, 1);
	emit_proc(service, PV_PROC_EXIT, tgid, 0);
	return 0;
}

static __always_inline int comm_equal(const char *a, const volatile char *b)
{
	for (int i = 0; i < PV_COMM_LEN; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct pv_proc_info *proc = bpf_map_lookup_elem(&tracked, &tgid);
	char comm[PV_COMM_LEN];

	drop_units(tgid);
	if (proc && cfg.exec_events) /* another program may be another service */
		emit_proc(proc->service, PV_PROC_EXEC, tgid, 0);
	if (!cfg.comm_count || tgid == cfg.self_tgid || proc)
		return 0;
	BPF_CORE_READ_STR_INTO(&comm, p, comm);
	for (int i = 0; i < PV_MAX_COMMS; i++) {
		struct pv_proc_info info = {};

		if (i >= cfg.comm_count)
			break;
		if (!comm_equal(comm, cfg.comms[i]))
			continue;
		info.service = cfg.comm_service[i];
		set_tracked_bit(tgid);
		if (bpf_map_update_elem(&tracked, &tgid, &info, BPF_ANY)) {
			__sync_fetch_and_add(&counters.proc_map_full, 1);
			return 0;
		}
		emit_proc(info.service, PV_PROC_EXEC, tgid, 0);
		break;
	}
	return 0;
}
