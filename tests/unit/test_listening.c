/* listening: the ports a process's network namespace listens on, by sock_diag or /proc. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "unit.h"
#include "listening.h"

/* A socket of ours listening on an ephemeral loopback port (family AF_INET or AF_INET6). */
static int listen_on(int family, uint16_t *port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM, 0);

	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

UNIT_TEST(listening_knows_our_listeners_and_not_other_ports)
{
	static struct listening l;
	uint16_t p4 = 0, p6 = 0;
	int f4 = listen_on(AF_INET, &p4), f6 = listen_on(AF_INET6, &p6);
	uint32_t me = (uint32_t)getpid();

	CHECK(f4 >= 0 && f6 >= 0);
	CHECK(listening_has(&l, me, p4, 1) == 1);
	CHECK(listening_has(&l, me, p6, 2) == 1);
	/* a port nobody listens on: read again (a second later), still not there */
	CHECK(listening_has(&l, me, 1, 3 + 2000000000ull) == 0);
	close(f4);
	close(f6);
}
