/* Per-connection HTTP/1.x state machine: frames requests and responses byte-exactly by
 * counting each I/O's len, even where only its first cap bytes were captured, and pairs each
 * final response with the oldest pending request. A server reads requests and writes
 * responses; a client (the client role) writes requests and reads responses: only which
 * direction feeds which side differs, so "read"/"write" below are a server's words.
 *
 * When framing is lost (a head or chunk-size line lies in uncaptured bytes, a head overflows
 * the buffer) we recover instead of guessing: the request side waits for an I/O that starts
 * with a request; the response side switches to "ends at the last write before the next
 * request is read, at the next status line, at close, or once it has been quiet (settle)".
 *
 * The request side has a framing mode: HTTP, or uwsgi (nginx uwsgi_pass), whose 4-byte header
 * says how long the vars are, so its head is framed by counting even where it was not captured;
 * a request whose vars past the capture hide its body length loses framing as an HTTP one does. */
#include "http_parse.h"
#include "ring.h"
#include "uwsgi_parse.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Pipelined requests awaiting a response: the queue starts small and doubles as clients
 * pipeline deeper, up to QMAX; past that a request is counted as dropped. */
#define QMIN 16
#define QMAX 4096

enum dstate {
	D_UNSYNCED,     /* ignore bytes until an I/O starts with a message */
	D_IDLE,         /* the next byte starts a message */
	D_HEAD,         /* inside a head */
	D_BODY_LEN,     /* Content-Length body */
	D_BODY_CHUNKED,
	D_BODY_CLOSE,   /* response body runs until close */
	D_BODY_UNKNOWN, /* response framing lost: see top comment */
};

struct pend {
	char method[16];
	char path[256];
	char host[64];
	uint64_t start_ns;
	uint32_t tid;
	uint32_t resp_tid;
	uint8_t valid;  /* 0: placeholder that keeps FIFO order for a request we could not read */
};

struct dir {
	uint8_t st;
	uint8_t tentative;  /* head began while unsynced: if it is not HTTP, drop it silently */
	uint8_t uwsgi;      /* request side framed as uwsgi (enum http_req_framing) */
	uint8_t truncated;  /* uwsgi vars went past a capture: buf holds only their prefix */
	uint32_t line;      /* non-CR bytes in the head's current line */
	uint32_t buf_len;
	uint8_t *buf;       /* head bytes when a head spans I/Os; allocated on first need */
	uint64_t body_left;  /* body bytes to come; in a uwsgi head, vars bytes to come */
	struct http_chunker ch;
	uint64_t head_ts;
	uint32_t head_tid;
};

struct http_server_conn {
	struct dir req, resp;
	struct pend *q;         /* ring of qcap entries */
	uint32_t qhead, qlen, qcap;
	struct pend cur;        /* the request the response being written answers */
	int cur_status;
	uint64_t last_resp_ts;  /* ts of the latest I/O on the response side */
	uint8_t client;         /* client role: requests are written, responses read */
	struct http_conn_stats stats;
};

struct feed_ctx {
	uint64_t ts;
	uint32_t tid;
	http_txn_cb cb;
	void *ctx;
};

struct http_server_conn *http_server_conn_new_framed(enum http_req_framing framing)
{
	struct http_server_conn *c = calloc(1, sizeof(struct http_server_conn));
	if (c)
		c->req.uwsgi = framing == HTTP_REQ_UWSGI;
	return c;
}

struct http_server_conn *http_server_conn_new(void)
{
	return http_server_conn_new_framed(HTTP_REQ_HTTP);
}

struct http_server_conn *http_client_conn_new(void)
{
	struct http_server_conn *c = http_server_conn_new_framed(HTTP_REQ_HTTP);
	if (c)
		c->client = 1;
	return c;
}

void http_server_conn_free(struct http_server_conn *c)
{
	if (!c)
		return;
	free(c->req.buf);
	free(c->resp.buf);
	free(c->q);
	free(c);
}

/* Room for one more pending request. */
static bool queue_room(struct http_server_conn *c)
{
	return c->qlen < c->qcap || ring_grow((void **)&c->q, &c->qcap, &c->qhead, c->qlen, sizeof(*c->q), QMIN, QMAX);
}

