/* The route matcher's core (route_table.h): build and free, and the request target as the
 * frameworks see it (query stripped, percent-decoded, broken UTF-8 handled their way) handed
 * to the framework's matcher. Regex helpers: route_table_regex.c. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
	{ "GET", APP_M_GET }, { "HEAD", APP_M_HEAD }, { "POST", APP_M_POST }, { "PUT", APP_M_PUT },
	{ "DELETE", APP_M_DELETE }, { "PATCH", APP_M_PATCH }, { "OPTIONS", APP_M_OPTIONS },
};

unsigned rt_method_bit(const char *method, bool fold_case)
{
	if (!method)
		return APP_M_OTHER;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (fold_case ? !strcasecmp(method, methods[i].name) : !strcmp(method, methods[i].name))
			return methods[i].bit;
	return APP_M_OTHER;
}

unsigned app_method_bit(const char *method)
{
	return rt_method_bit(method, false);
}

char *rt_scratch(struct rt_req *q, size_t n)
{
	if (n > q->cap - q->used)
		return NULL;
	char *p = q->buf + q->used;
	q->used += n;
	return p;
}

void rt_reject(struct route_table *t, int i)
{
	if (i < 0 || i >= t->nnames || !t->names[i])
		return;
	free(t->names[i]);
	t->names[i] = NULL;
	t->rejected++;
	t->templates--;
}

struct route_table *route_table_build(const struct app_routes *r, char *err, size_t errlen)
{
	if (!r || r->nroutes <= 0 || !r->routes) {
		snprintf(err, errlen, "no routes in the table");
		return NULL;
	}
	struct route_table *t = calloc(1, sizeof(*t));
	if (!t)
		goto oom;
	t->fw = r->framework;
	t->max_pairs = 1;
	t->nnames = r->nroutes;
	t->names = calloc(r->nroutes, sizeof(*t->names));
	t->cctx = pcre2_compile_context_create(NULL);
	t->mctx = pcre2_match_context_create(NULL);
	if (!t->names || !t->cctx || !t->mctx)
		goto oom;
	pcre2_set_newline(t->cctx, PCRE2_NEWLINE_LF); /* Python's '.' and '$' know only \n */
	pcre2_set_match_limit(t->mctx, RT_MATCH_LIMIT);
	pcre2_set_depth_limit(t->mctx, RT_MATCH_LIMIT);
	pcre2_set_heap_limit(t->mctx, 1024); /* KiB of backtracking frames, without JIT */
	for (int i = 0; i < r->nroutes; i++) {
		if (r->routes[i].mount_end)
			continue;
		t->names[i] = strndup(r->routes[i].name, sizeof(r->routes[i].name));
		if (!t->names[i])
			goto oom;
		t->templates++;
	}
	int rc;
	if (errlen)
		err[0] = '\0';
	switch (r->framework) {
	case APP_FLASK: rc = rt_flask_build(t, r, err, errlen); break;
	case APP_DJANGO: rc = rt_django_build(t, r, err, errlen); break;
	case APP_STARLETTE: rc = rt_star_build(t, r, err, errlen); break;
	default:
		snprintf(err, errlen, "no framework table (%d)", (int)r->framework);
		rc = -1;
	}
	if (rc == 0 && t->templates <= 0) {
		char why[200];
		snprintf(why, sizeof(why), "%s", err); /* the last route's reason */
		snprintf(err, errlen, "none of the %d routes could be kept (last: %s)", r->nroutes, why);
		rc = -1;
	}
	if (rc < 0) {
		route_table_free(t);
		return NULL;
	}
	return t;
oom:
	snprintf(err, errlen, "out of memory building the route table");
	route_table_free(t);
	return NULL;
}

