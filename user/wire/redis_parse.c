/* Redis RESP2/RESP3 (and inline commands), seen from the client. A streaming parser walks
 * lines and skips bulk strings by their declared length, so values larger than the capture
 * cost nothing. Replies match requests first-in first-out; inside MULTI each command's
 * +QUEUED parks it until the EXEC array hands it its real result. */
#define DB_PARSE_INTERNAL
#include "db_parse.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define RESP_LINE 256
#define RESP_DEPTH 8
#define RESP_MAX_LINE (64 * 1024)
#define RESP_MAX_BULK (1ULL << 32)

enum { RK_OTHER = 0, RK_EXEC, RK_DISCARD };
enum { RS_WAIT = 0, RS_QUEUED = 1 };
enum { CACHE_NONE = 0, CACHE_ONE, CACHE_MANY };
#define RF_TX 0x10 /* queued inside MULTI */

struct resp_val {
	char type;
	bool nil, err, queued;
	char code[16];
	uint32_t nnil, nval; /* children that are nil / not nil */
};

struct resp_dir {
	char line[RESP_LINE];
	uint32_t llen, ltotal;
	bool in_bulk, started;
	bool bgap; /* part of the bulk string fell in a capture hole */
	uint64_t bulk_left, content_left;
	char bulk[128];
	uint32_t blen;
	uint32_t left[RESP_DEPTH];
	bool attr[RESP_DEPTH];
	int depth;
	uint32_t idx; /* index of the current element at depth 1 */
	struct resp_val top, el;
	uint64_t ts0;
	uint32_t tid0;
	uint32_t argc;
	char arg0[24], arg1[128];
};

struct redis_state {
	struct resp_dir d[2];
	bool in_multi;
};

void *redis_new(void)
{
	return calloc(1, sizeof(struct redis_state));
}

