/* Seed of fuzz_pyelf: a CPython 3.11 as pyelf_inspect sees one: _PyRuntime, Py_Version, the
 * python:gc__start/gc__done USDT notes (stapsdt, written by hand: no sys/sdt.h needed). */
#define NOTE(name) __asm__(".pushsection .note.stapsdt,\"\",\"note\"\n.balign 4\n"                \
			   ".4byte 2f-1f, 4f-3f, 3\n1: .asciz \"stapsdt\"\n2: .balign 4\n"           \
			   "3: .8byte 5f\n.8byte 0\n.8byte 0\n.asciz \"python\"\n.asciz \"" name "\"\n" \
			   ".asciz \"-4@%edi\"\n4: .balign 4\n.popsection\n.text\n5: nop\n")
struct { char b[64]; } _PyRuntime = { { 1 } };
const unsigned int Py_Version = 0x030b02f0;
__attribute__((naked, used)) void gc_collect_main(void) { __asm__("push %rbp; pop %rbp; ret"); }
__attribute__((used)) void probes(void) { NOTE("gc__start"); NOTE("gc__done"); }
