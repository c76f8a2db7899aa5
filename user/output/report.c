/* Snapshot rendering. Counts are cumulative since attach; percentiles cover the same
 * window. Field names here are a public contract: extend, never rename. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "json.h"
#include "pyunits.h"
#include "report.h"
#include "route_names.h"
#include "runtime.h"
#include "sqlite_probe.h"
#include "tls_bind.h"
#include "tls_probe.h"

#define MAX_PIDS 4096
static const char *class_names[STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

static void json_status(FILE *f, const uint64_t *st)
{
	fputs("{", f);
	for (int i = 0; i < STATUS_CLASSES; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", class_names[i], (unsigned long long)st[i]);
	fputs("}", f);
}

/* By request rate over the last interval, then by count since attach. */
static int by_rate(const void *x, const void *y)
{
	const struct route_stats *a = *(struct route_stats *const *)x, *b = *(struct route_stats *const *)y;

	if (a->rate != b->rate)
		return a->rate < b->rate ? 1 : -1;
	if (a->requests != b->requests)
		return a->requests < b->requests ? 1 : -1;
	return strcmp(a->route, b->route);
}

/* Routes by request rate, the overflow route last; caller frees. */
static struct route_stats **sorted_routes(const struct service *s, unsigned *n)
{
	struct route_stats **v = malloc(sizeof(*v) * (s->nroutes + 1));

	*n = 0;
	if (!v)
		return NULL;
	if (s->nroutes) { /* routes is NULL until the first */
		memcpy(v, s->routes, sizeof(*v) * s->nroutes);
		qsort(v, s->nroutes, sizeof(*v), by_rate);
	}
	*n = s->nroutes;
	if (s->overflow)
		v[(*n)++] = s->overflow;
	return v;
}

static uint64_t errors_of(const uint64_t *st)
{
	return st[STATUS_5XX];
}

/* The last snapshot interval (percentiles within ~9%: see struct fine_hist). */
static void json_interval(FILE *f, const struct interval *iv)
{
	fprintf(f, ", \"interval\": {\"requests\": %llu, \"5xx\": %llu, \"latency_ms\": {\"p50\": ",
		(unsigned long long)iv->requests, (unsigned long long)iv->errors);
	iv->p50_ms < 0 ? (void)fputs("null", f) : json_num(f, iv->p50_ms);
	fputs(", \"p99\": ", f);
	iv->p99_ms < 0 ? (void)fputs("null", f) : json_num(f, iv->p99_ms);
	fputs("}}", f);
}

/* Route figures per request are printed only when calls can be tied to requests. */
struct attributed { bool db, http; };

static void json_routes(FILE *f, const struct service *s, struct attributed attributed)
{
	unsigned n;
	struct route_stats **v = sorted_routes(s, &n);

	fputs("[", f);
	for (unsigned i = 0; i < n; i++) {
		const struct route_stats *r = v[i];

		fprintf(f, "%s{\"method\": ", i ? ", " : "");
		json_str(f, r->method);
		fputs(", \"route\": ", f);
		json_str(f, r->route);
		fprintf(f, ", \"requests\": %llu, \"requests_per_s\": ", (unsigned long long)r->requests);
		json_num(f, r->rate);
		fputs(", \"status\": ", f);
		json_status(f, r->status);
		fputs(", \"latency_ms\": ", f);
		json_latency(f, &r->latency);
		json_interval(f, &r->last);
		fputs(", \"db_calls_per_request\": ", f);
		if (attributed.db && r->requests) {
			json_num(f, (double)r->db_calls / r->requests);
			fprintf(f, ", \"db_calls_max\": %llu", (unsigned long long)r->db_calls_max);
		} else {
			fputs("null, \"db_calls_max\": null", f);
		}
		fputs(", \"http_calls_per_request\": ", f);
		if (attributed.http && r->requests)
			json_num(f, (double)r->http_calls / r->requests);
		else
			fputs("null", f);
		fputs("}", f);
	}
	fputs("]", f);
	free(v);
}

/* A service's blind spots: its connections' (kept as they are seen) and its processes whose
 * SQLite calls are not all seen (a state, asked for at each snapshot). */
static void service_blind_spots(struct agent *a, struct service *s, struct blind_spots *out)
{
	static struct sqlite_blind sb[64];
	int n = a->sqlite ? sqlite_probe_blind_spots(a->sqlite, sb, 64) : 0;

	*out = s->blind;
	for (int i = 0; i < n && i < 64; i++) {
		char pid[32];

		if (agent_service_of(a, sb[i].pid) != s->id)
			continue;
		snprintf(pid, sizeof(pid), "pid %d", sb[i].pid);
		blind_spots_add(out, false, pid, "", "sqlite", sb[i].why, true);
	}
}

