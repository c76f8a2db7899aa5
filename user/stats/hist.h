/* Latency histogram over nanoseconds with log-linear buckets: values below 64 ns exactly, then
 * 32 linear sub-buckets per power of two up to 2^40 ns (~18 min), one overflow bucket above.
 * A bucket spans at most 1/32 of its lower bound, so reporting its midpoint keeps percentile
 * error under 1.6%. Fixed size (~9.3 KiB), no allocation: it can live in arrays and be copied. */
#ifndef HIST_H
#define HIST_H
#include <stdint.h>

#define HIST_SUB_BITS 5                                   /* 32 sub-buckets per octave */
#define HIST_MAX_BITS 40                                  /* last octave ends at 2^40 ns */
#define HIST_LINEAR (2u << HIST_SUB_BITS)                 /* 0..63 ns: one bucket each */
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_BITS - HIST_SUB_BITS - 1) * (1u << HIST_SUB_BITS) + 1)

struct hist {
	uint64_t count;
	uint64_t sum;    /* ns, saturating */
	uint64_t min;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS]; /* the last one holds everything >= 2^40 ns */
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
uint64_t hist_count(const struct hist *h);
double hist_percentile_ms(const struct hist *h, double q);   /* q in [0,1]; 0 when empty; never above max */
double hist_max_ms(const struct hist *h);
double hist_sum_ms(const struct hist *h);

#endif
