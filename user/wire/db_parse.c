/* Connection plumbing shared by the wire parsers: dispatch per system, the queue of requests
 * waiting for replies, the gate that decides where parsing may (re)start, the framer for
 * length-prefixed protocols, the prepared-statement cache, and classification. */
#define DB_PARSE_INTERNAL
#include "db_parse.h"
#include "ring.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The wire protocols, one row each: adding one is a parser file and a row here (and its
 * classification rule below). */
static const struct db_protocol {
	const char *name;
	void *(*new_state)(void);
	db_feed_fn feed;
} PROTOCOLS[] = {
	[DB_POSTGRESQL] = { "postgresql", pg_new, pg_feed },
	[DB_MYSQL] = { "mysql", mysql_new, mysql_feed },
	[DB_REDIS] = { "redis", redis_new, redis_feed },
	[DB_MEMCACHED] = { "memcached", mc_new, mc_feed },
	[DB_SQLITE] = { "sqlite", NULL, NULL }, /* in-process: uprobes, not the wire */
};

static const struct db_protocol *protocol(enum db_system s)
{
	return s > DB_NONE && (size_t)s < sizeof(PROTOCOLS) / sizeof(PROTOCOLS[0]) ? &PROTOCOLS[s] : NULL;
}

const char *db_system_name(enum db_system s)
{
	return protocol(s) ? protocol(s)->name : "none";
}

struct db_conn *db_conn_new(enum db_system sys)
{
	const struct db_protocol *proto_of = protocol(sys);
	void *proto = proto_of && proto_of->new_state ? proto_of->new_state() : NULL;

	if (!proto)
		return NULL;
	struct db_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		free(proto);
		return NULL;
	}
	c->sys = sys;
	c->proto = proto;
	/* the server speaks first (MySQL greeting) or the client opens with a request: replies
	 * seen before any request belong to something we missed */
	c->recv_wait_req = true;
	return c;
}

void db_conn_free(struct db_conn *c)
{
	if (!c)
		return;
	free(c->q.e);
	free(c->stmts);
	free(c->proto);
	free(c);
}

void db_conn_feed(struct db_conn *c, int send, const uint8_t *cap, size_t cap_len, size_t len,
		  uint64_t ts_ns, uint32_t tid, db_call_cb cb, void *ctx)
{
	if (!c || c->ignore || !len)
		return;
	send = !!send;
	if (!cap)
		cap_len = 0;
	if (cap_len > len)
		cap_len = len;
	if (!send && c->orphans)
		c->orphan_end = ts_ns;
	PROTOCOLS[c->sys].feed(c, send, cap, cap_len, len, ts_ns, tid, cb, ctx);
}

static void flush_orphans(struct db_conn *c, db_call_cb cb, void *ctx)
{
	for (uint32_t i = 0; i < c->q.n; i++) {
		struct db_pending *e = db_q_at(c, i);
		if ((e->flags & DB_PF_CALL) && e->state != DB_DONE)
			db_emit(c, e, c->orphan_end, cb, ctx);
	}
	c->orphans = false;
	c->q.n = 0;
	c->q.skip_replies = 0;
}

void db_conn_close(struct db_conn *c, uint64_t ts_ns, db_call_cb cb, void *ctx)
{
	if (!c)
		return;
	/* orphans got (part of) a reply; the rest never did and are dropped */
	if (c->orphans)
		flush_orphans(c, cb, ctx);
	/* A call still waiting on a followed connection died with it (the server killed it, as
	 * pg_terminate_backend does, or the network did): an error, with the server's own code
	 * when its last words were one. */
	for (uint32_t i = 0; c->synced[0] && i < c->q.n; i++) {
		struct db_pending *e = db_q_at(c, i);

		if (!(e->flags & DB_PF_CALL) || e->state == DB_DONE)
			continue;
		if (!e->call.error) {
			e->call.error = 1;
			snprintf(e->call.error_code, sizeof(e->call.error_code), "closed");
		}
		db_emit(c, e, ts_ns, cb, ctx);
	}
	db_q_clear(c);
}

void db_conn_stats(const struct db_conn *c, struct db_conn_stats *out)
{
	if (c)
		*out = c->st;
	else
		memset(out, 0, sizeof(*out));
}

bool db_conn_encrypted(const struct db_conn *c)
{
	return c && c->ignore;
}

/* ---- queue ---- */

struct db_pending *db_q_at(struct db_conn *c, uint32_t i)
{
	if (i >= c->q.n)
		return NULL;
	return &c->q.e[(c->q.head + i) % c->q.cap];
}

static bool q_grow(struct db_queue *q)
{
	return ring_grow((void **)&q->e, &q->cap, &q->head, q->n, sizeof(*q->e), 4, DB_MAX_PENDING);
}