/* Could a connection we cannot read carry outbound HTTP calls? A client one whose protocol is
 * unknown or HTTP(S) could; a database's (known by its bytes or port) or a SQLite process not.
 * Groups past the list's bound are unknown: assume they could. */
static bool blind_spots_hide_http_calls(const struct blind_spots *b)
{
	for (unsigned i = 0; i < b->n; i++)
		if (!b->e[i].server &&
		    (!strncmp(b->e[i].protocol, "http", 4) || !strncmp(b->e[i].protocol, "unknown", 7)))
			return true;
	return b->overflow > 0;
}

#define EVENT_LOOP_REASON "unavailable: requests overlap on one thread (event-loop server), " \
	"so calls cannot be tied to a request"

static void json_lib(void *ctx, const char *path, bool probed, const char *why)
{
	struct lib_list { FILE *f; int n; } *l = ctx;

	fputs(l->n++ ? ", {\"path\": " : "{\"path\": ", l->f);
	json_str(l->f, path);
	fprintf(l->f, ", \"probed\": %s, \"why\": ", probed ? "true" : "false");
	if (probed || !why[0])
		fputs("null", l->f);
	else
		json_str(l->f, why);
	fputc('}', l->f);
}

/* TLS connections of the service, how many were read, and the TLS libraries its processes map. */
static void json_tls(FILE *f, struct agent *a, const struct service *s, const int *pids, int n)
{
	struct { FILE *f; int n; } libs = { f, 0 };

	fprintf(f, ", \"tls\": {\"connections\": %llu, \"decrypted\": %llu, \"closed_idle\": %llu, \"probes\": ",
		(unsigned long long)s->tls_connections, (unsigned long long)s->tls_decrypted,
		(unsigned long long)s->tls_closed_idle);
	json_str(f, a->tls ? "on" : a->tls_err);
	fputs(", \"libraries\": [", f);
	if (a->tls)
		tls_probe_libraries(a->tls, pids, n, json_lib, &libs);
	fputs("]}", f);
}

/* Why exact is false, each a short name (requests may be missing from the figures); returns
 * how many of the 4 it wrote. */
static int inexact_reasons(const struct service *s, const struct service_view *v, const char *why[4])
{
	int n = 0;

	if (s->http.unread_requests)
		why[n++] = "unread_requests";
	if (s->http.dropped_requests)
		why[n++] = "dropped_requests";
	if (blind_spots_server(&v->blind))
		why[n++] = "blind_spots";
	if (v->records_lost)
		why[n++] = "records_lost";
	return n;
}

static void json_inexact_reasons(FILE *f, const struct service *s, const struct service_view *v)
{
	const char *why[4];
	int n = inexact_reasons(s, v, why);

	fputs(", \"inexact_reasons\": [", f);
	for (int i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, why[i]);
	}
	fputc(']', f);
}

void report_view(struct agent *a, struct service *s, struct service_view *v)
{
	const char *why[4];

	service_blind_spots(a, s, &v->blind);
	v->records_lost = agent_socket_losses(a) > 0;
	v->exact = inexact_reasons(s, v, why) == 0;
	v->db_attributed = !attr_event_loop(s->attr) && !blind_spots_hide_db_calls(&v->blind);
	v->http_attributed = !attr_event_loop(s->attr) && !blind_spots_hide_http_calls(&v->blind);
	v->has_runtime = a->rt != NULL;
	if (a->rt)
		runtime_values(a->rt, s->id, &v->runtime);
}

void report_views(struct agent *a, struct service_view *views)
{
	for (int i = 0; i < a->nservices; i++)
		if (!a->services[i].gone)
			report_view(a, &a->services[i], &views[i]);
}

/* "framework": the application's table names requests; "pending": waiting for it; "paths":
 * no table (route_table_why says why), so names come from the paths and --route. */
static const char *route_source(const struct service *s)
{
	return s->table ? "framework" : s->table_pending ? "pending" : "paths";
}

static void json_str_or_null(FILE *f, const char *str)
{
	if (str)
		json_str(f, str);
	else
		fputs("null", f);
}

