/* PostgreSQL v3 frontend/backend protocol, seen from the client. A simple Query is one call
 * ended by ReadyForQuery; in the extended protocol each Execute is one call named by the Parse
 * its Bind refers to, ended by CommandComplete (or an ErrorResponse, which aborts the rest of
 * the batch up to Sync). Parse and Sync sit in the queue as markers so replies line up. */
#define DB_PARSE_INTERNAL
#include "db_parse.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { PK_QUERY = 1, PK_EXEC, PK_PARSE, PK_SYNC, PK_FUNC, PK_BARRIER };

#define PG_SSL_CODE 80877103u
#define PG_GSS_CODE 80877104u
#define PG_CANCEL_CODE 80877102u
#define PG_MAX_MSG (1u << 30) /* the server's own limit */

struct pg_text {
	bool known;
	char op[24];
	char text[512];
};

struct pg_state {
	struct db_framer fr[2];
	bool ssl_byte; /* the server answers SSLRequest/GSSENCRequest with one raw byte */
	bool auth;     /* startup seen, first ReadyForQuery not yet */
	struct pg_text unnamed, bound;
};

static const char FRONT[] = "QPBDESHCXFpdcf";
static const char BACK[] = "RSKZTDCEN123ntsIAGHWdcVv";

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void *pg_new(void)
{
	return calloc(1, sizeof(struct pg_state));
}

static bool is_startup(const uint8_t *p, size_t cap)
{
	if (cap < 8)
		return false;
	uint32_t l = be32(p), code = be32(p + 4);
	return l >= 8 && l <= 10000 &&
	       (code == 196608 || code == PG_SSL_CODE || code == PG_GSS_CODE || code == PG_CANCEL_CODE);
}

/* SQL text: no control bytes in its first 16 (random bytes rarely pass) */
static bool texty(const uint8_t *p, size_t n)
{
	size_t w = 0;
	while (w < n && w < 16 && isspace(p[w]))
		w++;
	/* a keyword of two letters or more, or a comment or parenthesis */
	if (w < n && w < 16 && p[w] && !strchr("(/-", p[w])) {
		size_t k = w;
		while (k < n && isalpha(p[k]))
			k++;
		if (k - w < 2 && k < n)
			return false;
		if (k < n && k - w < 16 && !isspace(p[k]) && !strchr("(;", p[k]) && p[k])
			return false;
	}
	for (size_t i = 0; i < n && i < 16 && p[i]; i++)
		if ((p[i] < 0x20 && !strchr("\t\r\n", p[i])) || p[i] == 0x7f)
			return false;
	return true;
}

bool pg_looks_like(const uint8_t *p, size_t cap, size_t len, int send)
{
	if (send && is_startup(p, cap))
		return true;
	/* a whole I/O shorter than a header (a write split by the app): judge its first byte */
	if (cap < 8 && cap == len && cap)
		return (send && !p[0]) || (p[0] && strchr(send ? "QPB" : BACK, p[0]));
	size_t i = 0;
	int nmsg = 0;
	/* every message header inside the capture must be valid */
	while (i + 5 <= cap) {
		uint8_t t = p[i];
		uint32_t l = be32(p + i + 1);
		if (!t || !strchr(send ? FRONT : BACK, t) || l < 4 || l > PG_MAX_MSG)
			return false;
		/* a request starts with Query, Parse or Bind */
		if (send && !nmsg && !strchr("QPB", t))
			return false;
		size_t body = cap - i - 5 < l - 4 ? cap - i - 5 : l - 4; /* captured body bytes */
		if (send && t == 'Q' && !texty(p + i + 5, body))
			return false;
		if (send && t == 'P') { /* statement name, then the query */
			const uint8_t *z = memchr(p + i + 5, 0, body);
			if (z && !texty(z + 1, body - (size_t)(z + 1 - (p + i + 5))))
				return false;
		}
		if ((send && (t == 'S' || t == 'H') && l != 4) || (!send && t == 'Z' && l != 5))
			return false;
		const uint8_t *end = p + i + l; /* last byte of the message, if captured */
		if (i + l < cap && ((t == 'Q' && send && *end) || (t == 'Z' && !strchr("ITE", *end))))
			return false;
		i += 1 + (size_t)l;
		nmsg++;
	}
	/* bytes left are the start of a header: at least its type must be right */
	if (i < cap && (!p[i] || !strchr(send ? FRONT : BACK, p[i])))
		return false;
	(void)len;
	return nmsg > 0;
}

