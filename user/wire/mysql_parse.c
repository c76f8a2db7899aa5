/* MySQL/MariaDB client protocol, seen from the client. Packets are 3-byte length + sequence;
 * commands start with sequence 0, so the handshake, auth data and LOCAL INFILE uploads never
 * look like commands. COM_QUERY and COM_STMT_EXECUTE are calls, ended when their result set
 * (or OK/ERR) is complete; COM_STMT_PREPARE only names a statement id (a call if it fails).
 * PING, INIT_DB, RESET and the like are tracked so replies line up, but are not reported. */
#define DB_PARSE_INTERNAL
#include "db_parse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MK_QUERY = 1, MK_PREPARE, MK_SILENT, MK_FIELDS, MK_STATS };
enum { RS_FIRST = 0, RS_COLDEFS, RS_AFTER_DEFS, RS_ROWS, RS_INFILE, RS_PREP_DEFS, RS_PREP_EOF };

#define MY_MAX_PACKET 0xffffffu
#define MY_CLIENT_SSL 0x800u
#define MY_DEPRECATE_EOF 0x01000000u
#define MY_MORE_RESULTS 0x0008u
#define MY_STMT_KEY(id) ((1ULL << 32) | (id))

struct mysql_state {
	struct db_framer fr[2];
	bool handshake;      /* greeting seen, auth not finished */
	bool cont[2];        /* the last packet was 16 MB: the next continues it */
	uint8_t eof_mode;    /* 0 unknown, 1 EOF packets, 2 CLIENT_DEPRECATE_EOF */
	uint32_t server_caps;
	/* progress of the reply to the head request (MySQL does not pipeline) */
	uint8_t rs, group;
	bool mid;            /* a reply is under way: sequence numbers run on */
	uint64_t left;
	uint16_t prep_cols;
	uint64_t last_read;  /* ts of the last read, followed or not */
};

static bool lenenc(const uint8_t *b, size_t n, size_t *i, uint64_t *v);
static uint32_t le16(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8; }
static uint32_t le24(const uint8_t *p) { return le16(p) | (uint32_t)p[2] << 16; }
static uint32_t le32(const uint8_t *p) { return le24(p) | (uint32_t)p[3] << 24; }

void *mysql_new(void)
{
	return calloc(1, sizeof(struct mysql_state));
}

static bool is_command(uint8_t cmd)
{
	return cmd >= 0x01 && cmd <= 0x1f && cmd != 0x05 && cmd != 0x06;
}

static bool is_greeting(const uint8_t *p, size_t cap)
{
	return cap >= 6 && p[3] == 0 && p[4] == 0x0a && le24(p) >= 20 && le24(p) < 1024 &&
	       p[5] >= '0' && p[5] <= '9';
}

bool mysql_looks_like(const uint8_t *p, size_t cap, size_t len, int send)
{
	if (cap < 5) /* a whole I/O shorter than a header: only the sequence can be judged */
		return cap && cap == len && (cap < 4 || p[3] == (send ? 0 : 1));
	uint32_t plen = le24(p);
	uint8_t seq = p[3], b0 = p[4];
	if (!plen)
		return false;
	if (send) {
		if (seq || !is_command(b0))
			return false;
		/* COM_STMT_EXECUTE: flags are a cursor type, the iteration count is always 1 */
		if (b0 == 0x17 && (plen < 10 || (cap >= 14 && (p[9] > 0x0f || le32(p + 10) != 1))))
			return false;
		/* a query's text looks like text (the attribute prefix 00 01 aside) */
		size_t at = cap > 6 && p[5] == 0 && p[6] == 1 ? 7 : 5;
		for (size_t i = at; b0 == 0x03 && i < cap && i < at + 16 && i < 4 + plen; i++)
			if ((p[i] < 0x20 && !strchr("\t\r\n", p[i])) || p[i] == 0x7f)
				return false;
		return true;
	}
	if (is_greeting(p, cap))
		return true;
	if (seq != 1)
		return false;
	if (b0 == 0x00)
		return plen >= 7;
	if (b0 == 0xff)
		return plen >= 3;
	if (b0 == 0xfe)
		return plen < 9;
	/* a result set's column count, length-encoded (fc xx xx past 250 columns: a reply
	 * refused here was paired with the next command's); libmariadb with
	 * MARIADB_CLIENT_CACHE_METADATA adds a "metadata follows" byte (0 or 1) */
	uint32_t w = b0 < 0xfb ? 1 : b0 == 0xfc ? 3 : 0;
	return w && (plen == w || (plen == w + 1 && (cap < 4 + plen || p[3 + plen] <= 1)));
}

