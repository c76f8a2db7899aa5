/* Types shared by the BPF programs and userspace: ring-buffer records, the load-time
 * configuration and the drop counters. Fixed-width types, no pointers, explicit
 * padding; the _Static_asserts catch layout drift between the two sides. */
#ifndef PYVITALS_H
#define PYVITALS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest prefix of one socket I/O copied. Database batches are parsed message by message,
 * and a pipelined batch or a reply fills a driver's 64 KiB read buffer. */
#define PV_CAPTURE_MAX 65536
#define PV_IOV_MAX 8          /* iovecs of one sendmsg/writev/recvmsg copied, in order */
#define PV_CHUNK_MAX 16       /* records one single-buffer I/O may span (1 MiB) */
#define PV_MAX_SERVICES 64
#define PV_MAX_COMMS 4
#define PV_COMM_LEN 16
#define PV_TRACKED_BITS (1u << 22) /* tgids the membership bitmap covers: PID_MAX_LIMIT on 64-bit */

/* Every ring-buffer record starts with this type field. */
enum pv_event_type {
	PV_EV_DATA = 1,  /* bytes moved on a TCP socket by a tracked process */
	PV_EV_CLOSE = 2, /* a tracked socket stopped carrying data (our side closed, or it died) */
	PV_EV_PROC = 3,  /* a process joined (fork, exec of a matching comm) or left a service */
	PV_EV_UNIX = 4,  /* the path of a unix stream socket, before its first data record */
	PV_EV_TLS = 5,   /* plaintext an OpenSSL read or write of a tracked process moved: a
			  * pv_data_event whose sk is the SSL * and start_ns the call's entry */
	PV_EV_UNIT_COPY = 6, /* a process with a py_units entry copied its current Context (a new
			      * task, a thread hand-off): work in the copy is done for the original */
};

enum pv_dir { PV_DIR_RECV = 0, PV_DIR_SEND = 1 };

enum pv_proc_kind { PV_PROC_FORK = 1, PV_PROC_EXEC = 2, PV_PROC_EXIT = 3 };

/* Which kernel hook delivered socket I/O; chosen at start-up. */
enum pv_hook_mode { PV_HOOK_TRACEPOINT = 1, PV_HOOK_KPROBE = 2, PV_HOOK_FENTRY = 3 };

struct pv_data_event {
	__u32 type;      /* PV_EV_DATA */
	__u32 service;   /* index of the target this process belongs to */
	__u64 ts_ns;     /* CLOCK_MONOTONIC when the I/O completed */
	__u64 sk;        /* kernel socket address: the connection's identity */
	__u32 tgid;
	__u32 tid;
	__u32 len;       /* bytes the call moved */
	__u32 cap_len;   /* bytes of them copied into data[] */
	__u8 dir;        /* enum pv_dir */
	__u8 family;     /* AF_INET or AF_INET6 */
	__u16 lport;     /* host byte order; set with PV_DATA_F_ADDR */
	__u16 rport;
	__u16 pad;
	__u32 flags;     /* PV_DATA_F_* */
	__u8 laddr[16];  /* IPv4 in the first 4 bytes; set with PV_DATA_F_ADDR */
	__u8 raddr[16];
	__u32 chunk_off; /* where data[] starts in the I/O: > 0 for the records after the first */
	__u64 start_ns;  /* PV_EV_TLS: when the SSL call began (0 for socket I/O) */
	__u64 unit;      /* the unit of work that did the I/O in a process with a py_units entry:
	                  * its thread state's contextvars Context (an asyncio task's, a greenlet's);
	                  * 0 when unknown or not asked for */
	__u8 data[PV_CAPTURE_MAX];
};
#define PV_DATA_HDR_LEN 104
/* Addresses and ports are filled only on the first I/O seen on a socket: reading them
 * every time cost more than the rest of the program. */
#define PV_DATA_F_ADDR 1
#define PV_DATA_F_MORE 2  /* the next record of this socket continues this I/O's data */
#define PV_DATA_F_TLS 4   /* plaintext of a TLS connection (PV_EV_TLS), not the socket's bytes */
#define PV_DATA_F_GAP 8   /* records of this connection before this one were lost (ring full) */
_Static_assert(sizeof(struct pv_data_event) == PV_DATA_HDR_LEN + PV_CAPTURE_MAX, "pv_data_event layout");

struct pv_close_event {
	__u32 type;      /* PV_EV_CLOSE */
	__u32 service;
	__u64 ts_ns;
	__u64 sk;
};
_Static_assert(sizeof(struct pv_close_event) == 24, "pv_close_event layout");

struct pv_proc_event {
	__u32 type;      /* PV_EV_PROC */
	__u32 service;
	__u64 ts_ns;
	__u32 kind;      /* enum pv_proc_kind */
	__u32 pid;       /* the process (tgid) that joined or left */
	__u32 ppid;
	__u32 pad;
};
_Static_assert(sizeof(struct pv_proc_event) == 32, "pv_proc_event layout");

