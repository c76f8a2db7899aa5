/* SQLite statement text and database files: the two caches that join execution records
 * with their prepare and open, and, for what was set up before attach, the same read from
 * the process's memory. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "pyvitals.h"
#include "sqlite_probe_internal.h"

/* ---- the caches: set-associative, least recently used way replaced ---- */

struct sq_ent *sq_cache_slot(struct sqlite_probe *sp, struct sq_ent *tab, uint32_t sets,
			     uint32_t tgid, uint64_t ptr, bool insert)
{
	uint64_t h = (ptr >> 3) * 0x9e3779b97f4a7c15ULL ^ tgid;
	struct sq_ent *set = &tab[(h >> 32) % sets * SQ_WAYS], *old = set;

	for (int i = 0; i < SQ_WAYS; i++) {
		if (set[i].ptr == ptr && set[i].tgid == tgid) {
			set[i].stamp = ++sp->clock;
			return &set[i];
		}
		if (set[i].stamp < old->stamp)
			old = &set[i];
	}
	if (!insert)
		return NULL;
	memset(old, 0, sizeof(*old));
	old->tgid = tgid;
	old->ptr = ptr;
	old->stamp = ++sp->clock;
	return old;
}

/* The connection's file as the process named it, made absolute against its cwd. */
void sq_set_db_path(struct sq_ent *e, uint32_t tgid, const char *name)
{
	char cwd[PATH_MAX], link[64];
	ssize_t n;

	if (!name[0]) {
		snprintf(e->text, sizeof(e->text), "(temporary database)");
		return;
	}
	if (name[0] == '/' || !strcmp(name, ":memory:") || !strncmp(name, "file:", 5)) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	snprintf(link, sizeof(link), "/proc/%u/cwd", tgid);
	if ((n = readlink(link, cwd, sizeof(cwd) - 1)) <= 0) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	cwd[n] = 0;
	/* Too long to show whole: the name as given says more than a truncated path. */
	if ((size_t)n + strlen(name) + 2 > sizeof(e->text)) {
		snprintf(e->text, sizeof(e->text), "%s", name);
		return;
	}
	strcpy(e->text, strcmp(cwd, "/") ? cwd : "");
	strcat(e->text, "/");
	strcat(e->text, name);
}

/* ---- what was set up before attach, read from the process's memory ----
 * A service attached once warm has its hot statements in Python's statement cache and its
 * connections open: no prepare or open will come for them. Their text and file are still in
 * the process: Vdbe.zSql (the copy prepare_v2/v3 keep) and the connection's Pager. */

static int read_mem(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	return process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

static uint64_t read_ptr(uint32_t pid, uint64_t addr)
{
	uint64_t v = 0;
	return addr >= 4096 && !read_mem(pid, addr, &v, sizeof(v)) ? v : 0;
}

/* A NUL-terminated string of at most len - 1 bytes; read page by page so that a string
 * ending just before an unmapped page is still read. 0 or -1. */
static int read_str(uint32_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;

	if (addr < 4096)
		return -1;
	while (got < len - 1) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		if (read_mem(pid, addr + got, buf + got, chunk))
			return -1;
		if (memchr(buf + got, 0, chunk))
			return 0;
		got += chunk;
	}
	buf[len - 1] = 0;
	return 0;
}

static const struct sq_file *file_of(struct sqlite_probe *sp, uint32_t tgid)
{
	for (int i = 0; i < sp->nprocs; i++)
		if (sp->procs[i].pid == (int)tgid && sp->procs[i].mapped && sp->procs[i].mapped_file >= 0)
			return &sp->files[sp->procs[i].mapped_file];
	return NULL;
}

#define SQ_VDBE_SCAN 512 /* bytes of a Vdbe searched for zSql (it sits ~0x100 in 3.40) */

/* Learn where Vdbe keeps its SQL from a statement whose text we know: the slot pointing to
 * a copy of that text. */
