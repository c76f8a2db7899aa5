/* Listening ports per process (see listening.h). */
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "listening.h"

/* Adds the ports of family's listening TCP sockets in our own network namespace (sock_diag:
 * the kernel walks only its listening hash, where /proc/PID/net/tcp walks every established
 * bucket too, milliseconds on a host with many connections). Returns the new count, or -1. */
static int diag_listening(int family, uint16_t *ports, int n, int max)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = 1u << TCP_LISTEN },
	};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return -1;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		goto fail;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);

		if (len <= 0)
			goto fail;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return n;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto fail;
			if (n < max)
				ports[n++] = ntohs(((struct inet_diag_msg *)NLMSG_DATA(h))->id.idiag_sport);
		}
	}
fail:
	close(fd);
	return -1;
}

/* Is pid in our network namespace (so that sock_diag sees its sockets)? */
static bool same_netns(int pid)
{
	static ino_t ours;
	struct stat st;
	char path[64];

	if (!ours && !stat("/proc/self/ns/net", &st))
		ours = st.st_ino;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	return ours && !stat(path, &st) && st.st_ino == ours;
}

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
		s->n = -1;
		if (same_netns((int)tgid) && (s->n = diag_listening(AF_INET, s->ports, 0, LISTENING_PORTS)) >= 0)
			s->n = diag_listening(AF_INET6, s->ports, s->n, LISTENING_PORTS);
		if (s->n < 0)
			s->n = read_listening((int)tgid, s->ports, LISTENING_PORTS);
	}
	return s->n < 0 ? -1 : listed(s, port);
}
