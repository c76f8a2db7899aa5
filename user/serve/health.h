/* The /health verdict: checks over a sliding window with thresholds from the config, per
 * route, per service and for the agent itself; ok, degraded or critical. */
#ifndef HEALTH_H
#define HEALTH_H
#include <stdio.h>
#include "agent.h"

enum health_status { HEALTH_OK = 0, HEALTH_DEGRADED = 1, HEALTH_CRITICAL = 2 };

struct health_config {
	double window_s;               /* the sliding window */
	unsigned min_requests;         /* per-route checks need this many requests in the window */
	double http_5xx_ratio[2];      /* [0] degraded at or above, [1] critical at or above */
	double http_p99_latency_s[2];
	double db_calls_per_request[2];
	double gil_wait_ratio[2];      /* GIL wait seconds (summed over threads) per second */
	double gc_pause_p99_ms[2];
	enum health_status n_plus_one; /* what a new N+1 finding in the window makes a service */
	enum health_status lost_events;/* what lost events in the window make the verdict */
};

void health_config_defaults(struct health_config *c);
const char *health_name(enum health_status s);

struct health;
struct health *health_new(const struct health_config *c);
void health_free(struct health *h);
/* Sample the agent's counters (when a step is due), evaluate every check, set each service's
 * verdict (s->health), write the /health JSON to out; returns the overall status. Call once per
 * snapshot, with that snapshot's report_views. */
struct service_view;
enum health_status health_update(struct health *h, struct agent *a, const struct service_view *views, FILE *out);
/* A service slot is taken by a new service: its history is dropped. */
void health_forget_service(struct health *h, int service);
#endif
