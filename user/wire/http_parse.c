/* Pure HTTP/1.x byte-level parsing: start-of-message guesses, request/status lines, header
 * blocks and chunked framing. Every function checks bounds against n and keeps no state
 * beyond what the caller passes in. */
#include "http_parse.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Registered methods are case-sensitive and upper-case; lower-case "get" is memcached. */
static const char *const known_methods[] = {
	"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
	"PURGE", NULL,
};

static int is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int is_known_method(const uint8_t *p, size_t n)
{
	for (int i = 0; known_methods[i]; i++)
		if (strlen(known_methods[i]) == n && !memcmp(known_methods[i], p, n))
			return 1;
	return 0;
}

/* 1 if p..n is a prefix of s (lower case; letters match either case); 2 if it also covers
 * all of s. Only letters are folded: 0x1a | 0x20 is ':', 0x0f | 0x20 is '/'. */
static int prefix_of(const uint8_t *p, size_t n, const char *s)
{
	size_t sl = strlen(s), m = n < sl ? n : sl;
	for (size_t i = 0; i < m; i++) {
		uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i];
		if (c != (uint8_t)s[i])
			return 0;
	}
	return n >= sl ? 2 : 1;
}

static size_t line_len(const uint8_t *p, size_t n, size_t *next)
{
	const uint8_t *nl = memchr(p, '\n', n);
	if (!nl)
		return (size_t)-1;
	size_t l = nl - p;
	*next = l + 1;
	if (l && p[l - 1] == '\r')
		l--;
	return l;
}

enum http_guess http_guess_request(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && i < 16 && is_tchar(p[i]))
		i++;
	if (i == n)
		return i <= 15 ? HTTP_MAYBE : HTTP_NO;
	if (i == 0 || i > 15 || p[i] != ' ')
		return HTTP_NO;
	int known = is_known_method(p, i);
	size_t t = i + 1;
	if (t == n)
		return HTTP_MAYBE;
	uint8_t c = p[t];
	if (c != '/' && !(known && c == '*')) {
		if (!known)
			return HTTP_NO;
		if (i == 7 && !memcmp(p, "CONNECT", 7)) {
			if (!is_tchar(c))
				return HTTP_NO;
		} else {
			int a = prefix_of(p + t, n - t, "http://"), b = prefix_of(p + t, n - t, "https://");
			if (!a && !b)
				return HTTP_NO;
			if (a != 2 && b != 2)
				return HTTP_MAYBE;
		}
	}
	/* With the whole line at hand, insist on a well-formed request line. */
	size_t next, l = line_len(p, n, &next);
	if (l == (size_t)-1)
		return HTTP_YES;
	struct http_head h;
	return http_parse_first_line(p, l, 1, &h) == HTTP_HEAD_OK ? HTTP_YES : HTTP_NO;
}

/* Any HTTP-version (RFC 9112: "HTTP/" DIGIT "." DIGIT), not only 1.x: uWSGI writes back the
 * SERVER_PROTOCOL nginx passed it, "HTTP/2.0" when the client spoke HTTP/2 to nginx. */
enum http_guess http_guess_response(const uint8_t *p, size_t n)
{
	static const char pre[] = "HTTP/";
	for (size_t i = 0; i < 12; i++) {
		if (i == n)
			return HTTP_MAYBE;
		uint8_t c = p[i];
		int ok;
		if (i < 5)
			ok = c == (uint8_t)pre[i];
		else if (i == 6)
			ok = c == '.';
		else if (i == 5 || i == 7)
			ok = is_digit(c);
		else if (i == 8)
			ok = c == ' ';
		else if (i == 9)
			ok = c >= '1' && c <= '5';
		else
			ok = is_digit(c);
		if (!ok)
			return HTTP_NO;
	}
	if (n == 12 || p[12] == ' ' || p[12] == '\r' || p[12] == '\n')
		return HTTP_YES;
	return HTTP_NO;
}

/* Path of a request target: no query or fragment; absolute-form loses scheme and authority. */
void http_target_path(const uint8_t *t, size_t n, char *out, size_t outlen)
{
	int http = prefix_of(t, n, "http://") == 2;
	if (http || prefix_of(t, n, "https://") == 2) {
		const uint8_t *s = t + (http ? 7 : 8);
		size_t rest = n - (s - t);
		const uint8_t *slash = memchr(s, '/', rest);
		if (!slash) {
			snprintf(out, outlen, "/");
			return;
		}
		n -= slash - t;
		t = slash;
	}
	size_t k = 0;
	while (k < n && t[k] != '?' && t[k] != '#')
		k++;
	if (k >= outlen)
		k = outlen - 1;
	memcpy(out, t, k);
	out[k] = 0;
	if (!k)
		snprintf(out, outlen, "/");
}

