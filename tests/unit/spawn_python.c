#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "spawn_python.h"

pid_t spawn_python(const char *python, const char *code, char *line, size_t len)
{
	int fds[2];
	pid_t pid;

	line[0] = 0;
	if (pipe(fds))
		return -1;
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		execl(python, python, "-c", code, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* One whole line: a single read() may return only part of it. */
	for (size_t n = 0; pid > 0 && n < len - 1 && !strchr(line, '\n');) {
		ssize_t r = read(fds[0], line + n, len - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = 0;
	}
	close(fds[0]);
	return pid;
}

void reap_python(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}