/* A unix stream socket's path: its own (a server's listening path: accepted sockets share it)
 * or, when it has none, its peer's (a client of /run/postgresql/.s.PGSQL.5432). */
#define PV_UNIX_PATH_MAX 108
struct pv_unix_event {
	__u32 type;      /* PV_EV_UNIX */
	__u32 service;
	__u64 sk;
	__u64 ino;       /* the socket's inode: /proc/net/unix lists it while the socket lives */
	__u8 ours;       /* 1: the path is this socket's own name, 0: its peer's */
	__u8 pad[7];
	char path[PV_UNIX_PATH_MAX]; /* sun_path; abstract names start with a NUL; "" if unnamed */
	__u32 len;       /* bytes of path[] used */
};
_Static_assert(sizeof(struct pv_unix_event) == 32 + PV_UNIX_PATH_MAX + 4, "pv_unix_event layout");

/* Value of the socket map, keyed by struct sock *. Userspace raises capture for sockets it
 * classified as database clients: pipelined batches (asyncpg) outgrow the default. */
struct pv_conn_info {
	__u32 service;
	__u32 skip;      /* not a TCP or unix stream socket, or nothing userspace parses: passed
	                  * over after one lookup (its close is still reported) */
	__u32 capture;   /* bytes to copy per I/O on this socket (up to PV_CHUNK_MAX records);
	                  * 0 = the configured default */
	__u32 lost;      /* its records the ring buffer had no room for since its last one: the
	                  * next record carries PV_DATA_F_GAP, so its parser starts over */
	__u64 ino;       /* unix sockets: the socket's inode. No state change tells when a unix
	                  * socket dies, so a new socket at a reused address is told by this */
	__u64 owner;     /* the process that last did I/O on it: tgid | service << 32 | the
	                  * tracked map's generation << 48 (the BPF side's owner_word()) */
};

/* Value of the tracked-process map, keyed by tgid. */
struct pv_proc_info {
	__u32 service;
	__u32 flags;
};

/* Value of py_units, keyed by tgid: where a thread of this process finds its PyThreadState and
 * the current contextvars Context in it (user/probes/pyunits.c, checked against the process's
 * own thread list before it is published). */
struct pv_unit_cfg {
	__u32 tss_off;   /* fsbase + tss_off: glibc's pthread_getspecific slot of autoTSSkey */
	__u32 ctx_off;   /* PyThreadState.context */
	__u32 entered_off; /* PyContext.ctx_entered, or 0: a Context current without being entered
	                    * is a thread's own (made on first use), not a task's or a hand-off's:
	                    * asyncio enters a task's Context for each step. Greenlets set theirs
	                    * without entering it, so gevent processes do not check. */
	__u32 pad;
};

/* PV_EV_UNIT_COPY: PyContext_CopyCurrent returned child while parent was current on thread
 * tid. asyncio copies the context for every task it creates, and anyio and asyncio.to_thread
 * for each call they hand to a worker thread, so a copy's I/O belongs to the parent's request. */
struct pv_unit_copy_event {
	__u32 type;      /* PV_EV_UNIT_COPY */
	__u32 tgid;
	__u32 tid;
	__u32 pad;
	__u64 ts_ns;
	__u64 parent;    /* the Context current in the copying thread */
	__u64 child;     /* the new Context */
};
_Static_assert(sizeof(struct pv_unit_copy_event) == 40, "pv_unit_copy_event layout");

/* Load-time settings, filled through skel->rodata before load. */
struct pv_config {
	__u32 capture_len;              /* bytes to copy per I/O, <= PV_CAPTURE_MAX */
	__u32 client_capture;           /* the same on sockets whose first I/O was a send */
	__u32 wakeup_bytes;             /* wake userspace once one CPU queued this much */
	__u32 self_tgid;                /* never trace ourselves */
	__u32 comm_count;
	__u32 recvmsg_params;           /* tcp_recvmsg's parameter count (BTF): picks the fexit/kprobe variants */
	__u32 close_at_destroy;         /* a reset connection ends at tcp_destroy_sock (the kernel has it) */
	__u32 exec_events;              /* --all-python: report execs of tracked processes too */
	__u32 comm_service[PV_MAX_COMMS];
	char comms[PV_MAX_COMMS][PV_COMM_LEN]; /* --comm names, tracked from exec on */
};

