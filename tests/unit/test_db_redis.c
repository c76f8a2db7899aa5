/* Redis RESP2/RESP3 fixtures: request/reply byte sequences as redis-py sends them, checked
 * for the calls they must produce, then replayed split at every byte. */
#include "test_db_common.h"

#define S(x) { 1, TX(x), 0, 0 }
#define R(x) { 0, TX(x), 0, 0 }

struct redis_row {
	const char *desc;
	struct tio io[8];
	struct texp exp[6];
	int nexp;
};

static const struct redis_row rows[] = {
	{ "set ok", { S("*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n"), R("+OK\r\n") },
	  { { "SET", "SET", "user:1", 0, NULL, 0, 0 } }, 1 },
	{ "get hit", { S("*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n"), R("$5\r\nalice\r\n") },
	  { { "GET", "GET", "user:1", 0, NULL, 1, 0 } }, 1 },
	{ "get miss resp2", { S("*2\r\n$3\r\nget\r\n$2\r\nzz\r\n"), R("$-1\r\n") },
	  { { "GET", "GET", "zz", 0, NULL, 0, 1 } }, 1 },
	{ "get miss resp3 null", { S("*2\r\n$3\r\nGET\r\n$2\r\nzz\r\n"), R("_\r\n") },
	  { { "GET", "GET", "zz", 0, NULL, 0, 1 } }, 1 },
	{ "mget per key", { S("*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
			    R("*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n") },
	  { { "MGET", "MGET", "a", 0, NULL, 2, 1 } }, 1 },
	{ "hmget per field", { S("*4\r\n$5\r\nHMGET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\ng\r\n"),
			       R("*2\r\n$-1\r\n$-1\r\n") },
	  { { "HMGET", "HMGET", "h", 0, NULL, 0, 2 } }, 1 },
	{ "hget wrongtype", { S("*3\r\n$4\r\nHGET\r\n$1\r\nk\r\n$1\r\nf\r\n"),
			      R("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n") },
	  { { "HGET", "HGET", "k", 1, "WRONGTYPE", 0, 0 } }, 1 },
	{ "pipeline fifo", { S("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR\r\n$3\r\ncnt\r\n*2\r\n$3\r\nGET\r\n$2\r\nzz\r\n"),
			     R("$1\r\n1\r\n:7\r\n"), R("$-1\r\n") },
	  { { "GET", NULL, "a", 0, NULL, 1, 0 }, { "INCR", NULL, "cnt", 0, NULL, 0, 0 },
	    { "GET", NULL, "zz", 0, NULL, 0, 1 } }, 3 },
	{ "multi exec", { S("*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$2\r\nzz\r\n*1\r\n$4\r\nEXEC\r\n"),
			  R("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n$1\r\n1\r\n$-1\r\n") },
	  { { "MULTI", NULL, "", 0, NULL, 0, 0 }, { "SET", NULL, "a", 0, NULL, 0, 0 },
	    { "GET", NULL, "a", 0, NULL, 1, 0 }, { "GET", NULL, "zz", 0, NULL, 0, 1 },
	    { "EXEC", NULL, "", 0, NULL, 0, 0 } }, 5 },
	{ "exec error element", { S("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nLPOP\r\n$1\r\ns\r\n*1\r\n$4\r\nEXEC\r\n"),
				  R("+OK\r\n+QUEUED\r\n*1\r\n-WRONGTYPE bad\r\n") },
	  { { "MULTI", NULL, "", 0, NULL, 0, 0 }, { "LPOP", NULL, "s", 1, "WRONGTYPE", 0, 0 },
	    { "EXEC", NULL, "", 0, NULL, 0, 0 } }, 3 },
	{ "execabort", { S("*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$3\r\nFOO\r\n*1\r\n$4\r\nEXEC\r\n"),
			 R("+OK\r\n+QUEUED\r\n-ERR unknown command 'FOO'\r\n-EXECABORT Transaction discarded\r\n") },
	  { { "MULTI", NULL, "", 0, NULL, 0, 0 }, { "FOO", NULL, NULL, 1, "ERR", 0, 0 },
	    { "GET", NULL, "a", 1, "EXECABORT", 0, 0 }, { "EXEC", NULL, "", 1, "EXECABORT", 0, 0 } }, 4 },
	{ "inline ping", { S("PING\r\n"), R("+PONG\r\n") }, { { "PING", "PING", "", 0, NULL, 0, 0 } }, 1 },
	{ "auth keeps no key", { S("*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$6\r\nsecret\r\n"), R("+OK\r\n") },
	  { { "AUTH", "AUTH", "", 0, NULL, 0, 0 } }, 1 },
	{ "resp3 hello map and push", { S("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
				       R("%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n") },
	  { { "HELLO", NULL, "", 0, NULL, 0, 0 } }, 1 },
	{ "resp3 attribute before reply", { S("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
					    R("|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n") },
	  { { "GET", NULL, "k", 0, NULL, 1, 0 } }, 1 },
	/* Integer replies at the edges of int64 (UBSan found signed overflow here), and past them. */
	{ "int64 min and max replies", { S("*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*2\r\n$4\r\nDECR\r\n$1\r\nb\r\n"),
					 R(":9223372036854775807\r\n:-9223372036854775808\r\n") },
	  { { "INCR", NULL, "a", 0, NULL, 0, 0 }, { "DECR", NULL, "b", 0, NULL, 0, 0 } }, 2 },
	{ "reply before request is unmatched", { R("+OK\r\n"), S("*1\r\n$4\r\nPING\r\n"), R("+PONG\r\n") },
	  { { "PING", NULL, "", 0, NULL, 0, 0 } }, 1 },
};

UNIT_TEST(test_db_redis_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tcalls got;
		trun(DB_REDIS, rows[i].io, 8, &got, NULL);
		tcheck_row(rows[i].desc, &got, rows[i].exp, rows[i].nexp);
		tcheck_splits(DB_REDIS, rows[i].desc, rows[i].io, 8);
	}
}

UNIT_TEST(test_db_redis_big_bulk_skipped_by_length)
{
	/* a 5000-byte value: only 64 bytes captured per I/O, framing kept by its length */
	static char req[5100], rep[5100];
	char val[5001];
	memset(val, 'x', 5000);
	val[5000] = 0;
	int rn = snprintf(req, sizeof(req), "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$5000\r\n%s\r\n", val);
	int pn = snprintf(rep, sizeof(rep), "$5000\r\n%s\r\n", val);
	struct tio io[] = {
		{ 1, req, (size_t)rn, 0, 64 }, { 0, TX("+OK\r\n"), 0, 0 },
		{ 1, TX("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"), 0, 0 }, { 0, rep, (size_t)pn, 0, 64 },
		{ 1, TX("*2\r\n$3\r\nGET\r\n$2\r\nzz\r\n"), 0, 0 }, { 0, TX("$-1\r\n"), 0, 0 },
	};
	struct tcalls got;
	struct db_conn_stats st;
	trun(DB_REDIS, io, 6, &got, &st);
	struct texp exp[] = { { "SET", NULL, "big", 0, NULL, 0, 0 }, { "GET", NULL, "big", 0, NULL, 1, 0 },
			      { "GET", NULL, "zz", 0, NULL, 0, 1 } };
	tcheck_row("big bulk", &got, exp, 3);
	CHECK(st.malformed == 0 && st.resyncs == 0);
}

UNIT_TEST(test_db_redis_truncated_mget_request)
{
	/* MGET of many keys cut by the capture: the command still counts, hits come from the
	 * reply, and the stream resyncs at the next request */
	char req[2048];
	int n = snprintf(req, sizeof(req), "*101\r\n$4\r\nMGET\r\n");
	for (int k = 0; k < 100; k++)
		n += snprintf(req + n, sizeof(req) - n, "$5\r\nk:%03d\r\n", k);
	char rep[1024];
	int m = snprintf(rep, sizeof(rep), "*100\r\n");
	for (int k = 0; k < 100; k++)
		m += snprintf(rep + m, sizeof(rep) - m, k % 2 ? "$-1\r\n" : "$1\r\nv\r\n");
	struct tio io[] = {
		{ 1, req, (size_t)n, 0, 100 }, { 0, rep, (size_t)m, 0, 0 },
		{ 1, TX("*2\r\n$3\r\nGET\r\n$1\r\na\r\n"), 0, 0 }, { 0, TX("$1\r\n1\r\n"), 0, 0 },
	};
	struct tcalls got;
	trun(DB_REDIS, io, 4, &got, NULL);
	struct texp exp[] = { { "MGET", NULL, "k:000", 0, NULL, 50, 50 }, { "GET", NULL, "a", 0, NULL, 1, 0 } };
	tcheck_row("truncated mget", &got, exp, 2);
}

UNIT_TEST(test_db_redis_mid_stream_attach)
{
	/* attached mid-reply: the tail of an old bulk is ignored until the next request */
	struct tio io[] = {
		{ 0, TX("xxxxx\r\n$3\r\nabc\r\n"), 0, 0 },
		{ 1, TX("*2\r\n$3\r\nGET\r\n$1\r\na\r\n"), 0, 0 }, { 0, TX("$-1\r\n"), 0, 0 },
	};
	struct tcalls got;
	struct db_conn_stats st;
	trun(DB_REDIS, io, 3, &got, &st);
	struct texp exp[] = { { "GET", NULL, "a", 0, NULL, 0, 1 } };
	tcheck_row("mid stream", &got, exp, 1);
	CHECK(st.resyncs == 1);
}

UNIT_TEST(test_db_redis_gap_drops_the_waiting_call)
{
	/* records lost after GET a (the ring buffer was full): its reply may be among them, so the
	 * next reply seen is not taken for it; GET a is dropped, counted, and GET b parses */
	static const char get_a[] = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", get_b[] = "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n";
	struct db_conn *c = db_conn_new(DB_REDIS);
	struct tcalls got = { 0 };
	struct db_conn_stats st;

	db_conn_feed(c, 1, (const uint8_t *)get_a, sizeof(get_a) - 1, sizeof(get_a) - 1, 1, 7, tcollect, &got);
	db_conn_gap(c);
	db_conn_feed(c, 0, (const uint8_t *)"$-1\r\n", 5, 5, 2, 7, tcollect, &got);
	db_conn_feed(c, 1, (const uint8_t *)get_b, sizeof(get_b) - 1, sizeof(get_b) - 1, 3, 7, tcollect, &got);
	db_conn_feed(c, 0, (const uint8_t *)"$1\r\nx\r\n", 7, 7, 4, 7, tcollect, &got);
	db_conn_stats(c, &st);
	db_conn_free(c);
	CHECKF(got.n == 1 && got.c[0].cache_hits == 1 && got.c[0].start_ns == 3 && got.c[0].end_ns == 4,
	       "%d calls", got.n);
	CHECKF(st.dropped == 1 && st.unparsed_ios[DB_LOSS_RING] == 1 && st.resyncs >= 1,
	       "dropped %llu ring %llu resyncs %llu", (unsigned long long)st.dropped,
	       (unsigned long long)st.unparsed_ios[DB_LOSS_RING], (unsigned long long)st.resyncs);
}
