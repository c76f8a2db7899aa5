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
