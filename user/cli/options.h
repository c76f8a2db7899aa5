/* Command-line options shared by watch, top, serve and doctor, and their parsing. */
#ifndef OPTIONS_H
#define OPTIONS_H
#include <stdbool.h>
#include "pyvitals.h"
#include "route_names.h"

enum hooks_choice { HOOKS_AUTO = 0, HOOKS_TRACEPOINT, HOOKS_KPROBE, HOOKS_FENTRY };

struct target {
	int pid;                 /* -p PID: this process and its descendants; 0 for --comm */
	char comm[PV_COMM_LEN];  /* --comm NAME */
};

struct options {
	struct target targets[PV_MAX_SERVICES];
	int ntargets;
	double interval_s;       /* --interval */
	double duration_s;       /* --duration, 0 = until stopped */
	bool json;               /* --json */
	enum hooks_choice hooks; /* --hooks */
	unsigned capture;        /* --capture BYTES per I/O */
	unsigned db_capture;     /* --db-capture BYTES per I/O on database/cache connections */
	unsigned max_routes;     /* --max-routes per service */
	unsigned max_queries;    /* --max-queries: normalized statements per service */
	unsigned n1_threshold;   /* --n1-threshold: same statement this often in one request */
	bool all_python;         /* --all-python: every CPython process on the host */
	char listen[256];        /* serve --listen ADDR:PORT ("" = the config's, else 127.0.0.1:9464) */
	char config[256];        /* serve --config FILE */
	char auth_token_file[256]; /* serve --auth-token-file FILE */
	bool no_tls;             /* --no-tls: no libssl probes (TLS connections become blind spots) */
	char routes[ROUTE_PATTERNS_MAX][200]; /* --route '[METHOD ]/path/{param}', in order */
	unsigned nroutes;
	bool no_route_table;     /* --no-route-table: name routes from paths, never read the app's table */
	bool list_routes;        /* doctor --routes: the route tables only, with their templates */
};

/* Parse argv[first..]; on error print what was wrong and what to do, and return -1. */
int options_parse(struct options *o, const char *cmd, int argc, char **argv);
const char *hooks_name(enum hooks_choice h);
#endif
