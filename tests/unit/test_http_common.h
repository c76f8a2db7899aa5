/* Helpers shared by the HTTP session tests (test_http_common.c): a script of I/Os fed to one
 * server connection, step i (1-based) at ts = i and tid = 100 + i, and the transactions it
 * reported as "METHOD PATH STATUS start-end" in step numbers. */
#ifndef TEST_HTTP_COMMON_H
#define TEST_HTTP_COMMON_H
#include <stddef.h>
#include "http_parse.h"

struct step {
	char op;            /* 'R' service read, 'W' service wrote, 'C' close, 'G' gap */
	const char *data;   /* the captured bytes */
	size_t cap;
	size_t extra;       /* bytes moved beyond the capture, never seen */
};
#define R(s) { 'R', s, sizeof(s) - 1, 0 }
#define W(s) { 'W', s, sizeof(s) - 1, 0 }
#define RX(s, x) { 'R', s, sizeof(s) - 1, x }
#define WX(s, x) { 'W', s, sizeof(s) - 1, x }
#define CLOSE { 'C', NULL, 0, 0 }
#define GAP { 'G', NULL, 0, 0 }  /* records were lost here (the ring buffer was full) */

struct got {
	char text[2048];
	int n, bad;         /* bad: transactions whose tid is not their first read's */
};

/* Feed steps[0..n) (stopping at a zero op) to a new connection with that request framing. */
void http_run_steps(enum http_req_framing framing, const struct step *steps, size_t n, struct got *g,
		    struct http_conn_stats *st);
#endif
