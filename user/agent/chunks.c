/* Joining the records of one large I/O (see chunks.h). Records of one I/O are written by one
 * BPF program run, in order; records of other sockets may come between them. */
#include <stdlib.h>
#include <string.h>
#include "chunks.h"

#define CHUNK_SLOTS 64  /* I/Os being joined at once (one per CPU writing a large I/O) */

/* Keyed by socket and thread: a TLS record's sk is an SSL * in its process, and forked workers
 * can hold the same address. */
struct slot {
	uint64_t sk;                  /* 0: free */
	uint32_t tid;
	struct pv_data_event *ev;     /* header + data joined so far (cap_len bytes) */
	uint32_t room;                /* bytes of data ev can hold */
};

struct chunks {
	struct slot slots[CHUNK_SLOTS];
};

struct chunks *chunks_new(void)
{
	return calloc(1, sizeof(struct chunks));
}

void chunks_free(struct chunks *c)
{
	if (!c)
		return;
	for (int i = 0; i < CHUNK_SLOTS; i++)
		free(c->slots[i].ev);
	free(c);
}

static struct slot *find(struct chunks *c, uint64_t sk, uint32_t tid)
{
	for (int i = 0; i < CHUNK_SLOTS; i++)
		if (c->slots[i].sk == sk && c->slots[i].tid == tid)
			return &c->slots[i];
	return NULL;
}

static int append(struct slot *s, const struct pv_data_event *e)
{
	uint32_t need = s->ev->cap_len + e->cap_len;

	if (need > s->room) {
		uint32_t room = s->room ? s->room : PV_CAPTURE_MAX;
		struct pv_data_event *ev;

		while (room < need)
			room *= 2;
		if (!(ev = realloc(s->ev, PV_DATA_HDR_LEN + (size_t)room)))
			return -1;
		s->ev = ev;
		s->room = room;
	}
	/* the joined data runs past data[]'s declared size: address it from the allocation */
	memcpy((uint8_t *)s->ev + PV_DATA_HDR_LEN + s->ev->cap_len, e->data, e->cap_len);
	s->ev->cap_len = need;
	return 0;
}

const struct pv_data_event *chunks_add(struct chunks *c, const struct pv_data_event *e, uint64_t *lost)
{
	struct slot *s = find(c, e->sk, e->tid);

	if (!e->chunk_off) {
		if (s) { /* the rest of an earlier I/O never came: drop it */
			(*lost)++;
			s->sk = 0;
			s->tid = 0;
		}
		if (!(e->flags & PV_DATA_F_MORE))
			return e;
		if (!(s = find(c, 0, 0))) {
			(*lost)++;
			return e; /* no slot: parsed as a shorter capture */
		}
		if (!s->ev && !(s->ev = malloc(PV_DATA_HDR_LEN + (size_t)PV_CAPTURE_MAX)))
			return e;
		if (!s->room)
			s->room = PV_CAPTURE_MAX;
		memcpy(s->ev, e, PV_DATA_HDR_LEN);
		s->ev->cap_len = 0;
		if (append(s, e))
			return e;
		s->sk = e->sk;
		s->tid = e->tid;
		return NULL;
	}
	if (!s || s->ev->ts_ns != e->ts_ns || s->ev->cap_len != e->chunk_off) {
		(*lost)++; /* its first record was lost */
		return NULL;
	}
	if (append(s, e) || !(e->flags & PV_DATA_F_MORE)) {
		s->sk = 0;
		s->tid = 0;
		s->ev->flags &= ~PV_DATA_F_MORE;
		return s->ev;
	}
	return NULL;
}
