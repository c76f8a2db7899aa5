/* libFuzzer target: choosing SQLite probe points (sqlite_elf.c) in a corrupt libsqlite3 file:
 * symbols, segments, and the wrapper code searched for the internal function it calls. */
#include <string.h>
#include "fuzz_file.h"
#include "sqlite_probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sqlite_offsets o;
	char err[240];

	memset(err, 'x', sizeof(err));      /* a failure must say why, NUL-terminated */
	if (sqlite_elf_offsets(fuzz_file(data, size), &o, err, sizeof(err)) && !memchr(err, 0, sizeof(err)))
		abort();
	return 0;
}
