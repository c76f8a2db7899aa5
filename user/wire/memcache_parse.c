/* memcached text protocol (and the basic meta commands), seen from the client. Lines are
 * commands and replies; data blocks (after storage commands and VALUE lines) are skipped by
 * their declared byte count, so values larger than the capture cost nothing. A retrieval
 * counts one hit per VALUE and one miss per requested key without one. noreply commands get
 * no reply: they are reported at once with end == start. */
#define DB_PARSE_INTERNAL
#include "db_parse.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MC_LINE 512
#define MC_MAX_LINE (64 * 1024)
#define MC_MAX_DATA (1ULL << 32)

enum { MK_NONE = 0, MK_ONE, MK_RETR, MK_STATS, MK_META };
enum { MS_WAIT = 0 };

struct mc_dir {
	char line[MC_LINE];
	uint32_t llen, ltotal;
	uint32_t ntok;     /* tokens in the whole line, counted past MC_LINE too */
	bool in_tok, started, in_data;
	bool end_after_data; /* a meta VA reply ends with its data block */
	uint64_t data_left;
	uint64_t ts0;
	uint32_t tid0;
};

struct mc_state {
	struct mc_dir d[2];
};

struct mc_cmd {
	const char *name;
	uint8_t kind;
	uint8_t data_tok;  /* token holding the data block size */
	uint8_t first_key; /* token of the first key, 0: no key */
};

static const struct mc_cmd CMDS[] = {
	{ "get", MK_RETR, 0, 1 },    { "gets", MK_RETR, 0, 1 },   { "gat", MK_RETR, 0, 2 },
	{ "gats", MK_RETR, 0, 2 },   { "set", MK_ONE, 4, 1 },     { "add", MK_ONE, 4, 1 },
	{ "replace", MK_ONE, 4, 1 }, { "append", MK_ONE, 4, 1 },  { "prepend", MK_ONE, 4, 1 },
	{ "cas", MK_ONE, 4, 1 },     { "delete", MK_ONE, 0, 1 },  { "incr", MK_ONE, 0, 1 },
	{ "decr", MK_ONE, 0, 1 },    { "touch", MK_ONE, 0, 1 },   { "stats", MK_STATS, 0, 0 },
	{ "version", MK_ONE, 0, 0 }, { "flush_all", MK_ONE, 0, 0 }, { "verbosity", MK_ONE, 0, 0 },
	{ "quit", MK_NONE, 0, 0 },   { "mg", MK_META, 0, 1 },     { "ms", MK_ONE, 2, 1 },
	{ "md", MK_ONE, 0, 1 },      { "ma", MK_META, 0, 1 },     { "mn", MK_ONE, 0, 0 },
	{ NULL, 0, 0, 0 },
};

static const char *const REPLIES[] = {
	"VALUE", "END", "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED",
	"OK", "ERROR", "CLIENT_ERROR", "SERVER_ERROR", "STAT", "ITEM", "VERSION", "VA", "HD",
	"EN", "NS", "EX", "NF", "MN", "RESET", NULL,
};

void *mc_new(void)
{
	return calloc(1, sizeof(struct mc_state));
}

