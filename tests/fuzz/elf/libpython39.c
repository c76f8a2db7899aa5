/* Seed of fuzz_pyelf: a CPython 3.9 with no Py_Version (named libpython3.9.so.1.0: the version
 * comes from the name, then PY_VERSION in .rodata), its GC entry point `collect`. */
struct { char b[64]; } _PyRuntime = { { 1 } };
const char py_version[] = "/usr/lib/3.9.18";
__attribute__((naked, used)) void collect(void) { __asm__("push %r15; pop %r15; ret"); }
