/* libFuzzer target: one MySQL/MariaDB client connection (see fuzz_db.h). */
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_db_run(DB_MYSQL, data, size);
	return 0;
}
