/* Per-service aggregation: totals, status classes and a bounded route table. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "route.h"
#include "route_names.h"
#include "service.h"

/* Requests held for a route name at most; past it, every prefix settles at once. */
#define UNNAMED_MAX 16384

int service_init(struct service *s, int id, int root_pid, const char *comm, unsigned max_routes,
		 unsigned max_queries, unsigned n1_threshold)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->root_pid = root_pid;
	snprintf(s->comm, sizeof(s->comm), "%s", comm ? comm : "");
	s->max_routes = max_routes;
	s->n1_threshold = n1_threshold;
	hist_init(&s->http.latency);
	db_stats_init(&s->db, max_queries);
	s->attr = attr_new();
	s->namer = route_namer_new();
	return s->attr && s->namer ? 0 : -1;
}

void service_free(struct service *s)
{
	for (unsigned i = 0; i < s->nroutes; i++) {
		series_free(&s->routes[i]->by_status);
		free(s->routes[i]);
	}
	free(s->routes);
	if (s->overflow)
		series_free(&s->overflow->by_status);
	free(s->overflow);
	db_stats_free(&s->db);
	http_client_free(&s->http_client);
	free(s->settle);
	s->settle = NULL;
	attr_free(s->attr);
	s->attr = NULL;
	s->routes = NULL;
	s->overflow = NULL;
	s->nroutes = 0;
	route_namer_free(s->namer);
	s->namer = NULL;
	route_table_free(s->table);
	s->table = NULL;
	for (unsigned i = 0; i < s->nunnamed; i++)
		free(s->unnamed[i]);
	free(s->unnamed);
	s->unnamed = NULL;
	s->nunnamed = s->unnamed_cap = 0;
}

int status_class(int status)
{
	return status >= 100 && status <= 599 ? status / 100 - 1 : -1;
}

