/* libbpf's messages: hidden unless PYVITALS_DEBUG is set, but the last failure is kept so
 * an error can name the program that did not load and the verifier's reason. */
#ifndef BPF_LOG_H
#define BPF_LOG_H
#include <stddef.h>

/* Route libbpf's output through the keeper (idempotent). */
void bpf_log_install(void);
/* Forget what was kept: call before an operation whose failure you want to explain. */
void bpf_log_reset(void);
/* "program 'tp_exit': func 'sched_process_exit' doesn't have 2-th argument", or "" when
 * libbpf said nothing useful since the last reset. */
const char *bpf_log_failure(void);
/* Pure part, for tests: the reason in one libbpf message ("" when it holds none). */
void bpf_log_parse(const char *msg, char *prog, size_t proglen, char *why, size_t whylen);
#endif
