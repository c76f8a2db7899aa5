/* Exact per-peer aggregation of a service's outbound HTTP calls. */
#include <stdlib.h>
#include <string.h>
#include "http_client.h"
#include "json.h"

static const char *const reason_names[HCE_REASONS] = {
	"5xx", "closed_without_response", "closed_mid_response",
};

void http_client_free(struct http_client_stats *s)
{
	for (unsigned i = 0; i < s->npeers; i++) {
		series_free(&s->peers[i]->dur);
		free(s->peers[i]);
	}
	memset(s, 0, sizeof(*s));
}

/* The peer's entry, created on first sight; past the bound, the shared overflow entry. */
static struct http_peer *find_peer(struct http_client_stats *s, const char *peer)
{
	struct http_peer *p;

	for (unsigned i = 0; i < s->npeers; i++)
		if (!strcmp(s->peers[i]->peer, peer))
			return s->peers[i];
	if (s->npeers == HTTP_CLIENT_MAX_PEERS)
		return s->peers[HTTP_CLIENT_MAX_PEERS - 1];
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	snprintf(p->peer, sizeof(p->peer), "%s",
		 s->npeers == HTTP_CLIENT_MAX_PEERS - 1 ? HTTP_CLIENT_OVERFLOW : peer);
	hist_init(&p->latency);
	s->peers[s->npeers++] = p;
	return p;
}

static void count_method(struct http_peer *p, const char *method)
{
	for (int i = 0; i < HTTP_CLIENT_METHODS; i++) {
		if (!p->methods[i].method[0])
			snprintf(p->methods[i].method, sizeof(p->methods[i].method), "%s", method);
		if (!strcmp(p->methods[i].method, method)) {
			p->methods[i].n++;
			return;
		}
	}
	p->other_methods++;
}

static void count_duration(struct http_peer *p, const struct http_txn *t, int cls)
{
	const char *error = t->aborted == HTTP_ABORT_CUT_SHORT ? reason_names[HCE_CUT_SHORT]
			  : t->aborted ? reason_names[HCE_NO_RESPONSE] : "";
	char key[SERIES_KEY], code[8] = "";
	struct series *s;

	if (cls >= 0 && !t->aborted)
		snprintf(code, sizeof(code), "%d", t->status);
	if (cls == STATUS_5XX && !t->aborted)
		error = code; /* OpenTelemetry: the status code itself */
	snprintf(key, sizeof(key), "%.15s\037%s\037%s", t->method, code, error);
	if ((s = series_get(&p->dur, key)))
		dur_add(&s->h, &http_bounds, t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0);
}

void http_client_add(struct http_client_stats *s, const char *peer, const struct http_txn *t)
{
	struct http_peer *p = find_peer(s, peer);
	int cls = t->status >= 100 && t->status <= 599 ? t->status / 100 - 1 : -1;

	if (!p)
		return;
	if (!p->host[0] && t->host[0])
		snprintf(p->host, sizeof(p->host), "%s", t->host);
	p->requests++;
	count_method(p, t->method);
	count_duration(p, t, cls);
	if (t->aborted) {
		/* No whole response: a failed call, whatever status a cut-short one began with. */
		p->errors[t->aborted == HTTP_ABORT_CUT_SHORT ? HCE_CUT_SHORT : HCE_NO_RESPONSE]++;
		return;
	}
	if (cls < 0) {
		p->no_status++;
	} else {
		p->status[cls]++;
		if (cls == STATUS_5XX)
			p->errors[HCE_5XX]++;
	}
	hist_add(&p->latency, t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0);
}

void http_client_mark_tls(struct http_client_stats *s, const char *peer)
{
	struct http_peer *p = find_peer(s, peer);

	if (p)
		p->tls = true;
}

void http_client_lost(struct http_client_stats *s, const char *peer, uint64_t unread, uint64_t dropped)
{
	struct http_peer *p;

	if (!unread && !dropped)
		return;
	if (!(p = find_peer(s, peer)))
		return;
	p->unread_requests += unread;
	p->dropped_requests += dropped;
}

static uint64_t errors_of(const struct http_peer *p)
{
	uint64_t n = 0;

	for (int i = 0; i < HCE_REASONS; i++)
		n += p->errors[i];
	return n;
}

static void json_peer(const struct http_peer *p, FILE *f)
{
	static const char *const classes[STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	fputs("{\"peer\": ", f);
	json_str(f, p->peer);
	fputs(", \"host\": ", f);
	if (p->host[0])
		json_str(f, p->host);
	else
		fputs("null", f);
	fprintf(f, ", \"tls\": %s, \"requests\": %llu, \"methods\": {", p->tls ? "true" : "false",
		(unsigned long long)p->requests);
	for (int i = 0; i < HTTP_CLIENT_METHODS && p->methods[i].method[0]; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, p->methods[i].method);
		fprintf(f, ": %llu", (unsigned long long)p->methods[i].n);
	}
	if (p->other_methods)
		fprintf(f, "%s\"{other}\": %llu", p->methods[0].method[0] ? ", " : "",
			(unsigned long long)p->other_methods);
	fputs("}, \"status\": {", f);
	for (int i = 0; i < STATUS_CLASSES; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", classes[i], (unsigned long long)p->status[i]);
	fprintf(f, "}, \"errors\": %llu, \"errors_by_reason\": {", (unsigned long long)errors_of(p));
	for (int i = 0; i < HCE_REASONS; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", reason_names[i], (unsigned long long)p->errors[i]);
	fputs("}, \"latency_ms\": ", f);
	json_latency(f, &p->latency);
	fprintf(f, ", \"exact\": %s, \"unread_requests\": %llu, \"dropped_requests\": %llu}",
		p->unread_requests || p->dropped_requests ? "false" : "true",
		(unsigned long long)p->unread_requests, (unsigned long long)p->dropped_requests);
}

void http_client_json(const struct http_client_stats *s, FILE *f)
{
	fputs("[", f);
	for (unsigned i = 0; i < s->npeers; i++) {
		fputs(i ? ", " : "", f);
		json_peer(s->peers[i], f);
	}
	fputs("]", f);
}

void http_client_text(const struct http_client_stats *s, FILE *f)
{
	if (!s->npeers)
		return;
	fprintf(f, "\n  %-10s %-28s %-20s %9s %7s %7s %8s %8s\n", "HTTP OUT", "PEER", "HOST", "REQUESTS", "5XX",
		"ERR", "P50ms", "P99ms");
	for (unsigned i = 0; i < s->npeers; i++) {
		const struct http_peer *p = s->peers[i];
		double n = p->requests ? (double)p->requests : 1;

		fprintf(f, "  %-10s %-28.28s %-20.20s %9llu %6.1f%% %6.1f%% %8.2f %8.2f\n",
			p->unread_requests || p->dropped_requests ? "http ~" : "http", p->peer,
			p->host[0] ? p->host : "-", (unsigned long long)p->requests,
			100.0 * p->errors[HCE_5XX] / n, 100.0 * errors_of(p) / n,
			hist_percentile_ms(&p->latency, 0.5), hist_percentile_ms(&p->latency, 0.99));
	}
}
