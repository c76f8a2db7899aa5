/* /metrics: Prometheus text format 0.0.4. Names and labels follow the OpenTelemetry semantic
 * conventions where one exists (as Beyla/OBI export them), ours are prefixed pyvitals_.
 * Counters are cumulative since attach. Series are bounded by the route, statement, peer and
 * per-set caps of the aggregates they come from. */
#include <stdlib.h>
#include <string.h>
#include "prom.h"
#include "report.h"
#include "runtime.h"
#include "sqlite_probe.h"
#include "tls_probe.h"
#include "version.h"

#define MAX_LABELS 8

/* A sample's labels: the service's first, then the series' own. */
struct labels {
	const char *k[MAX_LABELS], *v[MAX_LABELS];
	int n;
};

static void add(struct labels *l, const char *k, const char *v)
{
	if (l->n < MAX_LABELS) {
		l->k[l->n] = k;
		l->v[l->n++] = v;
	}
}

/* Label values escape backslash, double quote and line feed (the format's three). */
static void put_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void put_labels(FILE *f, const struct labels *l, const char *le)
{
	if (!l->n && !le)
		return;
	fputc('{', f);
	for (int i = 0; i < l->n; i++) {
		fprintf(f, "%s%s=", i ? "," : "", l->k[i]);
		put_value(f, l->v[i]);
	}
	if (le)
		fprintf(f, "%sle=\"%s\"", l->n ? "," : "", le);
	fputc('}', f);
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const char *name, const struct labels *l, double v)
{
	fputs(name, f);
	put_labels(f, l, NULL);
	fprintf(f, " %.17g\n", v);
}

static void sample_u(FILE *f, const char *name, const struct labels *l, uint64_t v)
{
	fputs(name, f);
	put_labels(f, l, NULL);
	fprintf(f, " %llu\n", (unsigned long long)v);
}

static void hist_sample(FILE *f, const char *name, const struct labels *l, const struct dur_hist *h,
			const struct dur_bounds *b)
{
	uint64_t cum = 0;
	char le[32];

	for (unsigned i = 0; i < b->n; i++) {
		cum += h->le[i];
		snprintf(le, sizeof(le), "%g", b->le_ns[i] / 1e9);
		fprintf(f, "%s_bucket", name);
		put_labels(f, l, le);
		fprintf(f, " %llu\n", (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket", name);
	put_labels(f, l, "+Inf");
	fprintf(f, " %llu\n%s_sum", (unsigned long long)h->count, name);
	put_labels(f, l, NULL);
	fprintf(f, " %.9f\n%s_count", h->sum_ns / 1e9, name);
	put_labels(f, l, NULL);
	fprintf(f, " %llu\n", (unsigned long long)h->count);
}

/* "host:port", "[v6]:port", a unix path or a SQLite file: OpenTelemetry's server.address and
 * server.port ("" when there is no port). */
static void split_peer(const char *peer, char *addr, size_t alen, char *port, size_t plen)
{
	const char *colon = strrchr(peer, ':');
	size_t n;

	port[0] = 0;
	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    !strncmp(peer, "unix:", 5)) {
		snprintf(addr, alen, "%s", peer);
		return;
	}
	n = (size_t)(colon - peer);
	if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
		peer++;
		n -= 2;
	}
	snprintf(addr, alen, "%.*s", (int)n, peer);
	snprintf(port, plen, "%s", colon + 1);
}

/* Split a series key "a\037b\037c" into up to 3 parts (in place, in a copy). */
static int split_key(const char *key, char *buf, size_t len, char **parts)
{
	int n = 1;

	snprintf(buf, len, "%s", key);
	parts[0] = buf;
	for (char *p = buf; *p && n < 3; p++)
		if (*p == '\037') {
			*p = 0;
			parts[n++] = p + 1;
		}
	return n;
}

/* A metric family, written for every service in one block (the format wants a family's samples
 * together); what tells apart families one function writes. */
struct family;
typedef void (*family_fn)(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			  const struct family *fam);
struct family {
	const char *name, *type, *help;
	family_fn fn;
	int what;
};

static void each_service(FILE *f, struct agent *a, const struct service_view *views, const struct family *fam)
{
	header(f, fam->name, fam->type, fam->help);
	for (int i = 0; i < a->nservices; i++)
		if (!a->services[i].gone)
			fam->fn(f, a, &a->services[i], &views[i], fam);
}

static void svc(struct labels *l, const struct service *s)
{
	l->n = 0;
	add(l, "service_name", s->name);
}

static void route_labels(struct labels *l, const struct service *s, const struct route_stats *r)
{
	svc(l, s);
	add(l, "http_request_method", r->method);
	add(l, "http_route", r->route);
}

/* Routes in order of first sight, then the overflow route. */
static struct route_stats *route_at(const struct service *s, unsigned i)
{
	return i < s->nroutes ? s->routes[i] : i == s->nroutes ? s->overflow : NULL;
}

static void f_http_server(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			  const struct family *fam)
{
	const char *name = fam->name;
	struct route_stats *r;
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; (r = route_at(s, i)); i++) {
		for (unsigned j = 0; j < r->by_status.n; j++) {
			const struct series *se = &r->by_status.v[j];

			route_labels(&l, s, r);
			if (se->key[0])
				add(&l, "http_response_status_code", se->key);
			hist_sample(f, name, &l, &se->h, &http_bounds);
		}
	}
}

