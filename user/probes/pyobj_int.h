/* Private to pyobj*.c: the per-version offsets and the page cache behind struct pyproc. */
#ifndef PYOBJ_INT_H
#define PYOBJ_INT_H
#include "pyobj.h"

#define PYOBJ_PAGE 4096
#define PYOBJ_SLOTS 4096 /* direct-mapped: 16 MiB at most, allocated as pages are touched */

/* Object layouts common to 3.8-3.13 (x86_64, default build). */
enum {
	OB_TYPE = 8, OB_SIZE = 16,
	TP_NAME = 24, TP_BASICSIZE = 32, TP_FLAGS = 168, TP_DICT = 264, TP_DICTOFFSET = 288, TP_MRO = 344,
	MD_DICT = 16, LIST_ITEMS = 24, TUPLE_ITEMS = 24,
	SET_MASK = 32, SET_TABLE = 40,
	DICT_USED = 16, DICT_KEYS = 32, DICT_VALUES = 40,
	STR_LENGTH = 16, STR_STATE = 32,
	PATTERN_STR = 48,
};

#define PY_TPFLAGS_INLINE_VALUES (1UL << 2)  /* 3.13 */
#define PY_TPFLAGS_MANAGED_DICT (1UL << 4)   /* 3.11+ */

struct pyobj_cache {
	const struct pyobj_layout *lay;
	uint64_t set_dummy;        /* _PySet_Dummy, 0 if unknown */
	uint64_t tag[PYOBJ_SLOTS]; /* page address + 1 (0 = empty) */
	unsigned char *page[PYOBJ_SLOTS];
};

static inline int rd_u64(struct pyproc *p, uint64_t addr, uint64_t *v)
{
	return pyobj_read(p, addr, v, sizeof(*v));
}

#endif
