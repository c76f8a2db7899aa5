/* pyvitals serve: attach as watch does, then serve /metrics, /health, /api/snapshot and the
 * dashboard. The agent thread renders the three documents after each snapshot; the HTTP thread
 * only hands out the latest. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "agent.h"
#include "commands.h"
#include "config.h"
#include "health.h"
#include "privs.h"
#include "prom.h"
#include "report.h"
#include "web.h"

struct served {
	struct web *web;
	struct health *health;
	struct service_view views[PV_MAX_SERVICES]; /* this snapshot's, shared by health and metrics */
};

typedef void (*render_fn)(struct agent *a, FILE *f, void *ctx);

/* Render into memory and publish; returns fn's status through ctx. */
static void publish(struct served *sv, struct agent *a, enum web_doc doc, render_fn fn, void *ctx, bool critical)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fn(a, f, ctx);
	fclose(f);
	web_publish(sv->web, doc, buf, len, critical);
	free(buf);
}


static void render_snapshot(struct agent *a, FILE *f, void *ctx)
{
	(void)ctx;
	report_json(a, f, false);
}

static void render_metrics(struct agent *a, FILE *f, void *ctx)
{
	struct served *sv = ctx;

	prom_write(a, sv->views, f);
}

/* Health first: /metrics carries each service's verdict. */
static int snapshot(struct agent *a, bool final, void *ctx)
{
	struct served *sv = ctx;
	enum health_status st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)final;
	report_views(a, sv->views);
	if (!(f = open_memstream(&buf, &len)))
		return 0;
	st = health_update(sv->health, a, sv->views, f);
	fclose(f);
	web_publish(sv->web, WEB_HEALTH, buf, len, st == HEALTH_CRITICAL);
	free(buf);
	publish(sv, a, WEB_SNAPSHOT, render_snapshot, NULL, false);
	publish(sv, a, WEB_METRICS, render_metrics, sv, false);
	return 0;
}

/* The token file: one line, not empty; readable by others is allowed but said. */
static int read_token(const char *path, char *tok, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(tok, 1, len - 1, f);
	tok[n] = 0;
	if (!fstat(fileno(f), &st) && (st.st_mode & 0077))
		fprintf(stderr, "pyvitals serve: warning: %s can be read by other users (chmod 600 it)\n", path);
	fclose(f);
	tok[strcspn(tok, "\r\n")] = 0;
	if (!tok[0] || n == len - 1) {
		snprintf(err, errlen, "the token file %s must hold one line of 1 to %zu characters", path, len - 2);
		return -1;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static struct agent agent;
	static struct served sv;
	struct serve_config cfg;
	struct options o;
	struct agent_loop loop = { .snapshot = snapshot, .ctx = &sv };
	char err[512], kept[128], token[512];
	bool has_token;
	sigset_t stop;
	int ret;

	if (options_parse(&o, "serve", argc, argv))
		return 2;
	serve_config_defaults(&cfg);
	if (o.config[0] && serve_config_load(&cfg, o.config, err, sizeof(err))) {
		fprintf(stderr, "pyvitals serve: %s\n", err);
		return 2;
	}
	if (o.listen[0])
		snprintf(cfg.listen, sizeof(cfg.listen), "%s", o.listen);
	if (o.auth_token_file[0])
		snprintf(cfg.auth_token_file, sizeof(cfg.auth_token_file), "%s", o.auth_token_file);
	has_token = cfg.auth_token_file[0];
	if (has_token && read_token(cfg.auth_token_file, token, sizeof(token), err, sizeof(err))) {
		fprintf(stderr, "pyvitals serve: %s\n", err);
		return 2;
	}
	/* Bind before attaching: a taken port fails in a second, not after the probes went on. */
	if (!(sv.web = web_bind(cfg.listen, err, sizeof(err))) || !(sv.health = health_new(&cfg.health))) {
		fprintf(stderr, "pyvitals serve: %s\n", sv.web ? "out of memory" : err);
		web_stop(sv.web);
		return 1;
	}
	if (agent_start(&agent, &o, err, sizeof(err))) {
		fprintf(stderr, "pyvitals serve: %s\n", err);
		web_stop(sv.web);
		health_free(sv.health);
		return 1;
	}
	if (privs_drop_for_serving(kept, sizeof(kept), err, sizeof(err))) {
		fprintf(stderr, "pyvitals serve: reducing privileges failed, not serving: %s\n", err);
		ret = 1;
		goto out;
	}
	snapshot(&agent, false, &sv);
	/* The HTTP thread inherits this mask: SIGINT and SIGTERM must reach the agent's signalfd,
	 * not kill the process from a thread that does not handle them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	if (web_serve(sv.web, has_token ? token : NULL, err, sizeof(err))) {
		fprintf(stderr, "pyvitals serve: %s\n", err);
		ret = 1;
		goto out;
	}
	memset(token, 0, sizeof(token));
	fprintf(stderr, "attached: hooks=%s services=%d capture=%u bytes\n"
		"serving http://%s/ (/metrics, /health, /api/snapshot)%s; capabilities kept: %s\n",
		hooks_name(agent.hooks), agent.nservices, o.capture, cfg.listen,
		has_token ? " with a bearer token" : "", kept[0] ? kept : "none");
	ret = agent_run(&agent, &loop) ? 1 : 0;
out:
	web_stop(sv.web);
	health_free(sv.health);
	agent_finish(&agent);
	return ret;
}