/* Calls no request took, and why: a request's figures leave them out. */
static void json_untied(FILE *f, struct agent *a, const struct service *s)
{
	uint64_t db = 0, http = 0, lost = agent_counters(a)->unit_copies_lost;

	if (!s->attr || attr_event_loop(s->attr)) { /* no request takes any: db_attribution says why */
		fputs(", \"db_calls_untied\": null, \"http_calls_untied\": null, \"untied_why\": null", f);
		return;
	}
	attr_untied(s->attr, &db, &http);
	fprintf(f, ", \"db_calls_untied\": %llu, \"http_calls_untied\": %llu, \"untied_why\": ",
		(unsigned long long)db, (unsigned long long)http);
	if (!db && !http && !lost)
		fputs("null", f);
	else if (s->units_kind == PY_UNITS_THREAD)
		json_str(f, "made on a thread outside its requests (between requests, or a thread no request runs on)");
	else
		fprintf(f, "\"made outside every request's task and the tasks and threads it handed work to "
			"(a background task, work handed on without a copy of its context, or before attach)%s%s%s\"",
			lost ? "; copies of contexts lost (ring buffer full)" : "", s->units_why[0] ? "; " : "",
			s->units_why);
}

static void json_service(FILE *f, struct agent *a, struct service *s)
{
	struct attributed attributed;
	static struct service_view view;
	const struct blind_spots *blind = &view.blind;
	static int pids[MAX_PIDS];
	int n = agent_pids(a, s->id, pids, MAX_PIDS);
	char loop_why[sizeof(EVENT_LOOP_REASON) + sizeof(s->units_why) + 2] = EVENT_LOOP_REASON;

	fputs("{\"name\": ", f);
	json_str(f, s->name);
	fprintf(f, ", \"root_pid\": %d, \"pids\": [", s->root_pid ? s->root_pid : (n ? pids[0] : 0));
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%d", i ? ", " : "", pids[i]);
	fprintf(f, "], \"http_server\": {\"requests\": %llu, \"requests_per_s\": ",
		(unsigned long long)s->http.requests);
	json_num(f, s->http.rate);
	fprintf(f, ", \"errors\": %llu, \"status\": ", (unsigned long long)errors_of(s->http.status));
	json_status(f, s->http.status);
	fputs(", \"latency_ms\": ", f);
	json_latency(f, &s->http.latency);
	json_interval(f, &s->http.last);
	/* Requests that happened but are missing from the figures (or served on connections we
	 * cannot read): exact is false when any did. */
	report_view(a, s, &view);
	fprintf(f, ", \"exact\": %s, \"unread_requests\": %llu, \"dropped_requests\": %llu",
		view.exact ? "true" : "false",
		(unsigned long long)s->http.unread_requests, (unsigned long long)s->http.dropped_requests);
	json_inexact_reasons(f, s, &view);
	attributed.db = view.db_attributed;
	attributed.http = view.http_attributed;
	fputs(", \"routes\": ", f);
	json_routes(f, s, attributed);
	/* counted above, not yet in a route: their path's prefix still collects values */
	fprintf(f, ", \"routes_pending\": %u, \"routes_folded\": %u", service_unnamed(s),
		route_namer_folded(s->namer));
	/* where route names come from: the framework's own table, or the paths (why not the table) */
	fprintf(f, ", \"route_source\": \"%s\", \"route_table\": ", route_source(s));
	json_str_or_null(f, s->table ? s->table_source : NULL);
	fputs(", \"route_table_why\": ", f);
	json_str_or_null(f, s->table_why[0] ? s->table_why : NULL);
	fputs("}, \"http_client\": ", f);
	http_client_json(&s->http_client, f);
	if (s->units_why[0]) /* an event loop whose tasks we could not follow: why */
		snprintf(loop_why, sizeof(loop_why), "%s; %s", EVENT_LOOP_REASON, s->units_why);
	fputs(", \"db_attribution\": ", f);
	json_str(f, attr_event_loop(s->attr) ? loop_why :
		 blind_spots_hide_db_calls(blind) ? "unavailable: connections or processes that may carry "
		 "database calls could not be seen (see blind_spots)" : pyunits_method(s->units_kind));
	fputs(", \"http_attribution\": ", f);
	json_str(f, attr_event_loop(s->attr) ? loop_why :
		 blind_spots_hide_http_calls(blind) ? "unavailable: client connections that may carry "
		 "HTTP calls could not be read (see blind_spots)" : pyunits_method(s->units_kind));
	json_untied(f, a, s);
	fputs(", \"blind_spots\": ", f);
	blind_spots_json(blind, f);
	json_tls(f, a, s, pids, n);
	fputs(", \"runtime\": ", f);
	if (a->rt) {
		runtime_write_json(a->rt, s->id, f, (agent_now_ns() - a->start_ns) / 1e9);
	} else {
		fputs("{\"unavailable\": [", f);
		json_str(f, a->rt_err);
		fputs("]}", f);
	}
	fputs(", \"db\": ", f);
	db_stats_json(&s->db, f);
	fputs(", \"findings\": [", f);
	for (unsigned i = 0; i < s->nfindings; i++) {
		const struct finding *fd = &s->findings[i];

		fputs(i ? ", {\"kind\": \"n_plus_one\", \"route\": " : "{\"kind\": \"n_plus_one\", \"route\": ", f);
		json_str(f, fd->route);
		fputs(", \"statement\": ", f);
		json_str(f, fd->statement->text);
		fprintf(f, ", \"count\": %u, \"requests\": %llu}", fd->count, (unsigned long long)fd->requests);
	}
	if (s->overflow) /* the route cap was reached: the rest share one route */
		fprintf(f, "%s{\"kind\": \"route_overflow\", \"route\": \"%s\", \"max_routes\": %u, "
			"\"requests\": %llu, \"advice\": \"name these routes with --route patterns, or raise "
			"--max-routes\"}", s->nfindings ? ", " : "", OVERFLOW_ROUTE, s->max_routes,
			(unsigned long long)s->overflow->requests);
	fputs("]}", f);
}

