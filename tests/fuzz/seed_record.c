/* The recording wrappers of seed mode (see seed_hooks.h). Compiled without the hooks, so the
 * names below are the real parsers. Sessions are written in the record format of
 * fuzz_records.h when their connection is freed; one whose bytes (cut at any place) were
 * already written is skipped, so the unit tests' splits of one session give one seed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "db_parse.h"
#include "http_parse.h"
#include "route.h"
#include "sql_normalize.h"
#include "sqlite_probe.h"
#include "uwsgi_parse.h"

#define SEED_MAX_SESSION (1 << 20)
#define SEED_OPEN 64

struct recording {
	const void *conn;
	const char *target;
	uint8_t *buf;
	size_t n, room;
	uint64_t hash;          /* of the bytes and holes, whatever their cuts */
	int last_close;
};
static struct recording open_recs[SEED_OPEN];

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

static void write_input(const char *target, uint64_t hash, const uint8_t *p, size_t n)
{
	const char *dir = getenv("PYVITALS_FUZZ_SEED_DIR");
	char path[4096];
	FILE *f;

	if (!dir || n > SEED_MAX_SESSION)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, target);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return;
	if (mkdir(path, 0755) && errno != EEXIST)
		return;
	snprintf(path, sizeof(path), "%s/%s/seed-%016llx", dir, target, (unsigned long long)hash);
	if ((f = fopen(path, "wx"))) {   /* x: the first of equal sessions stays */
		fwrite(p, 1, n, f);
		fclose(f);
	}
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = mix(h, p[i]);
	return h;
}

static struct recording *rec_of(const void *conn)
{
	for (int i = 0; i < SEED_OPEN; i++)
		if (conn && open_recs[i].conn == conn)
			return &open_recs[i];
	return NULL;
}

static void rec_start(const void *conn, const char *target)
{
	for (int i = 0; conn && i < SEED_OPEN; i++)
		if (!open_recs[i].conn) {
			open_recs[i] = (struct recording){ .conn = conn, .target = target,
							   .hash = 0xcbf29ce484222325ull };
			return;
		}
}

static void rec_put(struct recording *r, const void *p, size_t n)
{
	if (r->n + n > r->room) {
		size_t room = (r->n + n) * 2;
		uint8_t *b = realloc(r->buf, room);
		if (!b)
			abort();
		r->buf = b;
		r->room = room;
	}
	memcpy(r->buf + r->n, p, n);
	r->n += n;
}

static void rec_feed(const void *conn, int dir, const uint8_t *cap, size_t cap_len, size_t len)
{
	struct recording *r = rec_of(conn);
	size_t extra = len > cap_len ? len - cap_len : 0;

	if (!r || !cap)
		return;
	for (size_t i = 0; i < cap_len; i++)
		r->hash = mix(r->hash, (uint64_t)dir << 8 | cap[i]);
	if (extra)
		r->hash = mix(r->hash, 1ull << 40 | (uint64_t)dir << 32 | extra);
	/* a capture longer than a record holds goes in several */
	do {
		size_t c = cap_len > 0xffff ? 0xffff : cap_len, x = cap_len > 0xffff ? 0 : extra;
		uint8_t hdr[7] = { (uint8_t)dir, (uint8_t)c, (uint8_t)(c >> 8) };
		size_t h = 3;

		if (x > 0xffffffffu)
			x = 0xffffffffu;
		if (x) {
			int cls = x <= 0xff ? 1 : x <= 0xffff ? 2 : 3;
			size_t xs = cls == 3 ? 4 : (size_t)cls;
			hdr[0] |= (uint8_t)(cls << 1);
			for (size_t k = 0; k < xs; k++)
				hdr[h++] = (uint8_t)(x >> (8 * k));
		}
		rec_put(r, hdr, h);
		rec_put(r, cap, c);
		cap += c;
		cap_len -= c;
	} while (cap_len);
	r->last_close = 0;
}

static void rec_op(const void *conn, uint8_t op)
{
	struct recording *r = rec_of(conn);

	if (!r)
		return;
	r->hash = mix(r->hash, 1ull << 48 | op);
	rec_put(r, &op, 1);
	r->last_close = op == 2 << 3;
}

