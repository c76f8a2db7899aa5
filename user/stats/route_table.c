/* The route matcher's core (route_table.h): build and free, the request target as frameworks
 * see it (query stripped, percent-decoded, broken UTF-8 handled their way), and the PCRE2
 * helpers the per-framework files share (route_table_int.h). */
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

/* Python's regex dialect into PCRE2's. Python's \Z is PCRE2's \z (PCRE2's \Z also matches
 * before a final newline), and Python reads "{,n}" as {0,n} where PCRE2 10.42 sees literals. */
static char *py_to_pcre2(const char *py)
{
	size_t n = strlen(py);
	char *out = malloc(2 * n + 1), *o = out;
	bool in_class = false;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = py[i];
		if (c == '\\' && i + 1 < n) {
			*o++ = '\\';
			*o++ = py[i + 1] == 'Z' && !in_class ? 'z' : py[i + 1];
			i++;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
		} else if (c == '[') {
			in_class = true;
			*o++ = c;
			/* A ']' first in a class (after an optional '^') is a literal. */
			if (i + 1 < n && py[i + 1] == '^')
				*o++ = py[++i];
			if (i + 1 < n && py[i + 1] == ']')
				*o++ = py[++i];
			continue;
		} else if (c == '{' && i > 0 && i + 1 < n && py[i + 1] == ',') {
			size_t j = i + 2;
			while (j < n && py[j] >= '0' && py[j] <= '9')
				j++;
			if (j > i + 2 && j < n && py[j] == '}') {
				*o++ = '{';
				*o++ = '0';
				continue;
			}
		}
		*o++ = c;
	}
	*o = '\0';
	return out;
}

pcre2_code *rt_compile_opts(struct route_table *t, const char *py, uint32_t opts, char *err,
			    size_t errlen)
{
	char *src = py_to_pcre2(py);
	int code_err;
	PCRE2_SIZE off;
	uint32_t ncap = 0;
	if (!src) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Python str patterns are Unicode: \d, \w and case folding beyond ASCII. Invalid UTF-8 in
	 * a subject then simply fails to match instead of making PCRE2 refuse it. */
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
					 opts | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
						 PCRE2_ALT_BSUX,
					 &code_err, &off, t->cctx);
	free(src);
	if (!code) {
		char msg[120];
		pcre2_get_error_message(code_err, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(err, errlen, "regex %.200s: %s at %zu", py, msg, (size_t)off);
		return NULL;
	}
	pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter when JIT is unavailable */
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	if (ncap + 1 > t->max_pairs)
		t->max_pairs = ncap + 1;
	return code;
}

long rt_match(struct rt_req *q, const pcre2_code *code, const char *s, size_t n, int want_group,
	      long *gs, long *ge)
{
	int rc = pcre2_match(code, (PCRE2_SPTR)s, n, 0, 0, q->md, q->t->mctx);
	if (rc < 0) /* no match, or the match limit: a hostile path is left unnamed */
		return -1;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(q->md);
	if (want_group > 0) {
		bool set = (uint32_t)want_group < pcre2_get_ovector_count(q->md) &&
			   (rc == 0 || want_group < rc) && ov[2 * want_group] != PCRE2_UNSET;
		*gs = set ? (long)ov[2 * want_group] : -1;
		*ge = set ? (long)ov[2 * want_group + 1] : -1;
	}
	return (long)ov[1];
}

/* Does '|' appear outside any group or class? Then no prefix is common to all matches. */
static bool top_level_alternation(const char *py)
{
	int depth = 0;
	bool in_class = false;
	for (const char *s = py; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (in_class)
			in_class = *s != ']';
		else if (*s == '[')
			in_class = true;
		else if (*s == '(')
			depth++;
		else if (*s == ')')
			depth--;
		else if (*s == '|' && depth <= 0)
			return true;
	}
	return false;
}

/* The literal text at the start of an anchored Python regex, up to the first construct that
 * is not a plain character (escaped punctuation counts as plain); a character followed by a
 * quantifier is not part of it. Stops at non-ASCII, to never cut a UTF-8 character. */
static size_t literal_prefix(const char *py, char *out, size_t cap)
{
	size_t n = 0;
	if (top_level_alternation(py))
		return 0;
	for (const char *s = py; *s && n < cap;) {
		char c = *s;
		if (c == '\\') {
			unsigned char e = (unsigned char)s[1];
			if (!e || e >= 0x80 || (e >= '0' && e <= '9') || (e >= 'a' && e <= 'z') ||
			    (e >= 'A' && e <= 'Z'))
				break; /* \d, \Z, \1, ...: not literal */
			c = (char)e;
			s += 2;
		} else if ((unsigned char)c >= 0x80 || strchr(".^$*+?{}[]|()", c))
			break;
		else
			s++;
		if (*s && strchr("*+?{", *s))
			break;
		out[n++] = c;
	}
	return n;
}

int rt_pat_compile(struct route_table *t, struct rt_pat *p, const char *py, uint32_t opts,
		   char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (!(p->re = rt_compile_opts(t, py, opts, err, errlen)))
		return -1;
	bool anchored = (opts & PCRE2_ANCHORED) || py[0] == '^';
	size_t len = strlen(py);
	char *lit = anchored ? malloc(len + 1) : NULL;
	if (lit) {
		size_t n = literal_prefix(py + (py[0] == '^'), lit, len);
		size_t h = n < 8 ? n : 8;
		p->lit = lit;
		p->h.litn = (uint32_t)n;
		memcpy(&p->h.head, lit, h);
		memset(&p->h.mask, 0xff, h);
		if (n > 8)
			memcpy(&p->h.tail, lit + n - 8, 8);
	}
	return 0;
}

void rt_pat_free(struct rt_pat *p)
{
	pcre2_code_free(p->re);
	free(p->lit);
	memset(p, 0, sizeof(*p));
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
	if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
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
