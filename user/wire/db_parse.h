/* Client-side database and cache wire parsers: PostgreSQL v3, MySQL/MariaDB, Redis RESP2/3
 * and memcached text. They are pure functions of the bytes each socket I/O moved (a capture of
 * the first cap bytes of len), keep framing by counting len, and report one db_call per
 * request once its reply is complete. No libbpf, no global state; one db_conn per socket.
 *
 * Feed both directions of a connection in the order the I/Os happened (sort by timestamp):
 * a reply fed before its request is counted as unmatched and dropped. */
#ifndef DB_PARSE_H
#define DB_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sql_normalize.h"

enum db_system { DB_NONE = 0, DB_POSTGRESQL, DB_MYSQL, DB_REDIS, DB_MEMCACHED, DB_SQLITE };
const char *db_system_name(enum db_system s);

/* Classify a client connection from the first bytes the app sent (send=1) or received (send=0).
 * The port is a hint only. MAYBE means "could be, show me the next I/O"; give up after a few. */
enum db_guess { DB_GUESS_NO, DB_GUESS_YES, DB_GUESS_MAYBE };
enum db_guess db_classify(const uint8_t *p, size_t n, int send, uint16_t server_port,
			  enum db_system *sys);

struct db_call {
	enum db_system system;
	char op[24];          /* SELECT, INSERT, ... / GET, SET, HGET ... (upper case) */
	char text[512];       /* normalized SQL, or the command name; never literals or keys */
	char key[128];        /* first key for redis/memcached (the caller decides to show it) */
	int error;            /* the server answered with an error */
	char error_code[16];  /* SQLSTATE / MySQL errno / RESP error prefix, when known */
	uint32_t cache_hits, cache_misses; /* cache reads, per key */
	uint64_t start_ns;    /* ts of the write carrying the request's first byte */
	uint64_t end_ns;      /* ts of the read carrying the reply's last byte */
	uint32_t tid;         /* thread that wrote the request */
};
typedef void (*db_call_cb)(void *ctx, const struct db_call *call);

struct db_conn;
struct db_conn *db_conn_new(enum db_system sys);
void db_conn_free(struct db_conn *c);
/* One socket I/O: send=1 the app wrote, 0 it read; cap holds the first cap_len of len bytes. */
void db_conn_feed(struct db_conn *c, int send, const uint8_t *cap, size_t cap_len, size_t len,
		  uint64_t ts_ns, uint32_t tid, db_call_cb cb, void *ctx);
/* The socket closed: calls still waiting on a followed connection end as errors ("closed", or
 * the code the server sent last); requests whose replies could not be followed are dropped. */
void db_conn_close(struct db_conn *c, uint64_t ts_ns, db_call_cb cb, void *ctx);

/* Why bytes of a followed connection could not be parsed. */
enum db_loss { DB_LOSS_NONE, DB_LOSS_CAPTURE, DB_LOSS_MALFORMED, DB_LOSS_RING, DB_LOSS_REASONS };

struct db_conn_stats {
	/* I/Os skipped, or parsed in part, because framing was lost, by enum db_loss: the capture
	 * ended inside a header (an I/O larger than the capture), or the bytes broke the protocol.
	 * Bytes before the first message boundary after attach are not a loss. */
	uint64_t unparsed_ios[DB_LOSS_REASONS];
	uint64_t resyncs;           /* times a direction lost framing and found it again */
	uint64_t malformed;         /* bytes that broke the protocol (framing lost) */
	uint64_t unmatched_replies; /* replies with no request waiting (or dropped requests) */
	uint64_t dropped;           /* requests not tracked: queue full or lost on desync */
};
void db_conn_stats(const struct db_conn *c, struct db_conn_stats *out);
/* Bytes of the connection were lost before the next I/O (the ring buffer was full): calls
 * waiting are dropped (counted), and both directions look for a message boundary again. */
void db_conn_gap(struct db_conn *c);
/* The connection turned to TLS (or is otherwise unparseable from here on). */
bool db_conn_encrypted(const struct db_conn *c);

#ifdef DB_PARSE_INTERNAL
/* ---- Shared by the parser files only (db_parse.c, pg/mysql/redis/memcache_parse.c). ---- */
#include <stdbool.h>

#define DB_MAX_PENDING 16384 /* requests in flight per connection (queue grows from 4): a pipeline */
#define DB_KEEP 1024         /* bytes of a message body kept for parsing */
#define DB_STMT_CACHE 32     /* prepared statements remembered per connection */

/* A request waiting for its reply. kind/state/aux are the protocol's own. */
struct db_pending {
	struct db_call call;
	uint8_t kind, state;
	uint8_t flags;        /* DB_PF_* */
	uint32_t aux, aux2;
	uint32_t skip_after;  /* requests after this one that the full queue could not hold */
};
#define DB_DONE 0xff        /* state of an entry already reported */
#define DB_PF_CALL 1      /* reported as a call (not a Sync/Parse marker) */
#define DB_PF_TRUNC 2     /* the request's tail was not captured: distrust what follows */
#define DB_PF_UNNAMED 4   /* runs a statement prepared before attach: the reply names its op */

struct db_queue {
	struct db_pending *e;
	uint32_t cap, head, n;
	uint32_t skip_replies; /* replies to consume silently (their requests were not queued) */
};

/* Length-framed messages (PG, MySQL) in one direction, with holes where the capture ended. */
struct db_framer {
	uint8_t hdr[8];
	uint8_t hlen, hsize;   /* header bytes collected / needed */
	bool in_body, gap;     /* gap: part of this body was not captured */
	uint64_t body_len, body_got;
	uint32_t kept;
	uint64_t ts0;
	uint32_t tid0;
	uint8_t buf[DB_KEEP];
};

