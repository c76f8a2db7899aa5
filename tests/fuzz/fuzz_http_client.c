/* libFuzzer target: one client-side HTTP/1 connection (requests written, responses read). */
#include "fuzz_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_http_run(http_client_conn_new(), data, size);
	return 0;
}