enum { ROUTE_DB_CALLS, ROUTE_DB_MAX, ROUTE_HTTP_CALLS };

/* Per-request figures of routes, only where calls can be tied to requests. */
static void f_route_calls(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			  const struct family *fam)
{
	bool tied = fam->what == ROUTE_HTTP_CALLS ? v->http_attributed : v->db_attributed;
	struct route_stats *r;
	struct labels l;

	(void)a;
	for (unsigned i = 0; tied && (r = route_at(s, i)); i++) {
		if (!r->requests)
			continue;
		route_labels(&l, s, r);
		if (fam->what == ROUTE_DB_MAX)
			sample_u(f, fam->name, &l, r->db_calls_max);
		else
			sample(f, fam->name, &l, (double)(fam->what == ROUTE_DB_CALLS ? r->db_calls : r->http_calls) /
				 r->requests);
	}
}

static void f_http_unread(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			  const struct family *fam)
{
	const char *name = fam->name;
	struct labels l;

	(void)a, (void)v;
	svc(&l, s);
	add(&l, "reason", "request_unreadable");
	sample_u(f, name, &l, s->http.unread_requests);
	l.v[1] = "no_response_tied";
	sample_u(f, name, &l, s->http.dropped_requests);
}

static void f_http_exact(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			 const struct family *fam)
{
	const char *name = fam->name;
	struct labels l;

	(void)a;
	svc(&l, s);
	sample_u(f, name, &l, v->exact);
}

static void f_http_pending(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			   const struct family *fam)
{
	struct labels l;

	(void)a, (void)v;
	svc(&l, s);
	sample_u(f, fam->name, &l, service_unnamed(s));
}

static void f_http_client(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			  const struct family *fam)
{
	const char *name = fam->name;
	char addr[64], port[16], buf[SERIES_KEY], *parts[3];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->http_client.npeers; i++) {
		const struct http_peer *p = s->http_client.peers[i];

		split_peer(p->peer, addr, sizeof(addr), port, sizeof(port));
		for (unsigned j = 0; j < p->dur.n; j++) {
			if (split_key(p->dur.v[j].key, buf, sizeof(buf), parts) < 3)
				parts[1] = parts[2] = "";
			svc(&l, s);
			add(&l, "server_address", addr);
			if (port[0])
				add(&l, "server_port", port);
			add(&l, "http_request_method", parts[0]);
			if (parts[1][0])
				add(&l, "http_response_status_code", parts[1]);
			if (parts[2][0])
				add(&l, "error_type", parts[2]);
			hist_sample(f, name, &l, &p->dur.v[j].h, &http_bounds);
		}
	}
}

static void peer_labels(struct labels *l, const struct service *s, const struct db_peer *p, char *addr,
			size_t alen, char *port, size_t plen)
{
	split_peer(p->peer, addr, alen, port, plen);
	svc(l, s);
	add(l, "db_system_name", db_system_name(p->system));
	add(l, "server_address", addr);
	if (port[0])
		add(l, "server_port", port);
}

static void f_db(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	char addr[64], port[16], buf[SERIES_KEY], *parts[3];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->db.npeers; i++) {
		const struct db_peer *p = s->db.peers[i];

		for (unsigned j = 0; j < p->dur.n; j++) {
			if (split_key(p->dur.v[j].key, buf, sizeof(buf), parts) < 2)
				parts[1] = "";
			peer_labels(&l, s, p, addr, sizeof(addr), port, sizeof(port));
			add(&l, "db_operation_name", parts[0]);
			if (parts[1][0])
				add(&l, "error_type", parts[1]);
			hist_sample(f, name, &l, &p->dur.v[j].h, &db_bounds);
		}
	}
}

