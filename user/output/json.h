/* Minimal JSON writing helpers for the output contract. */
#ifndef JSON_H
#define JSON_H
#include <stdio.h>
#include <stdint.h>
#include "hist.h"

void json_str(FILE *f, const char *s);            /* a quoted, escaped string */
void json_num(FILE *f, double v);                 /* finite number, compact, 3 decimals at most */
void json_latency(FILE *f, const struct hist *h);  /* {"p50", "p90", "p95", "p99", "max"} in ms */
#endif