/* "HTTP/1.x" at p; returns the minor version or -1. */
static int parse_version(const uint8_t *p, size_t n)
{
	if (n != 8 || memcmp(p, "HTTP/1.", 7) || !is_digit(p[7]))
		return -1;
	return p[7] - '0';
}

int http_parse_first_line(const uint8_t *p, size_t n, int request, struct http_head *out)
{
	memset(out, 0, sizeof(*out));
	if (!request) {
		if (n < 12 || http_guess_response(p, n) != HTTP_YES)
			return HTTP_HEAD_BAD_LINE;
		out->minor = p[7] - '0';
		out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		for (size_t i = 12; i < n; i++)
			if (p[i] < 0x20 && p[i] != '\t')
				return HTTP_HEAD_BAD_LINE;
		return HTTP_HEAD_OK;
	}
	size_t m = 0;
	while (m < n && is_tchar(p[m]))
		m++;
	if (m == 0 || m > 15 || m == n || p[m] != ' ')
		return HTTP_HEAD_BAD_LINE;
	size_t t = m + 1, e = t;
	while (e < n && p[e] > 0x20 && p[e] != 0x7f)
		e++;
	if (e == t || e == n || p[e] != ' ')
		return HTTP_HEAD_BAD_LINE;
	out->minor = parse_version(p + e + 1, n - e - 1);
	if (out->minor < 0)
		return HTTP_HEAD_BAD_LINE;
	memcpy(out->method, p, m);
	out->method[m] = 0;
	http_target_path(p + t, e - t, out->path, sizeof(out->path));
	return HTTP_HEAD_OK;
}

static int name_is(const uint8_t *p, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp((const char *)p, name, n);
}

static void trim(const uint8_t **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t'))
		(*p)++, (*n)--;
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Content-Length: a list of identical decimal values (RFC 9110 8.6). */
static int parse_length(const uint8_t *p, size_t n, uint64_t *out)
{
	int have = 0;
	uint64_t v0 = 0;
	while (1) {
		const uint8_t *comma = memchr(p, ',', n);
		size_t el = comma ? (size_t)(comma - p) : n;
		const uint8_t *e = p;
		trim(&e, &el);
		if (el == 0 || el > 18)  /* 18 digits cannot overflow */
			return -1;
		uint64_t v = 0;
		for (size_t i = 0; i < el; i++) {
			if (!is_digit(e[i]))
				return -1;
			v = v * 10 + (e[i] - '0');
		}
		if (have && v != v0)
			return -1;
		v0 = v, have = 1;
		if (!comma)
			break;
		n -= comma + 1 - p;
		p = comma + 1;
	}
	*out = v0;
	return 0;
}

/* Last element of a comma list, trimmed. */
static void last_element(const uint8_t **p, size_t *n)
{
	for (size_t i = *n; i > 0; i--) {
		if ((*p)[i - 1] == ',') {
			*n -= i, *p += i;
			break;
		}
	}
	trim(p, n);
}

static int has_token(const uint8_t *p, size_t n, const char *tok)
{
	while (n) {
		const uint8_t *comma = memchr(p, ',', n);
		size_t el = comma ? (size_t)(comma - p) : n;
		const uint8_t *e = p;
		size_t l = el;
		trim(&e, &l);
		if (name_is(e, l, tok))
			return 1;
		if (!comma)
			break;
		n -= el + 1, p = comma + 1;
	}
	return 0;
}

/* A Host value for output: it goes into JSON and a terminal, so only printable non-space
 * bytes are kept (a host name or address and port has no others); truncated to fit. */
static void copy_host(const uint8_t *v, size_t n, char *out, size_t outlen)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < outlen; i++)
		if (v[i] > 0x20 && v[i] < 0x7f)
			out[k++] = (char)v[i];
	out[k] = 0;
}