void http_server_conn_stats(const struct http_server_conn *c, struct http_conn_stats *out)
{
	*out = c->stats;
}

static void deliver(const struct pend *p, int status, uint64_t end_ns, int aborted, const struct feed_ctx *f)
{
	if (!p->valid || !f->cb)
		return;
	struct http_txn t;
	memcpy(t.method, p->method, sizeof(t.method));
	memcpy(t.path, p->path, sizeof(t.path));
	memcpy(t.host, p->host, sizeof(t.host));
	t.status = status;
	t.aborted = aborted;
	t.start_ns = p->start_ns;
	t.end_ns = end_ns;
	t.tid = p->tid;
	t.resp_tid = p->resp_tid;
	f->cb(f->ctx, &t);
}

static void emit(struct http_server_conn *c, uint64_t end_ns, const struct feed_ctx *f)
{
	deliver(&c->cur, c->cur_status, end_ns, HTTP_ABORT_NONE, f);
	c->cur.valid = 0;
}

/* A response with lost framing ends when the next request is read. */
static void end_unknown(struct http_server_conn *c, const struct feed_ctx *f)
{
	if (c->resp.st != D_BODY_UNKNOWN)
		return;
	emit(c, c->last_resp_ts, f);
	c->resp.st = D_IDLE;
}

static void enqueue(struct http_server_conn *c, const struct http_head *h, int valid, const struct feed_ctx *f)
{
	end_unknown(c, f);
	/* With nothing outstanding, the next response-side byte answers this request (Python
	 * servers do not write ahead, clients do not read ahead of a reply), so the response
	 * side is in sync from here. */
	if (c->resp.st == D_UNSYNCED && !c->qlen)
		c->resp.st = D_IDLE;
	if (!queue_room(c)) {
		c->stats.dropped_requests += valid;
		return;
	}
	struct pend *p = &c->q[(c->qhead + c->qlen++) % c->qcap];
	memset(p, 0, sizeof(*p));
	p->valid = valid;
	if (valid) {
		memcpy(p->method, h->method, sizeof(p->method));
		memcpy(p->path, h->path, sizeof(p->path));
		memcpy(p->host, h->host, sizeof(p->host));
	}
	p->start_ns = c->req.head_ts;
	p->tid = c->req.head_tid;
}

/* Bind the response being parsed to the oldest request; none means we joined mid-stream. */
static void pop(struct http_server_conn *c, int status)
{
	memset(&c->cur, 0, sizeof(c->cur));
	c->cur_status = status;
	if (!c->qlen || !c->q[c->qhead].valid)
		c->stats.unread_requests++;
	if (!c->qlen)
		return;
	c->cur = c->q[c->qhead];
	c->cur.resp_tid = c->resp.head_tid;
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
}

static void start_head(struct dir *d, int tentative, const struct feed_ctx *f)
{
	d->st = D_HEAD;
	d->tentative = tentative;
	d->truncated = 0;
	d->line = 0;
	d->buf_len = 0;
	d->head_ts = f->ts;
	d->head_tid = f->tid;
}

static void unsync(struct dir *d)
{
	d->st = D_UNSYNCED;
	d->buf_len = 0;
}

static int is_request_side(const struct http_server_conn *c, const struct dir *d)
{
	return d == &c->req;
}

/* A head that is not HTTP. If we were in sync it was a broken message: count it, and keep
 * FIFO order (the service will likely answer a bad request with a 400). */
static void bad_head(struct http_server_conn *c, struct dir *d, int silent, const struct feed_ctx *f)
{
	if (!silent) {
		c->stats.malformed++;
		if (is_request_side(c, d)) {
			enqueue(c, NULL, 0, f);
		} else {
			pop(c, 0);
			/* the request it answers is read but cannot be reported: not a silent loss */
			c->stats.dropped_requests += c->cur.valid;
			c->cur.valid = 0;
		}
	}
	unsync(d);
}

