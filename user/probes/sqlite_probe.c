/* SQLite calls: turn the records of bpf/sqlite.bpf.c into db_calls, joining each execution
 * with its statement text (from prepares) and database file (from opens) in two small caches
 * (sqlite_text.c); open, drain and close. Probes are attached per libsqlite3 file
 * (sqlite_attach.c) on behalf of the tracked processes (sqlite_procs.c). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pyvitals.h"
#include "sql_normalize.h"
#include "sqlite.skel.h"
#include "sqlite_probe_internal.h"

#define SQ_PRUNE_EVERY 50   /* drains between checks for exited processes (~5 s at 100 ms) */

/* ---- records ---- */

static void report(struct sqlite_probe *sp, uint32_t service, uint32_t tgid, uint64_t stmt,
		   uint64_t db, const char *op, const char *text, int rc, uint64_t start,
		   uint64_t end, uint32_t tid)
{
	struct db_call call;
	struct sq_ent *d = sq_cache_slot(sp, sp->dbs, SQ_SETS_DB, tgid, db, false);
	const char *name = sqlite_rc_name(rc);
	int prim = rc & 0xff;

	(void)stmt;
	if (!d && db) {
		/* Once per connection: remember the answer, found or not. */
		d = sq_cache_slot(sp, sp->dbs, SQ_SETS_DB, tgid, db, true);
		if (sq_path_from_db(tgid, db, d->text, sizeof(d->text)))
			snprintf(d->text, sizeof(d->text), "unknown (opened before attach)");
	}
	memset(&call, 0, sizeof(call));
	call.system = DB_SQLITE;
	snprintf(call.op, sizeof(call.op), "%s", op);
	snprintf(call.text, sizeof(call.text), "%s", text);
	call.error = prim != 0 && prim != 100 && prim != 101;
	if (call.error) {
		if (name)
			snprintf(call.error_code, sizeof(call.error_code), "%s", name);
		else
			snprintf(call.error_code, sizeof(call.error_code), "%d", rc);
	}
	call.start_ns = start;
	call.end_ns = end;
	call.tid = tid;
	sp->cb(sp->cb_ctx, (int)service, d ? d->text : "unknown (opened before attach)", &call);
}

static void on_prep(struct sqlite_probe *sp, const struct pv_sq_prep *p)
{
	size_t n = strnlen(p->text, p->len < PV_SQ_TEXT_MAX ? p->len : PV_SQ_TEXT_MAX);
	char op[24], text[512];

	sql_operation(p->text, n, op, sizeof(op));
	sql_normalize(p->text, n, text, sizeof(text));
	if (p->rc) {
		/* The statement did not compile (syntax error, unknown table): the app's execute
		 * failed here, so this is its one call. */
		report(sp, p->service, p->tgid, 0, p->db, op, text, p->rc, p->start_ns, p->end_ns, p->tid);
		return;
	}
	struct sq_ent *e = sq_cache_slot(sp, sp->stmts, SQ_SETS_STMT, p->tgid, p->stmt, true);
	memcpy(e->op, op, sizeof(op));
	memcpy(e->text, text, sizeof(text));
	sq_learn_vdbe_sql(sp, p->tgid, p->stmt, p->text, n);
}

static void on_exec(struct sqlite_probe *sp, const struct pv_sq_exec *x)
{
	struct sq_ent *e = sq_cache_slot(sp, sp->stmts, SQ_SETS_STMT, x->tgid, x->stmt, false);
	char raw[PV_SQ_TEXT_MAX + 1];

	if (!e && !sq_text_from_vdbe(sp, x->tgid, x->stmt, raw, sizeof(raw))) {
		e = sq_cache_slot(sp, sp->stmts, SQ_SETS_STMT, x->tgid, x->stmt, true);
		sql_operation(raw, strlen(raw), e->op, sizeof(e->op));
		sql_normalize(raw, strlen(raw), e->text, sizeof(e->text));
	}

	report(sp, x->service, x->tgid, x->stmt, x->db, e ? e->op : "",
	       e ? e->text : "unknown (prepared before attach)", x->rc, x->start_ns, x->end_ns, x->tid);
}

static int handle_record(void *ctx, void *data, size_t len)
{
	struct sqlite_probe *sp = ctx;
	uint32_t type;

	if (len < sizeof(type)) {
		sp->bad_records++;
		return 0;
	}
	memcpy(&type, data, sizeof(type));
	switch (type) {
	case PV_SQ_EXEC:
		if (len < sizeof(struct pv_sq_exec))
			break;
		on_exec(sp, data);
		return 0;
	case PV_SQ_PREP:
		if (len < sizeof(struct pv_sq_prep))
			break;
		on_prep(sp, data);
		return 0;
	case PV_SQ_OPEN: {
		const struct pv_sq_open *o = data;
		char name[PV_SQ_PATH_MAX + 1];
		if (len < sizeof(*o))
			break;
		memcpy(name, o->path, PV_SQ_PATH_MAX);
		name[PV_SQ_PATH_MAX] = 0;
		sq_set_db_path(sq_cache_slot(sp, sp->dbs, SQ_SETS_DB, o->tgid, o->db, true), o->tgid, name);
		return 0;
	}
	}
	sp->bad_records++; /* unknown type or short record: a BPF/userspace mismatch */
	return 0;
}