/* A whole exchange of the extended protocol in one I/O: messages that frame exactly up to its
 * last byte, ending with Sync (a request) or ReadyForQuery (a reply). A Bind-first request has
 * no SQL text to recognize it by, but random bytes almost never frame this way. A reply cut
 * by the capture counts when it opens with ParseComplete/BindComplete and 3 headers frame. */
bool pg_whole_exchange(const uint8_t *p, size_t cap, size_t len, int send)
{
	if (cap < 10 || !pg_looks_like(p, cap, len, send))
		return false;
	size_t i = 0, nmsg = 0;
	uint8_t last = 0;
	while (i + 5 <= cap) {
		last = p[i];
		i += 1 + (size_t)be32(p + i + 1);
		nmsg++;
	}
	if (cap == len && i == cap)
		return nmsg >= 2 && (send ? last == 'S' : last == 'Z' && strchr("ITE", p[cap - 1]) && p[cap - 1]);
	return !send && nmsg >= 3 && (p[0] == '1' || p[0] == '2') && be32(p + 1) == 4;
}

static int64_t pg_hdr_len(const struct db_framer *f, int send)
{
	if (f->hsize == 4) {
		uint32_t l = be32(f->hdr);
		return l >= 8 && l <= 10000 ? (int64_t)l - 4 : -1;
	}
	uint32_t l = be32(f->hdr + 1);
	if (!f->hdr[0] || !strchr(send ? FRONT : BACK, f->hdr[0]) || l < 4 || l > PG_MAX_MSG)
		return -1;
	return (int64_t)l - 4;
}

static size_t cstrlen(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);
	return z ? (size_t)(z - p) : n;
}

static void set_text(struct db_call *call, const struct pg_text *t)
{
	if (t->known) {
		memcpy(call->op, t->op, sizeof(call->op));
		memcpy(call->text, t->text, sizeof(call->text));
	} else {
		db_set_unnamed(call, "", 0); /* until the reply's CommandComplete tag says more */
	}
}

/* Queue full: the last entry becomes a barrier that swallows replies up to the Zs it owes. */
static struct db_pending *pg_push(struct db_conn *c, uint8_t kind, struct db_framer *f,
				  db_call_cb cb, void *ctx)
{
	struct db_pending *e = db_q_push(c, f->ts0, f->tid0, cb, ctx);
	if (e) {
		e->kind = kind;
		e->flags = kind == PK_QUERY || kind == PK_EXEC ? DB_PF_CALL : 0;
		return e;
	}
	struct db_pending *last = db_q_at(c, c->q.n - 1);
	/* db_q_push counted a dropped request: only calls are (a Sync or Parse is no call) */
	if (kind != PK_QUERY && kind != PK_EXEC)
		c->st.dropped--;
	if (!last)
		return NULL;
	last->skip_after = 0;
	if ((last->flags & DB_PF_CALL) && last->state != DB_DONE)
		c->st.dropped++; /* the call it held is no longer followed */
	if (last->kind != PK_BARRIER) {
		last->aux = last->kind == PK_SYNC || last->kind == PK_QUERY || last->kind == PK_FUNC;
		last->kind = PK_BARRIER;
		last->flags = 0;
	}
	last->aux += kind == PK_SYNC || kind == PK_QUERY || kind == PK_FUNC || kind == PK_BARRIER;
	return NULL;
}

static bool pg_untyped(struct db_conn *c, struct pg_state *s, struct db_framer *f)
{
	uint32_t code = f->kept >= 4 ? be32(f->buf) : 0;
	if (code == PG_SSL_CODE || code == PG_GSS_CODE) {
		s->ssl_byte = true; /* stays untyped: the real startup follows an 'N' */
		c->recv_wait_req = false;
	} else if (code != PG_CANCEL_CODE) {
		f->hsize = 5;
		s->auth = true;
		c->recv_wait_req = false;
	}
	return true;
}

static void pg_parse_msg(struct db_conn *c, struct pg_state *s, struct db_framer *f,
			 db_call_cb cb, void *ctx)
{
	const uint8_t *b = f->buf;
	size_t nl = cstrlen(b, f->kept);
	if (nl >= f->kept)
		return;
	const char *q = (const char *)b + nl + 1;
	struct pg_text t = { .known = true };
	struct db_call tmp;
	db_set_sql(&tmp, q, cstrlen((const uint8_t *)q, f->kept - nl - 1), 0);
	memcpy(t.op, tmp.op, sizeof(t.op));
	memcpy(t.text, tmp.text, sizeof(t.text));
	if (!nl) {
		s->unnamed = t;
	} else {
		struct db_stmt *st = db_stmt_put(c, db_hash(b, nl));
		if (st) {
			memcpy(st->op, t.op, sizeof(st->op));
			memcpy(st->text, t.text, sizeof(st->text));
		}
	}
	struct db_pending *e = pg_push(c, PK_PARSE, f, cb, ctx);
	if (e)
		set_text(&e->call, &t);
}

