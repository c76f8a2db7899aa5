/* pyvitals watch and top: attach, then render snapshots until the run ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "agent.h"
#include "commands.h"
#include "report.h"

struct view {
	bool json, screen;
};

static int snapshot(struct agent *a, bool final, void *ctx)
{
	struct view *v = ctx;

	if (v->json)
		report_json(a, stdout, final);
	else
		report_text(a, stdout, final, v->screen && !final);
	return 0;
}

static int key(struct agent *a, int ch, void *ctx)
{
	(void)a;
	(void)ctx;
	return ch == 'q' || ch == 'Q';
}

static int run(const char *cmd, int argc, char **argv, bool top)
{
	static struct agent agent;
	struct options o;
	struct view v = { 0 };
	struct agent_loop loop = { .snapshot = snapshot, .ctx = &v };
	struct termios saved, raw;
	bool tty = top && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	char err[512];
	int ret;

	if (options_parse(&o, cmd, argc, argv))
		return 2;
	v.json = o.json && !top;
	if (agent_start(&agent, &o, err, sizeof(err))) {
		fprintf(stderr, "pyvitals %s: %s\n", cmd, err);
		return 1;
	}
	fprintf(stderr, "attached: hooks=%s services=%d capture=%u bytes\n", hooks_name(agent.hooks),
		agent.nservices, o.capture);
	if (tty) {
		v.screen = true;
		loop.key = key;
		tcgetattr(STDIN_FILENO, &saved);
		raw = saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		fputs("\033[?25l", stdout);
	}
	ret = agent_run(&agent, &loop);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fputs("\033[?25h", stdout);
	}
	agent_finish(&agent);
	return ret ? 1 : 0;
}

int cmd_watch(int argc, char **argv)
{
	return run("watch", argc, argv, false);
}

int cmd_top(int argc, char **argv)
{
	return run("top", argc, argv, true);
}
