/* Health checks over a sliding window. Every counter is cumulative since attach, so a window is
 * the difference between now and a sample taken window_s ago: samples are kept in a ring, at
 * most RING of them per window, and a route first seen later has zeros in older samples (true:
 * it had no requests then). The baseline before the first sample is all zeros at the time the
 * service was first watched, so a young agent's window is simply "since attach". */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "health.h"
#include "json.h"
#include "report.h"
#include "runtime.h"

#define RING 32
#define CUR RING                   /* the extra slot: the values at this update */
#define GC_BOUNDS 24

struct route_sample {
	uint64_t requests, errors, db_calls, n1;
	struct dur_hist dur;
};

struct svc_sample {
	uint64_t gil_wait_ns, gc_pauses;
	uint64_t gc_below[GC_BOUNDS];
};

struct hsvc {
	bool used;
	uint64_t since_ns;             /* first seen: its zero baseline */
	struct svc_sample s[RING + 1];
	struct route_sample (*routes)[RING + 1]; /* per route index (route_at order) */
	unsigned nroutes;
};

struct health {
	struct health_config cfg;
	struct hsvc svc[PV_MAX_SERVICES];
	unsigned head, n;              /* the ring (shared by every service): newest slot, slots used */
	uint64_t t[RING + 1];          /* when each slot was taken (ns) */
	uint64_t lost[RING + 1];       /* agent_lost_events then */
};

void health_config_defaults(struct health_config *c)
{
	*c = (struct health_config){
		.window_s = 60,
		.min_requests = 10,
		.http_5xx_ratio = { 0.01, 0.05 },
		.http_p99_latency_s = { 1, 5 },
		.db_calls_per_request = { 20, 100 },
		.gil_wait_ratio = { 0.25, 1 },
		.gc_pause_p99_ms = { 50, 200 },
		.n_plus_one = HEALTH_DEGRADED,
		.lost_events = HEALTH_DEGRADED,
	};
}

const char *health_name(enum health_status s)
{
	return s == HEALTH_CRITICAL ? "critical" : s == HEALTH_DEGRADED ? "degraded" : "ok";
}

struct health *health_new(const struct health_config *c)
{
	struct health *h = calloc(1, sizeof(*h));

	if (h)
		h->cfg = *c;
	return h;
}

void health_forget_service(struct health *h, int service)
{
	free(h->svc[service].routes);
	memset(&h->svc[service], 0, sizeof(h->svc[service]));
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (int i = 0; i < PV_MAX_SERVICES; i++)
		free(h->svc[i].routes);
	free(h);
}

static struct route_stats *route_at(const struct service *s, unsigned i)
{
	return i < s->nroutes ? s->routes[i] : i == s->nroutes ? s->overflow : NULL;
}

static unsigned route_count(const struct service *s)
{
	return s->nroutes + !!s->overflow;
}

/* N+1 findings of a route: requests that crossed the threshold, all statements together. */
static uint64_t n1_requests(const struct service *s, const struct route_stats *r)
{
	char name[sizeof(s->findings[0].route)];
	uint64_t n = 0;

	snprintf(name, sizeof(name), "%s %s", r->method, r->route);
	for (unsigned i = 0; i < s->nfindings; i++)
		if (!strcmp(s->findings[i].route, name))
			n += s->findings[i].requests;
	return n;
}

static void take_route(struct route_sample *out, const struct service *s, const struct route_stats *r)
{
	out->requests = r->requests;
	out->errors = r->status[STATUS_5XX];
	out->db_calls = r->db_calls;
	out->n1 = n1_requests(s, r);
	out->dur = r->dur;
}

static void take_svc(struct svc_sample *out, const struct service_view *v)
{
	memset(out, 0, sizeof(*out));
	if (!v->has_runtime)
		return;
	out->gil_wait_ns = v->runtime.gil_wait_ns;
	out->gc_pauses = v->runtime.gc_pauses;
	memcpy(out->gc_below, v->runtime.gc_pauses_below, sizeof(out->gc_below));
}

/* Make room for every route of s (new ones get zeros: no requests before they were seen). */
static int grow_routes(struct hsvc *hs, const struct service *s)
{
	unsigned n = route_count(s);
	void *grown;

	if (n <= hs->nroutes)
		return 0;
	grown = realloc(hs->routes, sizeof(*hs->routes) * n);
	if (!grown)
		return -1;
	hs->routes = grown;
	memset(hs->routes + hs->nroutes, 0, sizeof(*hs->routes) * (n - hs->nroutes));
	hs->nroutes = n;
	return 0;
}

