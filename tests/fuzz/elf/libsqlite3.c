/* Seed of fuzz_sqlite_elf: the symbols sqlite_elf_offsets looks for, the exported prepare and
 * open functions thin wrappers that call an internal function starting with a push. */
#define FN(name, body) __attribute__((naked)) void name(void) { __asm__(body); }
__attribute__((naked, used)) static void sqlite3LockAndPrepare(void) { __asm__("push %rbp; pop %rbp; ret"); }
__attribute__((naked, used)) static void openDatabase(void) { __asm__("push %r12; pop %r12; ret"); }
FN(sqlite3_step, "push %rbx; pop %rbx; ret")
FN(sqlite3_reset, "push %rbx; pop %rbx; ret")
FN(sqlite3_finalize, "push %rbx; pop %rbx; ret")
FN(sqlite3_prepare, "sub $8,%rsp; xor %eax,%eax; call sqlite3LockAndPrepare; add $8,%rsp; ret")
FN(sqlite3_prepare_v2, "sub $8,%rsp; mov $1,%eax; call sqlite3LockAndPrepare; add $8,%rsp; ret")
FN(sqlite3_prepare_v3, "sub $8,%rsp; mov $2,%eax; call sqlite3LockAndPrepare; add $8,%rsp; ret")
FN(sqlite3_open, "xor %ecx,%ecx; jmp openDatabase")
FN(sqlite3_open_v2, "mov %ecx,%ecx; jmp openDatabase")
