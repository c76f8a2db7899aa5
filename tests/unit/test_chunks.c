/* chunks: the records of one large I/O joined back, and records that cannot be joined. */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "chunks.h"

static struct pv_data_event *rec(uint64_t sk, uint64_t ts, uint32_t off, uint32_t n, int more, uint8_t fill)
{
	struct pv_data_event *e = calloc(1, sizeof(*e));

	e->type = PV_EV_DATA;
	e->sk = sk;
	e->ts_ns = ts;
	e->len = 200000;
	e->chunk_off = off;
	e->cap_len = n;
	e->flags = more ? PV_DATA_F_MORE : 0;
	memset(e->data, fill, n);
	return e;
}

UNIT_TEST(chunks_join_records_of_one_io)
{
	struct chunks *c = chunks_new();
	struct pv_data_event *a = rec(1, 10, 0, PV_CAPTURE_MAX, 1, 'a'), *o = rec(2, 11, 0, 5, 0, 'o'),
			     *b = rec(1, 10, PV_CAPTURE_MAX, PV_CAPTURE_MAX, 1, 'b'),
			     *z = rec(1, 10, 2 * PV_CAPTURE_MAX, 7, 0, 'z');
	const struct pv_data_event *out;
	uint64_t lost = 0;

	CHECK(chunks_add(c, a, &lost) == NULL);
	CHECK(chunks_add(c, o, &lost) == o); /* another socket's whole I/O goes through between */
	CHECK(chunks_add(c, b, &lost) == NULL);
	out = chunks_add(c, z, &lost);
	CHECK(out && out->cap_len == 2 * PV_CAPTURE_MAX + 7 && out->sk == 1 && !(out->flags & PV_DATA_F_MORE));
	if (out) { /* the joined data runs past the declared array: read it through a pointer */
		const uint8_t *d = (const uint8_t *)out + PV_DATA_HDR_LEN;
		CHECK(d[0] == 'a' && d[PV_CAPTURE_MAX] == 'b' && d[2 * PV_CAPTURE_MAX + 6] == 'z');
	}
	CHECK(lost == 0);

	/* A continuation whose first record was lost is dropped and counted. */
	CHECK(chunks_add(c, b, &lost) == NULL && lost == 1);
	/* An I/O whose last record never came is dropped when the socket's next one starts. */
	CHECK(chunks_add(c, a, &lost) == NULL);
	CHECK(chunks_add(c, o, &lost) == o);
	a->sk = 1;
	a->flags = 0;
	CHECK(chunks_add(c, a, &lost) == a && lost == 2);
	chunks_free(c);
	free(a);
	free(b);
	free(o);
	free(z);
}

/* TLS records carry an SSL * as sk: forked workers can hold the same address, so two threads'
 * large I/Os with one sk interleave and must each be joined whole. */
UNIT_TEST(chunks_join_same_sk_of_two_threads)
{
	struct chunks *c = chunks_new();
	struct pv_data_event *a1 = rec(9, 10, 0, PV_CAPTURE_MAX, 1, 'a'), *b1 = rec(9, 11, 0, PV_CAPTURE_MAX, 1, 'b'),
			     *a2 = rec(9, 10, PV_CAPTURE_MAX, 3, 0, 'A'), *b2 = rec(9, 11, PV_CAPTURE_MAX, 4, 0, 'B');
	const struct pv_data_event *out;
	uint64_t lost = 0;

	a1->tid = a2->tid = 100;
	b1->tid = b2->tid = 200;
	CHECK(chunks_add(c, a1, &lost) == NULL);
	CHECK(chunks_add(c, b1, &lost) == NULL);
	out = chunks_add(c, a2, &lost);
	CHECK(out && out->cap_len == PV_CAPTURE_MAX + 3 && out->tid == 100);
	out = chunks_add(c, b2, &lost);
	CHECK(out && out->cap_len == PV_CAPTURE_MAX + 4 && out->tid == 200);
	CHECK(lost == 0);
	chunks_free(c);
	free(a1);
	free(b1);
	free(a2);
	free(b2);
}
