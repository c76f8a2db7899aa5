/* SQLite calls of the watched processes (issue #3). SQLite runs inside the process, so there
 * is no socket to watch: bpf/sqlite.bpf.c puts uprobes on libsqlite3 and this module turns
 * its records into one db_call per statement execution, with the statement text from the
 * prepare and the database file (the peer) from the open.
 *
 * Probes go on each libsqlite3 FILE once, for all processes (pid -1), and the BPF programs
 * ignore processes not in the tracked map. The files: the one each watched process maps
 * (found in /proc/PID/maps, opened through /proc/PID/root so containers work) and, for a
 * process with none yet, the one its loader would most likely map. The kernel inserts a
 * file's probes into every process that maps it, so a library loaded after attach (`import
 * sqlite3` on the first request, a respawned worker, a process found by --comm later) is
 * seen from its first call. A process that maps another file (a venv's, LD_LIBRARY_PATH) is
 * found by reading its maps once a second until it maps a probed file; its calls until then
 * are missed and reported (blind spots). Trade-off: other processes on the host that use a
 * probed file take the uprobe trap (a few us per call) while pyvitals runs; their calls are
 * not recorded.
 *
 * Order of calls: sqlite_probe_open (with the socket object's tracked map fd, or -1 for a
 * private map filled by add_pid) -> sqlite_probe_add_pid for every pid of a service, at once
 * for a forked or exec'd one (after sqlite_probe_forget for an exec: a new image), and again
 * on each snapshot (cheap: it returns at once unless a look is due) -> sqlite_probe_drain on
 * a timer (it also makes the looks that are due) -> sqlite_probe_forget when a pid exits ->
 * sqlite_probe_close (closing ~9 links per file, ~0.1 s each on recent kernels). */
#ifndef SQLITE_PROBE_H
#define SQLITE_PROBE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "db_parse.h"

struct sqlite_probe;

/* Load the BPF object, sharing the tracked map (fd < 0: a private one). With a shared map (a
 * watch), the host's own likely libsqlite3 is probed at once. 0 or -errno + err. */
int sqlite_probe_open(struct sqlite_probe **out, int tracked_map_fd, char *err, size_t errlen);
/* Find libsqlite3 in pid's maps and probe its file (or the file it would most likely load).
 * 0 when done or nothing new happened; -errno + err on a new failure (an attach that failed
 * is retried every 10 s; a failure is reported again only if its message changes). Idempotent. */
int sqlite_probe_add_pid(struct sqlite_probe *sp, int pid, char *err, size_t errlen);
/* pid exited or exec'd: forget it (drain also notices exits, every ~5 s). */
void sqlite_probe_forget(struct sqlite_probe *sp, int pid);
/* Drain queued records; call cb for each finished execution. service = the tracked map's
 * service index. peer = the database file. */
typedef void (*sqlite_call_cb)(void *ctx, int service, const char *peer, const struct db_call *call);
void sqlite_probe_drain(struct sqlite_probe *sp, sqlite_call_cb cb, void *ctx);
uint64_t sqlite_probe_lost(struct sqlite_probe *sp);   /* records dropped */
/* Probe hits of processes not watched (they use a probed file too): trapped and ignored. */
uint64_t sqlite_probe_untracked(struct sqlite_probe *sp);
void sqlite_probe_close(struct sqlite_probe *sp);

/* Processes whose SQLite calls are not all seen, for the JSON's blind spots: a process with
 * libsqlite3 mapped and no probe on that file (attach failed: err and why say why; or not
 * done yet), or that mapped a file before it was probed (one no watched process had mapped
 * or would likely map): its calls of up to late_ms may have been missed. A process with no
 * libsqlite3 is not blind: the file it would load is probed before it loads it. */
enum sqlite_blind_kind {
	SQLITE_BLIND_FAILED = 1,   /* libsqlite3 mapped, attaching its file failed */
	SQLITE_BLIND_PENDING = 2,  /* libsqlite3 mapped, its file not probed yet */
	SQLITE_BLIND_LATE = 3,     /* its file probed up to late_ms after it mapped it; until it exits */
};
struct sqlite_blind {
	int pid;
	int kind;                  /* enum sqlite_blind_kind */
	int err;                   /* -errno of the failure (FAILED) */
	double late_ms;            /* LATE: upper bound, from its last look without it to the probes */
	char why[240];
};
/* Fills up to max entries; returns how many processes are blind (may exceed max). */
int sqlite_probe_blind_spots(struct sqlite_probe *sp, struct sqlite_blind *out, int max);

/* For doctor and the harness: where pid's libsqlite3 is, which probe points were chosen and
 * whether the kernel emulates their first instruction (else each hit costs ~15 us). */
void sqlite_probe_describe_pid(FILE *out, int pid);

/* ---- Helpers, exported for the unit tests ---- */

/* The libsqlite3 mapping in a /proc/PID/maps text: its path (" (deleted)" removed), the
 * address range of its first mapping, device and inode. 1 if found, 0 if not. */
struct sqlite_lib {
	char path[512];
	unsigned long long start, end;
	unsigned int dev_major, dev_minor;
	unsigned long long ino;
	int deleted;
};
int sqlite_maps_find(FILE *maps, struct sqlite_lib *lib);
/* The libsqlite3.so.0 a process under root ("/proc/PID/root", or "" for ours) would most
 * likely load: the first regular file in the usual library directories. 1 and out, or 0. */
int sqlite_lib_guess(const char *root, char *out, size_t len);

/* File offsets (what a uprobe takes) of the probe points of one libsqlite3 file. */
struct sqlite_offsets {
	size_t step, reset, finalize;
	size_t prep_internal;          /* sqlite3LockAndPrepare: 0 if not found */
	size_t prepare, prepare_v2, prepare_v3;
	size_t open_internal;          /* openDatabase: 0 if not found */
	size_t open, open_v2;
	int emulated_step, emulated_prep, emulated_open; /* first instruction is a push/jmp */
};
int sqlite_elf_offsets(const char *path, struct sqlite_offsets *out, char *err, size_t errlen);

/* Is the first instruction at code one the x86 kernel emulates for a uprobe (push reg,
 * jmp/call rel)? Anything else is single-stepped out of line. */
int sqlite_insn_emulated(const unsigned char *code, size_t n);
/* Target of a call/jmp rel32 that two functions both make within their first len bytes
 * (the exported wrappers tail-call the internal function). 0 when none is shared. */
uint64_t sqlite_common_target(const unsigned char *a, uint64_t va, const unsigned char *b,
			      uint64_t vb, size_t len);
/* Name of a SQLite primary result code ("CONSTRAINT"), or NULL. */
const char *sqlite_rc_name(int rc);
#endif
