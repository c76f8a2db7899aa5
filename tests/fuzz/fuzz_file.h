/* For the fuzz targets of readers that take a path (ELF files): the input as a file, in memory
 * (memfd_create), rewritten for each input, and reached through /proc/self/fd/N or through a
 * symlink of a chosen name (some readers read the version from the file name). */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_dir[64];
static char fuzz_links[16][256];
static int fuzz_nlinks;

/* Only what this process made: its symlinks, then their directory. */
static void fuzz_file_cleanup(void)
{
	for (int i = 0; i < fuzz_nlinks; i++)
		unlink(fuzz_links[i]);
	if (fuzz_dir[0])
		rmdir(fuzz_dir);
}

/* The path of a file holding data..size; aborts if it cannot be written. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static char path[64];
	size_t done = 0;

	if (fuzz_fd < 0) {
		if ((fuzz_fd = memfd_create("fuzz-input", MFD_CLOEXEC)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_fd);
	}
	if (ftruncate(fuzz_fd, 0))
		abort();
	while (done < size) {
		ssize_t w = pwrite(fuzz_fd, data + done, size - done, (off_t)done);
		if (w <= 0)
			abort();
		done += (size_t)w;
	}
	return path;
}

/* The same file under the base name `name` (a symlink in a directory of this process's own). */
static inline const char *fuzz_file_named(const uint8_t *data, size_t size, const char *name)
{
	static char path[256];
	const char *target = fuzz_file(data, size);
	struct stat st;

	if (!fuzz_dir[0]) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/pyvitals-fuzz-XXXXXX");
		if (!mkdtemp(fuzz_dir))
			abort();
		atexit(fuzz_file_cleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	if (lstat(path, &st)) {
		if (fuzz_nlinks == 16 || symlink(target, path))
			abort();
		snprintf(fuzz_links[fuzz_nlinks++], sizeof(fuzz_links[0]), "%s", path);
	}
	return path;
}
#endif
