/* Snapshot outputs: one JSON object per line (the public contract) and a text table. */
#ifndef REPORT_H
#define REPORT_H
#include <stdbool.h>
#include <stdio.h>
#include "agent.h"

void report_json(struct agent *a, FILE *out, bool final);
void report_text(struct agent *a, FILE *out, bool final, bool screen);
#endif