static void rec_end(const void *conn)
{
	struct recording *r = rec_of(conn);

	if (!r)
		return;
	/* the targets close at the end anyway */
	if (r->n && r->last_close)
		r->n--;
	if (r->n)
		write_input(r->target, r->hash, r->buf, r->n);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* ---- HTTP ---- */

struct http_server_conn *seed_http_server_conn_new(void);
struct http_server_conn *seed_http_server_conn_new_framed(enum http_req_framing framing);
struct http_server_conn *seed_http_client_conn_new(void);
void seed_http_server_conn_free(struct http_server_conn *c);
void seed_http_server_conn_feed(struct http_server_conn *c, int recv, const uint8_t *cap, size_t cap_len,
				size_t len, uint64_t ts_ns, uint32_t tid, http_txn_cb cb, void *ctx);
void seed_http_server_conn_close(struct http_server_conn *c, uint64_t ts_ns, http_txn_cb cb, void *ctx);
void seed_http_server_conn_settle(struct http_server_conn *c, uint64_t quiet_since_ns, http_txn_cb cb,
				  void *ctx);

struct http_server_conn *seed_http_server_conn_new_framed(enum http_req_framing framing)
{
	struct http_server_conn *c = http_server_conn_new_framed(framing);

	rec_start(c, framing == HTTP_REQ_UWSGI ? "fuzz_uwsgi" : "fuzz_http_server");
	return c;
}

struct http_server_conn *seed_http_server_conn_new(void)
{
	return seed_http_server_conn_new_framed(HTTP_REQ_HTTP);
}

struct http_server_conn *seed_http_client_conn_new(void)
{
	struct http_server_conn *c = http_client_conn_new();

	rec_start(c, "fuzz_http_client");
	return c;
}

void seed_http_server_conn_free(struct http_server_conn *c)
{
	rec_end(c);
	http_server_conn_free(c);
}

void seed_http_server_conn_feed(struct http_server_conn *c, int recv, const uint8_t *cap, size_t cap_len,
				size_t len, uint64_t ts_ns, uint32_t tid, http_txn_cb cb, void *ctx)
{
	rec_feed(c, recv != 0, cap, cap_len < len ? cap_len : len, len);
	http_server_conn_feed(c, recv, cap, cap_len, len, ts_ns, tid, cb, ctx);
}

void seed_http_server_conn_close(struct http_server_conn *c, uint64_t ts_ns, http_txn_cb cb, void *ctx)
{
	rec_op(c, 2 << 3);
	http_server_conn_close(c, ts_ns, cb, ctx);
}

void seed_http_server_conn_settle(struct http_server_conn *c, uint64_t quiet_since_ns, http_txn_cb cb,
				  void *ctx)
{
	rec_op(c, 3 << 3);
	http_server_conn_settle(c, quiet_since_ns, cb, ctx);
}

enum http_guess seed_http_guess_request(const uint8_t *p, size_t n);
enum http_guess seed_http_guess_response(const uint8_t *p, size_t n);
int seed_http_parse_head(const uint8_t *p, size_t n, int request, struct http_head *out);

/* Bytes the tests parse alone: a request as a server's first read, a response as the read
 * of a client that sent a GET. */
static void seed_http_bytes(const uint8_t *p, size_t n, int request)
{
	static const uint8_t get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	int key = 0;    /* its address names the recording */

	if (!p || n > 0xffff)
		return;
	rec_start(&key, request ? "fuzz_http_server" : "fuzz_http_client");
	if (!request)
		rec_feed(&key, 0, get, sizeof(get) - 1, sizeof(get) - 1);
	rec_feed(&key, 1, p, n, n);
	rec_end(&key);
}

enum http_guess seed_http_guess_request(const uint8_t *p, size_t n)
{
	seed_http_bytes(p, n, 1);
	return http_guess_request(p, n);
}

enum http_guess seed_http_guess_response(const uint8_t *p, size_t n)
{
	seed_http_bytes(p, n, 0);
	return http_guess_response(p, n);
}

int seed_http_parse_head(const uint8_t *p, size_t n, int request, struct http_head *out)
{
	seed_http_bytes(p, n, request);
	return http_parse_head(p, n, request, out);
}

/* ---- databases ---- */

struct db_conn *seed_db_conn_new(enum db_system sys);
void seed_db_conn_free(struct db_conn *c);
void seed_db_conn_feed(struct db_conn *c, int send, const uint8_t *cap, size_t cap_len, size_t len,
		       uint64_t ts_ns, uint32_t tid, db_call_cb cb, void *ctx);
void seed_db_conn_close(struct db_conn *c, uint64_t ts_ns, db_call_cb cb, void *ctx);
enum db_guess seed_db_classify(const uint8_t *p, size_t n, int send, uint16_t server_port,
			       enum db_system *sys);

struct db_conn *seed_db_conn_new(enum db_system sys)
{
	static const char *const targets[] = {
		[DB_POSTGRESQL] = "fuzz_pg", [DB_MYSQL] = "fuzz_mysql",
		[DB_REDIS] = "fuzz_redis", [DB_MEMCACHED] = "fuzz_memcache",
	};
	struct db_conn *c = db_conn_new(sys);

	if (sys > DB_NONE && sys <= DB_MEMCACHED)
		rec_start(c, targets[sys]);
	return c;
}

void seed_db_conn_free(struct db_conn *c)
{
	rec_end(c);
	db_conn_free(c);
}

void seed_db_conn_feed(struct db_conn *c, int send, const uint8_t *cap, size_t cap_len, size_t len,
		       uint64_t ts_ns, uint32_t tid, db_call_cb cb, void *ctx)
{
	rec_feed(c, send != 0, cap, cap_len < len ? cap_len : len, len);
	db_conn_feed(c, send, cap, cap_len, len, ts_ns, tid, cb, ctx);
}

void seed_db_conn_close(struct db_conn *c, uint64_t ts_ns, db_call_cb cb, void *ctx)
{
	rec_op(c, 2 << 3);
	db_conn_close(c, ts_ns, cb, ctx);
}

enum db_guess seed_db_classify(const uint8_t *p, size_t n, int send, uint16_t server_port,
			       enum db_system *sys)
{
	uint8_t *b = malloc(n + 3);

	if (b && p) {
		b[0] = (uint8_t)(send != 0);
		b[1] = (uint8_t)server_port;
		b[2] = (uint8_t)(server_port >> 8);
		memcpy(b + 3, p, n);
		write_input("fuzz_db_classify", hash_bytes(b, n + 3), b, n + 3);
	}
	free(b);
	return db_classify(p, n, send, server_port, sys);
}

/* ---- uwsgi, SQL, routes, maps: one input each ---- */

int seed_uwsgi_parse_request(const uint8_t *p, size_t n, struct uwsgi_req *out);
enum http_guess seed_uwsgi_guess_request(const uint8_t *p, size_t n);
size_t seed_sql_normalize(const char *in, size_t n, char *out, size_t outlen);
size_t seed_sql_normalize_ex(const char *in, size_t n, char *out, size_t outlen, int flags);
void seed_sql_operation(const char *sql, size_t n, char *out, size_t outlen);
char *seed_route_template(const char *path, char *out, size_t outlen);
int seed_route_segment_is_id(const char *seg, size_t n);
int seed_sqlite_maps_find(FILE *maps, struct sqlite_lib *lib);

/* A uwsgi request as the first read of a fuzz_uwsgi session. */
static void seed_uwsgi(const uint8_t *p, size_t n)
{
	int key = 0;    /* its address names the recording */

	if (!p || n > 0xffff)
		return;
	rec_start(&key, "fuzz_uwsgi");
	rec_feed(&key, 1, p, n, n);
	rec_end(&key);
}

int seed_uwsgi_parse_request(const uint8_t *p, size_t n, struct uwsgi_req *out)
{
	seed_uwsgi(p, n);
	return uwsgi_parse_request(p, n, out);
}

enum http_guess seed_uwsgi_guess_request(const uint8_t *p, size_t n)
{
	seed_uwsgi(p, n);
	return uwsgi_guess_request(p, n);
}

static void seed_sql(const char *in, size_t n, size_t outlen, int flags)
{
	uint8_t *b = malloc(n + 2);

	if (b && in) {
		b[0] = (uint8_t)(flags & SQLN_MYSQL ? 1 : 0);
		b[1] = (uint8_t)(outlen >= 0xff ? 0xff : outlen);
		memcpy(b + 2, in, n);
		write_input("fuzz_sql_normalize", hash_bytes(b, n + 2), b, n + 2);
	}
	free(b);
}

size_t seed_sql_normalize(const char *in, size_t n, char *out, size_t outlen)
{
	seed_sql(in, n, outlen, 0);
	return sql_normalize(in, n, out, outlen);
}

size_t seed_sql_normalize_ex(const char *in, size_t n, char *out, size_t outlen, int flags)
{
	seed_sql(in, n, outlen, flags);
	return sql_normalize_ex(in, n, out, outlen, flags);
}

void seed_sql_operation(const char *sql, size_t n, char *out, size_t outlen)
{
	seed_sql(sql, n, 512, 0);
	sql_operation(sql, n, out, outlen);
}

static void seed_route(const char *path, size_t n, size_t outlen)
{
	uint8_t *b = malloc(n + 1);

	if (b && path) {
		b[0] = (uint8_t)(outlen > 0xff ? 0xff : outlen);
		memcpy(b + 1, path, n);
		write_input("fuzz_route", hash_bytes(b, n + 1), b, n + 1);
	}
	free(b);
}

char *seed_route_template(const char *path, char *out, size_t outlen)
{
	seed_route(path, path ? strlen(path) : 0, outlen);
	return route_template(path, out, outlen);
}

int seed_route_segment_is_id(const char *seg, size_t n)
{
	seed_route(seg, n, 0xff);
	return route_segment_is_id(seg, n);
}

int seed_sqlite_maps_find(FILE *maps, struct sqlite_lib *lib)
{
	long at = ftell(maps);
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), maps);

	if (n)
		write_input("fuzz_maps", hash_bytes((uint8_t *)buf, n), (uint8_t *)buf, n);
	if (at >= 0)
		fseek(maps, at, SEEK_SET);
	return sqlite_maps_find(maps, lib);
}
