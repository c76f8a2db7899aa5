/* Per-architecture syscall facts for programs that read a task's saved user registers
 * (bpf_task_pt_regs): the syscall number and the numbers we care about. The arguments
 * come from libbpf's PT_REGS_PARMn_SYSCALL, which knows each architecture's registers. */
#ifndef SYSCALLS_BPF_H
#define SYSCALLS_BPF_H

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_futex 202
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_futex 98
#else
#error "add this architecture's syscall register and numbers to bpf/syscalls.bpf.h"
#endif

#endif
