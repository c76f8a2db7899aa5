/* Log-linear latency histogram; see hist.h for the bucket layout. */
#include "hist.h"
#include <string.h>

#define SUB (1u << HIST_SUB_BITS)

static unsigned bucket_of(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (unsigned)v;
	unsigned e = 63 - __builtin_clzll(v); /* v in [2^e, 2^(e+1)), e > HIST_SUB_BITS */
	if (e >= HIST_MAX_BITS)
		return HIST_BUCKETS - 1;
	unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (SUB - 1);
	return HIST_LINEAR + (e - HIST_SUB_BITS - 1) * SUB + sub;
}

/* Midpoint of a bucket, in ns. */
static double bucket_mid(unsigned b)
{
	if (b < HIST_LINEAR)
		return b;
	unsigned e = (b - HIST_LINEAR) / SUB + HIST_SUB_BITS + 1, sub = (b - HIST_LINEAR) % SUB;
	uint64_t width = 1ull << (e - HIST_SUB_BITS);
	uint64_t lo = (1ull << e) + sub * width;
	return lo + (width - 1) / 2.0;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

void hist_add(struct hist *h, uint64_t ns)
{
	h->buckets[bucket_of(ns)]++;
	h->count++;
	h->sum = sat_add(h->sum, ns);
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	if (!from->count)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum = sat_add(into->sum, from->sum);
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_count(const struct hist *h)
{
	return h->count;
}

double hist_percentile_ms(const struct hist *h, double q)
{
	if (!h->count)
		return 0;
	if (!(q > 0)) /* also catches NaN */
		return h->min / 1e6;
	if (q >= 1)
		return h->max / 1e6;
	/* Nearest rank: the smallest value with at least q of the samples at or below it. */
	double r = q * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (!rank)
		rank = 1;
	uint64_t seen = 0;
	unsigned b;
	for (b = 0; b < HIST_BUCKETS - 1; b++) {
		seen += h->buckets[b];
		if (seen >= rank)
			break;
	}
	double v = b == HIST_BUCKETS - 1 ? (double)h->max : bucket_mid(b);
	if (v < (double)h->min)
		v = (double)h->min;
	if (v > (double)h->max)
		v = (double)h->max;
	return v / 1e6;
}

double hist_max_ms(const struct hist *h)
{
	return h->count ? h->max / 1e6 : 0;
}

double hist_sum_ms(const struct hist *h)
{
	return h->sum / 1e6;
}
