/* Per-thread queues of finished db and HTTP calls, consumed by the request that thread completes. */
#include <stdlib.h>
#include <string.h>
#include "attribution.h"

#define THREAD_BUCKETS 4096 /* a power of two: worker ids of Contexts start at 2^31 */
#define MAX_PENDING 4096    /* calls kept per thread when no request consumes them (a worker thread) */
#define HELD_BUCKETS 1024

/* How many workers holding calls name this ancestor: a request whose worker no holder names
 * (most of them) takes its own calls without looking at anyone else's. */
struct held {
	uint32_t id;
	unsigned n;
	struct held *next;
};

struct pending_call {
	uint64_t start_ns;
	struct query_stats *q;          /* NULL: an outbound HTTP call */
};

struct thread_calls {
	uint32_t tid;
	struct pending_call *v;
	unsigned n, cap;
	uint64_t last_start, last_end;  /* previous request on this thread */
	bool answered;                  /* it answered a request once */
	bool lone;                      /* lineage() said so when its first pending call came */
	uint8_t nanc;
	uint32_t anc[ATTR_LINEAGE];     /* its lineage, from the same moment */
	uint64_t last_ns;
	struct thread_calls *next;
	struct thread_calls *pnext, **pprev; /* in the list of workers holding calls, while n > 0 */
};

struct attribution {
	struct thread_calls *buckets[THREAD_BUCKETS];
	struct thread_calls *pending;        /* workers holding calls */
	bool event_loop;
	int (*lineage)(void *ctx, uint32_t w, uint32_t *anc, bool *lone);
	void *lineage_ctx;
	struct held *held[HELD_BUCKETS]; /* per ancestor: its descendants holding calls */
	unsigned lone_holding;           /* lone workers holding calls */
	unsigned long held_calls;        /* calls held by all workers */
	uint64_t untied_db, untied_http;
};

struct attribution *attr_new(void)
{
	return calloc(1, sizeof(struct attribution));
}

void attr_free(struct attribution *a)
{
	if (a)
		attr_sweep(a, UINT64_MAX, NULL);
	free(a);
}

static struct thread_calls *thread_of(struct attribution *a, uint32_t tid, bool create)
{
	struct thread_calls **b = &a->buckets[tid % THREAD_BUCKETS], *t;

	for (t = *b; t; t = t->next)
		if (t->tid == tid)
			return t;
	if (!create || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->tid = tid;
	t->next = *b;
	*b = t;
	return t;
}

void attr_set_lineage(struct attribution *a, int (*lineage)(void *ctx, uint32_t w, uint32_t *anc, bool *lone),
		      void *ctx)
{
	a->lineage = lineage;
	a->lineage_ctx = ctx;
}

static struct held **held_slot(struct attribution *a, uint32_t id)
{
	struct held **pp = &a->held[id % HELD_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static void held_add(struct attribution *a, uint32_t id, int delta)
{
	struct held **pp = held_slot(a, id), *h = *pp;

	if (!h && delta > 0 && (h = calloc(1, sizeof(*h)))) {
		h->id = id;
		*pp = h;
	}
	if (!h)
		return;
	h->n += delta;
	if (!h->n) {
		*pp = h->next;
		free(h);
	}
}

static unsigned held_by(struct attribution *a, uint32_t id)
{
	struct held *h = *held_slot(a, id);

	return h ? h->n : 0;
}

/* t starts or stops holding calls: count it under its ancestors (its lineage as of now). */
static void holding(struct attribution *a, struct thread_calls *t, bool on)
{
	if (on) {
		t->nanc = 0;
		t->lone = false;
		if (a->lineage) {
			int n = a->lineage(a->lineage_ctx, t->tid, t->anc, &t->lone);

			t->nanc = n > 0 && n <= ATTR_LINEAGE ? (uint8_t)n : 0;
		}
	}
	for (unsigned i = 0; i < t->nanc; i++)
		held_add(a, t->anc[i], on ? 1 : -1);
	if (t->lone)
		a->lone_holding += on ? 1 : -1u;
}

static void untie(struct attribution *a, const struct pending_call *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].q)
			a->untied_db++;
		else
			a->untied_http++;
}

/* Keep t in the pending list exactly while it holds calls. */
static void set_count(struct attribution *a, struct thread_calls *t, unsigned n)
{
	if (n && !t->n) {
		holding(a, t, true);
		t->pnext = a->pending;
		if (a->pending)
			a->pending->pprev = &t->pnext;
		t->pprev = &a->pending;
		a->pending = t;
	} else if (!n && t->n) {
		holding(a, t, false);
		*t->pprev = t->pnext;
		if (t->pnext)
			t->pnext->pprev = t->pprev;
	}
	a->held_calls = a->held_calls + n - t->n;
	t->n = n;
}

static void add_call(struct attribution *a, uint32_t tid, uint64_t start_ns, struct query_stats *q)
{
	struct thread_calls *t = thread_of(a, tid, true);

	if (!t)
		return;
	t->last_ns = start_ns;
	if (t->n == MAX_PENDING) { /* nobody consumes this thread's calls: keep the newest */
		untie(a, t->v, MAX_PENDING / 2);
		memmove(t->v, t->v + MAX_PENDING / 2, sizeof(*t->v) * (MAX_PENDING / 2));
		t->n = MAX_PENDING / 2;
	}
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		struct pending_call *v = realloc(t->v, sizeof(*v) * cap);

		if (!v)
			return;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n] = (struct pending_call){ start_ns, q };
	set_count(a, t, t->n + 1);
}

void attr_db_call(struct attribution *a, uint32_t tid, uint64_t start_ns, struct query_stats *q)
{
	if (q)
		add_call(a, tid, start_ns, q);
}

