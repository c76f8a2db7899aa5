/* pyvitals: RED metrics and interpreter health of a running Python service, from eBPF. */
#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "version.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "watch", cmd_watch, "watch TARGET [--interval S] [--duration S] [--json]   snapshots every interval" },
	{ "top", cmd_top, "top TARGET [--interval S] [--duration S]                 live table; q quits" },
	{ "serve", cmd_serve, "serve TARGET [serve options]                          /metrics, /health, dashboard" },
	{ "doctor", cmd_doctor, "doctor [-p PID [--routes]]                            what this kernel allows; the app's routes" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pyvitals COMMAND [options]       (pyvitals --version: version, commit, libbpf)\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  pyvitals %s\n", commands[i].help);
	fprintf(f, "TARGET: -p PID (repeatable; the process and all its descendants), --comm NAME, or --all-python\n"
		   "common options: --hooks=auto|tracepoint|kprobe|fentry  --capture BYTES  --db-capture BYTES  --no-tls\n"
		   "                --max-routes N  --max-queries N  --n1-threshold N  --route '[METHOD ]/post/{slug}'\n"
		   "serve options: --listen ADDR:PORT (default 127.0.0.1:9464)  --config FILE  --auth-token-file FILE\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		version_print(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			for (int j = 2; j < argc; j++)
				if (!strcmp(argv[j], "-h") || !strcmp(argv[j], "--help")) {
					usage(stdout);
					return 0;
				}
			return commands[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "pyvitals: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