static void pg_bind_msg(struct db_conn *c, struct pg_state *s, struct db_framer *f)
{
	const uint8_t *b = f->buf;
	size_t pl = cstrlen(b, f->kept);
	s->bound.known = false;
	if (pl >= f->kept)
		return;
	size_t sl = cstrlen(b + pl + 1, f->kept - pl - 1);
	if (pl + 1 + sl >= f->kept)
		return;
	if (!sl) {
		s->bound = s->unnamed;
		return;
	}
	struct db_stmt *st = db_stmt_find(c, db_hash(b + pl + 1, sl));
	if (st) {
		s->bound.known = true;
		memcpy(s->bound.op, st->op, sizeof(st->op));
		memcpy(s->bound.text, st->text, sizeof(st->text));
	}
}

static bool pg_front(struct db_conn *c, struct pg_state *s, struct db_framer *f, db_call_cb cb,
		     void *ctx)
{
	struct db_pending *e;
	if (f->hsize == 4)
		return pg_untyped(c, s, f);
	/* SQL never holds control bytes: this stream is not what we think it is */
	size_t nl = cstrlen(f->buf, f->kept);
	if ((f->hdr[0] == 'Q' && !texty(f->buf, f->kept)) ||
	    (f->hdr[0] == 'P' && nl < f->kept && !texty(f->buf + nl + 1, f->kept - nl - 1))) {
		db_lose(c, 1, true, f->ts0);
		return false;
	}
	switch (f->hdr[0]) {
	case 'Q':
		if ((e = pg_push(c, PK_QUERY, f, cb, ctx)))
			db_set_sql(&e->call, (const char *)f->buf, cstrlen(f->buf, f->kept), 0);
		break;
	case 'P':
		pg_parse_msg(c, s, f, cb, ctx);
		break;
	case 'B':
		pg_bind_msg(c, s, f);
		break;
	case 'E':
		if ((e = pg_push(c, PK_EXEC, f, cb, ctx))) {
			set_text(&e->call, &s->bound);
			e->flags |= s->bound.known ? 0 : DB_PF_UNNAMED;
		}
		break;
	case 'S':
		pg_push(c, PK_SYNC, f, cb, ctx);
		break;
	case 'F':
		pg_push(c, PK_FUNC, f, cb, ctx);
		break;
	case 'C': /* Close of a statement: forget its text */
		if (f->kept > 1 && f->buf[0] == 'S') {
			size_t nl = cstrlen(f->buf + 1, f->kept - 1);
			if (nl && nl < f->kept - 1)
				db_stmt_del(c, db_hash(f->buf + 1, nl));
		}
		break;
	}
	return true;
}

static void set_error(struct db_call *call, const struct db_framer *f)
{
	call->error = 1;
	for (size_t i = 0; i < f->kept && f->buf[i];) {
		uint8_t field = f->buf[i++];
		size_t l = cstrlen(f->buf + i, f->kept - i);
		if (field == 'C')
			db_copy_str(call->error_code, sizeof(call->error_code),
				    (const char *)f->buf + i, l);
		i += l + 1;
	}
}

static bool ends_sync_group(const struct db_pending *e)
{
	return e->kind == PK_SYNC || e->kind == PK_QUERY || e->kind == PK_FUNC ||
	       e->kind == PK_BARRIER;
}

static void pg_error(struct db_conn *c, struct pg_state *s, struct db_framer *f, uint64_t ts,
		     db_call_cb cb, void *ctx)
{
	struct db_pending *h = db_q_at(c, 0);
	if (!h) {
		if (!s->auth)
			c->st.unmatched_replies++;
		return;
	}
	if (h->kind == PK_QUERY || h->kind == PK_FUNC) {
		set_error(&h->call, f); /* the call still ends at ReadyForQuery */
	} else if (h->kind == PK_EXEC || h->kind == PK_PARSE) {
		set_error(&h->call, f);
		db_emit(c, h, ts, cb, ctx);
		db_q_pop(c);
		/* the server skips everything up to Sync: those Executes never ran */
		while ((h = db_q_at(c, 0)) && !ends_sync_group(h))
			db_q_pop(c);
	} else if (h->kind == PK_SYNC) {
		c->st.unmatched_replies++;
	}
}

