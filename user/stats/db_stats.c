/* Exact per-peer and per-statement aggregation of database and cache calls. */
#include <stdlib.h>
#include <string.h>
#include "db_stats.h"
#include "json.h"

void db_stats_init(struct db_stats *d, unsigned max_queries)
{
	memset(d, 0, sizeof(*d));
	d->max_queries = max_queries;
}

void db_stats_free(struct db_stats *d)
{
	for (unsigned i = 0; i < d->npeers; i++) {
		struct db_peer *p = d->peers[i];

		for (unsigned j = 0; j < p->nqueries; j++)
			free(p->queries[j]);
		free(p->queries);
		free(p->overflow);
		series_free(&p->dur);
		free(p);
	}
	memset(d, 0, sizeof(*d));
}

static struct db_peer *find_peer(struct db_stats *d, enum db_system sys, const char *peer)
{
	struct db_peer *p;

	for (unsigned i = 0; i < d->npeers; i++)
		if (d->peers[i]->system == sys && !strcmp(d->peers[i]->peer, peer))
			return d->peers[i];
	if (d->npeers == DB_MAX_PEERS || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->system = sys;
	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	hist_init(&p->latency);
	d->peers[d->npeers++] = p;
	return p;
}

static unsigned hash_text(const struct db_peer *p, const char *text)
{
	unsigned h = 2166136261u ^ (unsigned)(uintptr_t)p;

	for (const char *c = text; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return h % QUERY_BUCKETS;
}

static struct query_stats *new_query(struct db_peer *p, const char *text)
{
	struct query_stats *q = calloc(1, sizeof(*q));

	if (q) {
		snprintf(q->text, sizeof(q->text), "%s", text);
		hist_init(&q->latency);
		q->peer = p;
	}
	return q;
}

static struct query_stats *find_query(struct db_stats *d, struct db_peer *p, const char *text)
{
	unsigned h = hash_text(p, text);
	struct query_stats *q, **grown;

	for (q = d->buckets[h]; q; q = q->next)
		if (q->peer == p && !strcmp(q->text, text))
			return q;
	if (d->nqueries >= d->max_queries) {
		if (!p->overflow)
			p->overflow = new_query(p, OVERFLOW_QUERY);
		return p->overflow;
	}
	if (!(p->nqueries & (p->nqueries + 1)) || !p->queries) { /* grow at 0, 1, 3, 7, ... */
		grown = realloc(p->queries, sizeof(*grown) * (p->nqueries + 1) * 2);
		if (!grown)
			return NULL;
		p->queries = grown;
	}
	if (!(q = new_query(p, text)))
		return NULL;
	q->next = d->buckets[h];
	d->buckets[h] = q;
	p->queries[p->nqueries++] = q;
	d->nqueries++;
	return q;
}

static void count_op(struct db_peer *p, const char *op)
{
	int i;

	for (i = 0; i < DB_MAX_OPS && p->ops[i].op[0]; i++)
		if (!strcmp(p->ops[i].op, op))
			break;
	if (i == DB_MAX_OPS) {
		p->other_ops++;
		return;
	}
	if (!p->ops[i].op[0])
		snprintf(p->ops[i].op, sizeof(p->ops[i].op), "%s", op[0] ? op : "OTHER");
	p->ops[i].n++;
}

/* OpenTelemetry's error.type: the code the server sent (SQLSTATE, errno, RESP prefix), or _OTHER. */
static void count_duration(struct db_peer *p, const struct db_call *call, uint64_t ns)
{
	char key[SERIES_KEY];
	struct series *s;

	snprintf(key, sizeof(key), "%.23s\037%.16s", call->op[0] ? call->op : "_OTHER",
		 !call->error ? "" : call->error_code[0] ? call->error_code : "_OTHER");
	if ((s = series_get(&p->dur, key)))
		dur_add(&s->h, &db_bounds, ns);
}

struct query_stats *db_stats_add(struct db_stats *d, const char *peer, const struct db_call *call)
{
	uint64_t ns = call->end_ns > call->start_ns ? call->end_ns - call->start_ns : 0;
	struct db_peer *p = find_peer(d, call->system, peer);
	struct query_stats *q;

	if (!p) {
		d->dropped_peers++;
		return NULL;
	}
	p->calls++;
	p->errors += !!call->error;
	hist_add(&p->latency, ns);
	count_op(p, call->op);
	count_duration(p, call, ns);
	p->cache_hits += call->cache_hits;
	p->cache_misses += call->cache_misses;
	q = find_query(d, p, call->text[0] ? call->text : call->op);
	if (q) {
		q->calls++;
		q->errors += !!call->error;
		hist_add(&q->latency, ns);
	}
	return q;
}

void db_stats_lost(struct db_stats *d, enum db_system sys, const char *peer,
		   const struct db_conn_stats *delta)
{
	struct db_peer *p = find_peer(d, sys, peer);

	if (!p)
		return;
	for (int i = DB_LOSS_CAPTURE; i < DB_LOSS_REASONS; i++)
		p->unparsed_ios[i] += delta->unparsed_ios[i];
	p->dropped_requests += delta->dropped;
}

static int by_total_time(const void *x, const void *y)
{
	const struct query_stats *a = *(struct query_stats *const *)x, *b = *(struct query_stats *const *)y;
	double ta = hist_sum_ms(&a->latency), tb = hist_sum_ms(&b->latency);

	return ta < tb ? 1 : ta > tb ? -1 : strcmp(a->text, b->text);
}

/* Every call on this peer's connections was parsed (none can be missing from its figures). */
static int db_peer_exact(const struct db_peer *p)
{
	for (int i = DB_LOSS_CAPTURE; i < DB_LOSS_REASONS; i++)
		if (p->unparsed_ios[i])
			return 0;
	return !p->dropped_requests;
}

static void json_peer(const struct db_peer *p, FILE *f)
{
	struct query_stats **v = malloc(sizeof(*v) * (p->nqueries + 1));
	unsigned n = 0;

	fputs("{\"system\": ", f);
	json_str(f, db_system_name(p->system));
	fputs(", \"peer\": ", f);
	json_str(f, p->peer);
	fprintf(f, ", \"calls\": %llu, \"errors\": %llu, \"latency_ms\": ", (unsigned long long)p->calls,
		(unsigned long long)p->errors);
	json_latency(f, &p->latency);
	fputs(", \"operations\": {", f);
	for (int i = 0; i < DB_MAX_OPS && p->ops[i].op[0]; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, p->ops[i].op);
		fprintf(f, ": %llu", (unsigned long long)p->ops[i].n);
	}
	if (p->other_ops)
		fprintf(f, "%s\"{other}\": %llu", p->ops[0].op[0] ? ", " : "", (unsigned long long)p->other_ops);
	fputs("}, \"queries\": [", f);
	if (v) {
		memcpy(v, p->queries, sizeof(*v) * p->nqueries);
		n = p->nqueries;
		qsort(v, n, sizeof(*v), by_total_time);
		if (p->overflow)
			v[n++] = p->overflow;
	}
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", {\"text\": " : "{\"text\": ", f);
		json_str(f, v[i]->text);
		fprintf(f, ", \"calls\": %llu, \"errors\": %llu, \"total_ms\": ", (unsigned long long)v[i]->calls,
			(unsigned long long)v[i]->errors);
		json_num(f, hist_sum_ms(&v[i]->latency));
		fputs(", \"p99_ms\": ", f);
		json_num(f, hist_percentile_ms(&v[i]->latency, 0.99));
		fputs("}", f);
	}
	fputs("]", f);
	free(v);
	if (p->system == DB_REDIS || p->system == DB_MEMCACHED)
		fprintf(f, ", \"cache\": {\"hits\": %llu, \"misses\": %llu}", (unsigned long long)p->cache_hits,
			(unsigned long long)p->cache_misses);
	fprintf(f, ", \"tls\": %s", p->tls ? "true" : "false");
	fprintf(f, ", \"exact\": %s, \"unparsed\": {\"capture_limit_ios\": %llu, \"malformed_ios\": %llu, "
		"\"ring_buffer_full_ios\": %llu, \"requests_dropped\": %llu}}", db_peer_exact(p) ? "true" : "false",
		(unsigned long long)p->unparsed_ios[DB_LOSS_CAPTURE],
		(unsigned long long)p->unparsed_ios[DB_LOSS_MALFORMED],
		(unsigned long long)p->unparsed_ios[DB_LOSS_RING], (unsigned long long)p->dropped_requests);
}

