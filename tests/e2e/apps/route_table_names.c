/* The C route matcher as a filter, for tests/e2e/test_route_table_frameworks.py: builds the
 * table LABEL of a route_cases.txt file, then answers each "METHOD TARGET" line of stdin with
 * the template route_table_name() chooses. Compiled by the test against build/ objects. */
#include "route_cases.h"
#include "route_table.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct rc_table tables[8];
	char err[256], line[8192];
	if (argc != 3) {
		fprintf(stderr, "usage: %s CASES_FILE LABEL < requests\n", argv[0]);
		return 2;
	}
	int nt = rc_load(argv[1], tables, 8, err, sizeof(err));
	if (nt < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct route_table *t = NULL;
	for (int i = 0; i < nt && !t; i++)
		if (!strcmp(tables[i].label, argv[2]))
			t = route_table_build(&tables[i].r, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "table %s: %s\n", argv[2], err);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *method = strtok(line, " \r\n"), *target = strtok(NULL, " \r\n");
		printf("%s\n", method && target ? route_table_name(t, method, target) : "?");
	}
	route_table_free(t);
	rc_free(tables, nt);
	return 0;
}
