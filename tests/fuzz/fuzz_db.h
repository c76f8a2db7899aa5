/* The database fuzz targets' shared body: records (fuzz_records.h) fed to one client
 * connection of a system, closed at the end (a close record ends it and starts a new one);
 * every call reported must be well formed.
 * Direction bit 1: the service sent the bytes (a request). */
#ifndef FUZZ_DB_H
#define FUZZ_DB_H
#include "fuzz_records.h"
#include "db_parse.h"

static void fuzz_db_call(void *ctx, const struct db_call *c)
{
	enum db_system sys = *(const enum db_system *)ctx;

	if (c->system != sys)
		abort();
	fuzz_check_str(c->op, sizeof(c->op));
	fuzz_check_str(c->text, sizeof(c->text));
	fuzz_check_str(c->key, sizeof(c->key));
	fuzz_check_str(c->error_code, sizeof(c->error_code));
}

static inline void fuzz_db_run(enum db_system sys, const uint8_t *data, size_t size)
{
	struct db_conn *c = db_conn_new(sys);
	struct fuzz_reader r;
	struct db_conn_stats st;

	if (!c)
		return;
	fuzz_reader_init(&r, data, size);
	while (fuzz_next(&r)) {
		if (r.rec.kind == FUZZ_FEED)
			db_conn_feed(c, r.rec.dir, r.rec.cap, r.rec.cap_len, r.rec.len, r.rec.ts, r.rec.tid,
				     fuzz_db_call, &sys);
		else if (r.rec.kind == FUZZ_CLOSE) {
			/* as the agent: a closed connection is freed, a new one starts afresh */
			db_conn_close(c, r.rec.ts, fuzz_db_call, &sys);
			db_conn_free(c);
			if (!(c = db_conn_new(sys)))
				abort();
		} else if (r.rec.kind == FUZZ_GAP) {
			db_conn_gap(c);
		}
		(void)db_conn_encrypted(c);
	}
	db_conn_close(c, r.ts + 1, fuzz_db_call, &sys);
	db_conn_stats(c, &st);
	db_conn_free(c);
}
#endif