/* The head ended; h is parsed (rc says how well). Decide how the body is framed. */
static void head_done(struct http_server_conn *c, struct dir *d, int rc, const struct http_head *h,
                      const struct feed_ctx *f)
{
	int req = is_request_side(c, d);
	d->buf_len = 0;
	if (rc != HTTP_HEAD_OK) {
		/* A guess that turned out not to be HTTP is no error; a broken message is. */
		bad_head(c, d, d->tentative && rc == HTTP_HEAD_BAD_LINE, f);
		return;
	}
	if (req) {
		enqueue(c, h, 1, f);
		if (h->body == HTTP_BODY_CHUNKED) {
			d->st = D_BODY_CHUNKED;
			http_chunk_init(&d->ch);
		} else if (h->body == HTTP_BODY_LENGTH && h->content_length) {
			d->st = D_BODY_LEN;
			d->body_left = h->content_length;
		} else {
			d->st = D_IDLE;
		}
		return;
	}
	if (h->status < 200 && h->status != 101) {
		d->st = D_IDLE; /* interim response: the exchange goes on */
		return;
	}
	pop(c, h->status);
	int head = c->cur.valid && !strcmp(c->cur.method, "HEAD");
	int connect = c->cur.valid && !strcmp(c->cur.method, "CONNECT");
	if (h->status == 101 || (connect && h->status < 300)) {
		/* The connection becomes a tunnel: nothing more to parse on either side. */
		if (h->status == 101)
			c->cur.valid = 0;
		emit(c, f->ts, f);
		unsync(&c->req);
		unsync(d);
		return;
	}
	if (head || h->status == 204 || h->status == 304 ||
	    (h->body == HTTP_BODY_LENGTH && !h->content_length)) {
		emit(c, f->ts, f);
		d->st = D_IDLE;
	} else if (h->body == HTTP_BODY_CHUNKED) {
		d->st = D_BODY_CHUNKED;
		http_chunk_init(&d->ch);
	} else if (h->body == HTTP_BODY_LENGTH) {
		d->st = D_BODY_LEN;
		d->body_left = h->content_length;
	} else {
		d->st = D_BODY_CLOSE;
	}
}

/* The method and path a parsed uwsgi head names, into h; 0 if it names none. */
static int uwsgi_head(int rc, const struct uwsgi_req *u, struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	if (rc == UWSGI_BAD || !u->method[0] || !u->path[0])
		return 0;
	memcpy(h->method, u->method, sizeof(h->method));
	memcpy(h->path, u->path, sizeof(h->path));
	return 1;
}

/* Framing lost at a message boundary or inside a head or chunk line (see top comment). */
static void lost(struct http_server_conn *c, struct dir *d, const struct feed_ctx *f)
{
	int req = is_request_side(c, d);
	struct http_head h;
	int line_ok = 0;
	memset(&h, 0, sizeof(h));
	c->stats.resyncs++;
	if (d->st == D_HEAD && d->uwsgi) {
		struct uwsgi_req u;
		line_ok = uwsgi_head(uwsgi_parse_request(d->buf, d->buf_len, &u), &u, &h);
	} else if (d->st == D_HEAD) {
		const uint8_t *nl = d->buf_len ? memchr(d->buf, '\n', d->buf_len) : NULL;
		if (nl) {
			size_t l = nl - d->buf;
			if (l && d->buf[l - 1] == '\r')
				l--;
			line_ok = http_parse_first_line(d->buf, l, req, &h) == HTTP_HEAD_OK;
		}
	}
	if (req) {
		/* A request we know began gets a slot; it is taken to have no body. */
		if (d->st == D_HEAD && (line_ok || !d->tentative))
			enqueue(c, &h, line_ok, f);
		else if (d->st == D_IDLE)
			enqueue(c, &h, 0, f);
		unsync(d);
		return;
	}
	if (d->st == D_HEAD && line_ok && h.status >= 200)
		pop(c, h.status);
	else if (d->st == D_IDLE || (d->st == D_HEAD && !d->tentative && !line_ok))
		pop(c, 0); /* a response began that we cannot read */
	else if (d->st != D_BODY_CHUNKED)
		memset(&c->cur, 0, sizeof(c->cur));
	d->st = D_BODY_UNKNOWN;
	d->buf_len = 0;
}

