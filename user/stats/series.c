/* Fixed-bound duration histograms and their keyed sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "series.h"

#define MS 1000000ull
const struct dur_bounds http_bounds = {
	14, { 5 * MS, 10 * MS, 25 * MS, 50 * MS, 75 * MS, 100 * MS, 250 * MS, 500 * MS, 750 * MS, 1000 * MS,
	      2500 * MS, 5000 * MS, 7500 * MS, 10000 * MS } };
const struct dur_bounds db_bounds = {
	9, { 1 * MS, 5 * MS, 10 * MS, 50 * MS, 100 * MS, 500 * MS, 1000 * MS, 5000 * MS, 10000 * MS } };

void dur_add(struct dur_hist *h, const struct dur_bounds *b, uint64_t ns)
{
	h->count++;
	h->sum_ns = h->sum_ns + ns < h->sum_ns ? UINT64_MAX : h->sum_ns + ns;
	for (unsigned i = 0; i < b->n; i++)
		if (ns <= b->le_ns[i]) {
			h->le[i]++;
			return;
		}
	/* above the last bound: only in count (+Inf) */
}

double dur_quantile_s(const struct dur_hist *h, const struct dur_bounds *b, double q)
{
	double rank = q * (double)h->count, seen = 0;

	if (!h->count)
		return -1;
	for (unsigned i = 0; i < b->n; i++) {
		double lo = i ? b->le_ns[i - 1] / 1e9 : 0, hi = b->le_ns[i] / 1e9;

		if (h->le[i] && seen + (double)h->le[i] >= rank)
			return lo + (hi - lo) * ((rank - seen) / (double)h->le[i]);
		seen += (double)h->le[i];
	}
	return b->le_ns[b->n - 1] / 1e9;
}

uint64_t dur_above(const struct dur_hist *h, const struct dur_bounds *b, double x_s)
{
	uint64_t below = 0;

	for (unsigned i = 0; i < b->n && b->le_ns[i] / 1e9 <= x_s + 1e-12; i++)
		below += h->le[i];
	return h->count - below;
}

void dur_sub(struct dur_hist *out, const struct dur_hist *now, const struct dur_hist *then)
{
	out->count = now->count - then->count;
	out->sum_ns = now->sum_ns - then->sum_ns;
	for (unsigned i = 0; i < DUR_MAX_BOUNDS; i++)
		out->le[i] = now->le[i] - then->le[i];
}

void fine_add(struct fine_hist *h, uint64_t ns)
{
	h->b[pv_rt_bucket(ns, ns ? 63 - (uint32_t)__builtin_clzll(ns) : 0)]++;
}

double fine_quantile_ms(const struct fine_hist *now, const struct fine_hist *then, double q)
{
	uint64_t total = 0, seen = 0, rank;

	for (uint32_t i = 0; i < PV_RT_HIST_BUCKETS; i++)
		total += now->b[i] - then->b[i];
	if (!total)
		return -1;
	rank = (uint64_t)(q * (double)total + 0.999999);
	rank = rank ? rank : 1;
	for (uint32_t i = 0; i < PV_RT_HIST_BUCKETS; i++) {
		seen += now->b[i] - then->b[i];
		if (seen >= rank) {
			double lo = (double)pv_rt_bucket_lo(i);
			double hi = i + 1 < PV_RT_HIST_BUCKETS ? (double)pv_rt_bucket_lo(i + 1) : lo * 1.25;

			return (lo + hi) / 2 / 1e6;
		}
	}
	return -1;
}

struct series *series_get(struct series_set *s, const char *key)
{
	struct series *grown;

	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].key, key))
			return &s->v[i];
	if (s->n >= SERIES_MAX) { /* full: new keys share one entry */
		for (unsigned i = SERIES_MAX; i < s->n; i++)
			if (!strcmp(s->v[i].key, SERIES_OTHER))
				return &s->v[i];
		key = SERIES_OTHER;
	}
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 4;

		if (cap > SERIES_MAX + 1)
			cap = SERIES_MAX + 1;
		grown = realloc(s->v, sizeof(*grown) * cap);
		if (!grown)
			return NULL;
		s->v = grown;
		s->cap = cap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[0]));
	snprintf(s->v[s->n].key, SERIES_KEY, "%s", key);
	return &s->v[s->n++];
}

void series_free(struct series_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}
