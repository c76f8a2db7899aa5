/* SQL text normalization for db calls: literals become ?, IN/VALUES lists collapse, comments
 * and extra whitespace go, identifiers and keywords stay as written. Pure functions. */
#ifndef SQL_NORMALIZE_H
#define SQL_NORMALIZE_H
#include <stddef.h>

/* MySQL dialect: "..." is a string literal (an identifier in standard SQL / PostgreSQL). */
#define SQLN_MYSQL 1

/* Returns the length written to out (always NUL-terminated when outlen > 0). */
size_t sql_normalize(const char *in, size_t n, char *out, size_t outlen);
size_t sql_normalize_ex(const char *in, size_t n, char *out, size_t outlen, int flags);
/* First keyword of a statement, upper-cased (SELECT, INSERT, WITH, BEGIN...); "" if none. */
void sql_operation(const char *sql, size_t n, char *out, size_t outlen);
#endif
