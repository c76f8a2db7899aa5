/* serve's pure parts: fixed-bound histograms (exact bucket counts, PromQL-style quantiles),
 * keyed series sets and their cap, and the INI config's checks. */
#include "unit.h"
#include "config.h"
#include "series.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MS 1000000ull

UNIT_TEST(dur_counts_values_at_their_bound)
{
	struct dur_hist h = { 0 };

	dur_add(&h, &http_bounds, 5 * MS);       /* exactly 0.005: le="0.005" */
	dur_add(&h, &http_bounds, 5 * MS + 1);   /* just above: le="0.01" */
	dur_add(&h, &http_bounds, 11000 * MS);   /* above 10 s: +Inf only */
	CHECK(h.count == 3 && h.le[0] == 1 && h.le[1] == 1);
	CHECK(h.sum_ns == 11010 * MS + 1);
	CHECK(dur_above(&h, &http_bounds, 0.005) == 2);
	CHECK(dur_above(&h, &http_bounds, 10) == 1);
}

UNIT_TEST(dur_quantile_interpolates_like_promql)
{
	struct dur_hist h = { 0 }, later, d;

	CHECK(dur_quantile_s(&h, &http_bounds, 0.5) < 0); /* empty: no value */
	for (int i = 0; i < 100; i++)
		dur_add(&h, &http_bounds, (i < 50 ? 20 : 60) * MS); /* 50 in (0.01, 0.025], 50 in (0.05, 0.075] */
	CHECKF(fabs(dur_quantile_s(&h, &http_bounds, 0.5) - 0.025) < 1e-9, "p50 %g",
	       dur_quantile_s(&h, &http_bounds, 0.5));
	CHECKF(fabs(dur_quantile_s(&h, &http_bounds, 0.99) - (0.05 + 0.025 * 49 / 50)) < 1e-9, "p99 %g",
	       dur_quantile_s(&h, &http_bounds, 0.99));
	later = h;
	for (int i = 0; i < 10; i++)
		dur_add(&later, &http_bounds, 3000 * MS);
	dur_sub(&d, &later, &h); /* a window: only the 10 slow ones */
	CHECK(d.count == 10 && fabs(dur_quantile_s(&d, &http_bounds, 0.5) - 3.75) < 1e-9);
}

UNIT_TEST(series_sets_are_capped_with_an_other_entry)
{
	struct series_set s = { 0 };
	char key[16];

	for (int i = 0; i < SERIES_MAX + 10; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		dur_add(&series_get(&s, key)->h, &db_bounds, MS);
	}
	CHECK(s.n == SERIES_MAX + 1);
	CHECK(!strcmp(s.v[SERIES_MAX].key, SERIES_OTHER) && s.v[SERIES_MAX].h.count == 10);
	CHECK(series_get(&s, "k3") == &s.v[3]);
	series_free(&s);
}

static int load(const char *text, struct serve_config *c, char *err, size_t len)
{
	char path[] = "/tmp/pyvitals-unit-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -2;
	close(fd);
	serve_config_defaults(c);
	r = serve_config_load(c, path, err, len);
	unlink(path);
	return r;
}

UNIT_TEST(config_reads_every_key_and_refuses_mistakes)
{
	struct serve_config c;
	char err[512];

	CHECK(load("[serve]\nlisten = 0.0.0.0:9100\nauth_token_file = /etc/t\n[health]\nwindow_s = 30\n"
		   "min_requests = 3\nhttp_5xx_ratio_degraded = 0.1\nhttp_5xx_ratio_critical = 0.2\n"
		   "gc_pause_p99_ms_critical = 500\nn_plus_one = off\nlost_events = critical\n", &c, err, sizeof(err)) == 0);
	CHECK(!strcmp(c.listen, "0.0.0.0:9100") && !strcmp(c.auth_token_file, "/etc/t"));
	CHECK(c.health.window_s == 30 && c.health.min_requests == 3);
	CHECK(c.health.http_5xx_ratio[0] == 0.1 && c.health.http_5xx_ratio[1] == 0.2);
	CHECK(c.health.gc_pause_p99_ms[1] == 500 && c.health.gc_pause_p99_ms[0] == 50);
	CHECK(c.health.n_plus_one == HEALTH_OK && c.health.lost_events == HEALTH_CRITICAL);

	CHECK(load("[health]\nwindow = 30\n", &c, err, sizeof(err)) == -1 && strstr(err, "line 2") &&
	      strstr(err, "unknown key 'window'"));
	CHECK(load("[health]\nwindow_s = soon\n", &c, err, sizeof(err)) == -1 && strstr(err, "expected seconds"));
	CHECK(load("[metrics]\nx = 1\n", &c, err, sizeof(err)) == -1 && strstr(err, "unknown section [metrics]"));
	CHECK(load("[health]\nhttp_5xx_ratio_degraded = 2\n", &c, err, sizeof(err)) == -1 &&
	      strstr(err, "from 0 to 1"));
	CHECK(load("[health]\ngil_wait_ratio_degraded = 3\n", &c, err, sizeof(err)) == -1 &&
	      strstr(err, "critical must be the higher"));
	CHECK(load("not ini\n", &c, err, sizeof(err)) == -1 && strstr(err, "line 1"));
	serve_config_defaults(&c);
	CHECK(serve_config_load(&c, "/nonexistent/pyvitals.ini", err, sizeof(err)) == -1 &&
	      strstr(err, "cannot read the config file"));
}

UNIT_TEST(fine_hist_quantiles_are_within_nine_percent)
{
	static struct fine_hist then, now;
	uint64_t values[] = { 4000, 800000, 1234567, 5000000, 999999999 };

	CHECK(fine_quantile_ms(&now, &then, 0.5) < 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		memset(&now, 0, sizeof(now));
		for (int k = 0; k < 10; k++)
			fine_add(&now, values[i]);
		double ms = fine_quantile_ms(&now, &then, 0.5), want = values[i] / 1e6;
		CHECKF(fabs(ms - want) <= 0.09 * want, "%llu ns: p50 %g ms", (unsigned long long)values[i], ms);
	}
	then = now; /* an interval: only what came after */
	fine_add(&now, 2000000);
	CHECK(fabs(fine_quantile_ms(&now, &then, 0.99) - 2.0) <= 0.18);
}