/* A read that opens a result set: the column count (seq 1), then a column definition (seq 2)
 * whose catalog is always "def". The reply to a statement run before we could classify. */
bool mysql_result_start(const uint8_t *p, size_t cap)
{
	if (cap < 13 || p[3] != 1)
		return false;
	size_t plen = le24(p), i = 4;
	uint64_t ncols;
	if (!plen || plen > 9 || 4 + plen + 8 > cap || !lenenc(p, 4 + plen, &i, &ncols) || !ncols)
		return false;
	/* libmariadb's metadata flag may follow the count */
	if (i != 4 + plen && !(i + 1 == 4 + plen && p[i] <= 1))
		return false;
	const uint8_t *d = p + 4 + plen;
	return d[3] == 2 && !memcmp(d + 4, "\x03" "def", 4);
}

static int64_t my_hdr_len(const struct db_framer *f, int send)
{
	(void)send;
	return le24(f->hdr);
}

static bool lenenc(const uint8_t *b, size_t n, size_t *i, uint64_t *v)
{
	if (*i >= n)
		return false;
	uint8_t x = b[*i];
	if (x < 0xfb) {
		*v = x;
		*i += 1;
		return true;
	}
	size_t w = x == 0xfc ? 2 : x == 0xfd ? 3 : x == 0xfe ? 8 : 0;
	if (!w || *i + 1 + w > n)
		return false;
	*v = 0;
	for (size_t k = 0; k < w; k++)
		*v |= (uint64_t)b[*i + 1 + k] << (8 * k);
	*i += 1 + w;
	return true;
}

static void client_packet(struct db_conn *c, struct mysql_state *s, struct db_framer *f,
			  db_call_cb cb, void *ctx)
{
	const uint8_t *b = f->buf;
	size_t n = f->kept;
	uint8_t seq = f->hdr[3];
	if (s->handshake && seq == 1 && n >= 4) {
		uint32_t caps = le32(b);
		if (f->body_len == 32 && (caps & MY_CLIENT_SSL)) {
			c->ignore = true; /* SSLRequest: TLS follows */
			return;
		}
		if (s->server_caps)
			s->eof_mode = (caps & s->server_caps & MY_DEPRECATE_EOF) ? 2 : 1;
		return;
	}
	if (seq || !n) /* auth data, LOCAL INFILE data, long data */
		return;
	struct db_pending *e;
	uint8_t cmd = b[0];
	switch (cmd) {
	case 0x01: /* COM_QUIT */
	case 0x18: /* COM_STMT_SEND_LONG_DATA */
		return;
	case 0x19: /* COM_STMT_CLOSE */
		if (n >= 5)
			db_stmt_del(c, MY_STMT_KEY(le32(b + 1)));
		return;
	case 0x11: /* COM_CHANGE_USER: an auth exchange follows */
		s->handshake = true;
		return;
	}
	/* MySQL does not pipeline: a command sent after a read we could not follow means the
	 * commands waiting got their replies (ones we did not recognize). Left queued, each
	 * would take the next command's reply, and the last call would never end. */
	struct db_pending *last = db_q_at(c, c->q.n - 1);
	if (!c->synced[0] && last && s->last_read > last->call.start_ns) {
		c->orphans = true;
		c->orphan_end = s->last_read;
	}
	if (!(e = db_q_push(c, f->ts0, f->tid0, cb, ctx)))
		return;
	if (cmd == 0x03 || cmd == 0x16) {
		size_t at = 1;
		/* CLIENT_QUERY_ATTRIBUTES: parameter count 0, one parameter set */
		if (cmd == 0x03 && n >= 3 && b[1] == 0 && b[2] == 1)
			at = 3;
		e->kind = cmd == 0x03 ? MK_QUERY : MK_PREPARE;
		e->flags = cmd == 0x03 ? DB_PF_CALL : 0;
		db_set_sql(&e->call, (const char *)b + at, n - at, SQLN_MYSQL);
	} else if (cmd == 0x17) {
		struct db_stmt *st = n >= 5 ? db_stmt_find(c, MY_STMT_KEY(le32(b + 1))) : NULL;
		e->kind = MK_QUERY;
		e->flags = DB_PF_CALL;
		if (st) {
			memcpy(e->call.op, st->op, sizeof(st->op));
			memcpy(e->call.text, st->text, sizeof(st->text));
		} else { /* prepared before we attached: the reply tells what it did */
			e->flags |= DB_PF_UNNAMED;
			db_set_unnamed(&e->call, "", 0);
		}
	} else {
		e->kind = cmd == 0x04 ? MK_FIELDS : cmd == 0x09 ? MK_STATS : MK_SILENT;
	}
}

