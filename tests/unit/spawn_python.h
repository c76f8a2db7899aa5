/* Live-interpreter unit tests: a child Python running code, and the first line it prints. */
#ifndef SPAWN_PYTHON_H
#define SPAWN_PYTHON_H
#include <stddef.h>
#include <sys/types.h>

/* Start `python -c code` and read its first line into line (NUL-terminated, "" when it printed
 * none). The child's pid, or -1. */
pid_t spawn_python(const char *python, const char *code, char *line, size_t len);
/* Kill and reap it. */
void reap_python(pid_t pid);

#endif