/* The values now, in slot CUR. */
static void take_current(struct health *h, struct agent *a, const struct service_view *views, uint64_t now)
{
	h->t[CUR] = now;
	h->lost[CUR] = agent_lost_events(a);
	for (int i = 0; i < a->nservices; i++) {
		struct service *s = &a->services[i];
		struct hsvc *hs = &h->svc[i];

		if (s->gone)
			continue;
		/* First sight, or the slot now holds another service (--all-python reuses the slots of
		 * exited ones): its history is zeros until it was first watched. */
		if (!hs->used || hs->since_ns != s->since_ns) {
			health_forget_service(h, i);
			hs->used = true;
			hs->since_ns = s->since_ns;
		}
		if (grow_routes(hs, s))
			continue;
		take_svc(&hs->s[CUR], &views[i]);
		for (unsigned r = 0; r < hs->nroutes; r++)
			take_route(&hs->routes[r][CUR], s, route_at(s, r));
	}
}

/* Keep the current values as the ring's newest sample. */
static void push(struct health *h)
{
	h->head = (h->head + 1) % RING;
	if (h->n < RING)
		h->n++;
	h->t[h->head] = h->t[CUR];
	h->lost[h->head] = h->lost[CUR];
	for (int i = 0; i < PV_MAX_SERVICES; i++) {
		struct hsvc *hs = &h->svc[i];

		if (!hs->used)
			continue;
		hs->s[h->head] = hs->s[CUR];
		for (unsigned r = 0; r < hs->nroutes; r++)
			hs->routes[r][h->head] = hs->routes[r][CUR];
	}
}

/* The slot that starts the window: the newest sample at least window_s old, or -1 for the zero
 * baseline (the agent, or the service, is younger than the window). */
static int window_start(const struct health *h, uint64_t now)
{
	uint64_t w = (uint64_t)(h->cfg.window_s * 1e9);

	for (unsigned k = 0; k < h->n; k++) {
		unsigned slot = (h->head + RING - k) % RING;

		if (now - h->t[slot] >= w)
			return (int)slot;
	}
	return -1;
}

/* A check's outcome, written as one JSON object. */
struct check {
	const char *name;
	const char *route;        /* NULL for service-wide checks */
	double value;             /* NAN: not enough data */
	const double *limits;     /* [degraded, critical]; critical NAN when it has none */
	enum health_status status;
	char reason[256];
};

static enum health_status grade(double v, const double *limits)
{
	if (isnan(v))
		return HEALTH_OK;
	if (!isnan(limits[1]) && v >= limits[1])
		return HEALTH_CRITICAL;
	return v >= limits[0] ? HEALTH_DEGRADED : HEALTH_OK;
}

static void write_check(FILE *f, const struct check *c, bool first)
{
	fputs(first ? "{\"check\": " : ", {\"check\": ", f);
	json_str(f, c->name);
	if (c->route) {
		fputs(", \"route\": ", f);
		json_str(f, c->route);
	}
	fputs(", \"value\": ", f);
	isnan(c->value) ? (void)fputs("null", f) : json_num(f, c->value);
	fputs(", \"degraded\": ", f);
	json_num(f, c->limits[0]);
	fputs(", \"critical\": ", f);
	isnan(c->limits[1]) ? (void)fputs("null", f) : json_num(f, c->limits[1]);
	fprintf(f, ", \"status\": \"%s\", \"reason\": ", health_name(c->status));
	json_str(f, c->reason);
	fputc('}', f);
}

struct verdict {
	FILE *f;
	enum health_status worst;
	int nchecks;
};

static void emit(struct verdict *v, struct check *c)
{
	if (c->status > v->worst)
		v->worst = c->status;
	write_check(v->f, c, v->nchecks++ == 0);
}

static const char *word(enum health_status s)
{
	return s == HEALTH_CRITICAL ? "critical" : s == HEALTH_DEGRADED ? "degraded" : "fine";
}