void db_stats_json(const struct db_stats *d, FILE *f)
{
	fputs("[", f);
	for (unsigned i = 0; i < d->npeers; i++) {
		fputs(i ? ", " : "", f);
		json_peer(d->peers[i], f);
	}
	fputs("]", f);
}

void db_stats_text(const struct db_stats *d, FILE *f, unsigned max_statements)
{
	struct query_stats **all;
	unsigned n = 0;

	if (!d->npeers)
		return;
	fprintf(f, "\n  %-10s %-28s %9s %7s %8s %8s %9s\n", "DATABASE", "PEER", "CALLS", "ERR", "P50ms", "P99ms",
		"HIT%");
	for (unsigned i = 0; i < d->npeers; i++) {
		const struct db_peer *p = d->peers[i];
		uint64_t reads = p->cache_hits + p->cache_misses;
		char hit[16] = "-";

		if (reads)
			snprintf(hit, sizeof(hit), "%.1f%%", 100.0 * p->cache_hits / reads);
		fprintf(f, "  %-10s %-28.28s %9llu %6.1f%% %8.2f %8.2f %9s\n", db_system_name(p->system), p->peer,
			(unsigned long long)p->calls, p->calls ? 100.0 * p->errors / p->calls : 0,
			hist_percentile_ms(&p->latency, 0.5), hist_percentile_ms(&p->latency, 0.99), hit);
	}
	all = malloc(sizeof(*all) * (d->nqueries + 1));
	if (!all)
		return;
	for (unsigned i = 0; i < d->npeers; i++)
		for (unsigned j = 0; j < d->peers[i]->nqueries; j++)
			all[n++] = d->peers[i]->queries[j];
	qsort(all, n, sizeof(*all), by_total_time);
	fprintf(f, "\n  %-10s %9s %10s %8s  %s\n", "SLOWEST", "CALLS", "TOTALms", "P99ms", "STATEMENT");
	for (unsigned i = 0; i < n && i < max_statements; i++)
		fprintf(f, "  %-10s %9llu %10.1f %8.2f  %.70s\n", db_system_name(all[i]->peer->system),
			(unsigned long long)all[i]->calls, hist_sum_ms(&all[i]->latency),
			hist_percentile_ms(&all[i]->latency, 0.99), all[i]->text);
	free(all);
}
