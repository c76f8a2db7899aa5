/* The step runner of the HTTP session tests (see test_http_common.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_http_common.h"

static void collect(void *ctx, const struct http_txn *t)
{
	struct got *g = ctx;
	size_t l = strlen(g->text);

	if (t->tid != 100 + t->start_ns)
		g->bad++;
	snprintf(g->text + l, sizeof(g->text) - l, "%s%s %s %d %llu-%llu", g->n++ ? ";" : "", t->method,
	         t->path, t->status, (unsigned long long)t->start_ns, (unsigned long long)t->end_ns);
}

/* Feeds one step; uncaptured bytes get a pointer to data that must never be read. */
static void feed_step(struct http_server_conn *c, const struct step *s, uint64_t ts, struct got *g)
{
	uint8_t *copy;

	if (s->op == 'C') {
		http_server_conn_close(c, ts, collect, g);
		return;
	}
	if (s->op == 'G') {
		http_server_conn_gap(c);
		return;
	}
	copy = malloc(s->cap ? s->cap : 1); /* exact size: ASan catches over-reads */
	memcpy(copy, s->data, s->cap);
	http_server_conn_feed(c, s->op == 'R', copy, s->cap, s->cap + s->extra, ts, 100 + ts, collect, g);
	free(copy);
}

void http_run_steps(enum http_req_framing framing, const struct step *steps, size_t n, struct got *g,
		    struct http_conn_stats *st)
{
	struct http_server_conn *c = http_server_conn_new_framed(framing);

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < n && steps[i].op; i++)
		feed_step(c, &steps[i], i + 1, g);
	http_server_conn_stats(c, st);
	http_server_conn_free(c);
}
