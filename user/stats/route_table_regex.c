/* The route matcher's regexes (route_table_int.h): Python's dialect translated for PCRE2,
 * compiled with Python's str semantics, matched under limits, and the literal text an anchored
 * regex's matches must start with, used to pass over routes without calling PCRE2. */
#include "route_table_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
