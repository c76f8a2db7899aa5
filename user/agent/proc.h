/* Reading /proc: process existence, names, parents and command lines. */
#ifndef PROC_H
#define PROC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool proc_alive(int pid);
/* A thread of any process (its /proc/TID, not listed but there). */
bool proc_thread_alive(uint32_t tid);
/* Start time in clock ticks since boot: with the pid, it tells a process from a reused pid. 0 if gone. */
unsigned long long proc_start_time(int pid);
int proc_ppid(int pid);                                   /* -1 if gone */
int proc_comm(int pid, char *buf, size_t len);            /* 0 or -errno */
int proc_exe(int pid, char *buf, size_t len);             /* 0 or -errno */
/* argv of pid as separate NUL-terminated strings; returns argc or -errno. */
int proc_argv(int pid, char *buf, size_t len, char **argv, int maxargs);
/* A readable service name from the command line: "gunicorn app:app", "app.py". */
void proc_service_name(int pid, char *buf, size_t len);
/* An executable named python*, or libpython mapped. */
bool proc_is_cpython(int pid);
/* Call fn for every process on the host; stops early when fn returns non-zero. */
int proc_each(int (*fn)(int pid, void *ctx), void *ctx);
#endif
