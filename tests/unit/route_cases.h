/* Reads tests/unit/data/route_cases.txt (format at its top) into struct app_routes tables, as
 * the route-table reader would fill them, with their cases. Shared by the unit test and the
 * driver the framework check compiles (tests/e2e/apps/route_table_names.c). */
#ifndef ROUTE_CASES_H
#define ROUTE_CASES_H
#include "app_routes.h"

struct rc_case {
	char method[16], target[512], want[APP_NAME_MAX];
};

struct rc_table {
	char label[64];
	struct app_routes r;
	struct rc_case *cases;
	int ncases;
};

/* Up to max tables from file; the count, or -1 with err (a line it cannot read, or no file). */
int rc_load(const char *file, struct rc_table *tables, int max, char *err, size_t errlen);
void rc_free(struct rc_table *tables, int n);

#endif
