/* uwsgi_parse and the uwsgi request framing of http_session: real bytes nginx 1.22.1
 * (`uwsgi_pass 127.0.0.1:port`, Debian's uwsgi_params) sent uWSGI 2.0.21, and what uWSGI wrote
 * back, recorded with strace on the worker (read/writev on the connection, first 512 bytes as
 * pyvitals' default capture sees them); then truncated and malformed variants. Session steps
 * follow test_http.c: step i has ts = i, expected transactions read "METHOD PATH STATUS start-end". */
#include "unit.h"
#include "test_http_common.h"
#include "http_parse.h"
#include "uwsgi_parse.h"
#include <stdint.h>
#include <stdlib.h>

/* nginx's GET /users/5 (curl): read of 349 bytes */
#define NGX_GET_USERS5_LEN 349
#define NGX_GET_USERS5 \
	"\000Y\001\000\014\000QUERY_STRING\000\000\016\000REQUEST_METHOD\003\000GET\014\000CONTENT_TYPE\000\000" \
	"\016\000CONTENT_LENGTH\000\000\013\000REQUEST_URI\010\000/users/5\011\000PATH_INFO\010\000/users/5\015" \
	"\000DOCUMENT_ROOT\017\000/tmp/uwlab/html\017\000SERVER_PROTOCOL\010\000HTTP/1.1\016\000REQUEST_SCHEM" \
	"E\004\000http\013\000REMOTE_ADDR\011\000127.0.0.1\013\000REMOTE_PORT\005\00035998\013\000SERVER_PORT" \
	"\005\00018080\013\000SERVER_NAME\000\000\011\000HTTP_HOST\011\000127.0.0.1\017\000HTTP_USER_AGENT\013" \
	"\000curl/7.88.1\013\000HTTP_ACCEPT\003\000*/*"

/* uWSGI's answer: writev of 95 bytes */
#define UW_RESP_USERS5_LEN 95
#define UW_RESP_USERS5 \
	"HTTP/1.1 200 OK\015\012Content-Type: application/json\015\012Content-Length: 24\015\012\015\012{\042" \
	"id\042:5,\042name\042:\042user5\042}\012"

/* POST /items with a 19-byte body, in the same read: read of 479 bytes */
#define NGX_POST_ITEMS_LEN 479
#define NGX_POST_ITEMS \
	"\000\310\001\000\014\000QUERY_STRING\000\000\016\000REQUEST_METHOD\004\000POST\014\000CONTENT_TYPE!\000" \
	"application/x-www-form-urlencoded\016\000CONTENT_LENGTH\002\00019\013\000REQUEST_URI\006\000/items\011" \
	"\000PATH_INFO\006\000/items\015\000DOCUMENT_ROOT\017\000/tmp/uwlab/html\017\000SERVER_PROTOCOL\010\000" \
	"HTTP/1.1\016\000REQUEST_SCHEME\004\000http\013\000REMOTE_ADDR\011\000127.0.0.1\013\000REMOTE_PORT\005" \
	"\00036010\013\000SERVER_PORT\005\00018080\013\000SERVER_NAME\000\000\011\000HTTP_HOST\011\000127.0.0" \
	".1\017\000HTTP_USER_AGENT\013\000curl/7.88.1\013\000HTTP_ACCEPT\003\000*/*\023\000HTTP_CONTENT_LENGT" \
	"H\002\00019\021\000HTTP_CONTENT_TYPE!\000application/x-www-form-urlencodedname=widget&size=99"

/* its answer: writev of 92 bytes */
#define UW_RESP_201_LEN 92
#define UW_RESP_201 \
	"HTTP/1.1 201 CREATED\015\012Content-Type: application/json\015\012Content-Length: 16\015\012\015\012" \
	"{\042received\042:19}\012"

