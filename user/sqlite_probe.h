/* SQLite calls of the watched processes (issue #3). SQLite runs inside the process, so there
 * is no socket to watch: bpf/sqlite.bpf.c puts uprobes on each target's libsqlite3 (found in
 * /proc/PID/maps, opened through /proc/PID/root so containers work), and this module turns
 * its records into one db_call per statement execution, with the statement text from the
 * prepare and the database file (the peer) from the open.
 *
 * Order of calls: sqlite_probe_open (with the socket object's tracked map fd, or -1 for a
 * private map filled by add_pid) -> sqlite_probe_add_pid for every pid of a service, and again
 * on each snapshot (cheap: once attached it returns at once, and a process without libsqlite3
 * is looked at again every 10 s, which picks up a late `import sqlite3`) ->
 * sqlite_probe_drain on a timer (records never wake userspace) -> sqlite_probe_close. */
#ifndef SQLITE_PROBE_H
#define SQLITE_PROBE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "db_parse.h"

struct sqlite_probe;

/* Load the BPF object, sharing the tracked map (fd < 0: a private one). 0 or -errno + err. */
int sqlite_probe_open(struct sqlite_probe **out, int tracked_map_fd, char *err, size_t errlen);
/* Find libsqlite3 in pid's maps and attach (per pid); 0 if attached or if pid has no
 * libsqlite3 (nothing to do), -errno + err on failure. Idempotent. */
int sqlite_probe_add_pid(struct sqlite_probe *sp, int pid, char *err, size_t errlen);
/* Drain queued records; call cb for each finished execution. service = the tracked map's
 * service index. peer = the database file. */
typedef void (*sqlite_call_cb)(void *ctx, int service, const char *peer, const struct db_call *call);
void sqlite_probe_drain(struct sqlite_probe *sp, sqlite_call_cb cb, void *ctx);
uint64_t sqlite_probe_lost(struct sqlite_probe *sp);   /* records dropped */
void sqlite_probe_close(struct sqlite_probe *sp);

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
