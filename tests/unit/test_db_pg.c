/* PostgreSQL v3 fixtures: simple queries as psycopg2 sends them, extended-protocol batches
 * as asyncpg sends them, startup/SSL/auth, COPY, errors; plus the captured sessions. */
#include "test_db_common.h"

/* wire messages (built with a script from the protocol docs, checked against captures) */
#define Q_SELECT "Q\x00\x00\x00%SELECT name FROM t WHERE id = 42\x00"
#define R_SELECT "T\x00\x00\x00\x1d\x00\x01name\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00""D\x00\x00\x00\x0f\x00\x01\x00\x00\x00\x05""aliceC\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"
#define Q_BAD "Q\x00\x00\x00\x17SELECT * FROM nope\x00"
#define R_BAD "E\x00\x00\x00 SERROR\x00VERROR\x00""C42P01\x00Mboom\x00\x00Z\x00\x00\x00\x05I"
#define STARTUP "\x00\x00\x00\x17\x00\x03\x00\x00user\x00postgres\x00\x00"
#define R_AUTH "R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x18server_version\x00""16.4\x00K\x00\x00\x00\x0c\x00\x00\x04\xd2\x00\x00\x16.Z\x00\x00\x00\x05I"
#define SSLREQ "\x00\x00\x00\x08\x04\xd2\x16/"
#define EXT1 "P\x00\x00\x00(\x00SELECT name FROM t WHERE id = $1\x00\x00\x00""B\x00\x00\x00\x11\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01""3\x00\x00""D\x00\x00\x00\x06P\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
#define R_EXT1 "1\x00\x00\x00\x04""2\x00\x00\x00\x04T\x00\x00\x00\x1d\x00\x01name\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00""D\x00\x00\x00\r\x00\x01\x00\x00\x00\x03""bobC\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"
#define PREP_NAMED "P\x00\x00\x00""7__asyncpg_stmt_1__\x00INSERT INTO t VALUES ($1, $2)\x00\x00\x00""D\x00\x00\x00\x18S__asyncpg_stmt_1__\x00S\x00\x00\x00\x04"
#define R_PREP_NAMED "1\x00\x00\x00\x04t\x00\x00\x00\x06\x00\x00n\x00\x00\x00\x04Z\x00\x00\x00\x05I"
#define BATCH3 "B\x00\x00\x00\x1e\x00__asyncpg_stmt_1__\x00\x00\x00\x00\x00\x00\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00""B\x00\x00\x00\x1e\x00__asyncpg_stmt_1__\x00\x00\x00\x00\x00\x00\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00""B\x00\x00\x00\x1e\x00__asyncpg_stmt_1__\x00\x00\x00\x00\x00\x00\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
#define R_BATCH3 "2\x00\x00\x00\x04""C\x00\x00\x00\x0fINSERT 0 1\x00""2\x00\x00\x00\x04""C\x00\x00\x00\x0fINSERT 0 1\x00""2\x00\x00\x00\x04""C\x00\x00\x00\x0fINSERT 0 1\x00Z\x00\x00\x00\x05I"
#define R_BATCH3_ERR "2\x00\x00\x00\x04""C\x00\x00\x00\x0fINSERT 0 1\x00""2\x00\x00\x00\x04""E\x00\x00\x00\x1fSERROR\x00VERROR\x00""C23505\x00Mdup\x00\x00Z\x00\x00\x00\x05I"
#define PARSE_BAD "P\x00\x00\x00\x0f\x00SELEC 1\x00\x00\x00""B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
#define R_PARSE_BAD "E\x00\x00\x00 SERROR\x00VERROR\x00""C42601\x00Mboom\x00\x00Z\x00\x00\x00\x05I"
#define PREP_BAD "P\x00\x00\x00\x11s2\x00SELEC 1\x00\x00\x00""D\x00\x00\x00\x08Ss2\x00S\x00\x00\x00\x04"
#define Q_MULTI "Q\x00\x00\x00\nBEGIN\x00"
#define R_BEGIN "C\x00\x00\x00\nBEGIN\x00Z\x00\x00\x00\x05T"
#define Q_COPY "Q\x00\x00\x00\x16""COPY t FROM STDIN\x00"
#define R_COPYIN "G\x00\x00\x00\x07\x00\x00\x00"
#define COPYDATA "d\x00\x00\x00\x08""1\x09x\nc\x00\x00\x00\x04"
#define R_COPYDONE "C\x00\x00\x00\x0b""COPY 1\x00Z\x00\x00\x00\x05I"
#define Q_EMPTY "Q\x00\x00\x00\x05\x00"
#define R_EMPTY "I\x00\x00\x00\x04Z\x00\x00\x00\x05I"

