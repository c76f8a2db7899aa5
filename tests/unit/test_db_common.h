/* Helpers shared by the db parser tests (test_db_common.c): a script of I/Os fed to one
 * connection, the calls collected from it, and checks against a table row. */
#ifndef TEST_DB_COMMON_H
#define TEST_DB_COMMON_H
#include "unit.h"
#include "db_parse.h"

#define TMAX_CALLS 64
struct tio { int send; const char *b; size_t n, len, cap; }; /* len/cap 0: n */
struct tcalls { int n; struct db_call c[TMAX_CALLS]; };
struct texp { const char *op, *text, *key; int error; const char *code; int hits, misses; };
void tcollect(void *ctx, const struct db_call *call);
void trun(enum db_system sys, const struct tio *io, int nio, struct tcalls *out,
	  struct db_conn_stats *st);
void tcheck_row(const char *desc, const struct tcalls *got, const struct texp *exp, int nexp);
void tcheck_splits(enum db_system sys, const char *desc, const struct tio *io, int nio);
#define TX(s) (s), sizeof(s) - 1
#endif