/* Drop and truncation counters, kept in .bss and read by userspace. */
struct pv_counters {
	__u64 ringbuf_full;    /* records lost because the ring buffer was full */
	__u64 conn_map_full;   /* sockets not remembered because the map was full */
	__u64 proc_map_full;   /* forked processes not tracked because the map was full */
	__u64 truncated;       /* I/Os longer than the capture (normal for bodies; informative) */
	__u64 unreadable;      /* I/Os whose user buffer could not be read */
	__u64 no_syscall;      /* I/Os not made by a syscall whose buffers we know (none copied) */
	__u64 unit_copies_lost; /* Context copies the ring had no room for: their work is untied */
};

#endif

/* ---- runtime (GIL, GC) ---- */
/* Types of bpf/runtime.bpf.c and user/runtime.c: the per-process interpreter addresses that
 * userspace finds (GIL, GC statistics) and the per-service counters the BPF side sums.
 * Kept after the guard above so that this section is self-contained. */
#ifndef PYVITALS_RUNTIME_H
#define PYVITALS_RUNTIME_H

/* Pause histogram: log-linear, 4 buckets per power of two of nanoseconds (<= 19% wide). */
#define PV_RT_HIST_SUB 4
#define PV_RT_HIST_OCTAVES 40      /* up to 2^41 ns (~37 min); longer pauses land in the last */
#define PV_RT_HIST_BUCKETS (PV_RT_HIST_SUB * PV_RT_HIST_OCTAVES)
#define PV_RT_GEN_UNKNOWN 3        /* gc_collections[] slot for a collection of unknown generation */

/* Value of rt_procs, keyed by tgid. Addresses are in the process's address space. A GIL wait is
 * a futex wait with uaddr in [gil_lo, gil_mid) (condvar + mutex that take_gil blocks on); a wait
 * in [gil_mid, gil_hi) is the forced-switch handshake in drop_gil (counted apart). */
struct pv_rt_proc {
	__u64 gil_lo;
	__u64 gil_mid;
	__u64 gil_hi;       /* 0: no GIL address known for this process */
	__u64 gc_stats;     /* &generation_stats[0].collections when the GC probe cannot trust its
	                     * generation argument (3.8 clones); 0 otherwise */
	__u32 gc_stride;    /* bytes between generation_stats[i].collections */
	__u32 flags;        /* PV_RT_F_* */
	__u32 service;      /* the process's service, so a GIL wait needs no tracked lookup */
	__u32 pad;
};
_Static_assert(sizeof(struct pv_rt_proc) == 48, "pv_rt_proc layout");

#define PV_RT_F_EXECED 1   /* the process exec'd since userspace filled this entry */
#define PV_RT_F_FORKED 2   /* copied from the parent at fork by the kernel side */

/* Value of rt_stats (per-CPU array indexed by service): cumulative since load. */
struct pv_rt_stats {
	__u64 gil_wait_ns;       /* blocked acquiring the GIL */
	__u64 gil_waits;
	__u64 gil_switch_ns;     /* blocked in drop_gil's forced-switch handshake */
	__u64 gil_switches;
	__u64 gc_collections[4]; /* generations 0, 1, 2, PV_RT_GEN_UNKNOWN */
	__u64 gc_pause_ns;
	__u64 gc_pause_max_ns;
	__u64 gc_hist[PV_RT_HIST_BUCKETS];
};
_Static_assert(sizeof(struct pv_rt_stats) == 8 * (10 + PV_RT_HIST_BUCKETS), "pv_rt_stats layout");

/* Drop counters of the runtime object (.bss). */
struct pv_rt_counters {
	__u64 procs_map_full;    /* forked process not given its parent's addresses */
	__u64 gc_map_full;       /* collection not timed: too many collections in flight */
	__u64 gc_unmatched;      /* end of a collection whose start was not seen (attached mid-way) */
	__u64 bad_service;       /* tracked service index >= PV_MAX_SERVICES */
	__u64 storage_fail;      /* task storage unavailable (recursion) */
};

/* Bucket of a pause of v ns: exact below 4 ns, then 4 per power of two. */
static inline __u32 pv_rt_bucket(__u64 v, __u32 log2v)
{
	__u32 idx;
	if (v < PV_RT_HIST_SUB)
		return (__u32)v;
	idx = (log2v - 1) * PV_RT_HIST_SUB + (__u32)((v >> (log2v - 2)) & (PV_RT_HIST_SUB - 1));
	return idx < PV_RT_HIST_BUCKETS ? idx : PV_RT_HIST_BUCKETS - 1;
}

/* Lowest value (ns) that lands in bucket idx; the bucket ends where idx + 1 begins. */
static inline __u64 pv_rt_bucket_lo(__u32 idx)
{
	__u32 o = idx / PV_RT_HIST_SUB + 1, sub = idx % PV_RT_HIST_SUB;
	if (idx < PV_RT_HIST_SUB)
		return idx;
	return (__u64)(PV_RT_HIST_SUB + sub) << (o - 2);
}
#endif /* PYVITALS_RUNTIME_H */