/* pg_terminate_backend: the server's last words to a session running a statement */
#define R_TERMINATED "E\x00\x00\x00\x4fSFATAL\x00VFATAL\x00""C57P01\x00Mterminating connection due to administrator command\x00\x00"

/* statements prepared before attach, run by name (asyncpg's stmt.fetch: Bind, Execute, Sync) */
#define BE_NAMED "B\x00\x00\x00\x1e\x00__asyncpg_stmt_1__\x00\x00\x00\x00\x00\x00\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
#define R_BE_UPDATE "2\x00\x00\x00\x04""C\x00\x00\x00\x0dUPDATE 3\x00Z\x00\x00\x00\x05I"
#define R_BE_SELECT "2\x00\x00\x00\x04""D\x00\x00\x00\x0d\x00\x01\x00\x00\x00\x03""bob""D\x00\x00\x00\x0d\x00\x01\x00\x00\x00\x03""amy""C\x00\x00\x00\x0dSELECT 2\x00Z\x00\x00\x00\x05I"
#define R_BE_ERR "2\x00\x00\x00\x04""E\x00\x00\x00\x1fSERROR\x00VERROR\x00""C23505\x00Mdup\x00\x00Z\x00\x00\x00\x05I"
/* psycopg 3 past prepare_threshold (libpq's PQsendQueryPrepared): Bind, Describe portal, Execute, Sync */
#define BDES_PG3 "B\x00\x00\x00\x12\x00_pg3_0\x00\x00\x00\x00\x00\x00\x00""D\x00\x00\x00\x06P\x00""E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
#define R_BDES_PG3 "2\x00\x00\x00\x04T\x00\x00\x00\x1d\x00\x01name\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00""D\x00\x00\x00\r\x00\x01\x00\x00\x00\x03""bobC\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"
#define R_BE_SUSPENDED "2\x00\x00\x00\x04""D\x00\x00\x00\x0d\x00\x01\x00\x00\x00\x03""bobs\x00\x00\x00\x04Z\x00\x00\x00\x05T"

#define S(x) { 1, TX(x), 0, 0 }
#define R(x) { 0, TX(x), 0, 0 }

struct pg_row {
	const char *desc;
	struct tio io[10];
	struct texp exp[5];
	int nexp;
};