static int buf_append(struct dir *d, const uint8_t *p, size_t n)
{
	if (d->buf_len + n > HTTP_HEAD_MAX)
		return -1;
	if (!d->buf && !(d->buf = malloc(HTTP_HEAD_MAX)))
		return -1;
	memcpy(d->buf + d->buf_len, p, n);
	d->buf_len += n;
	return 0;
}

static enum http_guess guess(const struct dir *d, int req, const uint8_t *p, size_t n)
{
	if (d->uwsgi)
		return uwsgi_guess_request(p, n);
	return req ? http_guess_request(p, n) : http_guess_response(p, n);
}

/* A uwsgi head's vars were all counted: queue the request and frame its body. */
static void uwsgi_head_done(struct http_server_conn *c, struct dir *d, const struct feed_ctx *f)
{
	struct uwsgi_req u;
	struct http_head h;
	int rc = uwsgi_parse_request(d->buf, d->buf_len, &u);
	int named = uwsgi_head(rc, &u, &h);
	d->buf_len = 0;
	if (rc == UWSGI_BAD) {
		bad_head(c, d, d->tentative, f);
		return;
	}
	/* Its header and first key were checked, so a request began even when the vars that name it
	 * lie past the capture: it gets a slot (unsynced too), and its response counts it as unread. */
	enqueue(c, &h, named, f);
	if (!u.have_length && rc == UWSGI_PARTIAL) {
		c->stats.resyncs++; /* the body's length lies past the capture */
		unsync(d);
	} else if (u.content_length) {
		d->st = D_BODY_LEN;
		d->body_left = u.content_length;
	} else {
		d->st = D_IDLE;
	}
}

/* uwsgi head bytes: the 4-byte header, then the vars it announces, counted by len even where
 * they were not captured (only the captured prefix is kept for parsing). Returns bytes
 * consumed; 0 when framing was lost (the header itself was not captured). */
static size_t feed_uwsgi_head(struct http_server_conn *c, struct dir *d, const uint8_t *p, size_t have,
                              size_t rest, const struct feed_ctx *f)
{
	if (d->buf_len < UWSGI_HEADER) {
		size_t k = have < UWSGI_HEADER - d->buf_len ? have : UWSGI_HEADER - d->buf_len;
		if (!k || buf_append(d, p, k)) {
			lost(c, d, f);
			return 0;
		}
		if (d->buf_len == UWSGI_HEADER) {
			if (uwsgi_guess_request(d->buf, d->buf_len) == HTTP_NO)
				bad_head(c, d, d->tentative, f);
			else
				d->body_left = uwsgi_datasize(d->buf);
		}
		return k;
	}
	size_t k = rest < d->body_left ? rest : (size_t)d->body_left;
	size_t seen = have < k ? have : k;
	if (!d->truncated && seen) {
		size_t room = HTTP_HEAD_MAX - d->buf_len, keep = seen < room ? seen : room;
		if (buf_append(d, p, keep) || keep < seen)
			d->truncated = 1;
	}
	if (seen < k)
		d->truncated = 1; /* later bytes would not follow on from the kept prefix */
	d->body_left -= k;
	if (!d->body_left)
		uwsgi_head_done(c, d, f);
	return k;
}

/* Scan head bytes for the blank line ending the head; returns bytes consumed. */
static size_t feed_head(struct http_server_conn *c, struct dir *d, const uint8_t *p, size_t n,
                        const struct feed_ctx *f)
{
	int req = is_request_side(c, d);
	size_t i;
	int end = 0;
	for (i = 0; i < n && !end; i++) {
		if (p[i] == '\n') {
			end = d->line == 0;
			d->line = 0;
		} else if (p[i] != '\r' && ++d->line > HTTP_HEAD_MAX) {
			break;
		}
	}
	if (d->line > HTTP_HEAD_MAX) {
		bad_head(c, d, 0, f); /* a line longer than any sane head */
		return i;
	}
	struct http_head h;
	if (end && !d->buf_len) {
		head_done(c, d, http_parse_head(p, i, req, &h), &h, f);
		return i;
	}
	if (buf_append(d, p, i)) {
		/* Head longer than we keep: parse what fits, then resync. */
		buf_append(d, p, HTTP_HEAD_MAX - d->buf_len);
		lost(c, d, f);
		return n;
	}
	if (end) {
		head_done(c, d, http_parse_head(d->buf, d->buf_len, req, &h), &h, f);
		return i;
	}
	/* A partial first line can already rule out HTTP. */
	if (guess(d, req, d->buf, d->buf_len) == HTTP_NO)
		bad_head(c, d, d->tentative, f);
	return i;
}

