/* /proc readers. Processes come and go at any moment: every reader tolerates a
 * process that vanished between two reads. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proc.h"

bool proc_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

bool proc_thread_alive(uint32_t tid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%u", (unsigned)tid);
	return access(path, F_OK) == 0;
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = 0;
	close(fd);
	return n;
}

unsigned long long proc_start_time(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return 0;
	/* fields after ")": state(3) ... starttime(22) */
	sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &v);
	return v;
}

int proc_ppid(int pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	/* comm may contain spaces and parentheses: the fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	return atoi(p + 4); /* ") S PPID" */
}

int proc_comm(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = read_file(path, buf, len);
	if (n < 0)
		return n;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int proc_exe(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

int proc_argv(int pid, char *buf, size_t len, char **argv, int maxargs)
{
	char path[64];
	ssize_t n;
	int argc = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_file(path, buf, len);
	if (n < 0)
		return n;
	for (char *p = buf; p < buf + n && argc < maxargs; p += strlen(p) + 1)
		argv[argc++] = p;
	return argc;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool is_python(const char *arg0)
{
	return !strncmp(base(arg0), "python", 6);
}

/* "module:callable" as gunicorn/uvicorn take it (not "127.0.0.1:8000") */
static bool is_app_spec(const char *a)
{
	const char *colon = strchr(a, ':');

	if (!colon || colon == a || !colon[1] || !(isalpha((unsigned char)a[0]) || a[0] == '_'))
		return false;
	for (const char *p = a; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
			return false;
	return isalpha((unsigned char)colon[1]) || colon[1] == '_';
}

void proc_service_name(int pid, char *buf, size_t len)
{
	char raw[4096], *argv[64];
	int argc = proc_argv(pid, raw, sizeof(raw), argv, 64), i = 0;
	const char *prog, *app = NULL;

	if (argc <= 0) {
		if (proc_comm(pid, buf, len))
			snprintf(buf, len, "pid %d", pid);
		return;
	}
	/* Skip the interpreter and its own flags: the script or module names the service. */
	if (is_python(argv[0])) {
		for (i = 1; i < argc && argv[i][0] == '-'; i++) {
			if (!strcmp(argv[i], "-m") && i + 1 < argc) {
				i++;
				break;
			}
			if (!strcmp(argv[i], "-c")) { /* the code itself is no name */
				snprintf(buf, len, "%s -c", base(argv[0]));
				return;
			}
		}
		if (i >= argc)
			i = 0;
	}
	prog = base(argv[i]);
	for (int j = i + 1; j < argc && !app; j++)
		if (is_app_spec(argv[j]))
			app = argv[j];
	if (!app && i + 1 < argc && argv[i + 1][0] != '-')
		app = argv[i + 1];
	if (app)
		snprintf(buf, len, "%s %s", prog, app);
	else
		snprintf(buf, len, "%s", prog);
}

int proc_each(int (*fn)(int pid, void *ctx), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int ret = 0;

	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		ret = fn(atoi(de->d_name), ctx);
	}
	closedir(d);
	return ret;
}

/* CPython: an executable named python*, or libpython mapped (uwsgi's plugin, embedded
 * interpreters, pyenv's shared builds). */
bool proc_is_cpython(int pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	if (!proc_exe(pid, line, sizeof(line)) && !strncmp(base(line), "python", 6))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libpython") != NULL;
	fclose(f);
	return found;
}