/* HEAD /users/7: read of 350 bytes */
#define NGX_HEAD_USERS7_LEN 350
#define NGX_HEAD_USERS7 \
	"\000Z\001\000\014\000QUERY_STRING\000\000\016\000REQUEST_METHOD\004\000HEAD\014\000CONTENT_TYPE\000\000" \
	"\016\000CONTENT_LENGTH\000\000\013\000REQUEST_URI\010\000/users/7\011\000PATH_INFO\010\000/users/7\015" \
	"\000DOCUMENT_ROOT\017\000/tmp/uwlab/html\017\000SERVER_PROTOCOL\010\000HTTP/1.1\016\000REQUEST_SCHEM" \
	"E\004\000http\013\000REMOTE_ADDR\011\000127.0.0.1\013\000REMOTE_PORT\005\00036014\013\000SERVER_PORT" \
	"\005\00018080\013\000SERVER_NAME\000\000\011\000HTTP_HOST\011\000127.0.0.1\017\000HTTP_USER_AGENT\013" \
	"\000curl/7.88.1\013\000HTTP_ACCEPT\003\000*/*"

/* its answer: head only, Content-Length 24: write of 71 bytes */
#define UW_RESP_HEAD_LEN 71
#define UW_RESP_HEAD \
	"HTTP/1.1 200 OK\015\012Content-Type: application/json\015\012Content-Length: 24\015\012\015\012"

/* GET /?q=1 (PATH_INFO /, REQUEST_URI /?q=1): read of 342 bytes */
#define NGX_GET_ROOT_Q_LEN 342
#define NGX_GET_ROOT_Q \
	"\000R\001\000\014\000QUERY_STRING\003\000q=1\016\000REQUEST_METHOD\003\000GET\014\000CONTENT_TYPE\000" \
	"\000\016\000CONTENT_LENGTH\000\000\013\000REQUEST_URI\005\000/\077q=1\011\000PATH_INFO\001\000/\015\000" \
	"DOCUMENT_ROOT\017\000/tmp/uwlab/html\017\000SERVER_PROTOCOL\010\000HTTP/1.1\016\000REQUEST_SCHEME\004" \
	"\000http\013\000REMOTE_ADDR\011\000127.0.0.1\013\000REMOTE_PORT\005\00036022\013\000SERVER_PORT\005\000" \
	"18080\013\000SERVER_NAME\000\000\011\000HTTP_HOST\011\000127.0.0.1\017\000HTTP_USER_AGENT\013\000cur" \
	"l/7.88.1\013\000HTTP_ACCEPT\003\000*/*"

/* first write of /stream's answer (no length: ends at close), 512 of 3068 bytes: writev of 3068 bytes */
#define UW_RESP_STREAM_LEN 3068
#define UW_RESP_STREAM \
	"HTTP/1.1 200 OK\015\012Content-Type: text/plain; charset=utf-8\015\012\015\012part 0 yyyyyyyyyyyyyyy" \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"

/* POST /items with a 5017-byte body: first read, 512 of 4100 bytes: read of 4100 bytes */
#define NGX_POST_5017_A_LEN 4100
#define NGX_POST_5017_A \
	"\000\274\001\000\014\000QUERY_STRING\000\000\016\000REQUEST_METHOD\004\000POST\014\000CONTENT_TYPE!\000" \
	"application/x-www-form-urlencoded\016\000CONTENT_LENGTH\004\0005017\013\000REQUEST_URI\006\000/items" \
	"\011\000PATH_INFO\006\000/items\015\000DOCUMENT_ROOT\017\000/tmp/uwlab/html\017\000SERVER_PROTOCOL\010" \
	"\000HTTP/1.1\016\000REQUEST_SCHEME\004\000http\013\000REMOTE_ADDR\011\000127.0.0.1\013\000REMOTE_POR" \
	"T\005\00042024\013\000SERVER_PORT\005\00018080\013\000SERVER_NAME\000\000\011\000HTTP_HOST\011\00012" \
	"7.0.0.1\024\000HTTP_ACCEPT_ENCODING\010\000identity\023\000HTTP_CONTENT_LENGTH\004\0005017\021\000HT" \
	"TP_CONTENT_TYPE!\000application/x-www-form-urlencodedname=widget&size=999999999999999999999999999999" \
	"99999999999999999"

/* its second read, 512 of 1365 bytes: read of 1365 bytes */
#define NGX_POST_5017_B_LEN 1365
#define NGX_POST_5017_B \
	"9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999" \
	"9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999" \
	"9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999" \
	"9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999" \
	"9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999" \
	"999999999999"

