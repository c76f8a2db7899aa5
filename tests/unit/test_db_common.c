/* Helpers for the db parser tests: feed a script of I/Os to a connection, collect the
 * calls, compare them with a table row's expectations, and replay a script split at every
 * byte to check that framing never depends on how the bytes were cut. */
#include "test_db_common.h"
#include <stdbool.h>
#include <stdlib.h>

void tcollect(void *ctx, const struct db_call *call)
{
	struct tcalls *t = ctx;
	if (t->n < TMAX_CALLS)
		t->c[t->n] = *call;
	t->n++;
}

static size_t io_len(const struct tio *io)
{
	return io->len ? io->len : io->n;
}

/* Feeds ios; an I/O may be cut in two at `cut` (bytes [0,cut) then the rest). */
static void run_cut(enum db_system sys, const struct tio *io, int nio, int cut_io, size_t cut,
		    struct tcalls *out, struct db_conn_stats *st)
{
	struct db_conn *c = db_conn_new(sys);
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < nio && io[i].b; i++) {
		const uint8_t *b = (const uint8_t *)io[i].b;
		size_t len = io_len(&io[i]), capn = io[i].cap ? io[i].cap : io[i].n;
		uint64_t ts = 1000 + 10 * (uint64_t)i;
		uint32_t tid = io[i].send ? 7 : 0;
		if (i == cut_io && cut > 0 && cut < len && capn == len) {
			db_conn_feed(c, io[i].send, b, cut, cut, ts, tid, tcollect, out);
			db_conn_feed(c, io[i].send, b + cut, len - cut, len - cut, ts, tid, tcollect, out);
		} else {
			db_conn_feed(c, io[i].send, b, capn, len, ts, tid, tcollect, out);
		}
	}
	if (st)
		db_conn_stats(c, st);
	db_conn_close(c, 5000, tcollect, out);
	db_conn_free(c);
}

void trun(enum db_system sys, const struct tio *io, int nio, struct tcalls *out,
	  struct db_conn_stats *st)
{
	run_cut(sys, io, nio, -1, 0, out, st);
}

static bool same_call(const struct db_call *a, const struct db_call *b)
{
	return !strcmp(a->op, b->op) && !strcmp(a->text, b->text) && !strcmp(a->key, b->key) &&
	       a->error == b->error && !strcmp(a->error_code, b->error_code) &&
	       a->cache_hits == b->cache_hits && a->cache_misses == b->cache_misses &&
	       a->start_ns == b->start_ns && a->end_ns == b->end_ns;
}

void tcheck_row(const char *desc, const struct tcalls *got, const struct texp *exp, int nexp)
{
	CHECKF(got->n == nexp, "%s: %d calls, want %d", desc, got->n, nexp);
	for (int i = 0; i < nexp && i < got->n && i < TMAX_CALLS; i++) {
		const struct db_call *c = &got->c[i];
		const struct texp *e = &exp[i];
		CHECKF(!strcmp(c->op, e->op), "%s[%d]: op %s want %s", desc, i, c->op, e->op);
		if (e->text)
			CHECKF(!strcmp(c->text, e->text), "%.60s[%d]: text '%.200s' want '%.200s'", desc, i, c->text, e->text);
		if (e->key)
			CHECKF(!strcmp(c->key, e->key), "%s[%d]: key '%s' want '%s'", desc, i, c->key, e->key);
		CHECKF(c->error == e->error, "%s[%d]: error %d want %d", desc, i, c->error, e->error);
		if (e->code)
			CHECKF(!strcmp(c->error_code, e->code), "%s[%d]: code '%s' want '%s'", desc, i,
			       c->error_code, e->code);
		CHECKF(c->cache_hits == (uint32_t)e->hits && c->cache_misses == (uint32_t)e->misses,
		       "%s[%d]: hits %u misses %u want %d %d", desc, i, c->cache_hits,
		       c->cache_misses, e->hits, e->misses);
		CHECKF(c->end_ns >= c->start_ns, "%s[%d]: end before start", desc, i);
	}
}

void tcheck_splits(enum db_system sys, const char *desc, const struct tio *io, int nio)
{
	struct tcalls base, got;
	trun(sys, io, nio, &base, NULL);
	for (int i = 0; i < nio && io[i].b; i++) {
		for (size_t k = 1; k < io_len(&io[i]); k++) {
			run_cut(sys, io, nio, i, k, &got, NULL);
			bool same = got.n == base.n;
			for (int j = 0; same && j < got.n && j < TMAX_CALLS; j++)
				same = same_call(&got.c[j], &base.c[j]);
			CHECKF(same, "%s: split io %d at %zu changes the calls", desc, i, k);
			if (!same)
				return;
		}
	}
}
