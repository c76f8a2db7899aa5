/* SQL normalization: one tokenizing pass that replaces literals and placeholders with ?,
 * drops comments and collapses whitespace, then a pass that folds IN (...) and VALUES rows
 * made only of ? into a single (?), so statements that differ only in values group together. */
#include "sql_normalize.h"
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skips a comment starting at in[i]; returns the index after it, or i if none. MySQL also
 * takes # to the end of the line. */
static size_t skip_comment(const char *in, size_t n, size_t i, int flags)
{
	if ((i + 1 < n && in[i] == '-' && in[i + 1] == '-') || (i < n && in[i] == '#' && (flags & SQLN_MYSQL))) {
		while (i < n && in[i] != '\n')
			i++;
		return i;
	}
	if (i + 1 < n && in[i] == '/' && in[i + 1] == '*') {
		int depth = 0; /* PostgreSQL nests block comments */
		while (i < n) {
			if (i + 1 < n && in[i] == '/' && in[i + 1] == '*') {
				depth++;
				i += 2;
			} else if (i + 1 < n && in[i] == '*' && in[i + 1] == '/') {
				i += 2;
				if (--depth == 0)
					break;
			} else {
				i++;
			}
		}
		return i;
	}
	return i;
}

/* Skips a quoted run opened by in[i]; doubled quotes stay inside, and so do backslash escapes
 * where the dialect has them (MySQL, PostgreSQL E''): elsewhere a backslash is an ordinary
 * character ('C:\dir\' ends at its last quote). Returns the index after the closing quote. */
static size_t skip_quoted(const char *in, size_t n, size_t i, bool backslash)
{
	char q = in[i++];
	while (i < n) {
		if (backslash && in[i] == '\\') {
			i += 2;
			continue;
		}
		if (in[i] == q) {
			if (i + 1 < n && in[i + 1] == q) {
				i += 2;
				continue;
			}
			return i + 1;
		}
		i++;
	}
	return n;
}

/* $tag$ ... $tag$ (PostgreSQL). Returns the index after it, or i if in[i] does not open one. */
static size_t skip_dollar_quote(const char *in, size_t n, size_t i)
{
	size_t j = i + 1;
	while (j < n && (isalnum((unsigned char)in[j]) || in[j] == '_'))
		j++;
	if (j >= n || in[j] != '$' || (j > i + 1 && isdigit((unsigned char)in[i + 1])))
		return i;
	size_t tag = j + 1 - i;
	for (size_t k = j + 1; k + tag <= n; k++)
		if (in[k] == '$' && !memcmp(in + k, in + i, tag))
			return k + tag;
	return n;
}

static size_t skip_number(const char *in, size_t n, size_t i)
{
	if (i + 1 < n && in[i] == '0' && (in[i + 1] == 'x' || in[i + 1] == 'X')) {
		i += 2;
		while (i < n && isxdigit((unsigned char)in[i]))
			i++;
		return i;
	}
	while (i < n && isdigit((unsigned char)in[i]))
		i++;
	if (i < n && in[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)in[i]))
			i++;
	}
	if (i + 1 < n && (in[i] == 'e' || in[i] == 'E') &&
	    (isdigit((unsigned char)in[i + 1]) ||
	     (i + 2 < n && (in[i + 1] == '+' || in[i + 1] == '-') && isdigit((unsigned char)in[i + 2])))) {
		i += 2;
		while (i < n && isdigit((unsigned char)in[i]))
			i++;
	}
	return i;
}

/* A word just written right before a quote that is a literal prefix: E'', N'', X'', B'',
 * U&'' or a MySQL charset introducer _utf8mb4''. Returns its length, 0 if none. */
static size_t literal_prefix(const char *o, size_t olen, size_t word_at)
{
	if (word_at > olen)
		return 0;
	size_t wl = olen - word_at;
	const char *w = o + word_at;
	if (wl == 1 && strchr("EeNnXxBb", w[0]))
		return 1;
	if (wl == 2 && (w[0] == 'U' || w[0] == 'u') && w[1] == '&')
		return 2;
	if (wl > 1 && w[0] == '_')
		return wl;
	return 0;
}