/* its answer: writev of 94 bytes */
#define UW_RESP_5017_LEN 94
#define UW_RESP_5017 \
	"HTTP/1.1 201 CREATED\015\012Content-Type: application/json\015\012Content-Length: 18\015\012\015\012" \
	"{\042received\042:5017}\012"

/* GET /users/42?q=a...(600 a): the first 512 of 1540 bytes, QUERY_STRING first: read of 1540 bytes */
#define NGX_GET_LONG_QUERY_LEN 1540
#define NGX_GET_LONG_QUERY \
	"\000\000\006\000\014\000QUERY_STRINGZ\002q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* its answer: writev of 97 bytes */
#define UW_RESP_42_LEN 97
#define UW_RESP_42 \
	"HTTP/1.1 200 OK\015\012Content-Type: application/json\015\012Content-Length: 26\015\012\015\012{\042" \
	"id\042:42,\042name\042:\042user42\042}\012"

/* ---- The parser ---- */

#define CAP(name) (const uint8_t *)(name), sizeof(name) - 1

/* A uwsgi packet from NULL-terminated key, value pairs; returns its size. */
static size_t build(uint8_t *out, size_t room, uint8_t m1, uint8_t m2, const char *const *kv)
{
	size_t n = UWSGI_HEADER;
	for (int i = 0; kv[i]; i++) {
		size_t l = strlen(kv[i]);
		if (n + 2 + l > room)
			abort();
		out[n] = l & 0xff;
		out[n + 1] = l >> 8;
		memcpy(out + n + 2, kv[i], l);
		n += 2 + l;
	}
	out[0] = m1;
	out[1] = (n - UWSGI_HEADER) & 0xff;
	out[2] = (n - UWSGI_HEADER) >> 8;
	out[3] = m2;
	return n;
}