/* ---- lifecycle ---- */

int sqlite_probe_open(struct sqlite_probe **out, int tracked_map_fd, char *err, size_t errlen)
{
	struct sqlite_probe *sp = calloc(1, sizeof(*sp));
	int r;

	*out = NULL;
	if (!sp || !(sp->stmts = calloc(SQ_SETS_STMT * SQ_WAYS, sizeof(struct sq_ent))) ||
	    !(sp->dbs = calloc(SQ_SETS_DB * SQ_WAYS, sizeof(struct sq_ent)))) {
		snprintf(err, errlen, "sqlite: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	if (!(sp->skel = sqlite_bpf__open())) {
		r = -errno;
		snprintf(err, errlen, "opening the sqlite BPF object failed: %s", strerror(-r));
		goto fail;
	}
	sp->own_tracked = tracked_map_fd < 0;
	if (!sp->own_tracked && (r = bpf_map__reuse_fd(sp->skel->maps.tracked, tracked_map_fd))) {
		snprintf(err, errlen, "sharing the tracked map (fd %d) with the sqlite object failed: %s "
			 "(is it the socket object's 'tracked' hash map?)", tracked_map_fd, strerror(-r));
		goto fail;
	}
	if ((r = sqlite_bpf__load(sp->skel))) {
		snprintf(err, errlen, "loading the sqlite BPF object failed: %s (needs kernel BTF and "
			 "task storage; see the libbpf messages above, or run pyvitals doctor)", strerror(-r));
		goto fail;
	}
	sp->rb = ring_buffer__new(bpf_map__fd(sp->skel->maps.sq_events), handle_record, sp, NULL);
	if (!sp->rb) {
		r = -errno;
		snprintf(err, errlen, "setting up the sqlite ring buffer failed: %s", strerror(-r));
		goto fail;
	}
	sp->opened_ns = boot_ns();
	/* A watch: the host's own likely libsqlite3 is probed now, so a process found later
	 * (--comm) that uses it is seen from its first call, even when attaching its file would
	 * wait (behind another pyvitals closing its links, ~0.1 s each, 1.1 s seen). */
	if (!sp->own_tracked) {
		struct sq_proc host = { .pid = 0 };
		sq_probe_likely(sp, &host, 0);
		if (host.err && getenv("PYVITALS_DEBUG"))
			fprintf(stderr, "pyvitals: %s\n", host.why);
	}
	*out = sp;
	return 0;
fail:
	if (sp) {
		sqlite_bpf__destroy(sp->skel);
		free(sp->stmts);
		free(sp->dbs);
		free(sp);
	}
	return r;
}

uint64_t sqlite_probe_untracked(struct sqlite_probe *sp)
{
	return sp->skel->bss->sq_counters.untracked;
}

void sqlite_probe_drain(struct sqlite_probe *sp, sqlite_call_cb cb, void *ctx)
{
	uint64_t now, other;

	sp->cb = cb;
	sp->cb_ctx = ctx;
	ring_buffer__consume(sp->rb);
	sp->cb = NULL;
	/* A process that maps a libsqlite3 we have not probed (a venv's, LD_LIBRARY_PATH) is
	 * found here, within SQ_LOOK_EVERY_NS. Once it maps a probed file it is never read
	 * again (an exec makes it a new process: see sqlite_probe_forget). */
	now = boot_ns();
	for (int i = 0; i < sp->nprocs; i++)
		if (sq_unsettled(sp, &sp->procs[i]) && now >= sp->procs[i].look_ns)
			sq_look(sp, &sp->procs[i]);
	if (++sp->drains % SQ_PRUNE_EVERY == 0)
		sq_prune(sp);
	other = sqlite_probe_untracked(sp);
	if (other != sp->untracked_told && now >= sp->untracked_told_ns && getenv("PYVITALS_DEBUG")) {
		fprintf(stderr, "pyvitals: sqlite: %llu probe hits of untracked processes ignored\n",
			(unsigned long long)other);
		sp->untracked_told = other;
		sp->untracked_told_ns = now + SQ_LOOK_EVERY_NS;
	}
}

uint64_t sqlite_probe_lost(struct sqlite_probe *sp)
{
	const struct pv_sq_counters *c = &sp->skel->bss->sq_counters;
	return c->ringbuf_full + c->inflight_full + c->deep_nesting + c->storage_fail + sp->bad_records;
}

void sqlite_probe_close(struct sqlite_probe *sp)
{
	if (!sp)
		return;
	/* ~0.1 s per link on recent kernels: each close waits for a grace period holding the
	 * kernel's event_mutex. A pause between closes lets another pyvitals that waits on that
	 * lock to attach go first, rather than wait for the whole teardown (536 ms seen). */
	for (int i = 0; i < sp->nfiles; i++)
		while (sp->files[i].nlinks) {
			bpf_link__destroy(sp->files[i].links[--sp->files[i].nlinks]);
			usleep(1000);
		}
	ring_buffer__free(sp->rb);
	sqlite_bpf__destroy(sp->skel);
	free(sp->procs);
	free(sp->stmts);
	free(sp->dbs);
	free(sp);
}
