/* tls_bind: TLS plaintext tied to its socket by the thread's socket I/O (in the call, a tie
 * known before, the loop's read before or send after), and what cannot be tied. */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "tls_bind.h"
#include "tls_probe.h"

#define S1 0xffff000000000100ull
#define S2 0xffff000000000200ull
#define S3 0xffff000000000300ull
#define PLAIN 0xffff000000000400ull

struct fed {
	uint64_t sk[16], ssl[16];
	char first[16];
	int n;
	uint64_t gone;                 /* a socket whose connection closed */
	uint64_t reused;               /* a socket whose address a new connection took */
};

static void feed(void *ctx, uint64_t sk, uint64_t ssl, const struct pv_data_event *e)
{
	struct fed *f = ctx;

	if (f->n < 16) {
		f->sk[f->n] = sk;
		f->ssl[f->n] = ssl;
		f->first[f->n] = (char)e->data[0];
		f->n++;
	}
}

static enum tls_sock_state state(void *ctx, uint64_t sk, uint64_t *id)
{
	struct fed *f = ctx;

	*id = sk == f->reused ? 2 : 1;
	if (sk == f->gone)
		return TLS_SOCK_GONE;
	return sk == PLAIN ? TLS_SOCK_PLAIN : TLS_SOCK_OTHER;
}

static struct pv_data_event ev(int type, uint32_t tid, uint64_t sk, int dir, uint64_t start, uint64_t ts, char c)
{
	struct pv_data_event e;

	memset(&e, 0, PV_DATA_HDR_LEN + 1);
	e.type = type;
	e.tgid = 7;
	e.tid = tid;
	e.sk = sk;
	e.dir = dir;
	e.start_ns = start;
	e.ts_ns = ts;
	e.len = e.cap_len = 1;
	e.data[0] = (uint8_t)c;
	return e;
}

static struct pv_data_event *heap(struct pv_data_event e)
{
	struct pv_data_event *p = malloc(sizeof(*p));

	memcpy(p, &e, PV_DATA_HDR_LEN + 1);
	return p;
}

UNIT_TEST(tls_bind_ties_plaintext_by_thread)
{
	static struct fed f;
	struct tls_bind *b = tls_bind_new(&(struct tls_bind_ops){ .feed = feed, .state = state, .ctx = &f });
	struct tls_bind_counters n;
	struct pv_data_event *e[13];

	/* 1: blocking socket: the send inside SSL_write ties ssl A to S1 */
	e[0] = heap(ev(PV_EV_DATA, 1, S1, PV_DIR_SEND, 0, 100, 'x'));
	e[1] = heap(ev(PV_EV_TLS, 1, 0xA, PV_DIR_SEND, 90, 110, 'a'));
	tls_bind_socket_io(b, e[0]);
	tls_bind_plain(b, e[1]);
	/* 2: another thread reads ssl A from its buffer (no I/O in the call): the known tie */
	e[2] = heap(ev(PV_EV_TLS, 2, 0xA, PV_DIR_RECV, 200, 210, 'b'));
	tls_bind_plain(b, e[2]);
	/* 3: memory BIO write: held until the thread's next send of application data (23), on
	 * S2; a handshake (22) the loop sends for another connection meanwhile is passed over */
	e[3] = heap(ev(PV_EV_TLS, 3, 0xB, PV_DIR_SEND, 300, 310, 'c'));
	e[4] = heap(ev(PV_EV_DATA, 3, S2, PV_DIR_SEND, 0, 320, 23));
	e[12] = heap(ev(PV_EV_DATA, 3, S3, PV_DIR_SEND, 0, 315, 22));
	tls_bind_plain(b, e[3]);
	tls_bind_socket_io(b, e[12]);
	CHECK(f.n == 2);
	tls_bind_socket_io(b, e[4]);
	/* 4: memory BIO read: the loop's receive just before, on S3 */
	e[5] = heap(ev(PV_EV_DATA, 4, S3, PV_DIR_RECV, 0, 500, 'z'));
	e[6] = heap(ev(PV_EV_TLS, 4, 0xC, PV_DIR_RECV, 510, 520, 'd'));
	tls_bind_socket_io(b, e[5]);
	tls_bind_plain(b, e[6]);
	CHECK(f.n == 4);
	CHECK(f.sk[0] == S1 && f.first[0] == 'a' && f.ssl[0] == 0xA);
	CHECK(f.sk[1] == S1 && f.first[1] == 'b');
	CHECK(f.sk[2] == S2 && f.first[2] == 'c' && f.ssl[2] == 0xB);
	CHECK(f.sk[3] == S3 && f.first[3] == 'd');
	tls_bind_counters(b, &n);
	CHECK(n.in_call == 1 && n.known == 1 && n.send_after == 1 && n.recv_before == 1 && n.unbound == 0);

	/* 5: a connection carrying a protocol in clear is never a carrier: held, then dropped */
	e[7] = heap(ev(PV_EV_DATA, 5, PLAIN, PV_DIR_SEND, 0, 600, 'p'));
	e[8] = heap(ev(PV_EV_TLS, 5, 0xD, PV_DIR_SEND, 590, 610, 'e'));
	tls_bind_socket_io(b, e[7]);
	tls_bind_plain(b, e[8]);
	e[9] = heap(ev(PV_EV_DATA, 5, PLAIN, PV_DIR_SEND, 0, 620, 'p'));
	tls_bind_socket_io(b, e[9]);
	CHECK(f.n == 4);
	/* 6: the tie of a closed connection is not used; a read with nothing before is dropped */
	f.gone = S1;
	e[10] = heap(ev(PV_EV_TLS, 6, 0xA, PV_DIR_RECV, 700, 710, 'f'));
	tls_bind_plain(b, e[10]);
	CHECK(f.n == 4);
	/* 7: a new connection at the address of a tied one is not the tie's: ssl B read with
	 * nothing before on a thread whose last receive was elsewhere is dropped, not misfiled */
	f.reused = S2;
	e[11] = heap(ev(PV_EV_TLS, 7, 0xB, PV_DIR_RECV, 800, 810, 'g'));
	tls_bind_plain(b, e[11]);
	CHECK(f.n == 4);
	tls_bind_sweep(b, 10000);
	tls_bind_counters(b, &n);
	CHECK(n.unbound == 3);
	tls_bind_free(b);
	for (int i = 0; i < 13; i++)
		free(e[i]);
}

UNIT_TEST(tls_library_names)
{
	static const struct { const char *path; int want; } rows[] = {
		{ "/usr/lib/x86_64-linux-gnu/libssl.so.3", 1 },
		{ "/srv/venv/lib/python3.11/site-packages/cryptography.libs/libssl-5f0b7c1e.so.3", 1 },
		{ "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", 1 },
		{ "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 0 },
		{ "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0", 0 },
		{ "/opt/ssl/readme.txt", 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECKF(tls_lib_name(rows[i].path) == rows[i].want, "%s", rows[i].path);
}