/* ---- sqlite ---- */
/* Records of bpf/sqlite.bpf.c for user/sqlite_probe.c: SQLite runs inside the process, so
 * statements are seen through uprobes on the target's libsqlite3. One record per statement
 * execution, one per successful prepare (the statement text) and one per open (the file). */
#ifndef PYVITALS_SQLITE_H
#define PYVITALS_SQLITE_H

#define PV_SQ_TEXT_MAX 1024   /* bytes of SQL text copied per prepare; power of two */
#define PV_SQ_PATH_MAX 256    /* bytes of the filename copied per open; power of two */

enum pv_sq_type {
	PV_SQ_EXEC = 1,  /* a statement execution finished (DONE, error, or reset/finalize) */
	PV_SQ_PREP = 2,  /* a statement was prepared: stmt -> text (also failed prepares) */
	PV_SQ_OPEN = 3,  /* a connection was opened: db -> filename */
};

#define PV_SQ_F_ABANDONED 1  /* reset/finalize before SQLITE_DONE (rows were left unread) */

struct pv_sq_exec {
	__u32 type;      /* PV_SQ_EXEC */
	__u32 service;
	__u64 start_ns;  /* first sqlite3_step entry (or prepare entry for a failed prepare) */
	__u64 end_ns;    /* last step return */
	__u64 stmt;      /* sqlite3_stmt * in the process (0 for a failed prepare) */
	__u64 db;        /* sqlite3 * (the connection) */
	__u32 tgid;
	__u32 tid;
	__s32 rc;        /* last result code: 100 ROW / 101 DONE / 0 OK, others are errors */
	__u32 flags;     /* PV_SQ_F_* */
};
_Static_assert(sizeof(struct pv_sq_exec) == 56, "pv_sq_exec layout");

/* A prepare (rc == 0, stmt set) or a failed prepare (rc != 0: also counted as one failed
 * execution by userspace, with start/end the prepare's entry and return). */
struct pv_sq_prep {
	__u32 type;      /* PV_SQ_PREP */
	__u32 service;
	__u64 start_ns;
	__u64 end_ns;
	__u64 stmt;
	__u64 db;
	__u32 tgid;
	__u32 tid;
	__s32 rc;
	__u32 len;       /* bytes of text[] that hold the statement (no NUL counted) */
	char text[PV_SQ_TEXT_MAX];
};
_Static_assert(sizeof(struct pv_sq_prep) == 56 + PV_SQ_TEXT_MAX, "pv_sq_prep layout");

struct pv_sq_open {
	__u32 type;      /* PV_SQ_OPEN */
	__u32 tgid;
	__u64 db;
	__s32 rc;
	__u32 pad;
	char path[PV_SQ_PATH_MAX];
};
_Static_assert(sizeof(struct pv_sq_open) == 24 + PV_SQ_PATH_MAX, "pv_sq_open layout");

/* Counters of the sqlite object (.bss): drops, and the calls of other processes trapped. */
struct pv_sq_counters {
	__u64 ringbuf_full;    /* records lost because the ring buffer was full */
	__u64 inflight_full;   /* executions not timed: no room in the in-flight map */
	__u64 deep_nesting;    /* steps nested deeper than the per-thread stack */
	__u64 storage_fail;    /* per-thread storage unavailable */
	__u64 unreadable;      /* pointers (ppStmt, ppDb, text) that could not be read */
	__u64 untracked;       /* probe hits of untracked processes (the probes are per file, for
				* every process; a call with a return probe counts twice): ignored */
};
#endif /* PYVITALS_SQLITE_H */

/* ---- tls ---- */
/* bpf/tls.bpf.c: uprobes on OpenSSL's SSL_read/SSL_write(_ex) send the plaintext as PV_EV_TLS
 * records into the socket object's ring buffer; userspace ties each SSL * to its socket. */
#ifndef PYVITALS_TLS_H
#define PYVITALS_TLS_H
/* Key and value of the per-SSL capture map: created by the first call seen on an SSL (a write
 * first: a client, capture more), raised or lowered by userspace once it knows the protocol. */
struct pv_tls_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};
struct pv_tls_info {
	__u32 lost;      /* as pv_conn_info's */
	__u32 capture;   /* bytes of plaintext to copy per call (up to PV_CHUNK_MAX records) */
};
struct pv_tls_config {
	__u32 capture_len;     /* as pv_config */
	__u32 client_capture;
	__u32 wakeup_bytes;
	__u32 pad;
};
struct pv_tls_counters {
	__u64 ringbuf_full;
	__u64 unreadable;      /* plaintext buffers (or *written) that could not be read */
	__u64 calls_full;      /* calls not followed: no room in the in-flight map */
	__u64 truncated;       /* calls that moved more than the capture */
	__u64 untracked;       /* probe hits of processes not watched (the probes are per file) */
};
#endif /* PYVITALS_TLS_H */