static void finish(struct db_conn *c, struct mysql_state *s, struct db_pending *h, uint64_t ts,
		   db_call_cb cb, void *ctx)
{
	if (h->flags & DB_PF_CALL || h->call.error)
		db_emit(c, h, ts, cb, ctx);
	db_q_pop(c);
	s->rs = RS_FIRST;
	s->mid = false;
}

static void set_error(struct db_pending *h, const uint8_t *b, size_t n)
{
	h->call.error = 1;
	if (n >= 3)
		snprintf(h->call.error_code, sizeof(h->call.error_code), "%u", le16(b + 1));
}

/* The status flags of an OK or EOF packet say whether another result set follows. */
static bool more_results(const uint8_t *b, size_t n, uint64_t plen)
{
	size_t i = 1;
	uint64_t v;
	if (b[0] == 0xfe && plen == 5)
		return n >= 5 && (le16(b + 3) & MY_MORE_RESULTS);
	if (!lenenc(b, n, &i, &v) || !lenenc(b, n, &i, &v) || i + 2 > n)
		return false;
	return le16(b + i) & MY_MORE_RESULTS;
}

/* OK/EOF ending a reply: either another result set follows or the call is done. */
static void end_or_more(struct db_conn *c, struct mysql_state *s, struct db_pending *h,
			const uint8_t *b, size_t n, uint64_t plen, uint64_t ts, db_call_cb cb,
			void *ctx)
{
	if (more_results(b, n, plen)) {
		s->rs = RS_FIRST;
		s->mid = true;
	} else {
		finish(c, s, h, ts, cb, ctx);
	}
}

/* What an OK packet says about the statement of an unnamed COM_STMT_EXECUTE: an UPDATE
 * reports "Rows matched:" in its info, an INSERT a generated id; a DELETE (and the rest)
 * leave nothing to tell them apart, so EXECUTE. The info is a length-prefixed string
 * (CLIENT_SESSION_TRACK) or the packet's rest. */
static const char *ok_op(const uint8_t *b, size_t n)
{
	static const char um[] = "Rows matched:";
	size_t i = 1;
	uint64_t affected, id;
	if (!lenenc(b, n, &i, &affected) || !lenenc(b, n, &i, &id))
		return "";
	i += 4; /* status, warnings */
	for (size_t k = i; k <= i + 1 && k + sizeof(um) - 1 <= n; k++)
		if (!memcmp(b + k, um, sizeof(um) - 1))
			return "UPDATE";
	return id ? "INSERT" : "";
}