static void f_cache(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	char addr[64], port[16];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->db.npeers; i++) {
		const struct db_peer *p = s->db.peers[i];

		if (p->system != DB_REDIS && p->system != DB_MEMCACHED)
			continue;
		peer_labels(&l, s, p, addr, sizeof(addr), port, sizeof(port));
		add(&l, "result", "hit");
		sample_u(f, name, &l, p->cache_hits);
		l.v[l.n - 1] = "miss";
		sample_u(f, name, &l, p->cache_misses);
	}
}

enum { STMT_CALLS, STMT_ERRORS, STMT_SECONDS };

/* Per normalized statement: calls, errors and time (the statement cap bounds the series). */
static void f_statements(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			 const struct family *fam)
{
	char addr[64], port[16];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->db.npeers; i++) {
		const struct db_peer *p = s->db.peers[i];

		for (unsigned j = 0; j <= p->nqueries; j++) {
			const struct query_stats *q = j < p->nqueries ? p->queries[j] : p->overflow;

			if (!q)
				continue;
			peer_labels(&l, s, p, addr, sizeof(addr), port, sizeof(port));
			add(&l, "db_query_text", q->text);
			if (fam->what == STMT_SECONDS)
				sample(f, fam->name, &l, hist_sum_ms(&q->latency) / 1e3);
			else
				sample_u(f, fam->name, &l, fam->what == STMT_CALLS ? q->calls : q->errors);
		}
	}
}

static void f_db_lost(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
		      const struct family *fam)
{
	const char *name = fam->name;
	static const char *const reasons[DB_LOSS_REASONS] = { "", "capture_limit", "malformed",
								    "ring_buffer_full" };
	char addr[64], port[16];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->db.npeers; i++) {
		const struct db_peer *p = s->db.peers[i];

		peer_labels(&l, s, p, addr, sizeof(addr), port, sizeof(port));
		add(&l, "reason", "untracked_request");
		sample_u(f, name, &l, p->dropped_requests);
		for (int r = DB_LOSS_CAPTURE; r < DB_LOSS_REASONS; r++) {
			l.v[l.n - 1] = reasons[r];
			sample_u(f, name, &l, p->unparsed_ios[r]);
		}
	}
}

static void f_gc(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	static const char *const gens[4] = { "0", "1", "2", "unknown" };
	const struct runtime_values *rv = &v->runtime;
	struct labels l;

	(void)a;
	for (int g = 0; v->has_runtime && rv->gc && g < 4; g++) {
		if (g == 3 && !rv->gc_collections[3])
			break;
		svc(&l, s);
		add(&l, "cpython_gc_generation", gens[g]);
		sample_u(f, name, &l, rv->gc_collections[g]);
	}
}

/* GC pauses at power-of-two bounds, where the kernel's buckets end: a bucket "below 2^k ns"
 * is exactly le=(2^k - 1) ns, so every count is exact. */
static void f_gc_pause(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
		       const struct family *fam)
{
	const char *name = fam->name;
	const struct runtime_values *rv = &v->runtime;
	struct labels l;
	char le[32];

	(void)a;
	if (!v->has_runtime || !rv->gc)
		return;
	svc(&l, s);
	for (int b = 4; b < 24; b += 2) { /* 16 us .. 4.3 s */
		snprintf(le, sizeof(le), "%.9f", (RUNTIME_PAUSE_BOUND_NS(b) - 1) / 1e9);
		fprintf(f, "%s_bucket", name);
		put_labels(f, &l, le);
		fprintf(f, " %llu\n", (unsigned long long)rv->gc_pauses_below[b]);
	}
	fprintf(f, "%s_bucket", name);
	put_labels(f, &l, "+Inf");
	fprintf(f, " %llu\n%s_sum", (unsigned long long)rv->gc_pauses, name);
	put_labels(f, &l, NULL);
	fprintf(f, " %.9f\n%s_count", rv->gc_pause_ns / 1e9, name);
	put_labels(f, &l, NULL);
	fprintf(f, " %llu\n", (unsigned long long)rv->gc_pauses);
}

enum { RT_GIL_WAIT, RT_THREADS };