static const struct pg_row rows[] = {
	{ "simple select", { S(Q_SELECT), R(R_SELECT) },
	  { { "SELECT", "SELECT name FROM t WHERE id = ?", "", 0, "", 0, 0 } }, 1 },
	{ "simple error keeps sqlstate", { S(Q_BAD), R(R_BAD) },
	  { { "SELECT", "SELECT * FROM nope", "", 1, "42P01", 0, 0 } }, 1 },
	{ "startup auth then query", { S(STARTUP), R(R_AUTH), S(Q_SELECT), R(R_SELECT) },
	  { { "SELECT", NULL, "", 0, "", 0, 0 } }, 1 },
	{ "ssl refused then startup", { S(SSLREQ), R("N"), S(STARTUP), R(R_AUTH), S(Q_MULTI), R(R_BEGIN) },
	  { { "BEGIN", "BEGIN", "", 0, "", 0, 0 } }, 1 },
	{ "extended unnamed", { S(EXT1), R(R_EXT1) },
	  { { "SELECT", "SELECT name FROM t WHERE id = ?", "", 0, "", 0, 0 } }, 1 },
	{ "named prepare then pipelined batch", { S(PREP_NAMED), R(R_PREP_NAMED), S(BATCH3), R(R_BATCH3) },
	  { { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 },
	    { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 },
	    { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 } }, 3 },
	{ "batch error aborts rest", { S(PREP_NAMED), R(R_PREP_NAMED), S(BATCH3), R(R_BATCH3_ERR) },
	  { { "INSERT", NULL, "", 0, "", 0, 0 }, { "INSERT", NULL, "", 1, "23505", 0, 0 } }, 2 },
	{ "parse error reported on its execute", { S(PARSE_BAD), R(R_PARSE_BAD) },
	  { { "SELEC", "SELEC ?", "", 1, "42601", 0, 0 } }, 1 },
	{ "prepare-only error is a call", { S(PREP_BAD), R(R_PARSE_BAD) },
	  { { "SELEC", "SELEC ?", "", 1, "42601", 0, 0 } }, 1 },
	{ "copy from stdin", { S(Q_COPY), R(R_COPYIN), S(COPYDATA), R(R_COPYDONE) },
	  { { "COPY", "COPY t FROM STDIN", "", 0, "", 0, 0 } }, 1 },
	{ "empty query", { S(Q_EMPTY), R(R_EMPTY) }, { { "", "", "", 0, "", 0, 0 } }, 1 },
	{ "two queries in one write", { S(Q_SELECT Q_BAD), R(R_SELECT R_BAD) },
	  { { "SELECT", NULL, "", 0, "", 0, 0 }, { "SELECT", NULL, "", 1, "42P01", 0, 0 } }, 2 },
	{ "ssl accepted: nothing parsed", { S(SSLREQ), R("S"), S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), R("\x16\x03\x03\x00\x7a") },
	  { { 0 } }, 0 },
	/* issue #8, item 6: a statement whose connection dies is an error call, not nothing */
	{ "connection terminated mid-statement", { S(Q_SELECT), R(R_SELECT), S(Q_BAD), R(R_TERMINATED) },
	  { { "SELECT", NULL, "", 0, NULL, 0, 0 }, { "SELECT", "SELECT * FROM nope", "", 1, "57P01", 0, 0 } }, 2 },
	{ "connection closed with a statement in flight", { S(Q_SELECT), R(R_SELECT), S(Q_BAD) },
	  { { "SELECT", NULL, "", 0, NULL, 0, 0 }, { "SELECT", "SELECT * FROM nope", "", 1, "closed", 0, 0 } }, 2 },
	{ "reply before request", { R(R_SELECT), S(Q_SELECT), R(R_SELECT) },
	  { { "SELECT", NULL, "", 0, "", 0, 0 } }, 1 },
	/* issue #8, item 2: statements prepared before attach take their op from the tag */
	{ "prepared before attach: op from the tag", { S(BE_NAMED), R(R_BE_UPDATE), S(BE_NAMED), R(R_BE_SELECT) },
	  { { "UPDATE", "UPDATE (prepared before attach)", "", 0, "", 0, 0 },
	    { "SELECT", "SELECT (prepared before attach)", "", 0, "", 0, 0 } }, 2 },
	{ "prepared before attach: psycopg 3", { S(BDES_PG3), R(R_BDES_PG3), S(BDES_PG3), R(R_BDES_PG3) },
	  { { "SELECT", "SELECT (prepared before attach)", "", 0, "", 0, 0 },
	    { "SELECT", "SELECT (prepared before attach)", "", 0, "", 0, 0 } }, 2 },
	{ "prepared before attach: batch", { S(BATCH3), R(R_BATCH3_ERR) },
	  { { "INSERT", "INSERT (prepared before attach)", "", 0, "", 0, 0 },
	    { "EXECUTE", "EXECUTE (prepared before attach)", "", 1, "23505", 0, 0 } }, 2 },
	{ "prepared before attach: error and suspended portal", { S(BE_NAMED), R(R_BE_ERR), S(BE_NAMED), R(R_BE_SUSPENDED) },
	  { { "EXECUTE", "EXECUTE (prepared before attach)", "", 1, "23505", 0, 0 },
	    { "EXECUTE", "EXECUTE (prepared before attach)", "", 0, "", 0, 0 } }, 2 },
	{ "prepared before attach, its text learned from a later Parse",
	  { S(BE_NAMED), R(R_BE_UPDATE), S(PREP_NAMED), R(R_PREP_NAMED), S(BATCH3), R(R_BATCH3) },
	  { { "UPDATE", "UPDATE (prepared before attach)", "", 0, "", 0, 0 },
	    { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 },
	    { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 },
	    { "INSERT", "INSERT INTO t VALUES (?)", "", 0, "", 0, 0 } }, 4 },
};

UNIT_TEST(test_db_pg_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tcalls got;
		trun(DB_POSTGRESQL, rows[i].io, 10, &got, NULL);
		tcheck_row(rows[i].desc, &got, rows[i].exp, rows[i].nexp);
		tcheck_splits(DB_POSTGRESQL, rows[i].desc, rows[i].io, 10);
	}
}