static void route_checks(struct health *h, struct verdict *v, const struct service *s,
			 const struct service_view *view, const struct hsvc *hs, int start, double span)
{
	static const struct route_sample zero;
	const struct health_config *c = &h->cfg;

	for (unsigned i = 0; i < hs->nroutes; i++) {
		const struct route_sample *now = &hs->routes[i][CUR], *then = start < 0 ? &zero : &hs->routes[i][start];
		const struct route_stats *r = route_at(s, i);
		uint64_t req = now->requests - then->requests, err = now->errors - then->errors;
		char name[16 + 192];
		struct dur_hist d;
		struct check k;

		if (!req && now->n1 == then->n1)
			continue;
		snprintf(name, sizeof(name), "%s %s", r->method, r->route);
		k = (struct check){ .name = "http_5xx_ratio", .route = name, .limits = c->http_5xx_ratio,
				    .value = req >= c->min_requests ? (double)err / req : NAN };
		k.status = grade(k.value, k.limits);
		if (isnan(k.value))
			snprintf(k.reason, sizeof(k.reason), "%llu requests in the last %.0f s, fewer than the %u needed",
				 (unsigned long long)req, span, c->min_requests);
		else
			snprintf(k.reason, sizeof(k.reason), "%llu of %llu requests answered 5xx in the last %.0f s: %s",
				 (unsigned long long)err, (unsigned long long)req, span, word(k.status));
		emit(v, &k);

		dur_sub(&d, &now->dur, &then->dur);
		k = (struct check){ .name = "http_p99_latency", .route = name, .limits = c->http_p99_latency_s,
				    .value = req >= c->min_requests ? dur_quantile_s(&d, &http_bounds, 0.99) : NAN };
		k.status = grade(k.value, k.limits);
		if (isnan(k.value))
			snprintf(k.reason, sizeof(k.reason), "%llu requests in the last %.0f s, fewer than the %u needed",
				 (unsigned long long)req, span, c->min_requests);
		else
			snprintf(k.reason, sizeof(k.reason), "p99 %.3f s over %llu requests in the last %.0f s "
				 "(interpolated in the histogram buckets): %s", k.value, (unsigned long long)req, span,
				 word(k.status));
		emit(v, &k);

		if (view->db_attributed && req) {
			k = (struct check){ .name = "db_calls_per_request", .route = name,
					    .limits = c->db_calls_per_request,
					    .value = (double)(now->db_calls - then->db_calls) / req };
			k.status = grade(k.value, k.limits);
			snprintf(k.reason, sizeof(k.reason), "%.1f database and cache calls per request in the last %.0f s: %s",
				 k.value, span, word(k.status));
			emit(v, &k);
		}
		if (c->n_plus_one != HEALTH_OK && now->n1 > then->n1) {
			static const double n1_limits[2] = { 1, NAN }, n1_crit[2] = { 1, 1 };

			k = (struct check){ .name = "n_plus_one", .route = name,
					    .limits = c->n_plus_one == HEALTH_CRITICAL ? n1_crit : n1_limits,
					    .value = (double)(now->n1 - then->n1), .status = c->n_plus_one };
			snprintf(k.reason, sizeof(k.reason), "%llu requests in the last %.0f s ran one statement %u times "
				 "or more (N+1 queries; see findings)", (unsigned long long)(now->n1 - then->n1), span,
				 s->n1_threshold);
			emit(v, &k);
		}
	}
}

/* The p99 pause from the power-of-two buckets, interpolated inside the bucket. */
static double gc_p99_ms(const struct svc_sample *now, const struct svc_sample *then)
{
	uint64_t total = now->gc_pauses - then->gc_pauses, prev = 0;
	double rank = 0.99 * (double)total;

	if (!total)
		return NAN;
	for (int b = 0; b < GC_BOUNDS; b++) {
		uint64_t below = now->gc_below[b] - then->gc_below[b];

		if ((double)below >= rank && below > prev) {
			double lo = b ? RUNTIME_PAUSE_BOUND_NS(b - 1) : 0, hi = RUNTIME_PAUSE_BOUND_NS(b);

			return (lo + (hi - lo) * (rank - (double)prev) / (double)(below - prev)) / 1e6;
		}
		prev = below;
	}
	return RUNTIME_PAUSE_BOUND_NS(GC_BOUNDS - 1) / 1e6;
}