static unsigned hash_route(const char *method, const char *route)
{
	unsigned h = 2166136261u;
	for (const char *p = method; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (const char *p = route; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % ROUTE_BUCKETS;
}

static struct route_stats *new_route(const char *method, const char *route)
{
	struct route_stats *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->route, sizeof(r->route), "%s", route);
	hist_init(&r->latency);
	return r;
}

static struct route_stats *find_route(struct service *s, const char *method, const char *route)
{
	unsigned h = hash_route(method, route);
	struct route_stats *r, **grown;

	for (r = s->buckets[h]; r; r = r->next)
		if (!strcmp(r->route, route) && !strcmp(r->method, method))
			return r;
	if (s->nroutes >= s->max_routes) {
		if (!s->overflow)
			s->overflow = new_route("*", OVERFLOW_ROUTE);
		return s->overflow;
	}
	if (!(s->nroutes & (s->nroutes + 1)) || !s->routes) { /* grow at 0, 1, 3, 7, ... */
		grown = realloc(s->routes, sizeof(*grown) * (s->nroutes + 1) * 2);
		if (!grown)
			return NULL;
		s->routes = grown;
	}
	r = new_route(method, route);
	if (!r)
		return NULL;
	r->next = s->buckets[h];
	s->buckets[h] = r;
	s->routes[s->nroutes++] = r;
	return r;
}

static double roll(uint64_t now, uint64_t *seen, double dt)
{
	double rate = dt > 0 ? (now - *seen) / dt : 0;

	*seen = now;
	return rate;
}

static void roll_interval(struct interval *iv, const struct fine_hist *fine, uint64_t requests_seen_before,
			  uint64_t requests, uint64_t errors)
{
	iv->requests = requests - requests_seen_before;
	iv->errors = errors - iv->errors_seen;
	iv->errors_seen = errors;
	iv->p50_ms = fine_quantile_ms(fine, &iv->seen, 0.5);
	iv->p99_ms = fine_quantile_ms(fine, &iv->seen, 0.99);
	iv->seen = *fine;
}

static void roll_route(struct route_stats *r, double dt)
{
	uint64_t before = r->seen_requests;

	r->rate = roll(r->requests, &r->seen_requests, dt);
	roll_interval(&r->last, &r->fine, before, r->requests, r->status[STATUS_5XX]);
}

void service_roll_rates(struct service *s, double dt)
{
	uint64_t before = s->http.seen_requests;

	s->http.rate = roll(s->http.requests, &s->http.seen_requests, dt);
	roll_interval(&s->http.last, &s->http.fine, before, s->http.requests, s->http.status[STATUS_5XX]);
	for (unsigned i = 0; i < s->nroutes; i++)
		roll_route(s->routes[i], dt);
	if (s->overflow)
		roll_route(s->overflow, dt);
}

static void note_finding(struct service *s, const struct route_stats *r, struct query_stats *q, unsigned count)
{
	char route[sizeof(s->findings[0].route)];
	struct finding *f = NULL;

	snprintf(route, sizeof(route), "%s %s", r->method, r->route);
	for (unsigned i = 0; i < s->nfindings && !f; i++)
		if (s->findings[i].statement == q && !strcmp(s->findings[i].route, route))
			f = &s->findings[i];
	if (!f) {
		if (s->nfindings == MAX_FINDINGS)
			return;
		f = &s->findings[s->nfindings++];
		snprintf(f->route, sizeof(f->route), "%s", route);
		f->statement = q;
	}
	if (count > f->count)
		f->count = count;
	f->requests++;
}

/* Queue t for service_settle, which ties its db calls to it (to route r, or, while the request
 * waits for its route name, to u). */
static void settle_later(struct service *s, struct route_stats *r, struct unnamed_txn *u, const struct http_txn *t)
{
	if (s->nsettle == s->settle_cap) {
		unsigned cap = s->settle_cap ? s->settle_cap * 2 : 64;
		struct pending_txn *v = realloc(s->settle, sizeof(*v) * cap);

		if (!v)
			return;
		s->settle = v;
		s->settle_cap = cap;
	}
	s->settle[s->nsettle].route = r;
	s->settle[s->nsettle].unnamed = u;
	s->settle[s->nsettle++].txn = *t;
}

/* The request's figures on its route. */
static void record_on_route(struct route_stats *r, const struct http_txn *t)
{
	int cls = status_class(t->status);
	uint64_t ns = t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
	struct series *by_code;
	char code[8];

	r->requests++;
	if (cls >= 0)
		r->status[cls]++;
	hist_add(&r->latency, ns);
	dur_add(&r->dur, &http_bounds, ns);
	fine_add(&r->fine, ns);
	snprintf(code, sizeof(code), cls >= 0 ? "%d" : "", t->status);
	if ((by_code = series_get(&r->by_status, code)))
		dur_add(&by_code->h, &http_bounds, ns);
}

/* The request's db and HTTP calls on its route, and the N+1 findings they make. */
static void record_calls(struct service *s, struct route_stats *r, const struct request_calls *calls)
{
	r->db_calls += calls->calls;
	r->http_calls += calls->http_calls;
	if (calls->calls > r->db_calls_max)
		r->db_calls_max = calls->calls;
	for (unsigned j = 0; j < calls->ntop && calls->top[j].count >= s->n1_threshold; j++)
		note_finding(s, r, calls->top[j].q, calls->top[j].count);
}

static void hold_unnamed(struct service *s, const struct http_txn *t)
{
	struct unnamed_txn *u;

	if (s->nunnamed == s->unnamed_cap) {
		unsigned cap = s->unnamed_cap ? s->unnamed_cap * 2 : 64;
		struct unnamed_txn **v = realloc(s->unnamed, sizeof(*v) * cap);

		if (!v)
			return;
		s->unnamed = v;
		s->unnamed_cap = cap;
	}
	if (!(u = calloc(1, sizeof(*u))))
		return;
	u->txn = *t;
	u->in_settle = true;
	s->unnamed[s->nunnamed++] = u;
	settle_later(s, NULL, u, t);
}

void service_set_route_table(struct service *s, struct route_table *t, uint64_t fingerprint, const char *source)
{
	route_table_free(s->table);
	s->table = t;
	s->table_fingerprint = fingerprint;
	s->table_pending = false;
	snprintf(s->table_source, sizeof(s->table_source), "%s", source ? source : "");
	s->table_why[0] = 0;
}

void service_no_route_table(struct service *s, const char *why)
{
	s->table_pending = false;
	snprintf(s->table_why, sizeof(s->table_why), "%s", why ? why : "");
}

/* The request's route: an explicit pattern, then the framework's table, then (no table coming)
 * the fallback namer. 0 while it must wait (for the table, or for a prefix to settle). */
static int name_request(struct service *s, const struct http_txn *t, uint64_t now_ns, char *route, size_t len)
{
	if (route_namer_pattern(s->namer, t->method, t->path, route, len))
		return 1;
	if (s->table) {
		snprintf(route, len, "%s", route_table_name(s->table, t->method, t->path));
		return 1;
	}
	if (s->table_pending) {
		/* the fallback namer still sees the path, so that its prefixes collect values (and
		 * settle in time) as they would have without a table to wait for */
		route_namer_name(s->namer, t->method, t->path, now_ns, route, len);
		return 0;
	}
	if (!route_namer_name(s->namer, t->method, t->path, now_ns, route, len))
		return 0;
	s->fallback_named = true;
	return 1;
}

/* Past UNNAMED_MAX held requests, stop waiting: for the table, then for prefixes to settle. */
static void stop_holding(struct service *s, uint64_t now_ns)
{
	char why[128];

	snprintf(why, sizeof(why), "no route table read before %d requests were waiting for one: named from "
		 "their paths", UNNAMED_MAX);
	if (s->table_pending)
		service_no_route_table(s, why);
	route_namer_decide(s->namer, now_ns, true);
}

void service_record_http(struct service *s, const struct http_txn *t)
{
	char route[192];
	int cls = status_class(t->status);
	uint64_t ns = t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
	struct route_stats *r;

	s->http.requests++;
	if (cls >= 0)
		s->http.status[cls]++;
	else
		s->http.no_status++;
	hist_add(&s->http.latency, ns);
	dur_add(&s->http.dur, &http_bounds, ns);
	fine_add(&s->http.fine, ns);

	if (s->nunnamed >= UNNAMED_MAX)
		stop_holding(s, t->end_ns);
	if (!name_request(s, t, t->end_ns, route, sizeof(route))) {
		hold_unnamed(s, t);
		return;
	}
	if (!(r = find_route(s, t->method, route)))
		return;
	record_on_route(r, t);
	settle_later(s, r, NULL, t);
}

void service_name_routes(struct service *s, uint64_t now_ns, bool final)
{
	unsigned kept = 0;
	char route[192];

	if (final) { /* every source is drained by now: tie the last requests' calls first */
		service_settle(s);
		if (s->table_pending)
			service_no_route_table(s, "the run ended before the application's route table could be read");
	}
	route_namer_decide(s->namer, now_ns, final);
	/* a prefix that folded since may have made names final too, so look at every one */
	for (unsigned i = 0; i < s->nunnamed; i++) {
		struct unnamed_txn *u = s->unnamed[i];
		struct route_stats *r;

		if (u->in_settle || !name_request(s, &u->txn, now_ns, route, sizeof(route))) {
			s->unnamed[kept++] = u;
			continue;
		}
		if ((r = find_route(s, u->txn.method, route))) {
			record_on_route(r, &u->txn);
			if (u->has_calls)
				record_calls(s, r, &u->calls);
		}
		free(u);
	}
	s->nunnamed = kept;
}

unsigned service_unnamed(const struct service *s)
{
	return s->nunnamed;
}

void service_settle(struct service *s)
{
	struct request_calls calls;

	for (unsigned i = 0; i < s->nsettle; i++) {
		struct pending_txn *p = &s->settle[i];

		if (p->unnamed)
			p->unnamed->in_settle = false;
		if (!s->attr || !attr_take(s->attr, &p->txn, &calls))
			continue;
		if (p->route) {
			record_calls(s, p->route, &calls);
		} else if (p->unnamed) { /* named later, by service_name_routes */
			p->unnamed->calls = calls;
			p->unnamed->has_calls = true;
		}
	}
	s->nsettle = 0;
}

struct query_stats *service_record_db(struct service *s, const char *peer, const struct db_call *call)
{
	struct query_stats *q = db_stats_add(&s->db, peer, call);

	if (q && s->attr)
		attr_db_call(s->attr, call->tid, call->start_ns, q);
	return q;
}

void service_record_http_client(struct service *s, const char *peer, const struct http_txn *t)
{
	http_client_add(&s->http_client, peer, t);
	if (s->attr)
		attr_http_call(s->attr, t->tid, t->start_ns);
}