static void f_runtime(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
		      const struct family *fam)
{
	const struct runtime_values *rv = &v->runtime;
	struct labels l;

	(void)a;
	if (!v->has_runtime)
		return;
	svc(&l, s);
	if (fam->what == RT_GIL_WAIT && rv->gil)
		sample(f, fam->name, &l, rv->gil_wait_ns / 1e9);
	if (fam->what == RT_THREADS && rv->threads >= 0)
		sample_u(f, fam->name, &l, (uint64_t)rv->threads);
}

static void f_processes(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
			const struct family *fam)
{
	const char *name = fam->name;
	int pids[1024];
	struct labels l;

	(void)v;
	svc(&l, s);
	sample_u(f, name, &l, (uint64_t)agent_pids(a, s->id, pids, 1024));
}

static void f_findings(FILE *f, struct agent *a, struct service *s, const struct service_view *v,
		       const struct family *fam)
{
	const char *name = fam->name;
	char method[16];
	struct labels l;

	(void)a, (void)v;
	for (unsigned i = 0; i < s->nfindings; i++) {
		const struct finding *fd = &s->findings[i];
		const char *sp = strchr(fd->route, ' ');

		snprintf(method, sizeof(method), "%.*s", sp ? (int)(sp - fd->route) : 0, fd->route);
		svc(&l, s);
		add(&l, "kind", "n_plus_one");
		add(&l, "http_request_method", method);
		add(&l, "http_route", sp ? sp + 1 : fd->route);
		add(&l, "db_query_text", fd->statement->text);
		sample_u(f, name, &l, fd->requests);
	}
}

static void f_blind(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	struct labels l;

	(void)a;
	for (unsigned i = 0; i < v->blind.n; i++) {
		const struct blind_spot *b = &v->blind.e[i];

		svc(&l, s);
		add(&l, "side", b->server ? "server" : "client");
		add(&l, "endpoint", b->endpoint);
		add(&l, "protocol", b->protocol);
		add(&l, "reason", b->why);
		sample_u(f, name, &l, b->connections);
	}
}

static void f_tls(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	struct labels l;

	(void)a, (void)v;
	svc(&l, s);
	add(&l, "decrypted", "true");
	sample_u(f, name, &l, s->tls_decrypted);
	l.v[1] = "false";
	sample_u(f, name, &l, s->tls_connections - s->tls_decrypted - s->tls_closed_idle);
	l.v[1] = "closed_idle";
	sample_u(f, name, &l, s->tls_closed_idle);
}

static void f_health(FILE *f, struct agent *a, struct service *s, const struct service_view *v, const struct family *fam)
{
	const char *name = fam->name;
	struct labels l;

	(void)a, (void)v;
	svc(&l, s);
	sample_u(f, name, &l, (uint64_t)s->health);
}

static void events_lost(FILE *f, struct agent *a)
{
	const struct pv_counters *k = agent_counters(a);
	const struct pv_tls_counters *t = a->tls ? tls_probe_counters(a->tls) : NULL;
	const struct { const char *reason; uint64_t n; } lost[] = {
		{ "ringbuf_full", k->ringbuf_full },
		{ "conn_map_full", k->conn_map_full },
		{ "proc_map_full", k->proc_map_full },
		{ "unknown_record", a->unknown_records },
		{ "unjoined_chunk", a->lost_chunks },
		{ "sqlite_ringbuf_full", a->sqlite ? sqlite_probe_lost(a->sqlite) : 0 },
		{ "tls_ringbuf_full", t ? t->ringbuf_full : 0 },
		{ "tls_calls_not_followed", t ? t->calls_full : 0 },
	};
	struct labels l = { .n = 0 };

	header(f, "pyvitals_events_lost_total", "counter",
	       "Kernel records lost before pyvitals could count them, by reason; figures they touch are not exact.");
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++) {
		l.n = 0;
		add(&l, "reason", lost[i].reason);
		sample_u(f, "pyvitals_events_lost_total", &l, lost[i].n);
	}
}

static void build_info(FILE *f, struct agent *a)
{
	struct labels l = { .n = 0 };

	header(f, "pyvitals_build_info", "gauge", "pyvitals build: version, commit, libbpf version, build date; always 1.");
	add(&l, "version", pyvitals_version);
	add(&l, "commit", pyvitals_commit);
	add(&l, "libbpf_version", pyvitals_libbpf_version());
	add(&l, "build_date", pyvitals_build_date);
	add(&l, "hooks", hooks_name(a->hooks));
	sample_u(f, "pyvitals_build_info", &l, 1);
	l.n = 0;
	header(f, "pyvitals_uptime_seconds", "gauge", "Seconds since pyvitals attached.");
	sample(f, "pyvitals_uptime_seconds", &l, (agent_now_ns() - a->start_ns) / 1e9);
}