static size_t word_len(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

static const struct mc_cmd *find_cmd(const char *w, size_t n)
{
	for (const struct mc_cmd *c = CMDS; c->name; c++)
		if (strlen(c->name) == n && !memcmp(c->name, w, n))
			return c;
	return NULL;
}

static bool is_reply(const char *w, size_t n)
{
	bool num = n > 0;
	for (size_t i = 0; i < n; i++)
		num &= isdigit((unsigned char)w[i]) != 0;
	if (num)
		return true; /* incr/decr */
	for (int i = 0; REPLIES[i]; i++)
		if (strlen(REPLIES[i]) == n && !memcmp(REPLIES[i], w, n))
			return true;
	return false;
}

static bool prefix_known(const uint8_t *p, size_t n, int send)
{
	for (const struct mc_cmd *c = CMDS; send && c->name; c++)
		if (strlen(c->name) >= n && !memcmp(c->name, p, n))
			return true;
	for (int i = 0; !send && REPLIES[i]; i++)
		if (strlen(REPLIES[i]) >= n && !memcmp(REPLIES[i], p, n))
			return true;
	return !send && isdigit(p[0]);
}

bool mc_looks_like(const uint8_t *p, size_t cap, size_t len, int send)
{
	size_t w = word_len(p, cap);
	if (!w)
		return false;
	if (w == cap) /* the word goes on past this I/O: accept a prefix of a known one */
		return cap == len && cap <= 16 && prefix_known(p, cap, send);
	return send ? find_cmd((const char *)p, w) != NULL : is_reply((const char *)p, w);
}

/* The i-th space-separated token of the kept line; a line with fewer tokens gives an empty one
 * at its end (*t is always set: callers copy 0 bytes from it). */
static size_t token(const struct mc_dir *d, uint32_t i, const char **t)
{
	size_t k = 0, n = d->llen;
	for (;;) {
		while (k < n && d->line[k] == ' ')
			k++;
		size_t w = k;
		while (k < n && d->line[k] != ' ')
			k++;
		if (k == w) {
			*t = d->line + k;
			return 0;
		}
		if (!i--) {
			*t = d->line + w;
			return k - w;
		}
	}
}

static bool token_u64(const struct mc_dir *d, uint32_t i, uint64_t *v)
{
	const char *t;
	size_t n = token(d, i, &t);
	*v = 0;
	for (size_t k = 0; k < n; k++) {
		if (!isdigit((unsigned char)t[k]) || *v > MC_MAX_DATA)
			return false;
		*v = *v * 10 + (uint64_t)(t[k] - '0');
	}
	return n > 0 && *v <= MC_MAX_DATA;
}

static struct db_pending *first_waiting(struct db_conn *c)
{
	struct db_pending *e;
	for (uint32_t i = 0; (e = db_q_at(c, i)); i++)
		if (e->state == MS_WAIT)
			return e;
	return NULL;
}

/* Returns -2 when the line is not a command we can frame. */
static int command_line(struct db_conn *c, struct mc_dir *d, bool trunc, db_call_cb cb, void *ctx)
{
	const char *w, *t;
	size_t wn = token(d, 0, &w);
	const struct mc_cmd *cmd = find_cmd(w, wn);
	if (!cmd)
		return -2;
	if (cmd->data_tok) {
		if (!token_u64(d, cmd->data_tok, &d->data_left))
			return -2;
		d->data_left += 2;
		d->in_data = true;
	}
	if (cmd->kind == MK_NONE)
		return 0;
	const char *last;
	size_t ln = token(d, d->ntok - 1, &last);
	bool noreply = ln == 7 && !memcmp(last, "noreply", 7);
	/* meta commands with the q flag answer only on failure: treat them as noreply */
	for (uint32_t i = 2; wn == 2 && i < d->ntok; i++)
		noreply |= token(d, i, &t) == 1 && t[0] == 'q';
	struct db_pending *e = db_q_push(c, d->ts0, d->tid0, cb, ctx);
	if (!e)
		return 0;
	e->kind = cmd->kind;
	e->flags = DB_PF_CALL | (trunc ? DB_PF_TRUNC : 0);
	for (size_t i = 0; i < wn && i + 1 < sizeof(e->call.op); i++)
		e->call.op[i] = (char)toupper((unsigned char)w[i]);
	strcpy(e->call.text, e->call.op);
	if (cmd->first_key) {
		size_t kn = token(d, cmd->first_key, &t);
		db_copy_str(e->call.key, sizeof(e->call.key), t, kn);
		/* keys requested; unknown (0) when the line was cut */
		if (cmd->kind == MK_RETR && !trunc && d->ntok > cmd->first_key)
			e->aux = d->ntok - cmd->first_key;
	}
	if (noreply) {
		db_emit(c, e, d->ts0, cb, ctx);
		db_q_drain(c);
	}
	return 0;
}

static void finish(struct db_conn *c, struct db_pending *e, uint64_t ts, db_call_cb cb, void *ctx)
{
	if (e->kind == MK_RETR && e->aux > e->call.cache_hits)
		e->call.cache_misses = e->aux - e->call.cache_hits;
	db_emit(c, e, ts, cb, ctx);
	bool trunc = e->flags & DB_PF_TRUNC;
	db_q_drain(c);
	if (trunc) /* what followed that request in its write was never seen */
		db_lose(c, 0, false, ts);
}

static int reply_line(struct db_conn *c, struct mc_dir *d, uint64_t ts, db_call_cb cb, void *ctx)
{
	const char *w;
	size_t wn = token(d, 0, &w);
	if (!is_reply(w, wn))
		return -2;
	struct db_pending *e = c->q.skip_replies ? NULL : first_waiting(c);
	bool value = wn == 5 && !memcmp(w, "VALUE", 5), va = wn == 2 && !memcmp(w, "VA", 2);
	if (value || va) {
		if (!token_u64(d, value ? 3 : 1, &d->data_left))
			return -2;
		d->data_left += 2;
		d->in_data = true;
		d->end_after_data = va;
		if (e)
			e->call.cache_hits++;
		return 0;
	}
	if ((wn == 4 && !memcmp(w, "STAT", 4)) || (wn == 4 && !memcmp(w, "ITEM", 4)))
		return 0;
	if (c->q.skip_replies) {
		c->q.skip_replies--;
		return 0;
	}
	if (!e) {
		c->st.unmatched_replies++;
		return 0;
	}
	if ((wn == 5 && !memcmp(w, "ERROR", 5)) || (wn == 12 && !memcmp(w, "CLIENT_ERROR", 12)) ||
	    (wn == 12 && !memcmp(w, "SERVER_ERROR", 12))) {
		e->call.error = 1;
		db_copy_str(e->call.error_code, sizeof(e->call.error_code), w, wn);
		e->aux = 0;
	} else if (wn == 2 && !memcmp(w, "EN", 2)) {
		e->call.cache_misses++;
	} else if (wn == 2 && !memcmp(w, "HD", 2) && e->kind == MK_META) {
		e->call.cache_hits++;
	}
	finish(c, e, ts, cb, ctx);
	return 0;
}

static void reset_dir(struct mc_dir *d)
{
	d->llen = d->ltotal = d->ntok = 0;
	d->in_tok = d->started = d->in_data = d->end_after_data = false;
}

static int line_done(struct db_conn *c, struct mc_dir *d, int send, bool trunc, uint64_t ts,
		     db_call_cb cb, void *ctx)
{
	if (d->llen && d->line[d->llen - 1] == '\r')
		d->llen--;
	d->line[d->llen] = 0;
	int r = send ? command_line(c, d, trunc, cb, ctx) : reply_line(c, d, ts, cb, ctx);
	d->llen = d->ltotal = d->ntok = 0;
	d->in_tok = d->started = false;
	return r;
}

/* Known bytes, or a hole (p NULL). Returns 0, -1 hole in a line, -2 malformed. */
static int mc_scan(struct db_conn *c, struct mc_dir *d, int send, const uint8_t *p, size_t n,
		   uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx)
{
	size_t i = 0;
	while (i < n && c->synced[send]) {
		if (d->in_data) {
			uint64_t take = d->data_left < n - i ? d->data_left : n - i;
			d->data_left -= take;
			i += take;
			if (!d->data_left) {
				d->in_data = false;
				struct db_pending *e = first_waiting(c);
				if (!send && d->end_after_data && e && !c->q.skip_replies)
					finish(c, e, ts, cb, ctx);
				d->end_after_data = false;
			}
			continue;
		}
		if (!p)
			return -1;
		if (!d->started) {
			d->started = true;
			d->ts0 = ts;
			d->tid0 = tid;
		}
		uint8_t ch = p[i++];
		d->ltotal++;
		if (ch == '\n') {
			int r = line_done(c, d, send, false, ts, cb, ctx);
			if (r)
				return r;
			continue;
		}
		bool sp = ch == ' ' || ch == '\r';
		if (!sp && !d->in_tok)
			d->ntok++;
		d->in_tok = !sp;
		if (d->llen < MC_LINE - 1)
			d->line[d->llen++] = (char)ch;
		if (d->ltotal > MC_MAX_LINE)
			return -2;
	}
	return 0;
}

void mc_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len, uint64_t ts,
	     uint32_t tid, db_call_cb cb, void *ctx)
{
	struct mc_state *s = c->proto;
	struct mc_dir *d = &s->d[send];
	bool fresh;
	if (!db_sync(c, send, mc_looks_like(p, cap, len, send), &fresh))
		return;
	if (fresh)
		reset_dir(d);
	int r = mc_scan(c, d, send, p, cap, ts, tid, cb, ctx);
	if (!r && len > cap && c->synced[send])
		r = mc_scan(c, d, send, NULL, len - cap, ts, tid, cb, ctx);
	if (r == -1 && send) {
		/* clients write whole command lines: take this one as ending with the write */
		struct db_pending *last = db_q_at(c, c->q.n ? c->q.n - 1 : 0);
		if (d->started && d->llen)
			r = line_done(c, d, 1, true, ts, cb, ctx);
		else if (last)
			last->flags |= DB_PF_TRUNC;
		reset_dir(d);
		db_lose_send(c);
		if (r != -2)
			return;
	}
	if (r) {
		reset_dir(d);
		db_lose(c, send, r == -2, ts);
	}
}
