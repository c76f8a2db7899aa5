/* hist: percentiles against exact nearest-rank percentiles of sorted samples. */
#include "unit.h"
#include "hist.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* xorshift64*: seeded, so failures reproduce. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double unif(uint64_t *s)
{
	return (rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * n);
	return sorted[(rank ? rank : 1) - 1];
}

enum dist { UNIFORM, EXPONENTIAL, BIMODAL, LOGNORMALISH };

static uint64_t sample(enum dist d, uint64_t *s)
{
	switch (d) {
	case UNIFORM:      return 1000 + (uint64_t)(unif(s) * 100e6);           /* 1 us .. 100 ms */
	case EXPONENTIAL:  return 1 + (uint64_t)(-log(1 - unif(s)) * 5e6);     /* mean 5 ms */
	case BIMODAL:      return unif(s) < 0.9 ? 200000 + rnd(s) % 50000      /* fast cache hits */
	                                        : 300000000 + rnd(s) % 9000000; /* slow misses */
	default:           return (uint64_t)exp(8 + 6 * unif(s));              /* 3 us .. 1.2 s */
	}
}

UNIT_TEST(hist_matches_exact_percentiles)
{
	static const struct { const char *name; enum dist d; } dists[] = {
		{ "uniform", UNIFORM }, { "exponential", EXPONENTIAL },
		{ "bimodal", BIMODAL }, { "log-uniform", LOGNORMALISH },
	};
	static const size_t sizes[] = { 1, 2, 3, 7, 10, 99, 100, 1000, 4096, 50000 };
	static const double qs[] = { 0.5, 0.9, 0.95, 0.99 };
	static struct hist h;
	uint64_t *v = malloc(50000 * sizeof(*v));
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (size_t di = 0; di < sizeof(dists) / sizeof(dists[0]); di++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];
			hist_init(&h);
			for (size_t i = 0; i < n; i++)
				hist_add(&h, v[i] = sample(dists[di].d, &seed));
			qsort(v, n, sizeof(*v), cmp_u64);
			CHECKF(hist_count(&h) == n, "%s n=%zu count", dists[di].name, n);
			CHECKF(hist_max_ms(&h) == v[n - 1] / 1e6, "%s n=%zu max", dists[di].name, n);
			for (size_t qi = 0; qi < 4; qi++) {
				double want = exact(v, n, qs[qi]) / 1e6, got = hist_percentile_ms(&h, qs[qi]);
				CHECKF(fabs(got - want) <= 0.05 * want, "%s n=%zu q=%.2f got %.6f want %.6f",
				       dists[di].name, n, qs[qi], got, want);
				CHECKF(got <= hist_max_ms(&h), "%s n=%zu q=%.2f above max", dists[di].name, n, qs[qi]);
			}
		}
	}
	free(v);
}

UNIT_TEST(hist_edge_cases)
{
	static struct hist h;
	hist_init(&h);
	CHECK(hist_count(&h) == 0);
	CHECK(hist_percentile_ms(&h, 0.5) == 0);
	CHECK(hist_max_ms(&h) == 0);
	CHECK(hist_sum_ms(&h) == 0);

	hist_add(&h, 1234567);                       /* single value: every percentile is it */
	CHECK(hist_percentile_ms(&h, 0) == 1.234567);
	CHECK(hist_percentile_ms(&h, 0.5) == 1.234567);
	CHECK(hist_percentile_ms(&h, 1) == 1.234567);
	CHECK(hist_sum_ms(&h) == 1.234567);

	hist_init(&h);                               /* tiny values are exact */
	for (uint64_t i = 0; i < 64; i++)
		hist_add(&h, i);
	CHECK(hist_percentile_ms(&h, 0.5) == 31 / 1e6);
	CHECK(hist_percentile_ms(&h, 1) == 63 / 1e6);

	hist_init(&h);                               /* beyond the last octave: max is exact */
	hist_add(&h, 1ull << 50);
	hist_add(&h, UINT64_MAX);
	CHECK(hist_max_ms(&h) == UINT64_MAX / 1e6);
	CHECK(hist_percentile_ms(&h, 0.99) == UINT64_MAX / 1e6);
	CHECK(hist_percentile_ms(&h, 0.5) <= hist_max_ms(&h));
	CHECK(hist_sum_ms(&h) == UINT64_MAX / 1e6);  /* saturates, does not wrap */

	hist_init(&h);                               /* last real octave */
	hist_add(&h, (1ull << 40) - 1);
	hist_add(&h, (1ull << 39) + 12345);
	double p = hist_percentile_ms(&h, 0.5), want = ((1ull << 39) + 12345) / 1e6;
	CHECKF(fabs(p - want) < 0.05 * want, "2^39: got %f want %f", p, want);
	CHECK(hist_percentile_ms(&h, -1) == want);   /* out-of-range q is clamped */
	CHECK(hist_percentile_ms(&h, 2) == ((1ull << 40) - 1) / 1e6);
}

UNIT_TEST(hist_merge_equals_adding_all)
{
	static struct hist a, b, all, empty;
	uint64_t seed = 42;
	hist_init(&a), hist_init(&b), hist_init(&all), hist_init(&empty);
	for (int i = 0; i < 20000; i++) {
		uint64_t v = sample(i & 1 ? EXPONENTIAL : BIMODAL, &seed);
		hist_add(i % 3 ? &a : &b, v);
		hist_add(&all, v);
	}
	hist_merge(&a, &b);
	hist_merge(&a, &empty);
	CHECK(memcmp(&a, &all, sizeof(a)) == 0);
	hist_merge(&empty, &all);                    /* into an empty one: min comes across */
	CHECK(memcmp(&empty, &all, sizeof(all)) == 0);
	for (double q = 0; q <= 1; q += 0.01)
		CHECKF(hist_percentile_ms(&a, q) == hist_percentile_ms(&all, q), "q=%.2f", q);
}
