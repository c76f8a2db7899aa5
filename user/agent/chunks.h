/* An I/O larger than one ring-buffer record arrives as several records of the same socket
 * (PV_DATA_F_MORE on all but the last, chunk_off saying where each starts). This joins them
 * back into one event, so that the parsers see the I/O as the process made it. */
#ifndef CHUNKS_H
#define CHUNKS_H
#include <stdint.h>
#include "pyvitals.h"

struct chunks;
struct chunks *chunks_new(void);
void chunks_free(struct chunks *c);
/* Take one data record. Returns the event to parse: e itself when it is a whole I/O, the
 * joined I/O once its last record came (valid until the next call), or NULL while more are
 * due. A record that cannot be joined (one before it was lost when the ring buffer was full)
 * is counted in *lost and the I/O is delivered with what came, as a shorter capture. */
const struct pv_data_event *chunks_add(struct chunks *c, const struct pv_data_event *e, uint64_t *lost);
#endif
