/* attribution: calls tied to the request their thread completes, and the state of threads
 * that exited freed (a recycled worker's threads never complete a request again). */
#include "unit.h"
#include "attribution.h"
#include "db_stats.h"

static struct query_stats q;

static bool only_tid_1_alive(uint32_t tid)
{
	return tid == 1;
}

static unsigned calls_taken(struct attribution *a, uint32_t tid)
{
	struct http_txn tx = { .start_ns = 100, .end_ns = 1000, .tid = tid };
	struct request_calls out;

	attr_take(a, &tx, &out);
	return out.calls;
}

UNIT_TEST(attr_sweep_frees_quiet_threads_that_exited)
{
	struct attribution *a = attr_new();

	CHECK(a != NULL);
	if (!a)
		return;
	attr_db_call(a, 1, 200, &q);  /* quiet since 200, alive: kept */
	attr_db_call(a, 2, 200, &q);  /* quiet since 200, exited: freed */
	attr_db_call(a, 3, 900, &q);  /* exited, but active after the cut: kept (its records may still come) */
	attr_sweep(a, 500, only_tid_1_alive);
	CHECK(calls_taken(a, 1) == 1);
	CHECK(calls_taken(a, 2) == 0);
	CHECK(calls_taken(a, 3) == 1);
	attr_free(a);
}

/* Worker 10 answers requests; 11 and 12 were copied from it (sub-tasks, a thread hand-off); 13
 * was copied from another request's worker (20). */
static int fake_lineage(void *ctx, uint32_t worker, uint32_t *anc, bool *lone)
{
	(void)ctx;
	*lone = worker < 10;
	anc[0] = worker == 13 ? 20 : 10;
	return worker >= 11 && worker <= 13;
}

UNIT_TEST(attr_take_includes_calls_of_workers_copied_from_the_responder)
{
	struct attribution *a = attr_new();
	struct http_txn tx = { .start_ns = 100, .end_ns = 1000, .tid = 1, .resp_tid = 10 };
	struct request_calls out;
	uint64_t db, http;

	CHECK(a != NULL);
	if (!a)
		return;
	attr_set_lineage(a, fake_lineage, NULL);
	attr_db_call(a, 10, 150, &q);   /* the request's own task */
	attr_db_call(a, 11, 200, &q);   /* its sub-tasks */
	attr_db_call(a, 11, 300, &q);
	attr_http_call(a, 12, 400);
	attr_db_call(a, 13, 500, &q);   /* another request's */
	attr_db_call(a, 11, 1500, &q);  /* after the response: a later request's, or nobody's */
	attr_db_call(a, 5, 600, &q);    /* a pool thread no task handed work to (run_in_executor) */
	attr_db_call(a, 5, 1600, &q);   /* ... after this request: left for a later one */
	CHECK(attr_take(a, &tx, &out));
	CHECK(out.calls == 3);
	CHECK(out.http_calls == 1);
	CHECK(out.ntop == 1 && out.top[0].count == 3);
	attr_untied(a, &db, &http);
	CHECK(db == 1 && http == 0);
	tx.resp_tid = 20;
	CHECK(attr_take(a, &tx, &out) && out.calls == 1 && out.http_calls == 0);
	attr_untied(a, &db, &http);
	CHECK(db == 1 && http == 0);
	attr_free(a);
}

static bool tid_1_and_3_alive(uint32_t tid)
{
	return tid == 1 || tid == 3;
}

UNIT_TEST(attr_counts_calls_no_request_took_as_untied)
{
	struct attribution *a = attr_new();
	struct http_txn tx = { .start_ns = 100, .end_ns = 1000, .tid = 1 };
	struct request_calls out;
	uint64_t db, http;

	CHECK(a != NULL);
	if (!a)
		return;
	attr_db_call(a, 1, 50, &q);     /* before the request on the thread that answers it */
	attr_http_call(a, 2, 300);      /* on a thread no request runs on, which exited */
	attr_db_call(a, 3, 300, &q);    /* alive: still pending, not counted */
	CHECK(attr_take(a, &tx, &out) && out.calls == 0);
	attr_sweep(a, 500, tid_1_and_3_alive);
	attr_untied(a, &db, &http);
	CHECK(db == 1);
	CHECK(http == 1);
	attr_free(a);
}