struct db_pending *db_q_push(struct db_conn *c, uint64_t ts, uint32_t tid, db_call_cb cb,
			     void *ctx)
{
	struct db_queue *q = &c->q;
	if (c->orphans)
		flush_orphans(c, cb, ctx);
	c->recv_wait_req = false;
	if (q->n == q->cap && !q_grow(q)) {
		c->st.dropped++;
		if (q->n)
			db_q_at(c, q->n - 1)->skip_after++;
		return NULL;
	}
	struct db_pending *e = &q->e[(q->head + q->n) % q->cap];
	q->n++;
	memset(e, 0, sizeof(*e));
	e->call.system = c->sys;
	e->call.start_ns = ts;
	e->call.tid = tid;
	return e;
}

void db_q_pop(struct db_conn *c)
{
	struct db_queue *q = &c->q;
	if (!q->n)
		return;
	q->skip_replies += q->e[q->head].skip_after;
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

void db_q_drain(struct db_conn *c)
{
	struct db_pending *e;
	while ((e = db_q_at(c, 0)) && e->state == DB_DONE)
		db_q_pop(c);
}

void db_q_clear(struct db_conn *c)
{
	for (uint32_t i = 0; i < c->q.n; i++) {
		struct db_pending *e = db_q_at(c, i);
		/* a call already emitted (done, not yet popped) was counted, not dropped */
		c->st.dropped += ((e->flags & DB_PF_CALL) && e->state != DB_DONE) + e->skip_after;
	}
	c->q.n = 0;
	c->q.skip_replies = 0;
	c->orphans = false;
}

void db_emit(struct db_conn *c, struct db_pending *e, uint64_t end, db_call_cb cb, void *ctx)
{
	(void)c;
	e->call.end_ns = end < e->call.start_ns ? e->call.start_ns : end;
	if (cb)
		cb(ctx, &e->call);
	e->state = DB_DONE; /* popped when it reaches the head */
}

/* ---- sync gate ---- */

bool db_sync(struct db_conn *c, int send, bool looks, bool *fresh)
{
	*fresh = false;
	if (c->synced[send])
		return true;
	/* replies are trusted only after a request: a read that merely looks right could be
	 * the middle of an old reply */
	if (!looks || (!send && c->recv_wait_req)) {
		c->lost[send] = true;
		c->st.unparsed_ios[c->loss[send]]++;
		return false;
	}
	c->synced[send] = true;
	c->loss[send] = DB_LOSS_NONE;
	if (c->lost[send])
		c->st.resyncs++;
	c->lost[send] = false;
	*fresh = true;
	return true;
}

void db_lose(struct db_conn *c, int send, bool malformed, uint64_t ts)
{
	uint8_t why = malformed ? DB_LOSS_MALFORMED : DB_LOSS_CAPTURE;

	if (malformed)
		c->st.malformed++;
	c->st.unparsed_ios[why]++; /* this I/O, parsed in part */
	c->synced[send] = false;
	c->lost[send] = true;
	c->loss[send] = c->loss[0] = why;
	/* the replies to what is waiting can no longer be followed: keep the requests as
	 * orphans, ended by the last read before the next request */
	c->synced[0] = false;
	c->lost[0] = true;
	c->recv_wait_req = true;
	if (c->q.n) {
		c->orphans = true;
		c->orphan_end = ts;
	}
}

void db_conn_gap(struct db_conn *c)
{
	if (!c || c->ignore)
		return;
	db_q_clear(c); /* counts the calls waiting as dropped */
	for (int d = 0; d < 2; d++) {
		c->synced[d] = false;
		c->lost[d] = true;
		c->loss[d] = DB_LOSS_RING;
	}
	c->recv_wait_req = true;
}

void db_lose_send(struct db_conn *c)
{
	c->st.unparsed_ios[DB_LOSS_CAPTURE]++; /* this I/O, parsed in part */
	c->synced[1] = false;
	c->lost[1] = true;
	c->loss[1] = DB_LOSS_CAPTURE;
}

/* ---- prepared statements ---- */

uint64_t db_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h | 1; /* 0 marks a free slot */
}

struct db_stmt *db_stmt_find(struct db_conn *c, uint64_t key)
{
	if (!c->stmts)
		return NULL;
	for (int i = 0; i < DB_STMT_CACHE; i++)
		if (c->stmts[i].key == key) {
			c->stmts[i].stamp = ++c->stmt_clock;
			return &c->stmts[i];
		}
	return NULL;
}