/* A guessed head that is still a bare prefix ("GE") must go on in the next I/O; if the two do
 * not join into a message start but that I/O begins one by itself, the prefix was noise. */
static int stale_prefix(int req, const struct dir *d, const uint8_t *p, size_t n)
{
	uint8_t tmp[96];
	if (!d->tentative || !d->buf_len || d->buf_len > 32 || guess(d, req, d->buf, d->buf_len) != HTTP_MAYBE)
		return 0;
	size_t k = n < sizeof(tmp) - d->buf_len ? n : sizeof(tmp) - d->buf_len;
	memcpy(tmp, d->buf, d->buf_len);
	memcpy(tmp + d->buf_len, p, k);
	return guess(d, req, tmp, d->buf_len + k) == HTTP_NO && guess(d, req, p, n) != HTTP_NO;
}

static void body_done(struct http_server_conn *c, struct dir *d, const struct feed_ctx *f)
{
	if (!is_request_side(c, d))
		emit(c, f->ts, f);
	d->st = D_IDLE;
}

static void feed_dir(struct http_server_conn *c, struct dir *d, const uint8_t *cap, size_t cap_len,
                     size_t len, const struct feed_ctx *f)
{
	int req = is_request_side(c, d);
	size_t pos = 0;
	while (pos < len) {
		size_t have = pos < cap_len ? cap_len - pos : 0, rest = len - pos;
		const uint8_t *p = cap + pos;
		switch (d->st) {
		case D_UNSYNCED: {
			int g = HTTP_NO;
			if (pos == 0 && have)
				g = guess(d, req, p, have);
			if (g == HTTP_NO)
				return;
			start_head(d, 1, f);
			break;
		}
		case D_IDLE:
			if (!have) {
				lost(c, d, f); /* the next message starts where we cannot see */
				return;
			}
			if (!d->uwsgi && (*p == '\r' || *p == '\n'))
				pos++; /* stray CRLF between messages (RFC 9112 2.2) */
			else
				start_head(d, 0, f);
			break;
		case D_HEAD:
			if (!have) {
				lost(c, d, f);
				return;
			}
			if (pos == 0 && stale_prefix(req, d, p, have))
				start_head(d, 1, f);
			if (d->uwsgi) {
				size_t k = feed_uwsgi_head(c, d, p, have, rest, f);
				if (!k)
					return;
				pos += k;
				break;
			}
			pos += feed_head(c, d, p, have, f);
			break;
		case D_BODY_LEN: {
			size_t k = rest < d->body_left ? rest : (size_t)d->body_left;
			d->body_left -= k;
			pos += k;
			if (!d->body_left)
				body_done(c, d, f);
			break;
		}
		case D_BODY_CHUNKED: {
			uint64_t skip = http_chunk_skippable(&d->ch);
			if (!have && !skip) {
				lost(c, d, f); /* a chunk-size line we cannot see */
				return;
			}
			if (!have) {
				size_t k = rest < skip ? rest : (size_t)skip;
				http_chunk_skip(&d->ch, k);
				pos += k;
				break;
			}
			size_t used;
			int rc = http_chunk_feed(&d->ch, p, have, &used);
			pos += used;
			if (rc == HTTP_CHUNK_DONE) {
				body_done(c, d, f);
			} else if (rc == HTTP_CHUNK_BAD) {
				c->stats.malformed++;
				if (!req)
					memset(&c->cur, 0, sizeof(c->cur));
				unsync(d);
				return;
			}
			break;
		}
		case D_BODY_UNKNOWN:
			/* A status line at the start of a write closes the lost response. */
			if (pos == 0 && have && http_guess_response(p, have) == HTTP_YES) {
				emit(c, c->last_resp_ts, f);
				d->st = D_IDLE;
				break;
			}
			return;
		case D_BODY_CLOSE:
		default:
			return;
		}
	}
}