int http_parse_head(const uint8_t *p, size_t n, int request, struct http_head *out)
{
	size_t next, l = line_len(p, n, &next);
	if (l == (size_t)-1)
		return HTTP_HEAD_BAD_LINE;
	int rc = http_parse_first_line(p, l, request, out);
	if (rc)
		return rc;
	int have_cl = 0, te = 0, te_chunked = 0;
	uint64_t cl = 0;
	size_t off = next;
	while (1) {
		l = line_len(p + off, n - off, &next);
		if (l == (size_t)-1)
			return HTTP_HEAD_BAD_FIELD; /* no blank line */
		const uint8_t *s = p + off;
		off += next;
		if (l == 0)
			break;
		if (s[0] == ' ' || s[0] == '\t')
			continue; /* obsolete line folding: nothing we need lives there */
		size_t k = 0;
		while (k < l && is_tchar(s[k]))
			k++;
		if (k == 0 || k == l || s[k] != ':')
			return HTTP_HEAD_BAD_FIELD;
		const uint8_t *v = s + k + 1;
		size_t vl = l - k - 1;
		trim(&v, &vl);
		if (name_is(s, k, "content-length")) {
			uint64_t x;
			if (parse_length(v, vl, &x) || (have_cl && x != cl))
				return HTTP_HEAD_BAD_FIELD;
			cl = x, have_cl = 1;
		} else if (name_is(s, k, "transfer-encoding")) {
			last_element(&v, &vl);
			te = 1;
			te_chunked = name_is(v, vl, "chunked");
		} else if (name_is(s, k, "connection")) {
			out->conn_close |= has_token(v, vl, "close");
		} else if (request && name_is(s, k, "host") && !out->host[0]) {
			copy_host(v, vl, out->host, sizeof(out->host));
		}
	}
	out->content_length = cl;
	if (te && te_chunked)
		out->body = HTTP_BODY_CHUNKED;
	else if (te && request)
		return HTTP_HEAD_BAD_FIELD; /* a request body we cannot frame (RFC 9112 6.3) */
	else if (te)
		out->body = HTTP_BODY_CLOSE;
	else if (have_cl)
		out->body = HTTP_BODY_LENGTH;
	else
		out->body = request ? HTTP_BODY_NONE : HTTP_BODY_CLOSE;
	return HTTP_HEAD_OK;
}

/* Chunked coding states. */
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER };
#define CH_LINE_MAX 4096

void http_chunk_init(struct http_chunker *c)
{
	memset(c, 0, sizeof(*c));
}

static int hexval(uint8_t b)
{
	if (is_digit(b))
		return b - '0';
	b |= 0x20;
	return b >= 'a' && b <= 'f' ? b - 'a' + 10 : -1;
}

int http_chunk_feed(struct http_chunker *c, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;
	int rc = HTTP_CHUNK_MORE;
	while (i < n && rc == HTTP_CHUNK_MORE) {
		uint8_t b = p[i];
		switch (c->st) {
		case CH_SIZE:
		case CH_EXT:
			if (c->st == CH_SIZE && hexval(b) >= 0) {
				if (++c->ndigits > 15)  /* > 2^60: nobody sends that */
					rc = HTTP_CHUNK_BAD;
				c->left = c->left * 16 + hexval(b);
			} else if (b == '\n') {
				if (!c->ndigits) {
					rc = HTTP_CHUNK_BAD;
					break;
				}
				c->st = c->left ? CH_DATA : CH_TRAILER;
				c->line = 0;
			} else if (!c->ndigits || (c->st == CH_SIZE && !strchr(";\r \t", b))) {
				rc = HTTP_CHUNK_BAD;
			} else {
				c->st = CH_EXT; /* chunk extension: skipped, but bounded */
				if (++c->line > CH_LINE_MAX)
					rc = HTTP_CHUNK_BAD;
			}
			i++;
			break;
		case CH_DATA: {
			size_t k = n - i < c->left ? n - i : (size_t)c->left;
			c->left -= k;
			i += k;
			if (!c->left) {
				c->st = CH_DATA_END;
				c->line = 0;
			}
			break;
		}
		case CH_DATA_END:
			if (b == '\n') {
				c->st = CH_SIZE;
				c->ndigits = 0;
			} else if (b != '\r') {
				rc = HTTP_CHUNK_BAD;
			}
			c->line++;
			i++;
			break;
		case CH_TRAILER:
			if (b == '\n') {
				if (!c->line)
					rc = HTTP_CHUNK_DONE;
				c->line = 0;
			} else if (b != '\r' && ++c->line > CH_LINE_MAX) {
				rc = HTTP_CHUNK_BAD;
			}
			i++;
			break;
		}
	}
	*used = i;
	return rc;
}

/* A chunk's data and the CRLF that ends it: past the capture, the CRLF is taken as sent (a bare
 * LF would misplace the next size line by one byte, which then fails to parse: counted, never
 * silently wrong). A TLS record or a short read often ends a chunk right there. */
uint64_t http_chunk_skippable(const struct http_chunker *c)
{
	if (c->st == CH_DATA)
		return c->left + 2;
	return c->st == CH_DATA_END && c->line < 2 ? 2 - c->line : 0;
}

void http_chunk_skip(struct http_chunker *c, uint64_t n)
{
	if (n > http_chunk_skippable(c))
		return;
	if (c->st == CH_DATA) {
		uint64_t k = n < c->left ? n : c->left;

		c->left -= k;
		n -= k;
		if (c->left)
			return;
		c->st = CH_DATA_END;
		c->line = 0;
	}
	c->line += (uint32_t)n;
	if (c->line >= 2) {
		c->st = CH_SIZE;
		c->ndigits = 0;
		c->left = 0;
	}
}
