/* libFuzzer target: SQL normalization and the operation name.
 * Input: a flags byte (bit 0: MySQL dialect), an output size byte (0xff: 512, as a db_call's
 * text), then the statement (not NUL-terminated, as it comes off the wire). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sql_normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t outlen, got;
	char *in, *out, op[24];
	int flags;

	if (size < 2)
		return 0;
	flags = data[0] & 1 ? SQLN_MYSQL : 0;
	outlen = data[1] == 0xff ? 512 : data[1];
	size -= 2;
	in = malloc(size);       /* exact sizes: ASan sees any read or write past them */
	out = malloc(outlen);
	if (!in || !out)
		abort();
	memcpy(in, data + 2, size);
	got = sql_normalize_ex(in, size, out, outlen, flags);
	/* the text may hold NUL bytes from the wire: only the reported end is checked */
	if (outlen && (got >= outlen || out[got]))
		abort();
	sql_operation(in, size, op, sizeof(op));
	if (!memchr(op, 0, sizeof(op)))
		abort();
	free(in);
	free(out);
	return 0;
}
