/* libFuzzer target: the /proc/PID/maps readers on corrupt text, each reading lines as it does
 * from the real file: the interpreter's (pyinfo), libsqlite3's (sqlite_elf) and libssl's
 * (tls_probe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pyinfo.h"
#include "sqlite_probe.h"
#include "tls_probe.h"

static FILE *open_text(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");

	if (!f)
		abort();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4200];
	struct sqlite_lib lib;
	struct py_map_line *pm;
	struct tls_mapped tm;
	FILE *f;

	if (!size)
		return 0;
	f = open_text(data, size);
	if (sqlite_maps_find(f, &lib) && (!memchr(lib.path, 0, sizeof(lib.path)) || lib.path[0] != '/'))
		abort();
	fclose(f);

	/* pyinfo reads with a 4200-byte line, tls_probe with 1024 */
	if (!(pm = malloc(sizeof(*pm))))
		abort();
	f = open_text(data, size);
	while (fgets(line, sizeof(line), f))
		if (!pyinfo_parse_map(line, pm) && (!memchr(pm->path, 0, sizeof(pm->path)) || pm->path[0] != '/'))
			abort();
	fclose(f);
	free(pm);
	f = open_text(data, size);
	while (fgets(line, 1024, f))
		if (tls_maps_line(line, "/usr/bin/python3.11", &tm) && !memchr(tm.path, 0, sizeof(tm.path)))
			abort();
	fclose(f);
	return 0;
}