static size_t tokenize(const char *in, size_t n, char *o, int flags)
{
	size_t i = 0, len = 0, word_at = (size_t)-1;
	bool space = false;
	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		if (isspace(c)) {
			space = true;
			i++;
			continue;
		}
		size_t j = skip_comment(in, n, i, flags);
		if (j != i) {
			space = true;
			i = j;
			continue;
		}
		if (space && len)
			o[len++] = ' ';
		bool adjacent = !space;
		space = false;
		size_t prev_word = word_at;
		word_at = (size_t)-1;
		bool str = c == '\'' || (c == '"' && (flags & SQLN_MYSQL));
		if (str) {
			bool escapes = flags & SQLN_MYSQL;

			if (adjacent && prev_word != (size_t)-1) {
				size_t p = literal_prefix(o, len, prev_word);

				escapes |= p == 1 && (o[len - 1] == 'E' || o[len - 1] == 'e');
				len -= p;
			}
			i = skip_quoted(in, n, i, escapes);
			o[len++] = '?';
		} else if (c == '"' || c == '`') {
			j = skip_quoted(in, n, i, false);
			memcpy(o + len, in + i, j - i);
			len += j - i;
			i = j;
		} else if (c == '$' && i + 1 < n && isdigit((unsigned char)in[i + 1])) {
			i = skip_number(in, n, i + 1);
			o[len++] = '?';
		} else if (c == '$' && (j = skip_dollar_quote(in, n, i)) != i) {
			i = j;
			o[len++] = '?';
		} else if (c == '%' && i + 1 < n && strchr("sdb", in[i + 1])) {
			i += 2;
			o[len++] = '?';
		} else if (c == '%' && i + 1 < n && in[i + 1] == '(' &&
			   (j = (size_t)((const char *)memchr(in + i, ')', n - i) ?
					 (const char *)memchr(in + i, ')', n - i) - in : 0)) &&
			   j + 1 < n && in[j + 1] == 's') {
			i = j + 2; /* %(name)s, pyformat */
			o[len++] = '?';
		} else if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)in[i + 1]))) {
			i = skip_number(in, n, i);
			o[len++] = '?';
		} else if (ident_start(c)) {
			word_at = len;
			while (i < n && ident_char((unsigned char)in[i]))
				o[len++] = in[i++];
			/* keep U& attached so U&'..' is seen as one literal */
			if (i + 1 < n && in[i] == '&' && in[i + 1] == '\'' && len - word_at == 1)
				o[len++] = in[i++];
		} else {
			o[len++] = (char)c;
			i++;
		}
	}
	o[len] = 0;
	return len;
}

static bool word_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

/* A parenthesized group starting at s[j] == '(' holding only ?, NULL, TRUE, FALSE, DEFAULT,
 * commas and spaces. Returns the index after ')', len if unterminated, 0 if not such a group. */
static size_t plain_group(const char *s, size_t len, size_t j)
{
	for (size_t k = j + 1; k < len;) {
		char c = s[k];
		if (c == ')')
			return k + 1;
		if (c == '?' || c == ',' || c == ' ') {
			k++;
			continue;
		}
		size_t w = k;
		while (w < len && isalpha((unsigned char)s[w]))
			w++;
		if (w == k || !(word_eq(s + k, w - k, "NULL") || word_eq(s + k, w - k, "TRUE") ||
				word_eq(s + k, w - k, "FALSE") || word_eq(s + k, w - k, "DEFAULT")))
			return 0;
		k = w;
	}
	return len;
}

/* Replaces s[from, to) with "(?)"; returns the new length. Never lengthens the text (its
 * buffer is sized for the input): a group shorter than "(?)" ("(", "()", "(?") stays. */
static size_t fold(char *s, size_t len, size_t from, size_t to)
{
	if (to - from < 3)
		return len;
	memmove(s + from + 3, s + to, len - to + 1);
	memcpy(s + from, "(?)", 3);
	return len - (to - from) + 3;
}

static size_t collapse_lists(char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (s[i] == '"' || s[i] == '`') {
			char q = s[i++];
			while (i < len && s[i] != q)
				i++;
			i++;
			continue;
		}
		if (!ident_start((unsigned char)s[i])) {
			i++;
			continue;
		}
		size_t w = i;
		while (w < len && ident_char((unsigned char)s[w]))
			w++;
		bool is_in = word_eq(s + i, w - i, "IN"), is_values = word_eq(s + i, w - i, "VALUES");
		i = w;
		if (!is_in && !is_values)
			continue;
		size_t j = w < len && s[w] == ' ' ? w + 1 : w;
		if (j >= len || s[j] != '(')
			continue;
		size_t end = plain_group(s, len, j);
		if (!end)
			continue;
		/* VALUES (..), (..), ...: every row must be plain for the fold */
		while (is_values && end < len) {
			size_t k = end;
			if (k < len && s[k] == ' ')
				k++;
			if (k >= len || s[k] != ',')
				break;
			k++;
			if (k < len && s[k] == ' ')
				k++;
			size_t e2 = k < len && s[k] == '(' ? plain_group(s, len, k) : 0;
			if (!e2)
				break;
			end = e2;
		}
		len = fold(s, len, j, end);
		i = j + 3;
	}
	return len;
}

size_t sql_normalize_ex(const char *in, size_t n, char *out, size_t outlen, int flags)
{
	if (!outlen)
		return 0;
	out[0] = 0;
	if (!in || !n)
		return 0;
	/* each token shrinks or keeps its size, plus at most one space per token */
	char *tmp = malloc(n + 2);
	if (!tmp)
		return 0;
	size_t len = tokenize(in, n, tmp, flags);
	len = collapse_lists(tmp, len);
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, tmp, len);
	out[len] = 0;
	free(tmp);
	return len;
}

size_t sql_normalize(const char *in, size_t n, char *out, size_t outlen)
{
	return sql_normalize_ex(in, n, out, outlen, 0);
}

void sql_operation(const char *sql, size_t n, char *out, size_t outlen)
{
	size_t i = 0, k = 0;
	if (!outlen)
		return;
	while (i < n) {
		size_t j = skip_comment(sql, n, i, SQLN_MYSQL);
		if (j != i) {
			i = j;
			continue;
		}
		if (isspace((unsigned char)sql[i]) || sql[i] == '(' || sql[i] == ';') {
			i++;
			continue;
		}
		break;
	}
	while (i < n && isalpha((unsigned char)sql[i]) && k + 1 < outlen)
		out[k++] = (char)toupper((unsigned char)sql[i++]);
	out[k] = 0;
}
