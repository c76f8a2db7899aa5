/* SQL normalization and operation fixtures: {input, normalized} rows. */
#include "unit.h"
#include <stdlib.h>
#include "sql_normalize.h"

static const struct {
	const char *in, *want;
	int flags;
} rows[] = {
	{ "SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?", 0 },
	{ "select  *\n\tfrom t   where x=1.5e3", "select * from t where x=?", 0 },
	{ "SELECT 'it''s', 'a\\'b' FROM t", "SELECT ?, ? FROM t", SQLN_MYSQL },
	{ "SELECT 'it''s', E'a\\'b' FROM t", "SELECT ?, ? FROM t", 0 },
	/* A backslash is ordinary in standard strings (PostgreSQL, SQLite): the literal after a
	 * path ending in one must not leak. */
	{ "UPDATE t1 SET v = 'C:\\Users\\bob\\' WHERE k = 'secret-value'", "UPDATE t1 SET v = ? WHERE k = ?", 0 },
	{ "UPDATE t1 SET v = 'C:\\Users\\bob\\\\' WHERE k = 'secret-value'", "UPDATE t1 SET v = ? WHERE k = ?",
	  SQLN_MYSQL },
	/* MySQL # comments go, and do not split the statement. */
	{ "SELECT a # the 'a' column\nFROM t WHERE b = 1", "SELECT a FROM t WHERE b = ?", SQLN_MYSQL },
	/* Groups shorter than (?) are left alone (folding them overflowed the buffer). */
	{ "SELECT * FROM t WHERE x IN ()", "SELECT * FROM t WHERE x IN ()", 0 },
	{ "SELECT * FROM t WHERE x IN (", "SELECT * FROM t WHERE x IN (", 0 },
	{ "SELECT * FROM t WHERE x IN (1", "SELECT * FROM t WHERE x IN (?", 0 },
	{ "SELECT E'\\n' || x'1F' || N'ü' || U&'d\\0061t'", "SELECT ? || ? || ? || ?", 0 },
	{ "SELECT $$body with 'quote'$$, $fn$x$fn$", "SELECT ?, ?", 0 },
	{ "SELECT * FROM t WHERE a = $1 AND b = $12", "SELECT * FROM t WHERE a = ? AND b = ?", 0 },
	{ "INSERT INTO t (a, b) VALUES (%s, %s)", "INSERT INTO t (a, b) VALUES (?)", 0 },
	{ "INSERT INTO t VALUES (%(a)s, %(b)s)", "INSERT INTO t VALUES (?)", 0 },
	{ "SELECT ? FROM dual WHERE x = ?", "SELECT ? FROM dual WHERE x = ?", 0 },
	{ "SELECT * FROM t WHERE id IN (1, 2, 3, 4)", "SELECT * FROM t WHERE id IN (?)", 0 },
	{ "SELECT * FROM t WHERE id in ($1,$2,$3)", "SELECT * FROM t WHERE id in (?)", 0 },
	{ "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k = 3)",
	  "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k = ?)", 0 },
	{ "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL) ON CONFLICT DO NOTHING",
	  "INSERT INTO t VALUES (?) ON CONFLICT DO NOTHING", 0 },
	{ "INSERT INTO t VALUES (now(), 1)", "INSERT INTO t VALUES (now(), ?)", 0 },
	{ "SELECT a -- the a column\nFROM t /* c1 /* nested */ still */ WHERE b", "SELECT a FROM t WHERE b", 0 },
	{ "  BEGIN  ", "BEGIN", 0 },
	{ "SELECT TRUE, FALSE, NULL FROM t", "SELECT TRUE, FALSE, NULL FROM t", 0 },
	{ "SELECT \"Col1\", t2.c3 FROM \"My Table\" t2", "SELECT \"Col1\", t2.c3 FROM \"My Table\" t2", 0 },
	{ "SELECT \"secret\" FROM `tbl`", "SELECT ? FROM `tbl`", SQLN_MYSQL },
	{ "SELECT x::int, y::text[] FROM t", "SELECT x::int, y::text[] FROM t", 0 },
	{ "SELECT 0xDEADBEEF, .5, 10.", "SELECT ?, ?, ?", 0 },
	{ "SELECT _utf8mb4'abc' COLLATE utf8mb4_bin", "SELECT ? COLLATE utf8mb4_bin", SQLN_MYSQL },
	{ "SELECT * FROM t WHERE s = 'unterminated", "SELECT * FROM t WHERE s = ?", 0 },
	{ "UPDATE t SET a = -5 WHERE b <> 'x'", "UPDATE t SET a = -? WHERE b <> ?", 0 },
	{ "SELECT * FROM t WHERE k IN (1, 2", "SELECT * FROM t WHERE k IN (?)", 0 },
	{ "SELECT col$1, t1.c2 FROM t1", "SELECT col$1, t1.c2 FROM t1", 0 },
	{ "", "", 0 },
	{ "DELETE FROM t WHERE a IN (NULL, 'x') AND b = 'y'", "DELETE FROM t WHERE a IN (?) AND b = ?", 0 },
};

UNIT_TEST(test_sql_normalize_rows)
{
	char out[512];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = sql_normalize_ex(rows[i].in, strlen(rows[i].in), out, sizeof(out), rows[i].flags);
		CHECKF(!strcmp(out, rows[i].want) && n == strlen(out), "row %zu: '%.150s' -> '%.150s' want '%.150s'",
		       i, rows[i].in, out, rows[i].want);
	}
}

/* The fuzz finds of issue #8: valid SQL whose cut or empty IN groups made the fold lengthen
 * the text past its buffer. Heap buffers of the exact size, so ASan sees any overrun. */
UNIT_TEST(test_sql_normalize_never_lengthens)
{
	char *in = malloc(1100), *out;
	size_t n = 0, got;

	n += sprintf(in, "SELECT ");
	while (n < 1000)
		n += sprintf(in + n, "a, ");
	n += sprintf(in + n, "a FROM t WHERE x IN (1, 2, 3)");
	n = strstr(in, "IN (") + 4 - in;  /* the capture ends right after "IN (" */
	out = malloc(n + 1);
	got = sql_normalize(in, n, out, n + 1);
	CHECK(got <= n && got == strlen(out) && !strcmp(out + got - 4, "IN ("));
	free(out);
	for (n = 0; n < 50 * 11; n += sprintf(in + n, "x IN () OR "))
		;
	out = malloc(n + 1);
	got = sql_normalize(in, n, out, n + 1);
	CHECK(got <= n && got == strlen(out));
	free(out);
	free(in);
}

UNIT_TEST(test_sql_normalize_truncates)
{
	char out[8];
	size_t n = sql_normalize("SELECT * FROM long_table", 24, out, sizeof(out));
	CHECK(n == 7 && !strcmp(out, "SELECT "));
	CHECK(sql_normalize("x", 1, out, 0) == 0);
}

UNIT_TEST(test_sql_operation)
{
	static const struct { const char *in, *want; } ops[] = {
		{ "select 1", "SELECT" }, { "  /* hi */ -- x\n insert into t", "INSERT" },
		{ "(SELECT 1) UNION (SELECT 2)", "SELECT" }, { "WITH x AS (SELECT 1) SELECT *", "WITH" },
		{ "begin", "BEGIN" }, { "", "" }, { "123", "" },
	};
	char out[24];
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		sql_operation(ops[i].in, strlen(ops[i].in), out, sizeof(out));
		CHECKF(!strcmp(out, ops[i].want), "op '%s' -> '%s' want '%s'", ops[i].in, out, ops[i].want);
	}
}
