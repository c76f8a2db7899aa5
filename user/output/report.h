/* Snapshot outputs: one JSON object per line (the public contract) and a text table. */
#ifndef REPORT_H
#define REPORT_H
#include <stdbool.h>
#include <stdio.h>
#include "agent.h"
#include "runtime.h"

/* What can be said of a service's figures: its blind spots, whether calls can be tied to its
 * requests, whether its request counts are complete. Shared by every output. */
struct service_view {
	struct blind_spots blind;
	bool db_attributed, http_attributed;
	bool exact;
	bool records_lost;            /* socket or TLS records were lost (agent_socket_losses) */
	bool has_runtime;             /* the interpreter probes loaded: runtime holds its figures */
	struct runtime_values runtime;
};
void report_view(struct agent *a, struct service *s, struct service_view *v);
/* report_view of every service not gone, into views[service]. */
void report_views(struct agent *a, struct service_view *views);

void report_json(struct agent *a, FILE *out, bool final);
void report_text(struct agent *a, FILE *out, bool final, bool screen);
#endif
