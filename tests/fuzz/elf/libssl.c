/* Seed of fuzz_pyelf (pyelf_func_offsets as tls_probe uses it): OpenSSL's four entry points,
 * the pair of each direction calling one internal function. */
__attribute__((naked, used)) static void ssl_write_internal(void) { __asm__("push %rbp; pop %rbp; ret"); }
__attribute__((naked, used)) static void ssl_read_internal(void) { __asm__("push %rbp; pop %rbp; ret"); }
__attribute__((naked)) void SSL_write(void) { __asm__("sub $8,%rsp; call ssl_write_internal; add $8,%rsp; ret"); }
__attribute__((naked)) void SSL_write_ex(void) { __asm__("sub $24,%rsp; call ssl_write_internal; add $24,%rsp; ret"); }
__attribute__((naked)) void SSL_read(void) { __asm__("sub $8,%rsp; call ssl_read_internal; add $8,%rsp; ret"); }
__attribute__((naked)) void SSL_read_ex(void) { __asm__("sub $24,%rsp; call ssl_read_internal; add $24,%rsp; ret"); }
