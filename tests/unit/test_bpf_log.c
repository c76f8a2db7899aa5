/* bpf_log: the program and reason a libbpf failure message names. */
#include "unit.h"
#include "bpf_log.h"

UNIT_TEST(bpf_log_names_program_and_verifier_reason)
{
	static const struct { const char *msg, *prog, *why; } rows[] = {
		/* 6.1 refusing the 6.18-only tracepoint argument (the issue #7 failure). */
		{ "prog 'tp_exit': -- BEGIN PROG LOAD LOG --\nfunc 'sched_process_exit' doesn't have 2-th argument\n"
		  "processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
		  "-- END PROG LOAD LOG --\n",
		  "tp_exit", "func 'sched_process_exit' doesn't have 2-th argument" },
		/* The reason is the last line that is not bookkeeping. */
		{ "prog 'x': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; int a = 1;\nR2 invalid mem access 'scalar'\n"
		  "verification time 31 usec\nstack depth 8\nprocessed 3 insns\n-- END PROG LOAD LOG --\n",
		  "x", "R2 invalid mem access 'scalar'" },
		{ "prog 'fexit_tcp_recvmsg': failed to attach: ERROR: strerror_r(-524)=22\n", "fexit_tcp_recvmsg",
		  "prog 'fexit_tcp_recvmsg': failed to attach: ERROR: strerror_r(-524)=22" },
		{ "prog 'tp_sock_send': BPF program load failed: Permission denied\n", "tp_sock_send",
		  "prog 'tp_sock_send': BPF program load failed: Permission denied" },
		/* Messages that explain nothing leave the reason empty. */
		{ "libbpf: loading object 'pyvitals_bpf' from buffer\n", "", "" },
		{ "prog 'y': -- BEGIN PROG LOAD LOG --\nprocessed 0 insns\n-- END PROG LOAD LOG --\n", "y", "" },
		{ "prog '", "", "" },
		{ "", "", "" },
	};
	char prog[64], why[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bpf_log_parse(rows[i].msg, prog, sizeof(prog), why, sizeof(why));
		CHECKF(!strcmp(prog, rows[i].prog), "row %zu: prog '%s'", i, prog);
		CHECKF(!strcmp(why, rows[i].why), "row %zu: why '%s'", i, why);
	}
	/* A reason longer than the buffer is cut, never overrun. */
	bpf_log_parse("prog 'p': -- BEGIN PROG LOAD LOG --\n"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		      prog, 4, why, 8);
	CHECK(!strcmp(prog, "p") && !strcmp(why, "aaaaaaa"));
}
