/* units: Context copies turned into worker ids and lineages (the kernel side is not involved:
 * events are made here as the ring would deliver them). */
#include <string.h>
#include "unit.h"
#include "units.h"

static __u64 bits[PV_TRACKED_BITS / 64];
static struct pv_data_event io_event; /* large (its data[]): not on the stack */

static void copy(struct units *u, uint64_t parent, uint64_t child, uint64_t ts)
{
	struct pv_unit_copy_event e = { .type = PV_EV_UNIT_COPY, .tgid = 100, .tid = 100, .ts_ns = ts,
					.parent = parent, .child = child };

	units_copy(u, &e);
}

/* The worker an I/O made in Context ctx (0: none) is credited to. */
static uint32_t io(struct units *u, uint64_t ctx, uint64_t ts)
{
	memset(&io_event, 0, PV_DATA_HDR_LEN);
	io_event.type = PV_EV_DATA;
	io_event.tgid = 100;
	io_event.tid = 101;
	io_event.ts_ns = ts;
	io_event.unit = ctx;
	return units_worker(u, &io_event);
}

UNIT_TEST(units_copies_name_their_ancestors_nearest_first)
{
	struct units *u = units_new(-1, bits, NULL);
	uint32_t anc[ATTR_LINEAGE], a, b, c;
	bool lone;

	CHECK(u != NULL);
	if (!u)
		return;
	copy(u, 0xa0, 0xb0, 1000);  /* a request's task made b (a sub-task) */
	copy(u, 0xb0, 0xc0, 2000);  /* which handed c to a thread */
	a = io(u, 0xa0, 3000);
	b = io(u, 0xb0, 3000);
	c = io(u, 0xc0, 3000);
	CHECK(units_is_context(a) && units_is_context(b) && units_is_context(c));
	CHECK(a != b && b != c && a != c);
	CHECK(units_lineage(u, c, anc, &lone) == 2 && anc[0] == b && anc[1] == a && !lone);
	CHECK(units_lineage(u, b, anc, &lone) == 1 && anc[0] == a);
	CHECK(units_lineage(u, a, anc, &lone) == 0);
	CHECK(io(u, 0, 3000) == 101);  /* no Context: the thread */
	CHECK(units_lineage(u, 101, anc, &lone) == 0 && lone);
	units_free(u);
}

UNIT_TEST(units_a_copy_at_a_reused_address_is_a_new_worker)
{
	struct units *u = units_new(-1, bits, NULL);
	uint32_t anc[ATTR_LINEAGE], a, old, fresh;
	bool lone;

	CHECK(u != NULL);
	if (!u)
		return;
	copy(u, 0xa0, 0xb0, 1000);
	a = io(u, 0xa0, 1500);
	old = io(u, 0xb0, 2000);
	copy(u, 0xd0, 0xb0, 3000);  /* b ended; a new Context was made at its address */
	fresh = io(u, 0xb0, 4000);
	CHECK(fresh != old);
	CHECK(units_lineage(u, fresh, anc, &lone) == 1 && anc[0] != a);
	/* the old one still answers for calls made under it */
	CHECK(units_lineage(u, old, anc, &lone) == 1 && anc[0] == a);
	units_free(u);
}

UNIT_TEST(units_sweep_forgets_contexts_quiet_for_a_while)
{
	struct units *u = units_new(-1, bits, NULL);
	uint32_t anc[ATTR_LINEAGE], before, after;
	bool lone;

	CHECK(u != NULL);
	if (!u)
		return;
	copy(u, 0xa0, 0xb0, 1000000000ull);
	before = io(u, 0xb0, 1000000000ull);
	units_sweep(u, 75000000000ull); /* more than a minute later */
	CHECK(units_lineage(u, before, anc, &lone) == 0);
	after = io(u, 0xb0, 75000000000ull);
	CHECK(after != before);
	units_free(u);
}