void sq_learn_vdbe_sql(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, const char *sql,
		       size_t n)
{
	struct sq_file *f = (struct sq_file *)file_of(sp, tgid);
	uint64_t slots[SQ_VDBE_SCAN / 8];
	char buf[PV_SQ_TEXT_MAX + 1];

	if (!f || f->vdbe_sql || n < 6 || read_mem(tgid, stmt, slots, sizeof(slots)))
		return;
	for (int i = 1; i < SQ_VDBE_SCAN / 8; i++) {
		size_t len;
		if (read_str(tgid, slots[i], buf, sizeof(buf)))
			continue;
		len = strlen(buf);
		/* SQLite keeps the text up to the end of the first statement: a prefix. */
		if (len >= 6 && len <= n && !memcmp(buf, sql, len)) {
			f->vdbe_sql = i * 8;
			return;
		}
	}
}

static int looks_like_sql(const char *s)
{
	static const char *const kw[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH",
		"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "CREATE", "DROP", "ALTER",
		"PRAGMA", "VALUES", "EXPLAIN", "ANALYZE", "VACUUM", "ATTACH", "DETACH", "REINDEX" };
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		size_t k = strlen(kw[i]);
		if (!strncasecmp(s, kw[i], k) && !((s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z') ||
						   s[k] == '_'))
			return 1;
	}
	return 0;
}

/* Text of a statement prepared before attach: from the learnt offset, else from the first
 * slot of the Vdbe that points to SQL-looking text (zSql comes before any other string). */
int sq_text_from_vdbe(struct sqlite_probe *sp, uint32_t tgid, uint64_t stmt, char *buf,
		      size_t len)
{
	const struct sq_file *f = file_of(sp, tgid);
	uint64_t slots[SQ_VDBE_SCAN / 8];

	if (f && f->vdbe_sql)
		return read_str(tgid, read_ptr(tgid, stmt + f->vdbe_sql), buf, len);
	if (read_mem(tgid, stmt, slots, sizeof(slots)))
		return -1;
	for (int i = 1; i < SQ_VDBE_SCAN / 8; i++)
		if (!read_str(tgid, slots[i], buf, len) && looks_like_sql(buf))
			return 0;
	return -1;
}

/* Does the process hold an open fd on this file? */
static int process_has_open(uint32_t pid, const struct stat *want)
{
	char dir[64], fdpath[64 + sizeof(((struct dirent *)0)->d_name)];
	struct dirent *d;
	struct stat st;
	int found = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%u/fd", pid);
	if (!(dp = opendir(dir)))
		return 0;
	while (!found && (d = readdir(dp))) {
		snprintf(fdpath, sizeof(fdpath), "%s/%s", dir, d->d_name);
		found = d->d_name[0] != '.' && !stat(fdpath, &st) && st.st_dev == want->st_dev &&
			st.st_ino == want->st_ino;
	}
	closedir(dp);
	return found;
}

#define SQ_PAGER_SCAN 512

/* File of a connection opened before attach: db->aDb[0].pBt->pBt->pPager (offsets 32, 8, 8,
 * 0, unchanged for many releases), then the Pager's zFilename, which points just past the
 * Pager into the same allocation. A candidate counts only if the process has that file
 * open, so a wrong guess shows up as "unknown", never as a wrong file. */
int sq_path_from_db(uint32_t tgid, uint64_t db, char *buf, size_t len)
{
	uint64_t adb = read_ptr(tgid, db + 32), btree = read_ptr(tgid, adb + 8);
	uint64_t bts = read_ptr(tgid, btree + 8), pager = read_ptr(tgid, bts);
	uint64_t slots[SQ_PAGER_SCAN / 8];
	char root[PATH_MAX + 64];
	struct stat st;

	if (!pager || read_mem(tgid, pager, slots, sizeof(slots)))
		return -1;
	for (int i = 1; i < SQ_PAGER_SCAN / 8; i++) {
		if (slots[i] <= pager || slots[i] >= pager + 65536 || read_str(tgid, slots[i], buf, len) ||
		    buf[0] != '/')
			continue;
		snprintf(root, sizeof(root), "/proc/%u/root%s", tgid, buf);
		if (!stat(root, &st) && S_ISREG(st.st_mode) && process_has_open(tgid, &st))
			return 0;
	}
	return -1;
}
