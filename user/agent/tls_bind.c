/* SSL * -> socket, from the threads' socket records. See tls_bind.h. */
#include <stdlib.h>
#include <string.h>
#include "tls_bind.h"

#define BUCKETS 4096
#define HELD_MAX 256               /* plaintext records held per thread, waiting for its next send */
#define HELD_BYTES_MAX (8u << 20)
#define TLS_APPLICATION_DATA 23    /* a TLS record's content type (RFC 8446 5.1) */

struct held {
	struct pv_data_event *e;       /* a copy: header + cap_len bytes */
	struct held *next;
};

struct thread {
	uint32_t tid;
	uint64_t last_sk, last_ts;     /* its latest socket I/O */
	uint64_t recv_sk;              /* its latest receive */
	uint64_t seen_ns;
	struct held *held, **held_tail;
	uint32_t nheld, held_bytes;
	struct thread *next;
};

struct binding {
	uint64_t ssl, sk, conn;       /* conn: the connection's id when tied */
	uint32_t tgid;
	struct binding *next;
};

struct tls_bind {
	struct tls_bind_ops ops;
	struct thread *threads[BUCKETS];
	struct binding *bindings[BUCKETS];
	struct tls_bind_counters n;
};

static unsigned hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k % BUCKETS;
}

struct tls_bind *tls_bind_new(const struct tls_bind_ops *ops)
{
	struct tls_bind *b = calloc(1, sizeof(*b));

	if (b)
		b->ops = *ops;
	return b;
}

static void drop_held(struct tls_bind *b, struct thread *t)
{
	while (t->held) {
		struct held *h = t->held;

		t->held = h->next;
		free(h->e);
		free(h);
		b->n.unbound++;
	}
	t->held_tail = &t->held;
	t->nheld = t->held_bytes = 0;
}

void tls_bind_free(struct tls_bind *b)
{
	if (!b)
		return;
	tls_bind_sweep(b, UINT64_MAX);
	for (int i = 0; i < BUCKETS; i++)
		while (b->bindings[i]) {
			struct binding *x = b->bindings[i];
			b->bindings[i] = x->next;
			free(x);
		}
	free(b);
}

static struct thread *thread_of(struct tls_bind *b, uint32_t tid, bool create)
{
	struct thread **head = &b->threads[hash(tid)], *t;

	for (t = *head; t; t = t->next)
		if (t->tid == tid)
			return t;
	if (!create || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->tid = tid;
	t->held_tail = &t->held;
	t->next = *head;
	*head = t;
	return t;
}

static struct binding *binding_of(struct tls_bind *b, uint32_t tgid, uint64_t ssl, bool create)
{
	struct binding **head = &b->bindings[hash(ssl ^ ((uint64_t)tgid << 48))], *x;

	for (x = *head; x; x = x->next)
		if (x->ssl == ssl && x->tgid == tgid)
			return x;
	if (!create || !(x = calloc(1, sizeof(*x))))
		return NULL;
	x->ssl = ssl;
	x->tgid = tgid;
	x->next = *head;
	*head = x;
	return x;
}

static enum tls_sock_state state_of(struct tls_bind *b, uint64_t sk)
{
	uint64_t id;

