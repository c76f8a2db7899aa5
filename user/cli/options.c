/* Option parsing: every value is checked and a bad one is refused with a message naming
 * the flag, the value, what is expected and how to fix it. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include "options.h"

static const char *hook_names[] = { "auto", "tracepoint", "kprobe", "fentry" };

const char *hooks_name(enum hooks_choice h)
{
	return hook_names[h];
}

static int bad(const char *cmd, const char *flag, const char *value, const char *expected)
{
	fprintf(stderr, "pyvitals %s: invalid value '%s' for %s: expected %s (see 'pyvitals %s --help')\n",
		cmd, value, flag, expected, cmd);
	return -1;
}

static int parse_seconds(const char *s, double *out, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned *out, unsigned min, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s == '-')
		return -1;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int add_target(struct options *o, const char *cmd, int pid, const char *comm)
{
	struct target *t;

	if (o->ntargets == PV_MAX_SERVICES) {
		fprintf(stderr, "pyvitals %s: too many targets: at most %d -p/--comm in one run\n", cmd,
			PV_MAX_SERVICES);
		return -1;
	}
	t = &o->targets[o->ntargets++];
	t->pid = pid;
	snprintf(t->comm, sizeof(t->comm), "%s", comm ? comm : "");
	return 0;
}

int options_parse(struct options *o, const char *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, 0, 'p' },   { "comm", required_argument, 0, 'c' },
		{ "interval", required_argument, 0, 'i' }, { "duration", required_argument, 0, 'd' },
		{ "json", no_argument, 0, 'j' },        { "hooks", required_argument, 0, 'H' },
		{ "capture", required_argument, 0, 'C' }, { "max-routes", required_argument, 0, 'R' },
		{ "max-queries", required_argument, 0, 'Q' }, { "db-capture", required_argument, 0, 'D' }, { "n1-threshold", required_argument, 0, 'N' },
		{ "no-tls", no_argument, 0, 'T' },     { "all-python", no_argument, 0, 'A' },
		{ "listen", required_argument, 0, 'L' }, { "config", required_argument, 0, 'F' },
		{ "auth-token-file", required_argument, 0, 'K' }, { "route", required_argument, 0, 'r' },
		{ "no-route-table", no_argument, 0, 'P' },
		{ "routes", no_argument, 0, 'W' },
		{ 0, 0, 0, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->interval_s = 1.0;
	o->capture = 512;
	o->db_capture = PV_CAPTURE_MAX * PV_CHUNK_MAX;
	o->max_routes = 500;
	o->max_queries = 1000;
	o->n1_threshold = 10;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:c:i:d:j", longopts, NULL)) != -1) {
		const char *flag;
		unsigned v;
		size_t i;

		switch (c) {
		case 'T':
			o->no_tls = true;
			break;
		case 'A':
			o->all_python = true;
			break;
		case 'P':
			o->no_route_table = true;
			break;
		case 'W':
			if (strcmp(cmd, "doctor")) {
				fprintf(stderr, "pyvitals %s: --routes is an option of 'pyvitals doctor' only\n", cmd);
				return -1;
			}
			o->list_routes = true;
			break;
		case 'L':
		case 'F':
		case 'K':
			flag = c == 'L' ? "--listen" : c == 'F' ? "--config" : "--auth-token-file";
			if (strcmp(cmd, "serve")) {
				fprintf(stderr, "pyvitals %s: %s is an option of 'pyvitals serve' only\n", cmd, flag);
				return -1;
			}
			if (!*optarg || strlen(optarg) >= sizeof(o->config))
				return bad(cmd, flag, optarg,
					   c == 'L' ? "ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464" : "a file path");
			snprintf(c == 'L' ? o->listen : c == 'F' ? o->config : o->auth_token_file, sizeof(o->config),
				 "%s", optarg);
			break;
		case 'p':
			if (parse_uint(optarg, &v, 1, 0x7fffffff))
				return bad(cmd, "-p", optarg, "a process id (a positive integer)");
			if (add_target(o, cmd, v, NULL))
				return -1;
			break;
		case 'c':
			if (!*optarg || strlen(optarg) >= PV_COMM_LEN)
				return bad(cmd, "--comm", optarg,
					   "a process name of 1 to 15 characters, as in /proc/PID/comm");
			if (add_target(o, cmd, 0, optarg))
				return -1;
			break;
		case 'i':
			if (parse_seconds(optarg, &o->interval_s, 0.1, 3600))
				return bad(cmd, "--interval", optarg, "seconds between 0.1 and 3600");
			break;
		case 'd':
			if (parse_seconds(optarg, &o->duration_s, 0.1, 30 * 86400))
				return bad(cmd, "--duration", optarg, "seconds between 0.1 and 2592000");
			break;
		case 'j':
			o->json = true;
			break;
		case 'H':
			for (i = 0; i < sizeof(hook_names) / sizeof(hook_names[0]); i++)
				if (!strcmp(optarg, hook_names[i]))
					break;
			if (i == sizeof(hook_names) / sizeof(hook_names[0]))
				return bad(cmd, "--hooks", optarg, "one of auto, tracepoint, kprobe, fentry");
			o->hooks = i;
			break;
		case 'C':
			if (parse_uint(optarg, &o->capture, 64, PV_CAPTURE_MAX))
				return bad(cmd, "--capture", optarg, "bytes per I/O between 64 and 65536");
			break;
		case 'D':
			if (parse_uint(optarg, &o->db_capture, 64, PV_CAPTURE_MAX * PV_CHUNK_MAX))
				return bad(cmd, "--db-capture", optarg, "bytes per I/O between 64 and 1048576");
			break;
		case 'r': {
			struct route_namer *check = route_namer_new();
			char why[300] = "out of memory";

			if (o->nroutes == ROUTE_PATTERNS_MAX)
				snprintf(why, sizeof(why), "too many --route patterns (at most %d)", ROUTE_PATTERNS_MAX);
			else if (check && !route_namer_add_pattern(check, optarg, why, sizeof(why)))
				why[0] = 0;
			route_namer_free(check);
			if (why[0]) {
				fprintf(stderr, "pyvitals %s: --route: %s\n", cmd, why);
				return -1;
			}
			snprintf(o->routes[o->nroutes++], sizeof(o->routes[0]), "%s", optarg);
			break;
		}
		case 'R':
			if (parse_uint(optarg, &o->max_routes, 1, 100000))
				return bad(cmd, "--max-routes", optarg, "a number of routes between 1 and 100000");
			break;
		case 'Q':
			if (parse_uint(optarg, &o->max_queries, 1, 100000))
				return bad(cmd, "--max-queries", optarg, "a number of statements between 1 and 100000");
			break;
		case 'N':
			if (parse_uint(optarg, &o->n1_threshold, 2, 1000000))
				return bad(cmd, "--n1-threshold", optarg, "a count of at least 2");
			break;
		default:
			if (optopt)
				fprintf(stderr, "pyvitals %s: option -%c needs a value or is unknown (see 'pyvitals %s --help')\n",
					cmd, optopt, cmd);
			else
				fprintf(stderr, "pyvitals %s: unknown option '%s' (see 'pyvitals %s --help')\n", cmd,
					argv[optind - 1], cmd);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pyvitals %s: unexpected argument '%s': name targets with -p PID, --comm NAME or "
			"--all-python\n", cmd, argv[optind]);
		return -1;
	}
	if (o->all_python && o->ntargets) {
		fprintf(stderr, "pyvitals %s: --all-python watches every CPython process already: drop -p/--comm, "
			"or drop --all-python\n", cmd);
		return -1;
	}
	return 0;
}