static void pg_ready(struct db_conn *c, struct pg_state *s, uint64_t ts, db_call_cb cb, void *ctx)
{
	struct db_pending *h;
	if (s->auth) {
		s->auth = false;
		if (!c->q.n)
			return;
	}
	while ((h = db_q_at(c, 0)) && h->kind == PK_BARRIER && !h->aux)
		db_q_pop(c);
	uint32_t j = 0;
	while ((h = db_q_at(c, j)) && !ends_sync_group(h))
		j++;
	if (!h) {
		c->st.unmatched_replies++;
		return;
	}
	for (; j; j--) { /* answered by nothing: the batch was cut short */
		if (db_q_at(c, 0)->kind == PK_EXEC)
			c->st.dropped++;
		db_q_pop(c);
	}
	h = db_q_at(c, 0);
	if (h->kind == PK_QUERY) {
		db_emit(c, h, ts, cb, ctx);
	} else if (h->kind == PK_BARRIER && --h->aux) {
		return;
	}
	db_q_pop(c);
}

static bool pg_back(struct db_conn *c, struct pg_state *s, struct db_framer *f, uint64_t ts,
		    db_call_cb cb, void *ctx)
{
	struct db_pending *h = db_q_at(c, 0);
	switch (f->hdr[0]) {
	case 'R':
		s->auth = true;
		break;
	case '1':
		if (h && h->kind == PK_PARSE)
			db_q_pop(c);
		break;
	case 'C': case 'I': case 's':
		if (h && h->kind == PK_EXEC) {
			/* the tag ("SELECT 5", "INSERT 0 1") names what an unnamed statement did */
			if (f->hdr[0] == 'C' && (h->flags & DB_PF_UNNAMED))
				db_set_unnamed(&h->call, (const char *)f->buf, f->kept);
			db_emit(c, h, ts, cb, ctx);
			db_q_pop(c);
		} else if (!h || !(h->kind == PK_QUERY || h->kind == PK_FUNC || h->kind == PK_BARRIER)) {
			c->st.unmatched_replies++;
		}
		break;
	case 'E':
		pg_error(c, s, f, ts, cb, ctx);
		break;
	case 'Z':
		pg_ready(c, s, ts, cb, ctx);
		break;
	}
	return true;
}

static bool pg_msg(struct db_conn *c, struct db_framer *f, int send, uint64_t ts, db_call_cb cb,
		   void *ctx)
{
	struct pg_state *s = c->proto;
	return send ? pg_front(c, s, f, cb, ctx) : pg_back(c, s, f, ts, cb, ctx);
}

void pg_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len, uint64_t ts,
	     uint32_t tid, db_call_cb cb, void *ctx)
{
	struct pg_state *s = c->proto;
	struct db_framer *f = &s->fr[send];
	bool ssl = !send && s->ssl_byte;
	bool looks = cap && (ssl ? strchr("SNGE", p[0]) != NULL : pg_looks_like(p, cap, len, send));
	bool fresh;
	if (!db_sync(c, send, looks, &fresh))
		return;
	if (fresh)
		db_framer_reset(f, send && cap && !p[0] ? 4 : 5); /* typed messages never start with 0 */
	size_t off = 0;
	if (ssl && !f->hlen && !f->in_body && cap) {
		s->ssl_byte = false;
		if (p[0] == 'S' || p[0] == 'G') { /* encrypted from here on */
			c->ignore = true;
			return;
		}
		off = p[0] == 'N';
	}
	int r = db_framer_feed(c, f, send, p + off, cap - off, ts, tid, pg_hdr_len, pg_msg, cb, ctx);
	if (!r && len > cap && c->synced[send] && !c->ignore)
		r = db_framer_feed(c, f, send, NULL, len - cap, ts, tid, pg_hdr_len, pg_msg, cb, ctx);
	if (r == 0)
		return;
	if (send && r == -1) {
		/* requests went by unseen: their replies run up to the next ReadyForQuery */
		struct db_pending *e = pg_push(c, PK_BARRIER, f, cb, ctx);
		if (e)
			e->aux = 1;
		db_lose_send(c);
		return;
	}
	db_lose(c, send, r == -2, ts);
}
