/* libFuzzer target: the route-table reader's parsers of untrusted bytes. The first byte picks
 * one: 0 the application spec of a command-line argument (/proc/PID/cmdline is anyone's text),
 * 1-4 UCS -> UTF-8 of a string's code points (kind = the byte, 3 invalid), 5 _Py_DebugOffsets
 * (read from a process's memory). Checks what each promises on success. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "app_routes_int.h"
#include "pyobj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char mod[64], attr[32], *s, out[256];
	uint64_t version;
	int a, b, c;
	bool factory;

	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		if (!(s = malloc(size)))
			abort();
		memcpy(s, data + 1, size - 1);
		s[size - 1] = 0;
		if (!app_spec_parse(s, mod, sizeof(mod), attr, sizeof(attr), &factory) &&
		    (!mod[0] || !attr[0] || strchr(mod, ':') || strchr(attr, '(') || strlen(mod) >= sizeof(mod)))
			abort();
		free(s);
		break;
	case 1: case 2: case 3: case 4: {
		size_t n = (size - 1) / (data[0] == 3 ? 1 : data[0]);
		uint8_t *buf = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
		if (!buf)
			abort();
		memcpy(buf, data + 1, size - 1);
		if (!pyobj_utf8(buf, n, data[0], out, sizeof(out)) && strlen(out) >= sizeof(out))
			abort();
		free(buf);
		break;
	}
	case 5:
		if (!pyobj_debug_offsets(data + 1, size - 1, &version, &a, &b, &c) &&
		    (a < 0 || b < 0 || c < 0 || a > 1 << 20 || b > 1 << 20 || c > 1 << 20))
			abort();
		break;
	}
	return 0;
}
