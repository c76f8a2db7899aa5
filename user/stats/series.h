/* Duration histograms with fixed bucket bounds, as Prometheus and OpenTelemetry export them, and
 * small sets of them keyed by label values (a route's status codes, a peer's operations).
 * Counts are exact per bound: a request of 5 ms lands in le="0.005", which the log-linear
 * struct hist cannot say. */
#ifndef SERIES_H
#define SERIES_H
#include <stdint.h>
#include "pyvitals.h"

#define DUR_MAX_BOUNDS 16
#define SERIES_KEY 48
#define SERIES_MAX 64           /* per set; later keys share the "{other}" entry */
#define SERIES_OTHER "{other}"

struct dur_bounds {
	unsigned n;
	uint64_t le_ns[DUR_MAX_BOUNDS];
};
/* OpenTelemetry's advisory buckets: http.*.request.duration and db.client.operation.duration. */
extern const struct dur_bounds http_bounds, db_bounds;

struct dur_hist {
	uint64_t count, sum_ns;
	uint64_t le[DUR_MAX_BOUNDS];  /* not cumulative: le[i] counts values in (bound i-1, bound i] */
};

void dur_add(struct dur_hist *h, const struct dur_bounds *b, uint64_t ns);
/* Quantile q from the buckets by linear interpolation inside the bucket holding it, as PromQL's
 * histogram_quantile does: an estimate. Values past the last bound give that bound. -1 when empty. */
double dur_quantile_s(const struct dur_hist *h, const struct dur_bounds *b, double q);
/* Values above bound x (seconds): exact when x is one of the bounds. */
uint64_t dur_above(const struct dur_hist *h, const struct dur_bounds *b, double x_s);
void dur_sub(struct dur_hist *out, const struct dur_hist *now, const struct dur_hist *then);

/* Log-linear buckets, 4 per octave (the kernel's GC pause buckets): ~19% wide, so a bucket's
 * midpoint is within ~9% of any value in it. For quantiles over short intervals, where the
 * fixed bounds above are far too coarse (everything under 5 ms in one bucket). */
struct fine_hist {
	uint64_t b[PV_RT_HIST_BUCKETS];
};
_Static_assert(sizeof(struct fine_hist) == sizeof(((struct pv_rt_stats *)0)->gc_hist), "the kernel's layout");
void fine_add(struct fine_hist *h, uint64_t ns);
/* Quantile q (ms) of the values added between then and now; -1 when none were. */
double fine_quantile_ms(const struct fine_hist *now, const struct fine_hist *then, double q);

struct series {
	char key[SERIES_KEY];
	struct dur_hist h;
};

struct series_set {
	struct series *v;
	unsigned n, cap;
};

/* The entry for key, created on first sight; past SERIES_MAX keys the "{other}" entry. NULL
 * only when out of memory. */
struct series *series_get(struct series_set *s, const char *key);
void series_free(struct series_set *s);
#endif
