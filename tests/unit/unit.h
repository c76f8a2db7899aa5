/* A tiny table-driven test harness: each UNIT_TEST registers itself at start-up, CHECK
 * records a failure with file:line and carries on. unit_main.c runs them all and prints
 * "N passed, N failed". */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);
void unit_register(const char *name, unit_fn fn);
void unit_fail(const char *file, int line, const char *what);
extern int unit_checks;

#define UNIT_TEST(name)                                                       \
	static void name(void);                                               \
	__attribute__((constructor)) static void register_##name(void)        \
	{ unit_register(#name, name); }                                       \
	static void name(void)

#define CHECK(cond)                                                           \
	do { unit_checks++; if (!(cond)) unit_fail(__FILE__, __LINE__, #cond); } while (0)

/* Like CHECK, with a printf-style note saying which table row failed. */
#define CHECKF(cond, ...)                                                     \
	do { unit_checks++; if (!(cond)) { char m_[512]; snprintf(m_, sizeof m_, __VA_ARGS__); \
	     unit_fail(__FILE__, __LINE__, m_); } } while (0)
#endif
