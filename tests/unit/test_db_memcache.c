/* memcached text-protocol fixtures as pymemcache sends them: retrievals with hits and
 * misses, storage with data blocks, noreply, errors, and values larger than the capture. */
#include "test_db_common.h"

#define S(x) { 1, TX(x), 0, 0 }
#define R(x) { 0, TX(x), 0, 0 }

struct mc_row {
	const char *desc;
	struct tio io[8];
	struct texp exp[4];
	int nexp;
};

static const struct mc_row rows[] = {
	{ "set stored", { S("set k1 0 0 2\r\nv1\r\n"), R("STORED\r\n") },
	  { { "SET", "SET", "k1", 0, "", 0, 0 } }, 1 },
	{ "get hit", { S("get k1\r\n"), R("VALUE k1 0 2\r\nv1\r\nEND\r\n") }, { { "GET", "GET", "k1", 0, "", 1, 0 } }, 1 },
	{ "get miss is no error", { S("get zz\r\n"), R("END\r\n") }, { { "GET", "GET", "zz", 0, "", 0, 1 } }, 1 },
	{ "get many", { S("get k1 zz k2\r\n"), R("VALUE k1 0 2\r\nv1\r\nVALUE k2 0 3\r\nEND\r\nEND\r\n") },
	  { { "GET", "GET", "k1", 0, "", 2, 1 } }, 1 },
	{ "gets with cas", { S("gets a b\r\n"), R("VALUE a 0 1 99\r\nx\r\nEND\r\n") }, { { "GETS", NULL, "a", 0, "", 1, 1 } }, 1 },
	{ "gat skips exptime", { S("gat 60 a b\r\n"), R("END\r\n") }, { { "GAT", NULL, "a", 0, "", 0, 2 } }, 1 },
	{ "noreply reported at once", { S("set k 0 0 1 noreply\r\nx\r\nget k\r\n"), R("VALUE k 0 1\r\nx\r\nEND\r\n") },
	  { { "SET", NULL, "k", 0, "", 0, 0 }, { "GET", NULL, "k", 0, "", 1, 0 } }, 2 },
	{ "delete not found is no error", { S("delete zz\r\n"), R("NOT_FOUND\r\n") }, { { "DELETE", NULL, "zz", 0, "", 0, 0 } }, 1 },
	{ "incr", { S("incr n 1\r\n"), R("5\r\n") }, { { "INCR", NULL, "n", 0, "", 0, 0 } }, 1 },
	{ "add not stored", { S("add k1 0 0 1\r\nv\r\n"), R("NOT_STORED\r\n") }, { { "ADD", NULL, "k1", 0, "", 0, 0 } }, 1 },
	{ "client error", { S("get bad key\r\n"), R("CLIENT_ERROR bad command line format\r\n") },
	  { { "GET", NULL, "bad", 1, "CLIENT_ERROR", 0, 0 } }, 1 },
	{ "server error", { S("set k 0 0 1\r\nx\r\n"), R("SERVER_ERROR out of memory storing object\r\n") },
	  { { "SET", NULL, "k", 1, "SERVER_ERROR", 0, 0 } }, 1 },
	{ "pipelined", { S("touch a 10\r\ncas a 0 0 1 7\r\nz\r\ndecr n 1\r\n"), R("TOUCHED\r\nEXISTS\r\n"), R("0\r\n") },
	  { { "TOUCH", NULL, "a", 0, "", 0, 0 }, { "CAS", NULL, "a", 0, "", 0, 0 }, { "DECR", NULL, "n", 0, "", 0, 0 } }, 3 },
	{ "meta get", { S("mg k v\r\nmg zz v\r\n"), R("VA 1\r\nx\r\nEN\r\n") },
	  { { "MG", NULL, "k", 0, "", 1, 0 }, { "MG", NULL, "zz", 0, "", 0, 1 } }, 2 },
	{ "stats", { S("stats\r\n"), R("STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n") }, { { "STATS", NULL, "", 0, "", 0, 0 } }, 1 },
};

UNIT_TEST(test_db_memcache_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tcalls got;
		trun(DB_MEMCACHED, rows[i].io, 8, &got, NULL);
		tcheck_row(rows[i].desc, &got, rows[i].exp, rows[i].nexp);
		tcheck_splits(DB_MEMCACHED, rows[i].desc, rows[i].io, 8);
	}
}

UNIT_TEST(test_db_memcache_big_values)
{
	/* data blocks far larger than the capture are skipped by their byte count */
	static char req[9000], rep[9000];
	int n = snprintf(req, sizeof(req), "set big 0 0 8000\r\n");
	memset(req + n, 'x', 8000);
	n += 8000;
	n += snprintf(req + n, sizeof(req) - n, "\r\n");
	int m = snprintf(rep, sizeof(rep), "VALUE big 0 8000\r\n");
	memset(rep + m, 'x', 8000);
	m += 8000;
	m += snprintf(rep + m, sizeof(rep) - m, "\r\nEND\r\n");
	struct tio io[] = {
		{ 1, req, (size_t)n, 0, 100 }, { 0, TX("STORED\r\n"), 0, 0 },
		{ 1, TX("get big zz\r\n"), 0, 0 }, { 0, rep, (size_t)m, 0, 100 },
		{ 1, TX("delete big\r\n"), 0, 0 }, { 0, TX("DELETED\r\n"), 0, 0 },
	};
	struct tcalls got;
	struct db_conn_stats st;
	trun(DB_MEMCACHED, io, 6, &got, &st);
	/* the END line fell outside the capture: hits counted, misses unknown */
	struct texp exp[] = { { "SET", NULL, "big", 0, "", 0, 0 }, { "GET", NULL, "big", 0, "", 1, 0 },
			      { "DELETE", NULL, "big", 0, "", 0, 0 } };
	tcheck_row("big values", &got, exp, 3);
	CHECK(st.malformed == 0 && st.resyncs == 1);
}