static void iso_time(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What TLS plaintext was lost on the way: records no socket was found for, and the probes' drops. */
static void json_tls_totals(FILE *f, struct agent *a)
{
	struct tls_bind_counters b = { 0 };
	struct pv_tls_counters k = { 0 };

	if (a->tls_bind)
		tls_bind_counters(a->tls_bind, &b);
	if (a->tls)
		k = *tls_probe_counters(a->tls);
	fprintf(f, "\"tls\": {\"unbound_records\": %llu, \"ringbuf_full\": %llu, \"unreadable_buffers\": %llu, "
		"\"calls_not_followed\": %llu, \"truncated_captures\": %llu, \"other_process_hits\": %llu, "
		"\"ties\": {\"in_call\": %llu, \"known\": %llu, \"read_before\": %llu, \"send_after\": %llu}}",
		(unsigned long long)b.unbound, (unsigned long long)k.ringbuf_full, (unsigned long long)k.unreadable,
		(unsigned long long)k.calls_full, (unsigned long long)k.truncated, (unsigned long long)k.untracked,
		(unsigned long long)b.in_call, (unsigned long long)b.known, (unsigned long long)b.recv_before,
		(unsigned long long)b.send_after);
}

void report_json(struct agent *a, FILE *out, bool final)
{
	double up_s = (agent_now_ns() - a->start_ns) / 1e9;
	const struct pv_counters *k = agent_counters(a);
	struct conn_counters cc;
	char when[32];

	conns_counters(a->conns, &cc);
	iso_time(when, sizeof(when));
	fprintf(out, "{\"time\": \"%s\", \"final\": %s, \"interval_s\": ", when, final ? "true" : "false");
	json_num(out, a->opt.interval_s);
	fputs(", \"uptime_s\": ", out);
	json_num(out, up_s);
	fprintf(out, ", \"lost_events\": %llu, \"hooks\": \"%s\", \"drops\": {\"ringbuf_full\": %llu, "
		"\"conn_map_full\": %llu, \"proc_map_full\": %llu, \"truncated_captures\": %llu, "
		"\"unreadable_buffers\": %llu, \"uncopied_syscall\": %llu}, \"parse\": {\"http_resyncs\": %llu, "
		"\"http_malformed\": %llu, \"http_unanswered\": %llu, \"http_unread_requests\": %llu, "
		"\"db_resyncs\": %llu, \"db_malformed\": %llu, \"db_unparsed_ios\": {\"capture_limit\": %llu, "
		"\"malformed\": %llu, \"ring_buffer_full\": %llu, \"before_first_message\": %llu}, "
		"\"db_requests_dropped\": %llu, \"ring_gaps\": %llu}, "
		"\"sqlite_other_process_hits\": %llu, \"unwatched_python_processes\": %llu, \"connections_open\": %llu, ",
		(unsigned long long)agent_lost_events(a), hooks_name(a->hooks), (unsigned long long)k->ringbuf_full,
		(unsigned long long)k->conn_map_full, (unsigned long long)k->proc_map_full,
		(unsigned long long)k->truncated, (unsigned long long)k->unreadable,
		(unsigned long long)k->no_syscall, (unsigned long long)cc.resyncs,
		(unsigned long long)cc.malformed, (unsigned long long)cc.dropped_requests,
		(unsigned long long)cc.unread_requests, (unsigned long long)cc.db_resyncs,
		(unsigned long long)cc.db_malformed, (unsigned long long)cc.db_unparsed_ios[DB_LOSS_CAPTURE],
		(unsigned long long)cc.db_unparsed_ios[DB_LOSS_MALFORMED],
		(unsigned long long)cc.db_unparsed_ios[DB_LOSS_RING], (unsigned long long)cc.db_unparsed_ios[DB_LOSS_NONE], (unsigned long long)cc.db_dropped_requests,
		(unsigned long long)cc.ring_gaps,
		(unsigned long long)(a->sqlite ? sqlite_probe_untracked(a->sqlite) : 0),
		(unsigned long long)all_python_unwatched(a), (unsigned long long)cc.open);
	json_tls_totals(out, a);
	fputs(", \"services\": [", out);
	for (int i = 0, first = 1; i < a->nservices; i++) {
		if (a->services[i].gone)
			continue;
		if (!first)
			fputs(", ", out);
		first = 0;
		json_service(out, a, &a->services[i]);
	}
	fputs("]}\n", out);
	fflush(out);
}

/* ERR% counts server errors (5xx) only; client errors (4xx) have their own column. */
static void text_row(FILE *f, const char *method, const char *route, uint64_t req, const uint64_t *st,
		     const struct hist *h, double rate)
{
	double err = req ? 100.0 * errors_of(st) / req : 0, client = req ? 100.0 * st[STATUS_4XX] / req : 0;

	fprintf(f, "  %-7.7s %-38.38s %9llu %8.1f %6.1f%% %6.1f%% %8.2f %8.2f %8.2f %8.2f\n", method, route,
		(unsigned long long)req, rate, err, client, hist_percentile_ms(h, 0.5),
		hist_percentile_ms(h, 0.95), hist_percentile_ms(h, 0.99), hist_max_ms(h));
}

void report_text(struct agent *a, FILE *out, bool final, bool screen)
{
	static struct service_view view;
	double up_s = (agent_now_ns() - a->start_ns) / 1e9;
	static int pids[MAX_PIDS];
	char when[32];

	iso_time(when, sizeof(when));
	if (screen)
		fputs("\033[H\033[2J", out);
	fprintf(out, "pyvitals %s  %s  up %.0fs  hooks=%s  lost=%llu%s\n", final ? "final" : "", when, up_s,
		hooks_name(a->hooks), (unsigned long long)agent_lost_events(a), screen ? "  (q quits)" : "");
	for (int i = 0; i < a->nservices; i++) {
		struct service *s = &a->services[i];
		int n = agent_pids(a, i, pids, MAX_PIDS);
		unsigned nr;
		struct route_stats **v;

		if (s->gone)
			continue;
		v = sorted_routes(s, &nr);
		fprintf(out, "\n%s  (%d process%s)\n", s->name, n, n == 1 ? "" : "es");
		if (s->table)
			fprintf(out, "  routes: %s\n", s->table_source);
		else if (!s->table_pending && s->table_why[0])
			fprintf(out, "  routes: from paths (%s)\n", s->table_why);
		report_view(a, s, &view);
		if (!view.exact) {
			const char *why[4];
			int nw = inexact_reasons(s, &view, why);

			fputs("  counts not exact:", out);
			for (int k = 0; k < nw; k++)
				fprintf(out, "%s %s", k ? "," : "", why[k]);
			fputc('\n', out);
		}
		fprintf(out, "  %-7s %-38s %9s %8s %7s %7s %8s %8s %8s %8s\n", "METHOD", "ROUTE", "REQUESTS", "REQ/S",
			"5XX", "4XX", "P50ms", "P95ms", "P99ms", "MAXms");
		text_row(out, "ALL", "", s->http.requests, s->http.status, &s->http.latency, s->http.rate);
		for (unsigned j = 0; j < nr && (!screen || j < 20); j++)
			text_row(out, v[j]->method, v[j]->route, v[j]->requests, v[j]->status, &v[j]->latency,
				 v[j]->rate);
		free(v);
		if (a->rt) {
			char line[256];

			runtime_summary(a->rt, i, line, sizeof(line), up_s);
			fprintf(out, "\n  %s\n", line);
		}
		db_stats_text(&s->db, out, screen ? 5 : 10);
		http_client_text(&s->http_client, out);
		blind_spots_text(&view.blind, out);
		for (unsigned j = 0; j < s->nfindings; j++)
			fprintf(out, "  N+1: %s runs \"%.60s\" %u times in one request\n", s->findings[j].route,
				s->findings[j].statement->text, s->findings[j].count);
	}
	fflush(out);
}