	return b->ops.state(b->ops.ctx, sk, &id);
}

/* The tie still names the connection it was made on (closed since: another may have its address). */
static bool tie_lives(struct tls_bind *b, const struct binding *x)
{
	uint64_t id;

	return b->ops.state(b->ops.ctx, x->sk, &id) == TLS_SOCK_OTHER && id == x->conn;
}

static void feed(struct tls_bind *b, uint64_t sk, const struct pv_data_event *e)
{
	struct binding *x = binding_of(b, e->tgid, e->sk, true);

	if (x) {
		x->sk = sk;
		b->ops.state(b->ops.ctx, sk, &x->conn);
	}
	b->ops.feed(b->ops.ctx, sk, e->sk, e);
}

/* The thread's held plaintext of this SSL goes first, in order, once its socket is known. */
static void release_held(struct tls_bind *b, struct thread *t, uint64_t ssl, uint64_t sk)
{
	struct held **pp = &t->held;

	while (*pp) {
		struct held *h = *pp;

		if (ssl && h->e->sk != ssl) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		t->nheld--;
		t->held_bytes -= PV_DATA_HDR_LEN + h->e->cap_len;
		b->n.send_after++;
		feed(b, sk, h->e);
		free(h->e);
		free(h);
	}
	t->held_tail = &t->held;
	while (*t->held_tail)
		t->held_tail = &(*t->held_tail)->next;
}

static void hold(struct tls_bind *b, struct thread *t, const struct pv_data_event *e)
{
	size_t size = PV_DATA_HDR_LEN + e->cap_len;
	struct held *h;

	if (t->nheld >= HELD_MAX || t->held_bytes + size > HELD_BYTES_MAX || !(h = calloc(1, sizeof(*h)))) {
		b->n.unbound++;
		return;
	}
	if (!(h->e = malloc(size))) {
		free(h);
		b->n.unbound++;
		return;
	}
	memcpy(h->e, e, size);
	*t->held_tail = h;
	t->held_tail = &h->next;
	t->nheld++;
	t->held_bytes += size;
}

void tls_bind_socket_io(struct tls_bind *b, const struct pv_data_event *e)
{
	struct thread *t = thread_of(b, e->tid, true);

	if (!t)
		return;
	t->last_sk = e->sk;
	t->last_ts = e->ts_ns;
	t->seen_ns = e->ts_ns;
	if (e->dir == PV_DIR_RECV)
		t->recv_sk = e->sk;
	else if (t->held && e->cap_len && e->data[0] == TLS_APPLICATION_DATA &&
		 state_of(b, e->sk) == TLS_SOCK_OTHER)
		/* rule 3, write: the ciphertext of what it just wrote. Only a send of application data:
		 * an event loop also sends handshakes (a ClientHello, a ChangeCipherSpec) of other
		 * connections between a write and its send, and tying to those misfiles the plaintext
		 * of one connection to another for good (seen with 16 in flight on a slow VM). */
		release_held(b, t, 0, e->sk);
}

void tls_bind_plain(struct tls_bind *b, const struct pv_data_event *e)
{
	struct thread *t = thread_of(b, e->tid, true);
	struct binding *x;

	if (!t) {
		b->n.unbound++;
		return;
	}
	t->seen_ns = e->ts_ns;
	/* 1: the thread moved bytes on a socket inside this call */
	if (t->last_sk && t->last_ts >= e->start_ns && state_of(b, t->last_sk) != TLS_SOCK_PLAIN) {
		release_held(b, t, e->sk, t->last_sk);
		b->n.in_call++;
		feed(b, t->last_sk, e);
		return;
	}
	/* 2: tied before, and that connection lives */
	x = binding_of(b, e->tgid, e->sk, false);
	if (x && tie_lives(b, x)) {
		release_held(b, t, e->sk, x->sk);
		b->n.known++;
		feed(b, x->sk, e);
		return;
	}
	/* 3: memory BIOs: what the loop read just before, or what it sends next */
	if (e->dir == PV_DIR_RECV) {
		if (t->recv_sk && state_of(b, t->recv_sk) == TLS_SOCK_OTHER) {
			release_held(b, t, e->sk, t->recv_sk);
			b->n.recv_before++;
			feed(b, t->recv_sk, e);
		} else {
			b->n.unbound++;
		}
		return;
	}
	hold(b, t, e);
}

void tls_bind_sweep(struct tls_bind *b, uint64_t older_than_ns)
{
	for (int i = 0; i < BUCKETS; i++) {
		for (struct thread **pp = &b->threads[i]; *pp;) {
			struct thread *t = *pp;

			if (t->seen_ns >= older_than_ns) {
				pp = &t->next;
				continue;
			}
			drop_held(b, t);
			*pp = t->next;
			free(t);
		}
		for (struct binding **pp = &b->bindings[i]; *pp;) {
			struct binding *x = *pp;

			/* a tie lasts as long as its connection: a pooled one may idle for minutes */
			if (older_than_ns != UINT64_MAX && tie_lives(b, x)) {
				pp = &x->next;
				continue;
			}
			*pp = x->next;
			free(x);
		}
	}
}

void tls_bind_counters(const struct tls_bind *b, struct tls_bind_counters *out)
{
	*out = b->n;
}
