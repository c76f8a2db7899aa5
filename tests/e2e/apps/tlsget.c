/* A TLS client with OpenSSL linked into the executable (statically), as some interpreters and
 * tools ship: GET /item/4i for i < n on one connection to the upstream of the TLS tests.
 * Usage: tlsget PORT N (prints "ready", waits for a line, does the calls, prints "done"). */
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = atoi(argv[1]), n = atoi(argv[2]);
	char line[16];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	SSL *s;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return 1;
	s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) != 1)
		return 2;
	for (int i = 0; i < n; i++) {
		char req[128], buf[16384];
		int len = snprintf(req, sizeof(req), "GET /item/%d HTTP/1.1\r\nHost: up\r\n\r\n", i * 4);
		SSL_write(s, req, len);
		/* item 4k: Content-Length, no chunking; read until the body is in */
		int got = 0, want = -1;
		while (want < 0 || got < want) {
			int r = SSL_read(s, buf + got, sizeof(buf) - got - 1);
			if (r <= 0)
				return 3;
			got += r;
			buf[got] = 0;
			char *h = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
			if (h && cl)
				want = (int)(h + 4 - buf) + atoi(cl + 16);
		}
	}
	printf("done\n");
	fflush(stdout);
	fgets(line, sizeof(line), stdin);
	return 0;
}
