/* uwsgi protocol requests: header, vars, and the few vars a route needs. See uwsgi_parse.h. */
#include "uwsgi_parse.h"
#include <string.h>

/* modifier1 values whose packet is a request's vars followed by its body (uWSGI's protocol
 * page): 0 WSGI, 5 PSGI, 6 Lua WSAPI, 7 Rack, 8 JWSGI, 9 CGI, 14 PHP, 30 WSGI with
 * SCRIPT_NAME stripped (nginx `uwsgi_modifier1 30`). Others are management packets. */
static int request_modifier(uint8_t m)
{
	return m == 0 || (m >= 5 && m <= 9) || m == 14 || m == 30;
}

/* Keys of the first var are CGI names: REQUEST_METHOD, QUERY_STRING, HTTP_HOST... */
#define KEY_MAX 64

static int key_char(uint8_t c, int first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static uint32_t u16le(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

uint32_t uwsgi_datasize(const uint8_t *p)
{
	return u16le(p + 1);
}

enum http_guess uwsgi_guess_request(const uint8_t *p, size_t n)
{
	if (n >= 1 && !request_modifier(p[0]))
		return HTTP_NO;
	if (n >= 4 && p[3] != 0)
		return HTTP_NO;
	if (n >= 3 && uwsgi_datasize(p) < 5)  /* one var: two lengths and a 1-byte key */
		return HTTP_NO;
	if (n < UWSGI_HEADER + 2)
		return HTTP_MAYBE;
	uint32_t klen = u16le(p + UWSGI_HEADER);
	if (klen == 0 || klen > KEY_MAX || 4 + klen > uwsgi_datasize(p))
		return HTTP_NO;
	for (uint32_t i = 0; i < klen; i++) {
		if (UWSGI_HEADER + 2 + i >= n)
			return HTTP_MAYBE;
		if (!key_char(p[UWSGI_HEADER + 2 + i], i == 0))
			return HTTP_NO;
	}
	return HTTP_YES;
}

static int key_is(const uint8_t *k, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(k, name, n);
}

/* A method is an HTTP token of 1-15 characters. */
static int set_method(const uint8_t *v, size_t n, struct uwsgi_req *out)
{
	if (!n || n >= sizeof(out->method))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return -1;
	memcpy(out->method, v, n);
	out->method[n] = 0;
	return 0;
}

/* nginx sends CONTENT_LENGTH empty when there is no body. */
static int set_length(const uint8_t *v, size_t n, struct uwsgi_req *out)
{
	uint64_t x = 0;
	if (n > 18)  /* 18 digits cannot overflow */
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	out->content_length = x;
	out->have_length = 1;
	return 0;
}

/* Append v..n to a NUL-terminated string of room bytes, truncating. */
static void append(char *s, size_t room, const uint8_t *v, size_t n)
{
	size_t l = strlen(s);
	if (n > room - 1 - l)
		n = room - 1 - l;
	memcpy(s + l, v, n);
	s[l + n] = 0;
}

int uwsgi_parse_request(const uint8_t *p, size_t n, struct uwsgi_req *out)
{
	char script[256] = "", pinfo[256] = "";
	int have_uri = 0, have_pinfo = 0;
	memset(out, 0, sizeof(*out));
	if (n < UWSGI_HEADER)
		return UWSGI_PARTIAL;
	if (!request_modifier(p[0]) || p[3] != 0)
		return UWSGI_BAD;
	size_t end = UWSGI_HEADER + (size_t)uwsgi_datasize(p), off = UWSGI_HEADER;
	int partial = n < end;
	if (!partial)
		n = end;
	/* Each var: u16 key length, key, u16 value length, value; all of it inside the vars. */
	while (off < n) {
		if (off + 2 > end)
			return UWSGI_BAD;
		if (off + 2 > n)
			break;
		size_t klen = u16le(p + off), k = off + 2;
		if (!klen || k + klen + 2 > end)
			return UWSGI_BAD;
		if (k + klen + 2 > n)
			break;
		size_t vlen = u16le(p + k + klen), v = k + klen + 2;
		if (v + vlen > end)
			return UWSGI_BAD;
		if (v + vlen > n)
			break;
		const uint8_t *key = p + k, *val = p + v;
		int rc = 0;
		if (key_is(key, klen, "REQUEST_METHOD")) {
			rc = set_method(val, vlen, out);
		} else if (key_is(key, klen, "CONTENT_LENGTH")) {
			rc = set_length(val, vlen, out);
		} else if (key_is(key, klen, "REQUEST_URI") && vlen) {
			http_target_path(val, vlen, out->path, sizeof(out->path));
			rc = out->path[0] == '/' ? 0 : -1; /* origin- or absolute-form, as on a request line */
			have_uri = 1;
		} else if (key_is(key, klen, "SCRIPT_NAME")) {
			script[0] = 0;
			append(script, sizeof(script), val, vlen);
			rc = !vlen || val[0] == '/' ? 0 : -1;
		} else if (key_is(key, klen, "PATH_INFO")) {
			pinfo[0] = 0;
			append(pinfo, sizeof(pinfo), val, vlen);
			have_pinfo = 1;
			rc = !vlen || val[0] == '/' ? 0 : -1;
		}
		if (rc)
			return UWSGI_BAD;
		off = v + vlen;
	}
	/* REQUEST_URI names the route as an HTTP request line would (the same service is counted
	 * alike behind nginx and on --http-socket); without it, the WSGI path. */
	if (!have_uri && have_pinfo) {
		append(out->path, sizeof(out->path), (const uint8_t *)script, strlen(script));
		append(out->path, sizeof(out->path), (const uint8_t *)pinfo, strlen(pinfo));
		if (!out->path[0])
			strcpy(out->path, "/");
	}
	if (off < end)
		return UWSGI_PARTIAL;
	if (!out->method[0])
		return UWSGI_BAD;  /* every request carries its method */
	if (!out->path[0])
		strcpy(out->path, "/");
	return UWSGI_OK;
}
