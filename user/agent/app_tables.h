/* Each service's route table, read from its application (probes/app_routes.h) and handed to
 * the service's namer (stats/route_table.h): at start, then again every few seconds, so that
 * templates added after attach (a lazy blueprint, Django's urlconf imported by the first request,
 * a restarted service) are learned later. */
#ifndef APP_TABLES_H
#define APP_TABLES_H
#include <stdint.h>

struct agent;

/* Read the tables that are due by now (cheap when none is). */
void app_tables_refresh(struct agent *a, uint64_t now_ns);

#endif
