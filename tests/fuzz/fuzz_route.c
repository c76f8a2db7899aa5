/* libFuzzer target: route templating of a request path.
 * Input: an output size byte (0: none), then the path (up to its first NUL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t outlen, n;
	char *path, *out;

	if (size < 1)
		return 0;
	outlen = data[0];
	n = size - 1;
	path = malloc(n + 1);    /* exact sizes: ASan sees any read or write past them */
	out = malloc(outlen);
	if (!path || !out)
		abort();
	memcpy(path, data + 1, n);
	path[n] = 0;
	if (route_template(path, out, outlen) != out || (outlen && strlen(out) >= outlen))
		abort();
	n = strlen(path);
	for (size_t i = 0; i < n; i++) {
		size_t seg = strcspn(path + i, "/");
		(void)route_segment_is_id(path + i, seg);
		i += seg;
	}
	free(path);
	free(out);
	return 0;
}