static void query_reply(struct db_conn *c, struct mysql_state *s, struct db_pending *h,
			struct db_framer *f, const uint8_t *b, size_t n, uint64_t ts, db_call_cb cb,
			void *ctx)
{
	size_t i = 0;
	uint64_t plen = f->body_len, v;
	bool eof = b[0] == 0xfe && plen < MY_MAX_PACKET;
	if (b[0] == 0xff && s->rs != RS_COLDEFS) {
		set_error(h, b, n);
		finish(c, s, h, ts, cb, ctx);
		return;
	}
	switch (s->rs) {
	case RS_FIRST:
		s->mid = true;
		if (h->flags & DB_PF_UNNAMED) {
			const char *op = b[0] == 0x00 ? ok_op(b, n) : b[0] < 0xfb || b[0] == 0xfc ? "SELECT" : "";
			db_set_unnamed(&h->call, op, strlen(op));
			h->flags &= ~DB_PF_UNNAMED;
		}
		if (b[0] == 0x00)
			end_or_more(c, s, h, b, n, plen, ts, cb, ctx);
		else if (b[0] == 0xfb)
			s->rs = RS_INFILE;
		else if (!lenenc(b, n, &i, &v) || !v)
			finish(c, s, h, ts, cb, ctx);
		else if (plen == i + 1 && i < n && b[i] == 0)
			s->rs = RS_ROWS; /* MariaDB skipped the column definitions it knows we cached */
		else
			s->rs = RS_COLDEFS, s->left = v;
		break;
	case RS_COLDEFS:
		if (!--s->left)
			s->rs = RS_AFTER_DEFS;
		break;
	case RS_AFTER_DEFS:
		/* an EOF is exactly 5 bytes; an OK in its place (DEPRECATE_EOF) at least 7 */
		if (eof && plen == 5) {
			s->eof_mode = 1;
			s->rs = RS_ROWS;
		} else if (eof) {
			s->eof_mode = 2;
			end_or_more(c, s, h, b, n, plen, ts, cb, ctx);
		} else {
			s->rs = RS_ROWS;
		}
		break;
	case RS_ROWS:
		if (eof)
			end_or_more(c, s, h, b, n, plen, ts, cb, ctx);
		break;
	case RS_INFILE:
		if (b[0] == 0x00)
			end_or_more(c, s, h, b, n, plen, ts, cb, ctx);
		break;
	}
}

static void prep_next_group(struct db_conn *c, struct mysql_state *s, struct db_pending *h,
			    uint64_t ts, db_call_cb cb, void *ctx)
{
	if (s->group == 0 && s->prep_cols) {
		s->group = 1;
		s->left = s->prep_cols;
		s->rs = RS_PREP_DEFS;
	} else {
		finish(c, s, h, ts, cb, ctx); /* a trailing EOF, if any, is skipped by its seq */
	}
}

static void prepare_reply(struct db_conn *c, struct mysql_state *s, struct db_pending *h,
			  struct db_framer *f, uint64_t ts, db_call_cb cb, void *ctx)
{
	const uint8_t *b = f->buf;
	size_t n = f->kept;
	bool eof = b[0] == 0xfe && f->body_len == 5;
	if (s->rs == RS_FIRST) {
		s->mid = true;
		if (b[0] != 0x00 || n < 9) {
			if (b[0] == 0xff)
				set_error(h, b, n);
			finish(c, s, h, ts, cb, ctx);
			return;
		}
		struct db_stmt *st = db_stmt_put(c, MY_STMT_KEY(le32(b + 1)));
		if (st) {
			memcpy(st->op, h->call.op, sizeof(st->op));
			memcpy(st->text, h->call.text, sizeof(st->text));
		}
		s->prep_cols = le16(b + 5);
		s->left = le16(b + 7);
		s->group = 0;
		if (s->left)
			s->rs = RS_PREP_DEFS;
		else
			prep_next_group(c, s, h, ts, cb, ctx);
		return;
	}
	if (s->rs == RS_PREP_EOF) {
		prep_next_group(c, s, h, ts, cb, ctx);
		return;
	}
	if (eof) { /* EOF after a group while we did not know the mode */
		s->eof_mode = 1;
		return;
	}
	if (--s->left)
		return;
	if (s->eof_mode == 1)
		s->rs = RS_PREP_EOF;
	else
		prep_next_group(c, s, h, ts, cb, ctx);
}