struct db_stmt *db_stmt_put(struct db_conn *c, uint64_t key)
{
	if (!c->stmts && !(c->stmts = calloc(DB_STMT_CACHE, sizeof(*c->stmts))))
		return NULL;
	struct db_stmt *s = db_stmt_find(c, key);
	for (int i = 0; !s && i < DB_STMT_CACHE; i++)
		if (!c->stmts[i].key)
			s = &c->stmts[i];
	/* full: replace the least recently used */
	for (int i = 0; !s && i < DB_STMT_CACHE; i++)
		if (!s || c->stmts[i].stamp < s->stamp)
			s = &c->stmts[i];
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->stamp = ++c->stmt_clock;
	return s;
}

void db_stmt_del(struct db_conn *c, uint64_t key)
{
	struct db_stmt *s = db_stmt_find(c, key);
	if (s)
		s->key = 0;
}

/* ---- framer ---- */

void db_framer_reset(struct db_framer *f, uint8_t hsize)
{
	f->hlen = 0;
	f->hsize = hsize;
	f->in_body = false;
}

int db_framer_feed(struct db_conn *c, struct db_framer *f, int send, const uint8_t *p, size_t n,
		   uint64_t ts, uint32_t tid, db_hdr_len_fn hl, db_msg_fn msg, db_call_cb cb,
		   void *ctx)
{
	size_t i = 0;
	while (i < n) {
		if (!f->in_body) {
			if (!p)
				return -1;
			if (!f->hlen) {
				f->ts0 = ts;
				f->tid0 = tid;
			}
			size_t take = f->hsize - f->hlen;
			if (take > n - i)
				take = n - i;
			memcpy(f->hdr + f->hlen, p + i, take);
			f->hlen += take;
			i += take;
			if (f->hlen < f->hsize)
				return 0;
			int64_t bl = hl(f, send);
			if (bl < 0)
				return -2;
			f->body_len = (uint64_t)bl;
			f->body_got = 0;
			f->kept = 0;
			f->gap = false;
			f->in_body = true;
		}
		uint64_t take = f->body_len - f->body_got;
		if (take > n - i)
			take = n - i;
		if (!p) {
			f->gap |= take > 0;
		} else if (!f->gap && f->kept < DB_KEEP) {
			uint64_t k = take < DB_KEEP - f->kept ? take : DB_KEEP - f->kept;
			memcpy(f->buf + f->kept, p + i, k);
			f->kept += k;
		}
		f->body_got += take;
		i += take;
		if (f->body_got < f->body_len)
			return 0;
		f->in_body = false;
		f->hlen = 0;
		if (!msg(c, f, send, ts, cb, ctx) || !c->synced[send] || c->ignore)
			return 0;
	}
	return 0;
}

/* ---- helpers ---- */

void db_copy_str(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (!dstlen)
		return;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

void db_set_sql(struct db_call *call, const char *sql, size_t n, int flags)
{
	sql_operation(sql, n, call->op, sizeof(call->op));
	sql_normalize_ex(sql, n, call->text, sizeof(call->text), flags);
}

void db_set_unnamed(struct db_call *call, const char *op, size_t n)
{
	size_t k = 0;
	while (k < n && k + 1 < sizeof(call->op) && op[k] >= 'A' && op[k] <= 'Z')
		k++;
	if (k)
		db_copy_str(call->op, sizeof(call->op), op, k);
	else
		strcpy(call->op, "EXECUTE");
	snprintf(call->text, sizeof(call->text), "%s (prepared before attach)", call->op);
}

/* ---- classification ---- */

static bool has_prefix(const uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);
	return n >= l && !memcmp(p, s, l);
}

static enum db_guess yes(enum db_system s, enum db_system *out)
{
	if (out)
		*out = s;
	return DB_GUESS_YES;
}

/* Text commands shared by Redis (inline) and memcached: decided by the port, else later. */
static enum db_guess classify_text(const uint8_t *p, size_t n, uint16_t port, enum db_system *sys)
{
	size_t w = 0;
	while (w < n && p[w] != ' ' && p[w] != '\r' && p[w] != '\n')
		w++;
	const uint8_t *eol = memchr(p, '\n', n);
	if (eol && memmem(p, (size_t)(eol - p), " HTTP/1.", 8))
		return DB_GUESS_NO;
	bool mc = mc_looks_like(p, n, n, 1), rd = redis_looks_like(p, n, n, 1);
	/* "set k 0 0 5\r\n": flags exptime bytes only memcached has */
	if (mc && w == 3 && !memcmp(p, "set", 3) && eol) {
		int nums = 0;
		for (const uint8_t *q = p + 4; q < eol; q++)
			nums += *q == ' ' && q + 1 < eol && q[1] >= '0' && q[1] <= '9';
		if (nums >= 3)
			return yes(DB_MEMCACHED, sys);
	}
	if (mc && port == 11211)
		return yes(DB_MEMCACHED, sys);
	if (rd && port == 6379)
		return yes(DB_REDIS, sys);
	return mc || rd ? DB_GUESS_MAYBE : DB_GUESS_NO;
}

