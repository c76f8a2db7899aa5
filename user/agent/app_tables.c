/* Reading a service's route table from one of its processes. A gunicorn master without
 * --preload has no framework loaded, so up to APP_PIDS_MAX processes are tried. While a service
 * waits for its first table (table_pending), its requests wait too, at most TABLE_WAIT_NS from
 * the service's start: long enough for Django's lazily imported urlconf and a worker still
 * booting, short enough that a framework we do not know costs a few seconds of held names. */
#include <stdio.h>
#include <string.h>
#include "agent.h"
#include "app_routes.h"
#include "app_tables.h"
#include "route_table.h"

#define APP_PIDS_MAX 8
#define TABLE_REFRESH_NS 10000000000ull /* a table we have (or know is absent) */
#define TABLE_RETRY_NS 1000000000ull    /* while a service waits for its first one */
#define TABLE_WAIT_NS 5000000000ull

/* The first process of service i (a master has none) with a table fills r (0); else -1, why set. */
static int read_table(struct agent *a, int i, struct app_routes *r, char *why, size_t whylen)
{
	int pids[APP_PIDS_MAX], n = agent_pids(a, i, pids, APP_PIDS_MAX), which;

	return app_routes_read_first(pids, n, r, &which, why, whylen);
}

/* A table read: used when it is new and no request was named another way yet. */
static void take_table(struct service *s, struct app_routes *r)
{
	struct route_table *t;
	char err[256], source[320];

	if (s->table && r->fingerprint == s->table_fingerprint)
		return;
	if (s->fallback_named) {
		snprintf(s->table_why, sizeof(s->table_why),
			 "%s table found after requests were named from their paths; names stay as they are "
			 "(restart pyvitals to use it)", r->framework_version[0] ? r->framework_version :
			 app_framework_name(r->framework));
		return;
	}
	if (!(t = route_table_build(r, err, sizeof(err)))) {
		if (!s->table)
			service_no_route_table(s, err);
		return;
	}
	snprintf(source, sizeof(source), "%s, %s, %d templates%s", r->framework_version[0] ?
		 r->framework_version : app_framework_name(r->framework), r->app, route_table_templates(t),
		 route_table_rejected(t) || r->skipped ? " (some could not be used: doctor -p PID --routes)" : "");
	service_set_route_table(s, t, r->fingerprint, source);
}

void app_tables_refresh(struct agent *a, uint64_t now_ns)
{
	if (a->opt.no_route_table)
		return;
	for (int i = 0; i < a->nservices; i++) {
		struct service *s = &a->services[i];
		struct app_routes r;
		char why[300];

		if (s->gone || now_ns < s->table_next_read_ns)
			continue;
		if (read_table(a, i, &r, why, sizeof(why)) == 0) {
			take_table(s, &r);
			app_routes_free(&r);
		} else if (s->table_pending) {
			if (now_ns >= (s->since_ns ? s->since_ns : a->start_ns) + TABLE_WAIT_NS)
				service_no_route_table(s, why);
		} else if (!s->table && !s->table_pending) {
			snprintf(s->table_why, sizeof(s->table_why), "%s", why);
		}
		s->table_next_read_ns = now_ns + (s->table_pending ? TABLE_RETRY_NS : TABLE_REFRESH_NS);
	}
}