/* A RESP integer: any int64, INT64_MIN included; out of range is malformed, never UB. */
static bool parse_int(const char *s, size_t n, int64_t *v)
{
	bool neg = n && s[0] == '-';
	size_t i = neg;
	uint64_t x = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (i == n || n > 20)
		return false;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || x > (limit - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = neg ? (x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x) : (int64_t)x;
	return true;
}

bool redis_looks_like(const uint8_t *p, size_t cap, size_t len, int send)
{
	(void)len;
	if (!cap)
		return false;
	const char *types = send ? "*" : "+-:$*_#,(!=%~>|";
	if (!strchr(types, p[0]) || !p[0]) {
		if (!send)
			return false;
		size_t i = 0; /* inline command: a word, printable arguments, CRLF */
		while (i < cap && isalpha(p[i]))
			i++;
		if (i == cap && cap == len && cap < 32)
			return true; /* a write cut inside the word */
		if (i < 3 || i > 20)
			return false;
		for (; i < cap && p[i] != '\r'; i++)
			if (p[i] < 0x20 || p[i] > 0x7e)
				return false;
		return i + 1 < cap ? p[i + 1] == '\n' : cap == len || i >= cap;
	}
	bool num = strchr("*:$_#%~>|=!", p[0]) != NULL;
	for (size_t i = 1; i < cap && i < RESP_LINE; i++) {
		if (p[i] == '\r')
			return i + 1 >= cap ? cap == len : p[i + 1] == '\n';
		if (num ? !(isdigit(p[i]) || (i == 1 && p[i] == '-')) : (p[i] < 0x20 || p[i] > 0x7e))
			return false;
	}
	return cap == len && cap < RESP_LINE; /* a whole I/O cut inside its first line */
}

static bool has_key(const char *op)
{
	/* commands whose first argument is not a key (some are secrets: AUTH, HELLO, ACL) */
	static const char *const no_key[] = {
		"AUTH", "HELLO", "ACL", "CONFIG", "CLIENT", "SELECT", "PING", "ECHO", "INFO",
		"MULTI", "EXEC", "DISCARD", "UNWATCH", "SCRIPT", "EVAL", "EVALSHA", "EVAL_RO",
		"EVALSHA_RO", "FCALL", "FCALL_RO", "FUNCTION", "COMMAND", "CLUSTER", "DEBUG",
		"OBJECT", "MEMORY", "XREAD", "XREADGROUP", "XGROUP", "XINFO", "MIGRATE", "SCAN",
		"KEYS", "FLUSHDB", "FLUSHALL", "DBSIZE", "SAVE", "BGSAVE", "BGREWRITEAOF",
		"LASTSAVE", "TIME", "SLOWLOG", "LATENCY", "SHUTDOWN", "REPLICAOF", "SLAVEOF",
		"SWAPDB", "WAIT", "WAITAOF", "READONLY", "READWRITE", "QUIT", "RESET", "MONITOR",
		"SYNC", "PSYNC", "ROLE", "MODULE", "LOLWUT", "BITOP", "SUBSCRIBE", "PSUBSCRIBE",
		"SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "PUBLISH",
		"SPUBLISH", "PUBSUB", "ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD",
		"LMPOP", "ZMPOP", "BLMPOP", "BZMPOP", "FAILOVER", "SENTINEL", "ASKING", NULL,
	};
	for (int i = 0; no_key[i]; i++)
		if (!strcmp(op, no_key[i]))
			return false;
	return true;
}

static int cache_kind(const char *op)
{
	if (!strcmp(op, "GET") || !strcmp(op, "GETEX") || !strcmp(op, "GETDEL") || !strcmp(op, "HGET"))
		return CACHE_ONE;
	if (!strcmp(op, "MGET") || !strcmp(op, "HMGET"))
		return CACHE_MANY;
	return CACHE_NONE;
}

static void set_arg(struct resp_dir *d, uint32_t idx, const char *s, size_t n)
{
	if (idx == 0) {
		db_copy_str(d->arg0, sizeof(d->arg0), s, n);
		for (char *q = d->arg0; *q; q++)
			*q = (char)toupper((unsigned char)*q);
	} else if (idx == 1) {
		db_copy_str(d->arg1, sizeof(d->arg1), s, n);
	}
	d->argc = idx + 1;
}

static void push_request(struct db_conn *c, struct redis_state *rs, struct resp_dir *d,
			 bool trunc, db_call_cb cb, void *ctx)
{
	if (!d->argc || !d->arg0[0])
		return;
	for (const char *q = d->arg0; *q; q++)
		if (!isalnum((unsigned char)*q) && !strchr("_-.|", *q))
			return; /* not a command name: garbage, or bytes we misframed */
	struct db_pending *e = db_q_push(c, d->ts0, d->tid0, cb, ctx);
	bool exec = !strcmp(d->arg0, "EXEC"), discard = !strcmp(d->arg0, "DISCARD");
	if (e) {
		e->flags = DB_PF_CALL | (trunc ? DB_PF_TRUNC : 0) |
			   (rs->in_multi && !exec && !discard ? RF_TX : 0);
		e->kind = exec ? RK_EXEC : discard ? RK_DISCARD : RK_OTHER;
		e->aux = cache_kind(d->arg0);
		strcpy(e->call.op, d->arg0);
		strcpy(e->call.text, d->arg0);
		if (d->argc > 1 && has_key(d->arg0))
			strcpy(e->call.key, d->arg1);
	}
	if (!strcmp(d->arg0, "MULTI"))
		rs->in_multi = true;
	else if (exec || discard)
		rs->in_multi = false;
}

static void apply(struct db_pending *e, const struct resp_val *v)
{
	if (v->err) {
		e->call.error = 1;
		memcpy(e->call.error_code, v->code, sizeof(v->code));
	} else if (e->aux == CACHE_ONE) {
		v->nil ? e->call.cache_misses++ : e->call.cache_hits++;
	} else if (e->aux == CACHE_MANY && !v->nil) {
		e->call.cache_hits += v->nval;
		e->call.cache_misses += v->nnil;
	}
}

static struct db_pending *first_in(struct db_conn *c, uint8_t state)
{
	struct db_pending *e;
	for (uint32_t i = 0; (e = db_q_at(c, i)); i++)
		if (e->state == state)
			return e;
	return NULL;
}

/* An element of an EXEC reply is the result of the oldest command still queued. */
static void exec_element(struct db_conn *c, struct resp_dir *d, uint64_t ts, db_call_cb cb,
			 void *ctx)
{
	struct db_pending *e = first_in(c, RS_WAIT), *q;
	if (d->top.type != '*' || c->q.skip_replies || !e || e->kind != RK_EXEC)
		return;
	if ((q = first_in(c, RS_QUEUED))) {
		apply(q, &d->el);
		db_emit(c, q, ts, cb, ctx);
	}
}

/* EXEC or DISCARD answered: what is still queued was aborted (error) or never ran. */
static void end_transaction(struct db_conn *c, const struct resp_val *v, uint64_t ts,
			    db_call_cb cb, void *ctx)
{
	struct db_pending *q;
	while ((q = first_in(c, RS_QUEUED))) {
		if (v->err) {
			apply(q, v);
			db_emit(c, q, ts, cb, ctx);
		} else {
			q->state = DB_DONE;
		}
	}
}

/* Returns false when the reply stream must be dropped (a truncated request was answered). */
static bool reply_done(struct db_conn *c, struct resp_dir *d, uint64_t ts, db_call_cb cb,
		       void *ctx)
{
	const struct resp_val *v = &d->top;
	if (v->type == '>')
		return true; /* RESP3 push: not a reply */
	if (c->q.skip_replies) {
		c->q.skip_replies--;
		return true;
	}
	struct db_pending *e = first_in(c, RS_WAIT);
	if (!e) {
		c->st.unmatched_replies++;
		return true;
	}
	if ((e->flags & RF_TX) && v->queued) {
		e->state = RS_QUEUED;
		return true;
	}
	if (e->kind != RK_OTHER)
		end_transaction(c, v, ts, cb, ctx);
	apply(e, v);
	db_emit(c, e, ts, cb, ctx);
	bool trunc = e->flags & DB_PF_TRUNC;
	db_q_drain(c);
	if (trunc) /* what followed that request in its write was never seen */
		db_lose(c, 0, false, ts);
	return !trunc;
}

static void begin(struct resp_dir *d, char t)
{
	if (d->depth == 0) {
		memset(&d->top, 0, sizeof(d->top));
		d->top.type = t;
		d->argc = 0;
		d->arg0[0] = d->arg1[0] = 0;
		d->idx = 0;
	} else if (d->depth == 1) {
		memset(&d->el, 0, sizeof(d->el));
		d->el.type = t;
	}
}

/* A value at the current depth ended; close the aggregates it completes. */
static bool end_value(struct db_conn *c, struct redis_state *rs, struct resp_dir *d, int send,
		      bool nil, const char *s, size_t sn, uint64_t ts, db_call_cb cb, void *ctx)
{
	struct resp_val *v = d->depth == 0 ? &d->top : d->depth == 1 ? &d->el : NULL;
	if (v) {
		v->nil = nil;
		if (v->type == '-' || v->type == '!') {
			size_t w = 0;
			while (w < sn && s[w] != ' ')
				w++;
			v->err = true;
			db_copy_str(v->code, sizeof(v->code), s, w);
		}
		v->queued = v->type == '+' && sn == 6 && !memcmp(s, "QUEUED", 6);
		if (send && d->depth == 1 && d->idx < 2) {
			if (d->bgap && !d->idx) /* the command name was not captured */
				s = "UNKNOWN", sn = 7;
			set_arg(d, d->idx, s, sn);
		}
	}
	for (;;) {
		int dep = d->depth;
		if (dep == 0) {
			d->started = false;
			if (send) {
				push_request(c, rs, d, false, cb, ctx);
				return true;
			}
			return reply_done(c, d, ts, cb, ctx);
		}
		if (dep == 1) {
			nil ? d->top.nnil++ : d->top.nval++;
			if (!send)
				exec_element(c, d, ts, cb, ctx);
			d->idx++;
			if (send)
				d->argc = d->idx;
		} else if (dep == 2) {
			nil ? d->el.nnil++ : d->el.nval++;
		}
		if (--d->left[dep - 1])
			return true;
		d->depth--; /* the aggregate itself ends */
		nil = false;
		if (d->attr[d->depth]) { /* RESP3 attribute: metadata, not a value */
			if (!d->depth)
				d->started = false;
			return true;
		}
	}
}

static bool inline_command(struct db_conn *c, struct redis_state *rs, struct resp_dir *d,
			   db_call_cb cb, void *ctx)
{
	const char *l = d->line;
	size_t n = d->llen, i = 0, idx = 0;
	while (i < n && idx < 2) {
		while (i < n && l[i] == ' ')
			i++;
		size_t w = i;
		while (i < n && l[i] != ' ')
			i++;
		if (i > w)
			set_arg(d, idx++, l + w, i - w);
	}
	d->started = false;
	push_request(c, rs, d, false, cb, ctx);
	return true;
}

/* A whole line (CRLF stripped, maybe cut to RESP_LINE). Returns 0, or -2 if malformed. */
static int on_line(struct db_conn *c, struct redis_state *rs, struct resp_dir *d, int send,
		   uint64_t ts, db_call_cb cb, void *ctx)
{
	const char *l = d->line;
	size_t n = d->llen;
	int64_t v = 0;
	if (!n) {
		if (send && !d->depth) { /* empty inline line: redis ignores it */
			d->started = false;
			return 0;
		}
		return -2;
	}
	char t = l[0];
	if (strchr("*%~>|$=!:", t) && !parse_int(l + 1, n - 1, &v))
		return -2;
	switch (t) {
	case '*': case '%': case '~': case '>': case '|':
		if (v < -1 || v > (1 << 30))
			return -2;
		begin(d, t);
		if (v < 1)
			return end_value(c, rs, d, send, v < 0, "", 0, ts, cb, ctx) ? 0 : 1;
		if (d->depth >= RESP_DEPTH)
			return -2;
		d->left[d->depth] = (uint32_t)((t == '%' || t == '|') ? 2 * v : v);
		d->attr[d->depth] = t == '|';
		d->depth++;
		return 0;
	case '$': case '=': case '!':
		if (v < -1 || (v > 0 && (uint64_t)v > RESP_MAX_BULK))
			return -2;
		begin(d, t);
		if (v < 0)
			return end_value(c, rs, d, send, true, "", 0, ts, cb, ctx) ? 0 : 1;
		d->in_bulk = true;
		d->bulk_left = (uint64_t)v + 2;
		d->content_left = (uint64_t)v;
		d->blen = 0;
		d->bgap = false;
		return 0;
	case '+': case '-': case ':': case '_': case '#': case ',': case '(':
		begin(d, t);
		return end_value(c, rs, d, send, t == '_', l + 1, n - 1, ts, cb, ctx) ? 0 : 1;
	default:
		if (!send || d->depth)
			return -2;
		begin(d, 0);
		return inline_command(c, rs, d, cb, ctx) ? 0 : 1;
	}
}

/* Known bytes, or a hole (p NULL). Returns 0, 1 (stop: stream dropped), -1 hole in the
 * structure, -2 malformed. */
static int resp_feed(struct db_conn *c, struct redis_state *rs, int send, const uint8_t *p,
		     size_t n, uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx)
{
	struct resp_dir *d = &rs->d[send];
	size_t i = 0;
	while (i < n) {
		if (d->in_bulk) {
			uint64_t take = d->bulk_left < n - i ? d->bulk_left : n - i;
			uint64_t keep = take < d->content_left ? take : d->content_left;
			d->bgap |= !p && keep;
			if (p && keep && d->blen < sizeof(d->bulk)) {
				size_t k = keep < sizeof(d->bulk) - d->blen ? keep : sizeof(d->bulk) - d->blen;
				memcpy(d->bulk + d->blen, p + i, k);
				d->blen += k;
			}
			d->content_left -= keep;
			d->bulk_left -= take;
			i += take;
			if (d->bulk_left)
				continue;
			d->in_bulk = false;
			if (!end_value(c, rs, d, send, false, d->bulk, d->blen, ts, cb, ctx))
				return 1;
			continue;
		}
		if (!p)
			return -1;
		if (!d->started && !d->depth && !d->ltotal) {
			d->started = true;
			d->ts0 = ts;
			d->tid0 = tid;
		}
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t take = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
		size_t room = RESP_LINE - 1 - d->llen;
		memcpy(d->line + d->llen, p + i, take < room ? take : room);
		d->llen += take < room ? take : room;
		d->ltotal += take;
		i += take;
		if (!nl) {
			if (d->ltotal > RESP_MAX_LINE)
				return -2;
			continue;
		}
		/* strip CRLF (only if it was kept) */
		if (d->ltotal == d->llen) {
			d->llen--;
			if (d->llen && d->line[d->llen - 1] == '\r')
				d->llen--;
		}
		int r = on_line(c, rs, d, send, ts, cb, ctx);
		d->llen = d->ltotal = 0;
		if (r)
			return r;
		if (!c->synced[send])
			return 1;
	}
	return 0;
}

static void reset_dir(struct resp_dir *d)
{
	d->llen = d->ltotal = 0;
	d->in_bulk = d->started = false;
	d->depth = 0;
}

/* The capture ended inside the structure (not inside a bulk string). */
static void on_hole(struct db_conn *c, struct redis_state *rs, int send, uint64_t ts,
		    db_call_cb cb, void *ctx)
{
	struct resp_dir *d = &rs->d[send];
	if (send) {
		/* clients write whole commands: take the command as ending with this write, and
		 * distrust the replies after its own */
		struct db_pending *last = db_q_at(c, c->q.n ? c->q.n - 1 : 0);
		if (d->started && d->argc)
			push_request(c, rs, d, true, cb, ctx);
		else if (last)
			last->flags |= DB_PF_TRUNC;
		else
			db_lose(c, 0, false, ts);
		reset_dir(d);
		db_lose_send(c);
		return;
	}
	/* the reply runs past what we can follow: keep what was counted, end it later */
	struct db_pending *e = first_in(c, RS_WAIT);
	if (e && d->started && !c->q.skip_replies) {
		if (d->depth && d->top.type != '>') { /* an array under way: what was counted */
			apply(e, &d->top);
		} else if (!d->depth && d->llen && d->line[0] == '-') { /* a long error line */
			struct resp_val v = { .type = '-', .err = true };
			size_t w = 1;
			while (w < d->llen && d->line[w] != ' ')
				w++;
			db_copy_str(v.code, sizeof(v.code), d->line + 1, w - 1);
			apply(e, &v);
		}
	}
	reset_dir(d);
	db_lose(c, 0, false, ts);
}

void redis_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
		uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx)
{
	struct redis_state *rs = c->proto;
	bool fresh;
	if (!db_sync(c, send, redis_looks_like(p, cap, len, send), &fresh))
		return;
	if (fresh)
		reset_dir(&rs->d[send]);
	int r = resp_feed(c, rs, send, p, cap, ts, tid, cb, ctx);
	if (!r && len > cap)
		r = resp_feed(c, rs, send, NULL, len - cap, ts, tid, cb, ctx);
	if (r == -1) {
		on_hole(c, rs, send, ts, cb, ctx);
	} else if (r == -2) {
		reset_dir(&rs->d[send]);
		db_lose(c, send, true, ts);
	}
}