static const struct family families[] = {
	{ "pyvitals_health_status", "gauge", "Health verdict of the service (see /health): 0 ok, 1 degraded, 2 critical.",
	  f_health, 0 },
	{ "pyvitals_processes", "gauge", "Processes of the service being watched.", f_processes, 0 },
	{ "http_server_request_duration_seconds", "histogram",
	  "Duration of HTTP server requests, from the request's first byte read to the response's last byte written.",
	  f_http_server, 0 },
	{ "pyvitals_http_server_requests_uncounted_total", "counter",
	  "Requests seen but missing from http_server_request_duration_seconds, by reason.", f_http_unread, 0 },
	{ "pyvitals_http_server_route_pending_requests", "gauge",
	  "Requests served but not yet in http_server_request_duration_seconds: their route's name is final once "
	  "its path prefix has shown how many values it takes (at most 5 s).", f_http_pending, 0 },
	{ "pyvitals_http_server_exact", "gauge",
	  "1 when every request of the service was counted; 0 when some were not (see blind spots).", f_http_exact, 0 },
	{ "pyvitals_http_route_db_calls_per_request", "gauge",
	  "Database and cache calls per request of the route (absent when calls cannot be tied to requests).",
	  f_route_calls, ROUTE_DB_CALLS },
	{ "pyvitals_http_route_db_calls_max", "gauge", "Most database and cache calls made by one request of the route.",
	  f_route_calls, ROUTE_DB_MAX },
	{ "pyvitals_http_route_http_calls_per_request", "gauge",
	  "Outbound HTTP calls per request of the route (absent when calls cannot be tied to requests).",
	  f_route_calls, ROUTE_HTTP_CALLS },
	{ "http_client_request_duration_seconds", "histogram",
	  "Duration of outbound HTTP requests, from the request's first byte written to the response's last byte read.",
	  f_http_client, 0 },
	{ "db_client_operation_duration_seconds", "histogram",
	  "Duration of database and cache operations, from the request's first byte written to the reply's last byte read.",
	  f_db, 0 },
	{ "pyvitals_cache_requests_total", "counter", "Cache reads (Redis, memcached) by result, per key read.", f_cache, 0 },
	{ "pyvitals_db_statement_calls_total", "counter", "Calls per normalized statement (literals removed).",
	  f_statements, STMT_CALLS },
	{ "pyvitals_db_statement_errors_total", "counter", "Calls per normalized statement answered with an error.",
	  f_statements, STMT_ERRORS },
	{ "pyvitals_db_statement_duration_seconds_total", "counter", "Time spent per normalized statement.",
	  f_statements, STMT_SECONDS },
	{ "pyvitals_db_uncounted_total", "counter",
	  "Database I/Os that could not be parsed and requests that could not be tracked, by reason.", f_db_lost, 0 },
	{ "cpython_gc_collections_total", "counter", "CPython garbage collections by generation.", f_gc, 0 },
	{ "pyvitals_gc_pause_seconds", "histogram", "CPython garbage collection pauses.", f_gc_pause, 0 },
	{ "pyvitals_gil_wait_seconds_total", "counter",
	  "Time threads spent blocked waiting for the GIL, summed over threads.", f_runtime, RT_GIL_WAIT },
	{ "pyvitals_python_threads", "gauge", "Live Python threads.", f_runtime, RT_THREADS },
	{ "pyvitals_findings_total", "counter",
	  "Requests that crossed a finding's threshold (n_plus_one: one statement run too often in one request).",
	  f_findings, 0 },
	{ "pyvitals_blind_spot_connections_total", "counter",
	  "Connections whose traffic could not be read, by endpoint and reason.", f_blind, 0 },
	{ "pyvitals_tls_connections_total", "counter", "Connections that carried TLS, by whether their plaintext was read (closed_idle: closed carrying only a TLS alert, nothing to read).",
	  f_tls, 0 },
};

void prom_write(struct agent *a, const struct service_view *views, FILE *f)
{
	build_info(f, a);
	events_lost(f, a);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		each_service(f, a, views, &families[i]);
}
