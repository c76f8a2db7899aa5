/* libFuzzer target: one server-side HTTP/1 connection (requests read, responses written). */
#include "fuzz_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_http_run(http_server_conn_new(), data, size);
	return 0;
}