void http_server_conn_feed(struct http_server_conn *c, int recv, const uint8_t *cap, size_t cap_len,
                           size_t len, uint64_t ts_ns, uint32_t tid, http_txn_cb cb, void *ctx)
{
	struct feed_ctx f = { .ts = ts_ns, .tid = tid, .cb = cb, .ctx = ctx };
	if (!c)
		return;
	if (!cap || cap_len > len)
		cap_len = cap ? len : 0;
	/* A server's requests are the bytes it reads; a client's, the bytes it writes. */
	int req = c->client ? !recv : recv;
	feed_dir(c, req ? &c->req : &c->resp, cap, cap_len, len, &f);
	if (!req && len)
		c->last_resp_ts = ts_ns;
}

void http_server_conn_settle(struct http_server_conn *c, uint64_t quiet_since_ns, http_txn_cb cb, void *ctx)
{
	struct feed_ctx f = { .ts = quiet_since_ns, .cb = cb, .ctx = ctx };
	if (!c || c->resp.st != D_BODY_UNKNOWN || c->last_resp_ts > quiet_since_ns)
		return;
	/* emit clears cur and the state stays: the next message still ends it, reporting nothing */
	emit(c, c->last_resp_ts, &f);
}

/* Start over as a fresh connection, keeping the counters, the framing, the role and buffers. */
static void start_over(struct http_server_conn *c)
{
	struct http_conn_stats st = c->stats;
	uint8_t *rb = c->req.buf, *wb = c->resp.buf, uwsgi = c->req.uwsgi, client = c->client;
	struct pend *q = c->q;
	uint32_t qcap = c->qcap;
	memset(c, 0, sizeof(*c));
	c->stats = st;
	c->req.uwsgi = uwsgi;
	c->client = client;
	c->req.buf = rb;
	c->resp.buf = wb;
	c->q = q;
	c->qcap = qcap;
}

void http_server_conn_gap(struct http_server_conn *c)
{
	if (!c)
		return;
	c->stats.dropped_requests += c->cur.valid;
	for (unsigned i = 0; i < c->qlen; i++)
		c->stats.dropped_requests += c->q[(c->qhead + i) % c->qcap].valid;
	c->stats.resyncs++;
	start_over(c);
}

void http_server_conn_close(struct http_server_conn *c, uint64_t ts_ns, http_txn_cb cb, void *ctx)
{
	struct feed_ctx f = { .ts = ts_ns, .cb = cb, .ctx = ctx };
	if (!c)
		return;
	if (c->resp.st == D_BODY_CLOSE || c->resp.st == D_BODY_UNKNOWN) {
		emit(c, c->last_resp_ts ? c->last_resp_ts : ts_ns, &f);
	} else if (c->resp.st == D_BODY_LEN || c->resp.st == D_BODY_CHUNKED) {
		/* Cut short: a server has no honest end time for it; a client's call failed. */
		if (c->client)
			deliver(&c->cur, c->cur_status, ts_ns, HTTP_ABORT_CUT_SHORT, &f);
		else
			c->stats.dropped_requests += c->cur.valid;
	}
	for (unsigned i = 0; i < c->qlen; i++) {
		const struct pend *p = &c->q[(c->qhead + i) % c->qcap];
		/* A client's request that never got its response is a failed call, counted as
		 * such; one we could not read is missing from the figures. */
		if (c->client && p->valid)
			deliver(p, 0, ts_ns, HTTP_ABORT_NO_RESPONSE, &f);
		else if (c->client)
			c->stats.unread_requests++;
		else
			c->stats.dropped_requests += p->valid;
	}
	start_over(c);
}