void attr_http_call(struct attribution *a, uint32_t tid, uint64_t start_ns)
{
	add_call(a, tid, start_ns, NULL);
}

static int by_query(const void *x, const void *y)
{
	const struct query_stats *a = *(struct query_stats *const *)x, *b = *(struct query_stats *const *)y;

	return a < b ? -1 : a > b;
}

/* Fill out->top with the statements repeated most among qs[0..n). */
static void rank_statements(struct query_stats **qs, unsigned n, struct request_calls *out)
{
	qsort(qs, n, sizeof(*qs), by_query);
	for (unsigned i = 0, j; i < n; i = j) {
		unsigned count, k;

		for (j = i; j < n && qs[j] == qs[i]; j++)
			;
		count = j - i;
		if (out->ntop == ATTR_TOP && count <= out->top[ATTR_TOP - 1].count)
			continue;
		k = out->ntop < ATTR_TOP ? out->ntop++ : ATTR_TOP - 1;
		for (; k > 0 && out->top[k - 1].count < count; k--)
			out->top[k] = out->top[k - 1];
		out->top[k].q = qs[i];
		out->top[k].count = count;
	}
}

/* Move t's calls made within tx into mine/out; later ones stay (a later request's), earlier
 * ones belong to no request (made between requests, or by a task that ended). */
static unsigned take_calls(struct attribution *a, struct thread_calls *t, const struct http_txn *tx,
			   struct query_stats **mine, unsigned n, struct request_calls *out)
{
	unsigned keep = 0;

	for (unsigned i = 0; i < t->n; i++) {
		if (t->v[i].start_ns > tx->end_ns)
			t->v[keep++] = t->v[i];
		else if (t->v[i].start_ns < tx->start_ns)
			untie(a, &t->v[i], 1);
		else if (!t->v[i].q)
			out->http_calls++;
		else if (mine)
			mine[n++] = t->v[i].q;
	}
	set_count(a, t, keep);
	return n;
}

/* A thread's calls made while a task served tx, which no task handed it: nobody's. */
static void untie_within(struct attribution *a, struct thread_calls *t, const struct http_txn *tx)
{
	unsigned keep = 0;

	for (unsigned i = 0; i < t->n; i++)
		if (t->v[i].start_ns >= tx->start_ns && t->v[i].start_ns <= tx->end_ns)
			untie(a, &t->v[i], 1);
		else
			t->v[keep++] = t->v[i];
	set_count(a, t, keep);
}

static bool names(const struct thread_calls *t, uint32_t id)
{
	for (unsigned i = 0; i < t->nanc; i++)
		if (t->anc[i] == id)
			return true;
	return false;
}

static void forget(struct attribution *a, struct thread_calls *t)
{
	struct thread_calls **pp = &a->buckets[t->tid % THREAD_BUCKETS];

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
	set_count(a, t, 0);
	free(t->v);
	free(t);
}

bool attr_take(struct attribution *a, const struct http_txn *tx, struct request_calls *out)
{
	/* the worker that answered ran the handler; on an event loop it is not the one that read */
	uint32_t resp = tx->resp_tid ? tx->resp_tid : tx->tid;
	struct thread_calls *t = thread_of(a, resp, true);
	struct query_stats **mine;
	unsigned n;
	bool by_task = false;

	memset(out, 0, sizeof(*out));
	if (!t)
		return false;
	/* Two requests in flight on one thread at once: an event loop (pipelined requests
	 * arrive in the same read, so share a start, and are served one after the other). */
	if (tx->start_ns < t->last_end && tx->start_ns != t->last_start)
		a->event_loop = true;
	t->last_start = tx->start_ns;
	t->last_end = tx->end_ns;
	t->last_ns = tx->end_ns;
	t->answered = true;
	mine = malloc(sizeof(*mine) * (a->held_calls + 1));
	n = take_calls(a, t, tx, mine, 0, out);
	/* and those of the tasks and threads its worker handed work to */
	if (a->lineage) {
		uint32_t anc[ATTR_LINEAGE];
		bool resp_lone = false;

		a->lineage(a->lineage_ctx, resp, anc, &resp_lone);
		by_task = !resp_lone;
	}
	for (struct thread_calls *p = held_by(a, resp) || (by_task && a->lone_holding) ? a->pending : NULL, *next;
	     p; p = next) {
		next = p->pnext;
		if (p == t)
			continue;
		if (names(p, resp))
			n = take_calls(a, p, tx, mine, n, out);
		else if (p->lone && by_task && !p->answered)
			untie_within(a, p, tx);
	}
	out->calls = n;
	if (mine && n)
		rank_statements(mine, n, out);
	free(mine);
	if (by_task && !t->n) /* a task answers one request: nothing of it is needed any more */
		forget(a, t);
	return !a->event_loop;
}

void attr_untied(const struct attribution *a, uint64_t *db, uint64_t *http)
{
	*db = a->untied_db;
	*http = a->untied_http;
}

bool attr_event_loop(const struct attribution *a)
{
	return a->event_loop;
}

void attr_sweep(struct attribution *a, uint64_t older_than_ns, bool (*alive)(uint32_t tid))
{
	for (unsigned b = 0; b < THREAD_BUCKETS; b++)
		for (struct thread_calls **pp = &a->buckets[b]; *pp;) {
			struct thread_calls *t = *pp;

			if (t->last_ns < older_than_ns && (!alive || !alive(t->tid))) {
				*pp = t->next;
				untie(a, t->v, t->n);
				set_count(a, t, 0);
				free(t->v);
				free(t);
			} else {
				pp = &t->next;
			}
		}
}