struct db_stmt {
	uint64_t key;  /* hash of the statement name, or the MySQL statement id */
	uint32_t stamp;
	char op[24];
	char text[512];
};

struct db_conn {
	enum db_system sys;
	struct db_conn_stats st;
	struct db_queue q;
	struct db_stmt *stmts;    /* DB_STMT_CACHE entries, allocated on first use */
	uint32_t stmt_clock;
	bool synced[2];           /* [send]: the next byte is at a known place in the protocol */
	bool lost[2];             /* framing was lost or never found: next sync is a resync */
	uint8_t loss[2];          /* enum db_loss of a lost direction (NONE: never found yet) */
	bool recv_wait_req;       /* recv resyncs only at the first read after a new request */
	bool orphans;             /* queue holds requests whose replies could not be followed */
	uint64_t orphan_end;      /* last read seen since: their best-known end */
	bool ignore;              /* encrypted (TLS) or otherwise unparseable: stop looking */
	void *proto;
};

/* Per-protocol back ends: feed gets the capture (p, cap) of an I/O of len bytes. */
typedef void (*db_feed_fn)(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
			   uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx);
void *pg_new(void);
void pg_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
	     uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx);
void *mysql_new(void);
void mysql_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
		uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx);
void *redis_new(void);
void redis_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
		uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx);
void *mc_new(void);
void mc_feed(struct db_conn *c, int send, const uint8_t *p, size_t cap, size_t len,
	     uint64_t ts, uint32_t tid, db_call_cb cb, void *ctx);
/* Does an I/O start at a message boundary? (used to resync and to classify) */
bool pg_looks_like(const uint8_t *p, size_t cap, size_t len, int send);
bool mysql_looks_like(const uint8_t *p, size_t cap, size_t len, int send);
bool redis_looks_like(const uint8_t *p, size_t cap, size_t len, int send);
bool mc_looks_like(const uint8_t *p, size_t cap, size_t len, int send);

/* Queue of pending requests. db_q_push first reports orphans, then returns a zeroed entry,
 * or NULL when full (counted in the last entry's skip_after). */
struct db_pending *db_q_push(struct db_conn *c, uint64_t ts, uint32_t tid, db_call_cb cb,
			     void *ctx);
struct db_pending *db_q_at(struct db_conn *c, uint32_t i); /* i-th oldest, NULL past the end */
void db_q_pop(struct db_conn *c);
void db_q_drain(struct db_conn *c); /* pop finished entries off the head */
void db_q_clear(struct db_conn *c);
/* Report a finished request and mark it for popping. */
void db_emit(struct db_conn *c, struct db_pending *e, uint64_t end, db_call_cb cb, void *ctx);

/* Gate for each I/O: returns true if it may be parsed; *fresh is set when parsing starts
 * anew at this I/O (the protocol resets its direction state). looks = pX_looks_like(). */
bool db_sync(struct db_conn *c, int send, bool looks, bool *fresh);
/* Framing lost in one direction (malformed: the bytes broke the protocol, else a capture
 * hole). Requests waiting become orphans, reported at the next request. */
void db_lose(struct db_conn *c, int send, bool malformed, uint64_t ts);
/* The capture ended inside a write of requests (a batch larger than the capture): the requests
 * after the hole are not seen; the reply side goes on (the protocol decides what to trust). */
void db_lose_send(struct db_conn *c);

struct db_stmt *db_stmt_find(struct db_conn *c, uint64_t key);
struct db_stmt *db_stmt_put(struct db_conn *c, uint64_t key);
void db_stmt_del(struct db_conn *c, uint64_t key);
uint64_t db_hash(const uint8_t *p, size_t n);

/* Framer: hdr_len turns a full header into a body length (< 0: not a valid header);
 * msg gets each message once complete (body prefix in f->buf) and returns false to stop
 * parsing this I/O (the connection turned to TLS, say). */
typedef int64_t (*db_hdr_len_fn)(const struct db_framer *f, int send);
typedef bool (*db_msg_fn)(struct db_conn *c, struct db_framer *f, int send, uint64_t ts,
			  db_call_cb cb, void *ctx);
/* Consume known bytes (p, n) or, with p == NULL, a hole of n bytes. Returns -1 when a
 * header fell in a hole, -2 when hdr_len rejected one, 0 otherwise. */
int db_framer_feed(struct db_conn *c, struct db_framer *f, int send, const uint8_t *p, size_t n,
		   uint64_t ts, uint32_t tid, db_hdr_len_fn hl, db_msg_fn msg, db_call_cb cb,
		   void *ctx);
void db_framer_reset(struct db_framer *f, uint8_t hsize);

void db_copy_str(char *dst, size_t dstlen, const char *src, size_t n);
void db_set_sql(struct db_call *call, const char *sql, size_t n, int flags);
/* A statement prepared before attach, its text never seen: the operation is op's leading
 * upper-case letters (a PG tag's first word; EXECUTE when none), the text
 * "<OP> (prepared before attach)". */
void db_set_unnamed(struct db_call *call, const char *op, size_t n);
/* Whole I/Os of length-framed messages that only a database speaks (classification). */
bool pg_whole_exchange(const uint8_t *p, size_t cap, size_t len, int send);
bool mysql_result_start(const uint8_t *p, size_t cap);
#endif /* DB_PARSE_INTERNAL */
#endif
