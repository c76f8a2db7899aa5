/* Per-request attribution of database calls and outbound HTTP calls: a call made on the
 * thread that is serving an HTTP request, between the request's first byte read and its
 * response's last byte written, belongs to that request. Exact for thread-per-request servers; when requests
 * overlap on one thread (an event loop) attribution is switched off rather than guessed. */
#ifndef ATTRIBUTION_H
#define ATTRIBUTION_H
#include <stdbool.h>
#include <stdint.h>
#include "http_parse.h"

struct query_stats;
struct attribution;

#define ATTR_TOP 4   /* statements reported per request as N+1 candidates */

struct request_calls {
	unsigned calls;                               /* db calls made while serving the request */
	unsigned http_calls;                          /* outbound HTTP calls made meanwhile */
	struct { struct query_stats *q; unsigned count; } top[ATTR_TOP]; /* most repeated, descending */
	unsigned ntop;
};

struct attribution *attr_new(void);
void attr_free(struct attribution *a);
#define ATTR_LINEAGE 8 /* ancestors a worker's lineage names, nearest first */

/* Workers (tasks) that do work for another: a request answered by R also takes the calls of
 * every worker whose lineage names R (R's sub-tasks, the contexts it handed to threads).
 * lineage(ctx, w, anc, lone) fills anc[0..ATTR_LINEAGE) and returns how many; *lone says w is a
 * plain thread, or a Context no task was copied into (an executor thread's own): only a request
 * it answers itself can take its calls. A lone worker that never answered making calls while a
 * task served a request ran work handed to it without the task's context (run_in_executor): no
 * request can take those, so they are untied at once. */
void attr_set_lineage(struct attribution *a, int (*lineage)(void *ctx, uint32_t w, uint32_t *anc, bool *lone),
		      void *ctx);
/* A db call finished: remember it on its thread until that thread's request completes. */
void attr_db_call(struct attribution *a, uint32_t tid, uint64_t start_ns, struct query_stats *q);
/* An outbound HTTP call began at start_ns (its request's first byte written) on thread tid. */
void attr_http_call(struct attribution *a, uint32_t tid, uint64_t start_ns);
/* A request completed: take the calls that belong to it. false when attribution is off. */
bool attr_take(struct attribution *a, const struct http_txn *t, struct request_calls *out);
bool attr_event_loop(const struct attribution *a);   /* requests were seen overlapping on a thread */
/* Calls no request took, since the start: made between requests, by a task or thread that no
 * request's worker handed work to, or held too long. */
void attr_untied(const struct attribution *a, uint64_t *db, uint64_t *http);
/* Forget threads quiet since before older_than_ns that alive(tid) says are gone (all of
 * them when alive is NULL): an exited worker's threads, whose tids no request completes on. */
void attr_sweep(struct attribution *a, uint64_t older_than_ns, bool (*alive)(uint32_t tid));
#endif
