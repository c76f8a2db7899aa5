/* Runs every registered unit test; a test passes when none of its checks failed. */
#include "unit.h"
#include <stdlib.h>

#define MAX_TESTS 512
static struct { const char *name; unit_fn fn; } tests[MAX_TESTS];
static int ntests, current_failed;
int unit_checks;

void unit_register(const char *name, unit_fn fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "unit: more than %d tests; raise MAX_TESTS\n", MAX_TESTS);
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests++].fn = fn;
}

void unit_fail(const char *file, int line, const char *what)
{
	current_failed++;
	fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		current_failed = 0;
		tests[i].fn();
		printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
		current_failed ? failed++ : passed++;
	}
	printf("unit: %d checks\n%d passed, %d failed\n", unit_checks, passed, failed);
	return failed ? 1 : 0;
}
