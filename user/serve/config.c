/* The INI file: every key is checked; an unknown key, a bad value or a missing file is an error
 * that names the file, the line and what is expected (a typo must not silently keep a default). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "config.h"

void serve_config_defaults(struct serve_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "%s", DEFAULT_LISTEN);
	health_config_defaults(&c->health);
}

struct load {
	struct serve_config *c;
	char err[256];
};

static int number(const char *v, double *out, double min, double max)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < min || d > max)
		return -1;
	*out = d;
	return 0;
}

static int level(const char *v, enum health_status *out)
{
	if (!strcmp(v, "ok") || !strcmp(v, "off"))
		*out = HEALTH_OK;
	else if (!strcmp(v, "degraded"))
		*out = HEALTH_DEGRADED;
	else if (!strcmp(v, "critical"))
		*out = HEALTH_CRITICAL;
	else
		return -1;
	return 0;
}

/* Threshold keys: NAME_degraded and NAME_critical. */
static const struct { const char *name; size_t off; double max; } pairs[] = {
	{ "http_5xx_ratio", offsetof(struct health_config, http_5xx_ratio), 1 },
	{ "http_p99_latency_s", offsetof(struct health_config, http_p99_latency_s), 3600 },
	{ "db_calls_per_request", offsetof(struct health_config, db_calls_per_request), 1e9 },
	{ "gil_wait_ratio", offsetof(struct health_config, gil_wait_ratio), 1e6 },
	{ "gc_pause_p99_ms", offsetof(struct health_config, gc_pause_p99_ms), 3.6e6 },
};

static int health_key(struct load *l, const char *key, const char *v)
{
	struct health_config *h = &l->c->health;
	double d;

	if (!strcmp(key, "window_s")) {
		if (number(v, &h->window_s, 5, 86400))
			return snprintf(l->err, sizeof(l->err), "window_s = %s: expected seconds from 5 to 86400", v), 0;
		return 1;
	}
	if (!strcmp(key, "min_requests")) {
		if (number(v, &d, 1, 1e9) || d != floor(d))
			return snprintf(l->err, sizeof(l->err), "min_requests = %s: expected a whole number from 1", v), 0;
		h->min_requests = (unsigned)d;
		return 1;
	}
	if (!strcmp(key, "n_plus_one") || !strcmp(key, "lost_events")) {
		if (level(v, !strcmp(key, "n_plus_one") ? &h->n_plus_one : &h->lost_events))
			return snprintf(l->err, sizeof(l->err), "%s = %s: expected off, degraded or critical", key, v), 0;
		return 1;
	}
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		size_t n = strlen(pairs[i].name);
		double *limits = (double *)((char *)h + pairs[i].off);
		int which;

		if (strncmp(key, pairs[i].name, n) || key[n] != '_')
			continue;
		which = !strcmp(key + n + 1, "degraded") ? 0 : !strcmp(key + n + 1, "critical") ? 1 : -1;
		if (which < 0)
			break;
		if (number(v, &limits[which], 0, pairs[i].max))
			return snprintf(l->err, sizeof(l->err), "%s = %s: expected a number from 0 to %g", key, v,
					pairs[i].max), 0;
		return 1;
	}
	snprintf(l->err, sizeof(l->err), "unknown key '%s' in [health] (see deploy/pyvitals.ini for every key)", key);
	return 0;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct load *l = user;

	if (!strcmp(section, "serve")) {
		char *dst = !strcmp(key, "listen") ? l->c->listen
			  : !strcmp(key, "auth_token_file") ? l->c->auth_token_file : NULL;

		if (!dst)
			return snprintf(l->err, sizeof(l->err), "unknown key '%s' in [serve] (expected listen or "
					"auth_token_file)", key), 0;
		if (strlen(value) >= sizeof(l->c->listen))
			return snprintf(l->err, sizeof(l->err), "%s is too long", key), 0;
		snprintf(dst, sizeof(l->c->listen), "%s", value);
		return 1;
	}
	if (!strcmp(section, "health"))
		return health_key(l, key, value);
	snprintf(l->err, sizeof(l->err), "unknown section [%s] (expected [serve] or [health])", section);
	return 0;
}

int serve_config_load(struct serve_config *c, const char *path, char *err, size_t errlen)
{
	struct load l = { .c = c };
	int line = ini_parse(path, on_key, &l);

	if (line == -1) {
		snprintf(err, errlen, "cannot read the config file %s: %s", path, strerror(errno));
		return -1;
	}
	if (line) {
		snprintf(err, errlen, "%s, line %d: %s", path, line, l.err[0] ? l.err : "not an INI line (expected "
			 "[section] or key = value)");
		return -1;
	}
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const double *limits = (const double *)((const char *)&c->health + pairs[i].off);

		if (limits[1] < limits[0]) {
			snprintf(err, errlen, "%s: %s_critical (%g) is below %s_degraded (%g): critical must be the "
				 "higher threshold", path, pairs[i].name, limits[1], pairs[i].name, limits[0]);
			return -1;
		}
	}
	return 0;
}