static enum db_guess classify_send(const uint8_t *p, size_t n, uint16_t port, enum db_system *sys)
{
	if (n >= 3 && p[0] == 0x16 && p[1] == 0x03) /* TLS ClientHello */
		return DB_GUESS_NO;
	if (n >= 8 && pg_looks_like(p, n, n, 1) && (p[0] == 0 || strchr("QP", p[0])))
		return yes(DB_POSTGRESQL, sys);
	if (n >= 4 && p[0] == '*' && redis_looks_like(p, n, n, 1) && memchr(p, '$', n))
		return yes(DB_REDIS, sys);
	if (n >= 6 && mysql_looks_like(p, n, n, 1) && p[4] == 0x03 && (size_t)(p[0] | p[1] << 8 |
	    p[2] << 16) + 4 >= n)
		return yes(DB_MYSQL, sys);
	/* MySQL handshake response: seq 1, CLIENT_PROTOCOL_41 set */
	if (n >= 36 && p[3] == 1 && (p[4] | p[5] << 8) & 0x200 && p[2] == 0)
		return port == 3306 ? yes(DB_MYSQL, sys) : DB_GUESS_MAYBE;
	/* statements prepared before attach, run by name: Bind, Execute, Sync and nothing else */
	if (pg_whole_exchange(p, n, n, 1))
		return yes(DB_POSTGRESQL, sys);
	/* COM_STMT_EXECUTE of a statement prepared before attach, whole in this I/O */
	if (n >= 14 && p[4] == 0x17 && mysql_looks_like(p, n, n, 1) &&
	    (size_t)(p[0] | p[1] << 8 | p[2] << 16) + 4 == n)
		return yes(DB_MYSQL, sys);
	if (n >= 8 && p[0] && strchr("PBEQS", p[0]) && pg_looks_like(p, n, n, 1))
		return port == 5432 ? yes(DB_POSTGRESQL, sys) : DB_GUESS_MAYBE;
	return classify_text(p, n, port, sys);
}

static enum db_guess classify_recv(const uint8_t *p, size_t n, uint16_t port, enum db_system *sys)
{
	if (n >= 6 && p[3] == 0 && p[4] == 0x0a && mysql_looks_like(p, n, n, 0))
		return yes(DB_MYSQL, sys);
	if (n >= 9 && p[0] == 'R' && pg_looks_like(p, n, n, 0))
		return yes(DB_POSTGRESQL, sys);
	if (n == 1 && (p[0] == 'N' || p[0] == 'S'))
		return port == 5432 ? yes(DB_POSTGRESQL, sys) : DB_GUESS_MAYBE;
	static const char *const mc[] = { "VALUE ", "END\r\n", "STORED\r\n", "NOT_STORED\r\n",
					  "DELETED\r\n", "NOT_FOUND\r\n", "TOUCHED\r\n", "STAT ",
					  "VERSION ", "EXISTS\r\n", NULL };
	for (int i = 0; mc[i]; i++)
		if (has_prefix(p, n, mc[i]))
			return yes(DB_MEMCACHED, sys);
	if (redis_looks_like(p, n, n, 0)) {
		if (port == 6379 || has_prefix(p, n, "+PONG") || has_prefix(p, n, "+OK\r\n") ||
		    has_prefix(p, n, "-ERR ") || has_prefix(p, n, "-WRONGTYPE") ||
		    has_prefix(p, n, "-NOAUTH") || (n >= 4 && (p[0] == '$' || p[0] == '*') && memchr(p, '\n', n)))
			return yes(DB_REDIS, sys);
		return DB_GUESS_MAYBE;
	}
	/* replies to requests sent before attach (or whose request did not decide) */
	if (pg_whole_exchange(p, n, n, 0))
		return yes(DB_POSTGRESQL, sys);
	if (mysql_result_start(p, n))
		return yes(DB_MYSQL, sys);
	if (n >= 5 && pg_looks_like(p, n, n, 0))
		return port == 5432 ? yes(DB_POSTGRESQL, sys) : DB_GUESS_MAYBE;
	return DB_GUESS_NO;
}

enum db_guess db_classify(const uint8_t *p, size_t n, int send, uint16_t server_port,
			  enum db_system *sys)
{
	if (!p || !n)
		return DB_GUESS_MAYBE;
	return send ? classify_send(p, n, server_port, sys) : classify_recv(p, n, server_port, sys);
}
