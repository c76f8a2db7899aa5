/* The HTTP session fuzz targets' shared body: records (fuzz_records.h) fed to one connection
 * of the given role and request framing, closed at the end; every transaction reported must
 * be well formed. Direction bit 1: the service read the bytes. */
#ifndef FUZZ_HTTP_H
#define FUZZ_HTTP_H
#include "fuzz_records.h"
#include "http_parse.h"

static void fuzz_http_txn(void *ctx, const struct http_txn *t)
{
	(void)ctx;
	fuzz_check_str(t->method, sizeof(t->method));
	fuzz_check_str(t->path, sizeof(t->path));
	fuzz_check_str(t->host, sizeof(t->host));
	if (t->aborted < HTTP_ABORT_NONE || t->aborted > HTTP_ABORT_CUT_SHORT)
		abort();
}

static inline void fuzz_http_run(struct http_server_conn *c, const uint8_t *data, size_t size)
{
	struct fuzz_reader r;
	struct http_conn_stats st;

	if (!c)
		return;
	fuzz_reader_init(&r, data, size);
	while (fuzz_next(&r)) {
		switch (r.rec.kind) {
		case FUZZ_FEED:
			http_server_conn_feed(c, r.rec.dir, r.rec.cap, r.rec.cap_len, r.rec.len, r.rec.ts,
					      r.rec.tid, fuzz_http_txn, NULL);
			break;
		case FUZZ_CLOSE:
			http_server_conn_close(c, r.rec.ts, fuzz_http_txn, NULL);
			break;
		case FUZZ_SETTLE:
			http_server_conn_settle(c, r.rec.quiet_since, fuzz_http_txn, NULL);
			break;
		case FUZZ_GAP:
			http_server_conn_gap(c);
			break;
		}
	}
	http_server_conn_close(c, r.ts + 1, fuzz_http_txn, NULL);
	http_server_conn_stats(c, &st);
	http_server_conn_free(c);
}
#endif
