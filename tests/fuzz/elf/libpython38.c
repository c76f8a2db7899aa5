/* Seed of fuzz_pyelf: a CPython 3.8 whose GC entry point is a compiler clone
 * (collect.constprop.0) and a stripped-looking .cold part. */
struct { char b[64]; } _PyRuntime = { { 1 } };
const char py_version[] = "3.8.18+";
__asm__(".text\n.globl \"collect.constprop.0\"\n.type \"collect.constprop.0\",@function\n"
	"\"collect.constprop.0\": push %rbp\npop %rbp\nret\n"
	".type \"collect.cold\",@function\n\"collect.cold\": nop\nret\n");
