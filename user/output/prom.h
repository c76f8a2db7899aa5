/* The Prometheus exposition (text format 0.0.4) of an agent's services. */
#ifndef PROM_H
#define PROM_H
#include <stdio.h>
#include "agent.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
struct service_view;
/* views: report_views of this snapshot. */
void prom_write(struct agent *a, const struct service_view *views, FILE *f);
#endif
