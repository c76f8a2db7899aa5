/* What the sqlite_probe files share; other modules use sqlite_probe.h. The module by concern:
 *   sqlite_probe.c   records into db_calls, the drain, open and close
 *   sqlite_text.c    the statement and connection caches, and the text and database file of
 *                    what was set up before attach, read from the process's memory
 *   sqlite_attach.c  libsqlite3 files and their probes: reading a process's maps, attaching
 *   sqlite_procs.c   the tracked processes: add, forget, prune, blind spots
 *   sqlite_elf.c     the probe points of a libsqlite3 file */
#ifndef SQLITE_PROBE_INTERNAL_H
#define SQLITE_PROBE_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "sqlite_probe.h"

#define SQ_MAX_LINKS 10
#define SQ_MAX_FILES 16
#define SQ_WHY 240
#define SQ_SETS_STMT 1024   /* x SQ_WAYS statements remembered (Python caches 128 per connection) */
#define SQ_SETS_DB 128
#define SQ_WAYS 4
#define SQ_LOOK_EVERY_NS 1000000000ull    /* maps of a process with no probed libsqlite3 mapped */

struct bpf_link;
struct ring_buffer;
struct sqlite_bpf;

/* A libsqlite3 file (device + inode) and its probes. The probes are attached once, for all
 * processes (pid -1): the kernel puts them into every process that maps the file, now or
 * later, so a worker forked or respawned later, a process found by --comm later and a
 * dlopen after attach are all seen from their first call, with no attach per process.
 * The price: other processes that use the same file take the trap too, as long as pyvitals
 * runs (~2 us per trap, ~3 per statement execution; bpf/sqlite.bpf.c ignores them after one
 * map lookup). */
struct sq_file {
	unsigned int maj, min;
	unsigned long long ino;
	char path[600];            /* where it was opened: through the root of a process */
	bool bad;                  /* no usable probe points (why): never attached */
	int err;                   /* last attach failure (-errno), 0 if none */
	char why[SQ_WHY];
	uint64_t retry_ns;         /* after a failure: next attempt (CLOCK_BOOTTIME) */
	uint64_t probed_ns;        /* when its probes were all in (CLOCK_BOOTTIME); 0: not probed */
	int vdbe_sql;              /* offset of Vdbe.zSql, learnt from a prepare; 0: not yet */
	struct sqlite_offsets off;
	int nlinks;
	struct bpf_link *links[SQ_MAX_LINKS];
};

/* A tracked process: which libsqlite3 it maps, and whether some of its calls went unseen. */
struct sq_proc {
	int pid;
	unsigned long long start;  /* starttime from /proc/PID/stat: detects pid reuse */
	bool looked;               /* its maps were read at least once (and its likely file probed) */
	bool mapped;               /* libsqlite3 was in its maps at the last look */
	int mapped_file;           /* files[] index of that libsqlite3; -1 unknown (see err) */
	uint64_t clear_ns;         /* no unprobed libsqlite3 was mapped then (CLOCK_BOOTTIME; 0:
				    * before we attached): its calls must be seen from then on */
	uint64_t look_ns;          /* next look at its maps, while it has no probed file mapped */
	double late_ms;            /* its file was probed up to this long after it mapped it */
	int err;                   /* last failure (-errno), 0 if none */
	char why[SQ_WHY];
	char told[SQ_WHY];         /* the failure add_pid last returned: each is told once */
};

/* Cache entry: a statement (text) or a connection (path in text), keyed by (tgid, ptr). */
struct sq_ent {
	uint32_t tgid, stamp;
	uint64_t ptr;
	char op[24];
	char text[512];
};

struct sqlite_probe {
	struct sqlite_bpf *skel;
	struct ring_buffer *rb;
	bool own_tracked;
	struct sq_file files[SQ_MAX_FILES];
	int nfiles;
	struct sq_proc *procs;
	int nprocs, cap;
	struct sq_ent *stmts, *dbs;
	uint32_t clock;
	uint64_t bad_records;
	unsigned int drains;
	uint64_t opened_ns;        /* CLOCK_BOOTTIME at open: processes started later are new */
	uint64_t untracked_told, untracked_told_ns; /* PYVITALS_DEBUG line about other processes */
	sqlite_call_cb cb;         /* set during a drain */
	void *cb_ctx;
};

static inline uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Process start times are in clock ticks since boot: compared with CLOCK_BOOTTIME. */
static inline uint64_t boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

/* sqlite_text.c: the caches, and what memory tells of statements and connections */
struct sq_ent *sq_cache_slot(struct sqlite_probe *sp, struct sq_ent *tab, uint32_t sets,
			     uint32_t tgid, uint64_t ptr, bool insert);
void sq_set_db_path(struct sq_ent *e, uint32_t tgid, const char *name);
void sq_learn_vdbe_sql(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, const char *sql,
		       size_t n);
int sq_text_from_vdbe(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, char *buf,
		      size_t len);
int sq_path_from_db(uint32_t tgid, uint64_t db, char *buf, size_t len);

/* sqlite_attach.c: probing the libsqlite3 files of processes */
void sq_probe_likely(struct sqlite_probe *sp, struct sq_proc *p, int pid);
void sq_look(struct sqlite_probe *sp, struct sq_proc *p);

/* sqlite_procs.c: the tracked processes */
bool sq_unsettled(const struct sqlite_probe *sp, const struct sq_proc *p);
void sq_prune(struct sqlite_probe *sp);
#endif
