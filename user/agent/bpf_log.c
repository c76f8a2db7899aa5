/* Keep the reason of libbpf's last failure. libbpf prints a failed load as one message
 * holding the whole verifier log, whose last meaningful line says why
 * ("prog 'x': -- BEGIN PROG LOAD LOG --\n...\nR1 invalid mem access\nprocessed 12 insns..."),
 * and a failed attach as "prog 'x': failed to attach to ...: <error>". */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "bpf_log.h"

static char last_prog[64], last_why[256], failure[352];

/* Verifier bookkeeping lines that follow the real reason. */
static bool is_trailer(const char *line, size_t n)
{
	static const char *const trailers[] = { "processed ", "verification time", "stack depth", "-- END",
						"mark_precise", "libbpf:" };

	if (n == 0)
		return true;
	for (size_t i = 0; i < sizeof(trailers) / sizeof(trailers[0]); i++)
		if (!strncmp(line, trailers[i], strlen(trailers[i])))
			return true;
	return false;
}

void bpf_log_parse(const char *msg, char *prog, size_t proglen, char *why, size_t whylen)
{
	const char *p = strstr(msg, "prog '"), *q, *log, *line = NULL;
	size_t n = 0;

	*prog = *why = 0;
	if (p && (q = strchr(p + 6, '\'')))
		snprintf(prog, proglen, "%.*s", (int)(q - p - 6), p + 6);
	if ((log = strstr(msg, "-- BEGIN PROG LOAD LOG --\n"))) {
		/* The last line of the log that is not bookkeeping. */
		for (const char *s = log + 26; *s;) {
			const char *e = strchr(s, '\n');
			size_t len = e ? (size_t)(e - s) : strlen(s);

			if (!is_trailer(s, len)) {
				line = s;
				n = len;
			}
			s += len + (e != NULL);
		}
	} else if (p && (strstr(msg, "failed to attach") || strstr(msg, "failed to create") ||
			 strstr(msg, "load failed"))) {
		line = p;
		n = strcspn(p, "\n");
	}
	if (line)
		snprintf(why, whylen, "%.*s", (int)n, line);
}

static int keep(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char *msg = NULL, prog[64], why[256];
	va_list copy;
	int r = 0;

	va_copy(copy, args);
	if (getenv("PYVITALS_DEBUG"))
		r = vfprintf(stderr, fmt, args);
	if (level == LIBBPF_WARN && vasprintf(&msg, fmt, copy) >= 0) {
		bpf_log_parse(msg, prog, sizeof(prog), why, sizeof(why));
		if (*why) {
			snprintf(last_prog, sizeof(last_prog), "%s", prog);
			snprintf(last_why, sizeof(last_why), "%s", why);
		}
		free(msg);
	}
	va_end(copy);
	return r;
}

void bpf_log_install(void)
{
	libbpf_set_print(keep);
}

void bpf_log_reset(void)
{
	last_prog[0] = last_why[0] = 0;
}

const char *bpf_log_failure(void)
{
	if (!last_why[0])
		return "";
	if (last_prog[0] && !strstr(last_why, last_prog))
		snprintf(failure, sizeof(failure), "program '%s': %s", last_prog, last_why);
	else
		snprintf(failure, sizeof(failure), "%s", last_why);
	return failure;
}
