/* The input format of the session fuzz targets (HTTP, uwsgi, the databases): a sequence of
 * records, each one socket I/O or a close, as the agent feeds a connection.
 *
 *   op (1 byte): bit 0 direction (1: the service read / a db client sent; see each target),
 *                bits 1-2 how many bytes of `extra` follow (0, 1, 2 or 4: u8, u16 LE, u32 LE),
 *                bits 3-4 kind (0, 1 feed; 2 close, or with bit 0 a gap: records lost before the
 *                next, the ring buffer full; 3 settle, for HTTP: quiet since ts - bits 5-7)
 *   cap_len (u16 LE), then extra, then cap_len captured bytes (fewer if the input ends first).
 *
 * An I/O moved len = cap_len + extra bytes of which only the first cap_len were captured, as
 * when the agent copies a prefix of a larger read or write. Each capture is copied to a heap
 * buffer of its exact size, so ASan sees a read past it. Timestamps grow by one per record. */
#ifndef FUZZ_RECORDS_H
#define FUZZ_RECORDS_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum fuzz_kind { FUZZ_FEED, FUZZ_CLOSE, FUZZ_SETTLE, FUZZ_GAP };

struct fuzz_rec {
	enum fuzz_kind kind;
	int dir;
	uint8_t *cap;           /* malloc'ed, exactly cap_len bytes; the reader frees it */
	size_t cap_len, len;
	uint64_t ts, quiet_since;
	uint32_t tid;
};

struct fuzz_reader {
	const uint8_t *p;
	size_t n, i;
	uint64_t ts;
	struct fuzz_rec rec;
};

static inline void fuzz_reader_init(struct fuzz_reader *r, const uint8_t *p, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->n = n;
	r->ts = 1000;
}

/* Next record into r->rec; 0 at the end of the input. */
static inline int fuzz_next(struct fuzz_reader *r)
{
	static const size_t extra_size[4] = { 0, 1, 2, 4 };
	struct fuzz_rec *rec = &r->rec;
	uint8_t op;
	size_t xs, cap;
	uint64_t extra = 0;

	free(rec->cap);
	memset(rec, 0, sizeof(*rec));
	if (r->i >= r->n)
		return 0;
	op = r->p[r->i++];
	rec->ts = ++r->ts;
	rec->tid = 100 + (uint32_t)(r->ts & 7);
	rec->dir = op & 1;
	switch ((op >> 3) & 3) {
	case 2:
		rec->kind = rec->dir ? FUZZ_GAP : FUZZ_CLOSE;
		return 1;
	case 3:
		rec->kind = FUZZ_SETTLE;
		rec->quiet_since = rec->ts - (op >> 5);
		return 1;
	}
	rec->kind = FUZZ_FEED;
	cap = 0;
	for (int k = 0; k < 2 && r->i < r->n; k++)
		cap |= (size_t)r->p[r->i++] << (8 * k);
	xs = extra_size[(op >> 1) & 3];
	for (size_t k = 0; k < xs && r->i < r->n; k++)
		extra |= (uint64_t)r->p[r->i++] << (8 * k);
	if (cap > r->n - r->i)
		cap = r->n - r->i;
	rec->cap_len = cap;
	rec->len = cap + extra;
	/* never NULL, as the agent's record buffer: malloc(0) gives a pointer ASan guards too */
	rec->cap = malloc(cap);
	if (!rec->cap)
		abort();
	memcpy(rec->cap, r->p + r->i, cap);
	r->i += cap;
	return 1;
}

/* A string field of an output struct must end inside it (abort: libFuzzer reports a crash). */
static inline void fuzz_check_str(const char *s, size_t size)
{
	if (!memchr(s, 0, size))
		abort();
}
#endif