static void server_packet(struct db_conn *c, struct mysql_state *s, struct db_framer *f,
			  uint64_t ts, db_call_cb cb, void *ctx)
{
	const uint8_t *b = f->buf;
	size_t n = f->kept;
	uint8_t seq = f->hdr[3];
	static const uint8_t unseen = 0x01;
	if (!n && f->body_len) /* body not captured at all: count it as a row */
		b = &unseen;
	uint8_t b0 = b[0];
	if (seq == 0 && b0 == 0x0a && !c->q.n && n > 1) {
		/* greeting: version\0, id(4), salt(8), filler, caps low(2), charset, status, caps hi */
		const uint8_t *z = memchr(b + 1, 0, n - 1);
		size_t at = z ? (size_t)(z - b) + 1 + 4 + 8 + 1 : n;
		if (at + 7 <= n)
			s->server_caps = le16(b + at) | le16(b + at + 5) << 16;
		s->handshake = true;
		return;
	}
	if (s->handshake) {
		if (b0 == 0x00 || b0 == 0xff)
			s->handshake = false;
		return;
	}
	struct db_pending *h = db_q_at(c, 0);
	if (!s->mid && seq != 1)
		return; /* the EOF trailing a prepare reply, or a stray packet */
	if (!h) {
		c->st.unmatched_replies++;
		return;
	}
	if (!f->body_len)
		return;
	switch (h->kind) {
	case MK_QUERY:
		query_reply(c, s, h, f, b, n, ts, cb, ctx);
		break;
	case MK_PREPARE:
		prepare_reply(c, s, h, f, ts, cb, ctx);
		break;
	case MK_FIELDS:
		s->mid = true;
		if (b0 == 0xff || (b0 == 0xfe && f->body_len < 9))
			finish(c, s, h, ts, cb, ctx);
		break;
	default:
		finish(c, s, h, ts, cb, ctx);
		break;
	}
}

static bool my_msg(struct db_conn *c, struct db_framer *f, int send, uint64_t ts, db_call_cb cb,
		   void *ctx)
{
	struct mysql_state *s = c->proto;
	/* a packet following a 16 MB one is the rest of the same payload */
	bool cont = s->cont[send];
	s->cont[send] = f->body_len == MY_MAX_PACKET;
	if (cont)
		return true;
	if (send)
		client_packet(c, s, f, cb, ctx);
	else
		server_packet(c, s, f, ts, cb, ctx);
	return !c->ignore;
}

void mysql_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
		uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx)
{
	struct mysql_state *s = c->proto;
	struct db_framer *f = &s->fr[send];
	/* during the handshake the client's packets (seq 1, 3...) are expected too */
	bool looks = mysql_looks_like(p, cap, len, send) || (send && s->handshake && cap >= 4);
	bool fresh;
	if (!send)
		s->last_read = ts;
	if (!send && !c->synced[0] && is_greeting(p, cap))
		c->recv_wait_req = false; /* the server speaks first */
	if (!db_sync(c, send, looks, &fresh))
		return;
	if (fresh) {
		db_framer_reset(f, 4);
		s->cont[send] = false;
		if (!send) {
			s->rs = RS_FIRST;
			s->mid = false;
		}
	}
	int r = db_framer_feed(c, f, send, p, cap, ts, tid, my_hdr_len, my_msg, cb, ctx);
	if (!r && len > cap && c->synced[send] && !c->ignore)
		r = db_framer_feed(c, f, send, NULL, len - cap, ts, tid, my_hdr_len, my_msg, cb, ctx);
	if (r)
		db_lose(c, send, r == -2, ts);
}