UNIT_TEST(test_db_pg_truncated_result_set)
{
	/* a 1 MB result read in one I/O of which 64 bytes were captured: the query still
	 * ends at the last read before the next request */
	struct tio io[] = {
		{ 1, TX(Q_SELECT), 0, 0 },
		{ 0, TX(R_SELECT), 1 << 20, 30 },
		{ 0, TX(R_SELECT), 1 << 20, 30 },
		{ 1, TX(Q_BAD), 0, 0 }, { 0, TX(R_BAD), 0, 0 },
	};
	struct tcalls got;
	struct db_conn_stats st;
	trun(DB_POSTGRESQL, io, 5, &got, &st);
	struct texp exp[] = { { "SELECT", NULL, "", 0, "", 0, 0 }, { "SELECT", NULL, "", 1, "42P01", 0, 0 } };
	tcheck_row("truncated result", &got, exp, 2);
	CHECK(got.n == 2 && got.c[0].end_ns == 1020);
	CHECK(st.malformed == 0 && st.resyncs == 1);
}

UNIT_TEST(test_db_pg_long_query_body_hole)
{
	/* a query longer than the capture: framing by length, text from the visible prefix */
	static char q[3000];
	int n = 5 + snprintf(q + 5, sizeof(q) - 5, "SELECT * FROM t WHERE name IN ('a'");
	while (n < 2900)
		n += snprintf(q + n, sizeof(q) - n, ", 'a'");
	n += snprintf(q + n, sizeof(q) - n, ")") + 1;
	q[0] = 'Q';
	q[1] = 0, q[2] = 0, q[3] = (char)((n - 1) >> 8), q[4] = (char)((n - 1) & 0xff);
	struct tio io[] = { { 1, q, (size_t)n, 0, 200 }, { 0, TX(R_SELECT), 0, 0 } };
	struct tcalls got;
	trun(DB_POSTGRESQL, io, 2, &got, NULL);
	struct texp exp[] = { { "SELECT", "SELECT * FROM t WHERE name IN (?)", "", 0, "", 0, 0 } };
	tcheck_row("long query", &got, exp, 1);
}

UNIT_TEST(test_db_pg_classify_by_content)
{
	/* Bind-first exchanges carry no SQL: they are PostgreSQL by their framing, on any port */
	static const struct { const char *desc, *b; size_t n; int send; enum db_guess g; } rows[] = {
		{ "bind execute sync", TX(BE_NAMED), 1, DB_GUESS_YES },
		{ "pipelined batch", TX(BATCH3), 1, DB_GUESS_YES },
		{ "psycopg 3 bind describe execute sync", TX(BDES_PG3), 1, DB_GUESS_YES },
		{ "its reply", TX(R_BDES_PG3), 0, DB_GUESS_YES },
		{ "reply to a batch", TX(R_BATCH3), 0, DB_GUESS_YES },
		{ "reply with rows", TX(R_BE_SELECT), 0, DB_GUESS_YES },
		{ "reply cut by the capture", R_BE_SELECT, 30, 0, DB_GUESS_YES },
		{ "bind without its sync", BE_NAMED, 45, 1, DB_GUESS_MAYBE },
		{ "bind execute sync, one byte short", BE_NAMED, sizeof(BE_NAMED) - 2, 1, DB_GUESS_MAYBE },
		{ "reply whose ready status is wrong", TX("2\x00\x00\x00\x04""C\x00\x00\x00\x0dUPDATE 3\x00Z\x00\x00\x00\x05X"), 0, DB_GUESS_NO },
		{ "one message", TX("2\x00\x00\x00\x04"), 0, DB_GUESS_MAYBE },
		{ "http", TX("HTTP/1.1 200 OK\r\n\r\n"), 0, DB_GUESS_NO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum db_system s = DB_NONE;
		enum db_guess g = db_classify((const uint8_t *)rows[i].b, rows[i].n, rows[i].send, 40123, &s);
		CHECKF(g == rows[i].g, "%s: guess %d want %d", rows[i].desc, g, rows[i].g);
		CHECKF(g != DB_GUESS_YES || s == DB_POSTGRESQL, "%s: %s", rows[i].desc, db_system_name(s));
	}
}
