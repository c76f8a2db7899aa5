/* Flask rule strings into Werkzeug 2.2's parts (rules.py Rule._parse_rule): split at '/', a
 * part is static text or a regex (re.escape'd static text + "(converter regex)" + \Z), and
 * after a converter that may span '/' (path) the rest of the rule is one "final" part. Each
 * part carries Werkzeug's Weighting, which orders the dynamic children of a state. */
#include "route_table_int.h"
#include <stdlib.h>
#include <string.h>

int wz_weight_cmp(const struct wz_weight *a, const struct wz_weight *b)
{
	/* (-n_static): more static pieces first; then longer pieces first; more arguments
	 * first; then lighter converters first (int 50 < default 100 < path 200). */
	if (a->nstatic != b->nstatic)
		return b->nstatic - a->nstatic;
	for (int i = 0; i < a->nstatic; i++)
		if (a->slen[i] != b->slen[i])
			return b->slen[i] - a->slen[i];
	if (a->nargs != b->nargs)
		return b->nargs - a->nargs;
	for (int i = 0; i < a->nargs; i++)
		if (a->aw[i] != b->aw[i])
			return a->aw[i] - b->aw[i];
	return 0;
}

/* Appends s[0..n) to a growing string, regex-escaped when esc (re.escape's role). */
static bool sb_add(char **buf, size_t *len, const char *s, size_t n, bool esc)
{
	char *b = realloc(*buf, *len + 2 * n + 1);
	if (!b)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (esc && c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '_')
			b[(*len)++] = '\\';
		b[(*len)++] = (char)c;
	}
	b[*len] = '\0';
	*buf = b;
	return true;
}

static size_t ident(const char *s, size_t i)
{
	size_t j = i;
	if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_'))
		return i;
	while ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_' ||
	       (s[j] >= '0' && s[j] <= '9'))
		j++;
	return j;
}

/* The end of a "<conv(args):var>" or "<var>" at s[i] == '<' (Werkzeug's _part_re), or 0. */
static size_t var_end(const char *s, size_t i)
{
	size_t a = ident(s, i + 1), e;
	if (a > i + 1 && s[a] == '(') {
		for (size_t r = a + 1; s[r] && s[r] != '\n'; r++)
			if (s[r] == ')' && s[r + 1] == ':' && (e = ident(s, r + 2)) > r + 2 && s[e] == '>')
				return e + 1;
	}
	if (a > i + 1 && s[a] == ':' && (e = ident(s, a + 1)) > a + 1 && s[e] == '>')
		return e + 1;
	if (a > i + 1 && s[a] == '>')
		return a + 1;
	return 0;
}

void wz_parts_free(struct wz_part *p, int n)
{
	for (int i = 0; i < n; i++)
		free(p[i].content);
}

/* _parse_rule: the parts of one rule (after the domain part), or -1 when the rule or its
 * converters do not fit what Werkzeug would have accepted. */
int wz_parse_rule(const struct app_route *rt, struct wz_part *parts, int max)
{
	char rule[APP_NAME_MAX + 1];
	size_t rn = 0;
	/* Werkzeug merges slashes in the rule first: re.sub("/{2,}?", "/"). */
	for (size_t i = 0; i < sizeof(rt->name) && rt->name[i]; i++) {
		rule[rn++] = rt->name[i];
		if (rt->name[i] == '/' && i + 1 < sizeof(rt->name) && rt->name[i + 1] == '/')
			i++;
	}
	rule[rn] = '\0';
	int np = 0, var = 0;
	struct wz_part cur = { .stat = true };
	size_t clen = 0, pos = 0;
	char *raw = NULL; /* static text so far, kept raw while the part is static */
	while (pos < rn) {
		if (rule[pos] == '/') {
			if (cur.final) {
				if (!sb_add(&cur.content, &clen, "/", 1, true))
					goto fail;
			} else {
				if (!cur.stat && !sb_add(&cur.content, &clen, "\\Z", 2, false))
					goto fail;
				if (np == max || (!cur.content && !sb_add(&cur.content, &clen, "", 0, 0)))
					goto fail;
				parts[np++] = cur;
				memset(&cur, 0, sizeof(cur));
				cur.stat = true;
				clen = 0;
			}
			pos++;
		} else if (rule[pos] == '<') {
			size_t e = var_end(rule, pos);
			if (!e || var >= rt->nvars || rt->vars[var].regex[0] == '\0')
				goto fail;
			const struct app_var *v = &rt->vars[var++];
			if (cur.stat && cur.content) { /* switching to a regex: escape what was static */
				raw = cur.content;
				cur.content = NULL;
				size_t rl = clen;
				clen = 0;
				if (!sb_add(&cur.content, &clen, raw, rl, true))
					goto fail;
				free(raw);
				raw = NULL;
			}
			cur.stat = false;
			if (!v->part_isolating)
				cur.final = true;
			if (!sb_add(&cur.content, &clen, "(", 1, false) ||
			    !sb_add(&cur.content, &clen, v->regex, strnlen(v->regex, APP_REGEX_MAX), false) ||
			    !sb_add(&cur.content, &clen, ")", 1, false) || cur.w.nargs == APP_VARS_MAX)
				goto fail;
			cur.w.aw[cur.w.nargs++] = v->weight;
			pos = e;
		} else {
			size_t e = pos;
			while (e < rn && rule[e] != '/' && rule[e] != '<')
				e++;
			if (cur.w.nstatic == WZ_STATIC_MAX ||
			    !sb_add(&cur.content, &clen, rule + pos, e - pos, !cur.stat))
				goto fail;
			cur.w.slen[cur.w.nstatic++] = -(int)(e - pos);
			pos = e;
		}
	}
	if (!cur.stat && !sb_add(&cur.content, &clen, "\\Z", 2, false))
		goto fail;
	if (np == max || (!cur.content && !sb_add(&cur.content, &clen, "", 0, 0)))
		goto fail;
	parts[np++] = cur;
	/* Werkzeug stores -len; the comparison wants "longer first", so flip to lengths. */
	for (int i = 0; i < np; i++)
		for (int k = 0; k < parts[i].w.nstatic; k++)
			parts[i].w.slen[k] = -parts[i].w.slen[k];
	return np;
fail:
	free(raw);
	free(cur.content);
	wz_parts_free(parts, np);
	return -1;
}