UNIT_TEST(uwsgi_parse_captured_requests)
{
	static const struct {
		const char *desc;
		const uint8_t *p;
		size_t n;
		int rc;
		const char *method, *path;
		int have_length;
		uint64_t length;
	} cases[] = {
		{ "GET /users/5", CAP(NGX_GET_USERS5), UWSGI_OK, "GET", "/users/5", 1, 0 },
		{ "POST /items, body after the vars", CAP(NGX_POST_ITEMS), UWSGI_OK, "POST", "/items", 1, 19 },
		{ "HEAD", CAP(NGX_HEAD_USERS7), UWSGI_OK, "HEAD", "/users/7", 1, 0 },
		{ "query string stripped from REQUEST_URI", CAP(NGX_GET_ROOT_Q), UWSGI_OK, "GET", "/", 1, 0 },
		{ "5017-byte POST: vars within the capture", CAP(NGX_POST_5017_A), UWSGI_OK, "POST", "/items", 1, 5017 },
		/* nginx sends QUERY_STRING first: a long one pushes everything else past the capture */
		{ "long query string: vars past the capture", CAP(NGX_GET_LONG_QUERY), UWSGI_PARTIAL, "", "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uwsgi_req u;
		uint8_t *copy = malloc(cases[i].n); /* exact size: ASan catches over-reads */
		memcpy(copy, cases[i].p, cases[i].n);
		int rc = uwsgi_parse_request(copy, cases[i].n, &u);
		CHECKF(rc == cases[i].rc, "%s: rc %d", cases[i].desc, rc);
		CHECKF(!strcmp(u.method, cases[i].method) && !strcmp(u.path, cases[i].path), "%s: got %s %s",
		       cases[i].desc, u.method, u.path);
		CHECKF(u.have_length == cases[i].have_length && u.content_length == cases[i].length, "%s: length %d %llu",
		       cases[i].desc, u.have_length, (unsigned long long)u.content_length);
		CHECKF(uwsgi_guess_request(copy, cases[i].n) == HTTP_YES, "%s: not guessed", cases[i].desc);
		free(copy);
	}
}

/* Every prefix of a real request is PARTIAL (never BAD, never a wrong name), then OK. */
UNIT_TEST(uwsgi_parse_every_prefix)
{
	const uint8_t *full = (const uint8_t *)NGX_GET_USERS5;
	size_t n = sizeof(NGX_GET_USERS5) - 1;
	for (size_t k = 0; k <= n; k++) {
		struct uwsgi_req u;
		uint8_t *copy = malloc(k ? k : 1);
		memcpy(copy, full, k);
		int rc = uwsgi_parse_request(copy, k, &u);
		CHECKF(rc == (k == n ? UWSGI_OK : UWSGI_PARTIAL), "prefix %zu: rc %d", k, rc);
		CHECKF(!u.method[0] || !strcmp(u.method, "GET"), "prefix %zu: method %s", k, u.method);
		CHECKF(!u.path[0] || !strcmp(u.path, "/users/5"), "prefix %zu: path %s", k, u.path);
		CHECKF(uwsgi_guess_request(copy, k) != HTTP_NO, "prefix %zu: guessed NO", k);
		free(copy);
	}
}

UNIT_TEST(uwsgi_parse_built_requests)
{
	static const struct {
		const char *desc;
		uint8_t m1, m2;
		const char *kv[12];
		int rc;
		const char *method, *path;
		uint64_t length;
	} cases[] = {
		{ "no REQUEST_URI: SCRIPT_NAME + PATH_INFO", 0, 0,
		  { "REQUEST_METHOD", "PUT", "SCRIPT_NAME", "/app", "PATH_INFO", "/x/1", NULL }, UWSGI_OK, "PUT", "/app/x/1", 0 },
		{ "REQUEST_URI wins over PATH_INFO", 0, 0,
		  { "PATH_INFO", "/decoded", "REQUEST_URI", "/raw%20x?y=1", "REQUEST_METHOD", "GET", NULL }, UWSGI_OK, "GET", "/raw%20x", 0 },
		{ "absolute-form REQUEST_URI", 0, 0,
		  { "REQUEST_URI", "http://h.example/a/b?c", "REQUEST_METHOD", "GET", NULL }, UWSGI_OK, "GET", "/a/b", 0 },
		{ "no path at all is /", 30, 0, { "REQUEST_METHOD", "GET", NULL }, UWSGI_OK, "GET", "/", 0 },
		{ "CONTENT_LENGTH", 0, 0, { "REQUEST_METHOD", "POST", "PATH_INFO", "/p", "CONTENT_LENGTH", "123456", NULL },
		  UWSGI_OK, "POST", "/p", 123456 },
		{ "no REQUEST_METHOD", 0, 0, { "PATH_INFO", "/p", NULL }, UWSGI_BAD, "", "", 0 },
		{ "CONTENT_LENGTH not a number", 0, 0, { "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "12a", NULL }, UWSGI_BAD, "", "", 0 },
		{ "CONTENT_LENGTH that would overflow", 0, 0,
		  { "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "99999999999999999999", NULL }, UWSGI_BAD, "", "", 0 },
		{ "method too long", 0, 0, { "REQUEST_METHOD", "ABCDEFGHIJKLMNOPQ", NULL }, UWSGI_BAD, "", "", 0 },
		{ "method with a space", 0, 0, { "REQUEST_METHOD", "GE T", NULL }, UWSGI_BAD, "", "", 0 },
		{ "empty method", 0, 0, { "REQUEST_METHOD", "", NULL }, UWSGI_BAD, "", "", 0 },
		{ "modifier2 not 0", 0, 1, { "REQUEST_METHOD", "GET", NULL }, UWSGI_BAD, "", "", 0 },
		{ "REQUEST_URI not a path", 0, 0, { "REQUEST_METHOD", "GET", "REQUEST_URI", "users/5", NULL }, UWSGI_BAD, "", "", 0 },
		{ "PATH_INFO not a path", 0, 0, { "REQUEST_METHOD", "GET", "PATH_INFO", "x", NULL }, UWSGI_BAD, "", "", 0 },
		{ "management modifier1 (100: ping)", 100, 0, { "REQUEST_METHOD", "GET", NULL }, UWSGI_BAD, "", "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[512];
		struct uwsgi_req u;
		size_t n = build(buf, sizeof(buf), cases[i].m1, cases[i].m2, cases[i].kv);
		int rc = uwsgi_parse_request(buf, n, &u);
		CHECKF(rc == cases[i].rc, "%s: rc %d", cases[i].desc, rc);
		if (rc != UWSGI_OK)
			continue;
		CHECKF(!strcmp(u.method, cases[i].method) && !strcmp(u.path, cases[i].path), "%s: got %s %s",
		       cases[i].desc, u.method, u.path);
		CHECKF(u.content_length == cases[i].length, "%s: length %llu", cases[i].desc,
		       (unsigned long long)u.content_length);
	}
}

/* Lengths that point past the vars are malformed, whatever the capture. */
UNIT_TEST(uwsgi_parse_bad_lengths)
{
	static const char *const kv[] = { "REQUEST_METHOD", "GET", "PATH_INFO", "/a", NULL };
	uint8_t good[64], b[64];
	struct uwsgi_req u;
	size_t n = build(good, sizeof(good), 0, 0, kv);
	CHECK(uwsgi_parse_request(good, n, &u) == UWSGI_OK);

	memcpy(b, good, n);
	b[4] = 200; /* first key length past the vars */
	CHECK(uwsgi_parse_request(b, n, &u) == UWSGI_BAD);
	memcpy(b, good, n);
	b[4 + 2 + 14] = 99; /* first value length past the vars */
	CHECK(uwsgi_parse_request(b, n, &u) == UWSGI_BAD);
	memcpy(b, good, n);
	b[4] = 0; /* empty key */
	b[5] = 0;
	CHECK(uwsgi_parse_request(b, n, &u) == UWSGI_BAD);
	/* datasize one byte longer than the vars: a dangling byte, not room for a key length */
	memcpy(b, good, n);
	b[n] = 0;
	b[1]++;
	CHECK(uwsgi_parse_request(b, n + 1, &u) == UWSGI_BAD);
	/* datasize one byte short: the last value runs past the vars */
	memcpy(b, good, n);
	b[1]--;
	CHECK(uwsgi_parse_request(b, n, &u) == UWSGI_BAD);
	CHECK(uwsgi_parse_request(b, 3, &u) == UWSGI_PARTIAL);
}

UNIT_TEST(uwsgi_guesses)
{
	static const struct {
		const char *desc;
		const char *p;
		size_t n;
		enum http_guess want;
	} g[] = {
#define G(d, s, w) { d, s, sizeof(s) - 1, w }
		G("empty", "", HTTP_MAYBE),
		G("header only", "\000Y\001\000", HTTP_MAYBE),
		G("header and a key length", "\000Y\001\000\014\000", HTTP_MAYBE),
		G("key prefix", "\000Y\001\000\014\000QUE", HTTP_MAYBE),
		G("modifier1 30", "\036\040\000\000\016\000REQUEST_METHOD", HTTP_YES),
		G("lower-case key", "\000\020\000\000\004\000path", HTTP_NO),
		G("key starting with a digit", "\000\020\000\000\004\0001ABC", HTTP_NO),
		G("key longer than the vars", "\000\010\000\000\014\000QUERY_STRING", HTTP_NO),
		G("key length 0", "\000\020\000\000\000\000", HTTP_NO),
		G("modifier2 not 0", "\000Y\001\001", HTTP_NO),
		G("HTTP request", "GET / HTTP/1.1\r\n", HTTP_NO),
		G("PostgreSQL startup (datasize 0)", "\000\000\000\051\000\003\000\000user", HTTP_NO),
		G("PostgreSQL SSLRequest", "\000\000\000\010\004\322\026\057", HTTP_NO),
		G("MySQL greeting", "\112\000\000\000\012" "8.0.36", HTTP_NO),
		G("MySQL 256-byte packet, seq 1", "\000\001\000\001\003SELECT", HTTP_NO),
		G("TLS ClientHello", "\026\003\001\002\000\001", HTTP_NO),
		G("RESP", "*2\r\n$3\r\nGET\r\n", HTTP_NO),
	};
	CHECK(http_guess_response((const uint8_t *)"HTTP/2.0 200 OK\r\n", 17) == HTTP_YES);
	CHECK(http_guess_response((const uint8_t *)"HTTP/2.x 200 OK\r\n", 17) == HTTP_NO);
	CHECK(http_guess_response((const uint8_t *)"HTTP/20 200 OK\r\n", 16) == HTTP_NO);
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		enum http_guess got = uwsgi_guess_request((const uint8_t *)g[i].p, g[i].n);
		CHECKF(got == g[i].want, "%s: got %d want %d", g[i].desc, got, g[i].want);
	}
}

/* ---- The session: uwsgi requests, HTTP responses ---- */

/* A recorded I/O: its captured prefix and the length it really moved. */
#define RL(s) { 'R', s, sizeof(s) - 1, s##_LEN - (sizeof(s) - 1) }
#define WL(s) { 'W', s, sizeof(s) - 1, s##_LEN - (sizeof(s) - 1) }

static void run(const struct step *steps, size_t n, struct got *g, struct http_conn_stats *st)
{
	http_run_steps(HTTP_REQ_UWSGI, steps, n, g, st);
}

/* A second request on one connection (uwsgi_pass with keep-alive upstreams is possible). */
#define SMALL_GET "\000\044\000\000\016\000REQUEST_METHOD\003\000GET\011\000PATH_INFO\002\000/b"
#define BAD_VARS "\000\044\000\000\016\000REQUEST_METHOD\003\000GET\011\000PATH_INFO\077\000/b"
#define OK0 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

static const struct {
	const char *desc;
	struct step steps[10];
	const char *want;
	uint64_t resyncs, dropped, malformed, unread;
} fixtures[] = {
	{ "GET, answer, close", { RL(NGX_GET_USERS5), WL(UW_RESP_USERS5), CLOSE }, "GET /users/5 200 1-2", 0, 0, 0, 0 },
	{ "POST with its body in the same read", { RL(NGX_POST_ITEMS), WL(UW_RESP_201), CLOSE }, "POST /items 201 1-2", 0, 0, 0, 0 },
	{ "HEAD: the answer is a head only", { RL(NGX_HEAD_USERS7), WL(UW_RESP_HEAD), CLOSE }, "HEAD /users/7 200 1-2", 0, 0, 0, 0 },
	{ "body over two partly captured reads", { RL(NGX_POST_5017_A), RL(NGX_POST_5017_B), WL(UW_RESP_5017), CLOSE },
	  "POST /items 201 1-3", 0, 0, 0, 0 },
	{ "answer without length ends at its last write", { RL(NGX_GET_ROOT_Q), WL(UW_RESP_STREAM), { 'W', "yyyy", 4, 3004 }, CLOSE },
	  "GET / 200 1-3", 0, 0, 0, 0 },
	{ "vars past the capture: counted from the answer as unread", { RL(NGX_GET_LONG_QUERY), WL(UW_RESP_42), CLOSE },
	  "", 1, 0, 0, 1 },
	/* on a fresh connection nothing is in sync yet: the answer alone says a request was missed */
	{ "header not captured at all", { RX("", 349), WL(UW_RESP_USERS5), CLOSE }, "", 0, 0, 0, 1 },
	{ "two requests on one connection", { RL(NGX_GET_USERS5), WL(UW_RESP_USERS5), R(SMALL_GET), W(OK0), CLOSE },
	  "GET /users/5 200 1-2;GET /b 200 3-4", 0, 0, 0, 0 },
	{ "a broken second request is malformed, its answer unread", { RL(NGX_GET_USERS5), WL(UW_RESP_USERS5), R(BAD_VARS),
	  W("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), R(SMALL_GET), W(OK0), CLOSE },
	  "GET /users/5 200 1-2;GET /b 200 5-6", 0, 0, 1, 1 },
	/* nginx passes SERVER_PROTOCOL HTTP/2.0 for an HTTP/2 client, and uWSGI echoes it */
	{ "HTTP/2.0 status line", { RL(NGX_GET_USERS5), W("HTTP/2.0 404 NOT FOUND\r\nContent-Length: 0\r\n\r\n"), CLOSE },
	  "GET /users/5 404 1-2", 0, 0, 0, 0 },
	{ "never answered: dropped at close", { RL(NGX_GET_USERS5), CLOSE }, "", 0, 1, 0, 0 },
	{ "an HTTP request on a uwsgi connection is not one", { R("GET / HTTP/1.1\r\n\r\n"), W(OK0), CLOSE }, "", 0, 0, 0, 1 },
	{ "close resets the connection, not its framing", { RL(NGX_GET_USERS5), WL(UW_RESP_USERS5), CLOSE,
	  RL(NGX_HEAD_USERS7), WL(UW_RESP_HEAD), CLOSE }, "GET /users/5 200 1-2;HEAD /users/7 200 4-5", 0, 0, 0, 0 },
};

UNIT_TEST(uwsgi_session_fixtures)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct got g;
		struct http_conn_stats st;
		run(fixtures[i].steps, 10, &g, &st);
		CHECKF(!strcmp(g.text, fixtures[i].want), "%s: got \"%.200s\" want \"%.200s\"", fixtures[i].desc, g.text,
		       fixtures[i].want);
		CHECKF(st.resyncs == fixtures[i].resyncs && st.dropped_requests == fixtures[i].dropped &&
		       st.malformed == fixtures[i].malformed && st.unread_requests == fixtures[i].unread,
		       "%s: resyncs=%llu dropped=%llu malformed=%llu unread=%llu", fixtures[i].desc,
		       (unsigned long long)st.resyncs, (unsigned long long)st.dropped_requests,
		       (unsigned long long)st.malformed, (unsigned long long)st.unread_requests);
	}
}

/* The request split into two reads at every byte (header included): the same exchange. */
UNIT_TEST(uwsgi_session_split_everywhere)
{
	const char *req = NGX_POST_ITEMS;
	size_t n = sizeof(NGX_POST_ITEMS) - 1;
	for (size_t k = 1; k < n; k++) {
		struct step steps[] = { { 'R', req, k, 0 }, { 'R', req + k, n - k, 0 }, WL(UW_RESP_201), CLOSE };
		struct got g;
		struct http_conn_stats st;
		run(steps, 4, &g, &st);
		CHECKF(!strcmp(g.text, "POST /items 201 1-3"), "split at %zu: got \"%.200s\"", k, g.text);
		CHECKF(!st.resyncs && !st.malformed && !st.unread_requests, "split at %zu: stats", k);
	}
}

/* Random captures, lengths and corruptions of real requests: never a crash or an over-read
 * (ASan), and every transaction names a method and path the bytes really held. */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_txn(void *ctx, const struct http_txn *t)
{
	int *bad = ctx;
	if (!t->method[0] || t->path[0] != '/' || strlen(t->method) > 15) {
		fprintf(stderr, "bad txn: '%s' '%s'\n", t->method, t->path);
		(*bad)++;
	}
}

UNIT_TEST(uwsgi_session_random_robustness)
{
	static const struct { const char *p; size_t n; } reqs[] = {
		{ NGX_GET_USERS5, sizeof(NGX_GET_USERS5) - 1 }, { NGX_POST_ITEMS, sizeof(NGX_POST_ITEMS) - 1 },
		{ NGX_GET_LONG_QUERY, sizeof(NGX_GET_LONG_QUERY) - 1 }, { SMALL_GET, sizeof(SMALL_GET) - 1 },
	};
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int bad = 0;
	for (int round = 0; round < 3000; round++) {
		struct http_server_conn *c = http_server_conn_new_framed(HTTP_REQ_UWSGI);
		for (int io = 0; io < 6; io++) {
			size_t which = rng(&seed) % (sizeof(reqs) / sizeof(reqs[0]));
			size_t n = reqs[which].n, cap = rng(&seed) % (n + 1);
			uint8_t *b = malloc(cap ? cap : 1);
			memcpy(b, reqs[which].p, cap);
			for (int f = rng(&seed) % 4; f > 0 && cap; f--)
				b[rng(&seed) % cap] = rng(&seed);
			size_t len = cap + (rng(&seed) % 3 ? 0 : rng(&seed) % 2000);
			http_server_conn_feed(c, 1, b, cap, len, io, 1, check_txn, &bad);
			http_server_conn_feed(c, 0, (const uint8_t *)OK0, sizeof(OK0) - 1, sizeof(OK0) - 1, io, 1,
			                      check_txn, &bad);
			free(b);
		}
		http_server_conn_close(c, 99, check_txn, &bad);
		http_server_conn_free(c);
	}
	CHECKF(!bad, "%d transactions with an impossible method or path", bad);
}
