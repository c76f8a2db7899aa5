/* Growing a FIFO ring buffer, shared by the queues of pending requests (HTTP, databases). */
#ifndef RING_H
#define RING_H
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Double a ring of `elem`-byte entries (to `min` when it has none, never past `max`), copying
 * its `n` entries from `*head` on so that the oldest lands at 0. false: at max, or no memory. */
static inline bool ring_grow(void **buf, uint32_t *cap, uint32_t *head, uint32_t n, size_t elem, uint32_t min,
			     uint32_t max)
{
	uint32_t ncap = *cap ? *cap * 2 : min;
	char *grown;

	if (ncap > max || !(grown = malloc((size_t)ncap * elem)))
		return false;
	for (uint32_t i = 0; i < n; i++)
		memcpy(grown + i * elem, (char *)*buf + ((*head + i) % *cap) * elem, elem);
	free(*buf);
	*buf = grown;
	*cap = ncap;
	*head = 0;
	return true;
}
#endif