void route_table_free(struct route_table *t)
{
	if (!t)
		return;
	rt_flask_free(t->flask);
	rt_django_free(t->django);
	rt_star_free(t->star);
	for (int i = 0; t->names && i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	pcre2_compile_context_free(t->cctx);
	pcre2_match_context_free(t->mctx);
	free(t);
}

int route_table_templates(const struct route_table *t)
{
	return t ? t->templates : 0;
}

int route_table_rejected(const struct route_table *t)
{
	return t ? t->rejected : 0;
}

enum app_framework route_table_framework(const struct route_table *t)
{
	return t ? t->fw : APP_NONE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the valid UTF-8 sequence at s[0..n), or minus the length of its maximal invalid
 * subpart (what Python's decoder replaces with one U+FFFD). */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int need;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else
		return -1;
	for (int k = 1; k <= need; k++) {
		if ((size_t)k >= n || s[k] < lo || s[k] > hi)
			return -k;
		lo = 0x80, hi = 0xBF;
	}
	return need + 1;
}

/* The path the framework matches: up to '?' or '#', %XX decoded (%2F too, as WSGI and ASGI
 * servers do), then bytes that are not UTF-8 become U+FFFD (Werkzeug, Starlette: decode with
 * "replace") or are percent-encoded again (Django's repercent_broken_unicode). */
static size_t decode_path(const char *p, size_t n, char *out, bool repercent)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (p[i] == '%' && i + 2 < n && (h = hexval(p[i + 1])) >= 0 &&
		    (l = hexval(p[i + 2])) >= 0) {
			out[m++] = (char)(h << 4 | l);
			i += 2;
		} else
			out[m++] = p[i];
	}
	/* Rare: fix the tail up in a copy past the end, then move it back. */
	size_t head = 0;
	while (head < m && (unsigned char)out[head] < 0x80)
		head++;
	if (head == m)
		return m;
	size_t i = head;
	char *tmp = out + m; /* the caller sized out for 4 * n */
	size_t k = 0;
	static const char hex[] = "0123456789ABCDEF";
	while (i < m) {
		int len = utf8_seq((const unsigned char *)out + i, m - i);
		if (len > 0) {
			memcpy(tmp + k, out + i, len);
			k += len, i += len;
			continue;
		}
		if (repercent) {
			for (int b = 0; b < -len; b++) {
				unsigned char c = (unsigned char)out[i + b];
				tmp[k++] = '%', tmp[k++] = hex[c >> 4], tmp[k++] = hex[c & 15];
			}
		} else {
			memcpy(tmp + k, "\xEF\xBF\xBD", 3);
			k += 3;
		}
		i += -len;
	}
	memmove(out + head, tmp, k);
	return head + k;
}

/* One match data per thread, grown to the largest table's need: names are asked from the
 * agent's loop, but nothing stops two threads from sharing a table. */
static __thread pcre2_match_data *tls_md;
static __thread unsigned tls_pairs;

static pcre2_match_data *match_data(unsigned pairs)
{
	if (tls_md && tls_pairs >= pairs)
		return tls_md;
	pcre2_match_data_free(tls_md);
	tls_md = pcre2_match_data_create(pairs, NULL);
	tls_pairs = tls_md ? pairs : 0;
	return tls_md;
}

const char *route_table_name(const struct route_table *t, const char *method, const char *target)
{
	if (!t || !target || !*target)
		return ROUTE_UNMATCHED;
	const char *p = target;
	/* An absolute-form target ("http://host/path"): servers match its path. */
	if ((*p | 0x20) == 'h' && (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8))) {
		p = strchr(strstr(p, "//") + 2, '/');
		if (!p)
			p = "/";
	}
	if (*p != '/')
		return ROUTE_UNMATCHED; /* "*", garbage: no framework routes it */
	size_t n = strcspn(p, "?#");
	if (n > RT_TARGET_MAX)
		return ROUTE_UNMATCHED;

	/* Decoded path (4n: decoding, then the UTF-8 fix-up's copy, each byte at most 3) plus
	 * room for the few derived paths a framework tries (slash added, slashes merged). */
	char stack[8192];
	struct rt_req q = { .t = t, .cap = 12 * n + 64 };
	q.buf = q.cap <= sizeof(stack) ? stack : malloc(q.cap);
	q.md = match_data(t->max_pairs);
	if (!q.buf || !q.md) {
		if (q.buf != stack)
			free(q.buf);
		return ROUTE_UNMATCHED;
	}
	size_t m = decode_path(p, n, q.buf, t->fw == APP_DJANGO);
	q.used = m;
	int idx = -1;
	switch (t->fw) {
	case APP_FLASK:
		q.mbit = rt_method_bit(method, true);
		idx = rt_flask_name(&q, q.buf, m);
		break;
	case APP_DJANGO:
		idx = rt_django_name(&q, q.buf, m);
		break;
	case APP_STARLETTE:
		q.mbit = rt_method_bit(method, false);
		idx = rt_star_name(&q, q.buf, m);
		break;
	default:
		break;
	}
	if (q.buf != stack)
		free(q.buf);
	return idx >= 0 && idx < t->nnames && t->names[idx] ? t->names[idx] : ROUTE_UNMATCHED;
}
