/* Listening ports per process (see listening.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "listening.h"

/* The local ports TCP sockets listen on in pid's network namespace (up to max): the count, or
 * -1 if its /proc/PID/net files cannot be read. */
static int read_listening(int pid, uint16_t *ports, int max)
{
	static const char *const files[] = { "tcp", "tcp6" };
	char path[64], line[512];
	int n = 0, opened = 0;

	for (size_t i = 0; i < 2; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, files[i]);
		if (!(f = fopen(path, "r")))
			continue;
		opened++;
		/* "  sl  local_address rem_address   st ...": address:PORT in hex, state 0A = LISTEN */
		while (fgets(line, sizeof(line), f) && n < max) {
			unsigned lport, state;
			char *colon = strchr(line, ':'), *local = colon ? strchr(colon + 1, ':') : NULL;

			if (local && sscanf(local + 1, "%x %*s %x", &lport, &state) == 2 && state == 0x0A)
				ports[n++] = (uint16_t)lport;
		}
		fclose(f);
	}
	return opened ? n : -1;
}

static bool listed(const struct listening_slot *l, uint16_t port)
{
	for (int i = 0; i < l->n; i++)
		if (l->ports[i] == port)
			return true;
	return false;
}

/* Every server connection asks with its listening port, found in the slot; only a port not
 * there (a client's) reads /proc again, at most once a second per process. */
int listening_has(struct listening *l, uint32_t tgid, uint16_t port, uint64_t now_ns)
{
	struct listening_slot *s = &l->slots[tgid % LISTENING_SLOTS];

	if (s->tgid == tgid && s->n > 0 && listed(s, port))
		return 1;
	if (s->tgid != tgid || now_ns - s->read_ns > 1000000000ull) {
		s->tgid = tgid;
		s->read_ns = now_ns;
		s->n = read_listening((int)tgid, s->ports, LISTENING_PORTS);
	}
	return s->n < 0 ? -1 : listed(s, port);
}