static void runtime_checks(struct health *h, struct verdict *v, const struct service_view *view,
			   const struct hsvc *hs, int start, double span)
{
	static const struct svc_sample zero;
	const struct svc_sample *now = &hs->s[CUR], *then = start < 0 ? &zero : &hs->s[start];
	struct check k;

	if (!view->has_runtime)
		return;
	if (view->runtime.gil) {
		k = (struct check){ .name = "gil_wait_ratio", .limits = h->cfg.gil_wait_ratio,
				    .value = span > 0 ? (now->gil_wait_ns - then->gil_wait_ns) / 1e9 / span : NAN };
		k.status = grade(k.value, k.limits);
		snprintf(k.reason, sizeof(k.reason), "threads waited %.2f s for the GIL per second in the last %.0f s: %s",
			 isnan(k.value) ? 0 : k.value, span, word(k.status));
		emit(v, &k);
	}
	if (view->runtime.gc) {
		k = (struct check){ .name = "gc_pause_p99", .limits = h->cfg.gc_pause_p99_ms, .value = gc_p99_ms(now, then) };
		k.status = grade(k.value, k.limits);
		if (isnan(k.value))
			snprintf(k.reason, sizeof(k.reason), "no collection in the last %.0f s", span);
		else
			snprintf(k.reason, sizeof(k.reason), "p99 pause %.2f ms over %llu collections in the last %.0f s: %s",
				 k.value, (unsigned long long)(now->gc_pauses - then->gc_pauses), span, word(k.status));
		emit(v, &k);
	}
}

static void iso_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void lost_check(struct health *h, struct verdict *v, int start, double span)
{
	static const double degraded[2] = { 1, NAN }, critical[2] = { 1, 1 };
	uint64_t lost = h->lost[CUR] - (start < 0 ? 0 : h->lost[start]);
	struct check k = { .name = "lost_events", .value = (double)lost,
			   .limits = h->cfg.lost_events == HEALTH_CRITICAL ? critical : degraded,
			   .status = lost ? h->cfg.lost_events : HEALTH_OK };

	if (lost)
		snprintf(k.reason, sizeof(k.reason), "%llu kernel records lost in the last %.0f s: some figures are "
			 "not exact (see lost_events in /api/snapshot)", (unsigned long long)lost, span);
	else
		snprintf(k.reason, sizeof(k.reason), "no record lost in the last %.0f s", span);
	emit(v, &k);
}

enum health_status health_update(struct health *h, struct agent *a, const struct service_view *views, FILE *out)
{
	static int pids[4096];
	uint64_t now = agent_now_ns(), step_ns = (uint64_t)(h->cfg.window_s / (RING - 2) * 1e9);
	struct verdict all = { 0 };
	char when[32], *body = NULL;
	size_t body_len = 0;
	int start;

	take_current(h, a, views, now);
	if (!h->n || now - h->t[h->head] >= step_ns)
		push(h);
	start = window_start(h, now);
	if (!(all.f = open_memstream(&body, &body_len)))
		return HEALTH_OK;
	if (h->cfg.lost_events != HEALTH_OK)
		lost_check(h, &all, start, (now - (start < 0 ? a->start_ns : h->t[start])) / 1e9);
	fputs("], \"services\": [", all.f);
	for (int i = 0, first = 1; i < a->nservices; i++) {
		struct service *s = &a->services[i];
		struct hsvc *hs = &h->svc[i];
		struct verdict v = { .f = all.f };
		int n = agent_pids(a, i, pids, 4096);
		uint64_t t0 = start < 0 ? hs->since_ns : h->t[start];
		double span;

		if (s->gone || !hs->used)
			continue;
		span = (now - (t0 > hs->since_ns ? t0 : hs->since_ns)) / 1e9;
		fputs(first ? "{\"name\": " : ", {\"name\": ", all.f);
		first = 0;
		json_str(all.f, s->name);
		fputs(", \"pids\": [", all.f);
		for (int j = 0; j < n; j++)
			fprintf(all.f, "%s%d", j ? ", " : "", pids[j]);
		fputs("], \"checks\": [", all.f);
		route_checks(h, &v, s, &views[i], hs, start, span);
		runtime_checks(h, &v, &views[i], hs, start, span);
		fprintf(all.f, "], \"status\": \"%s\"}", health_name(v.worst));
		s->health = v.worst;
		if (v.worst > all.worst)
			all.worst = v.worst;
	}
	fclose(all.f);
	iso_now(when, sizeof(when));
	fprintf(out, "{\"status\": \"%s\", \"time\": \"%s\", \"window_s\": ", health_name(all.worst), when);
	json_num(out, h->cfg.window_s);
	fprintf(out, ", \"checks\": [%s]}\n", body);
	free(body);
	return all.worst;
}
