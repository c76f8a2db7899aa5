/* HTTP/1.x transactions rebuilt from partial socket captures, on either side of a connection.
 *
 * Each socket I/O arrives as (direction, len moved, first cap bytes). One session machine serves
 * both roles: a server reads requests and writes responses, a client (the service calling an
 * upstream) writes requests and reads responses. It only needs plaintext in order, so bytes
 * decrypted elsewhere (TLS library probes) can feed it the same way. http_parse.c holds the pure
 * byte-level pieces (request/response guesses, head parsing, chunk framing); http_session.c holds the
 * per-connection state machine that frames both directions byte-exactly by counting len, pairs
 * responses with requests FIFO and reports each finished exchange through a callback.
 * No global state; a connection costs ~5 KiB, plus up to 2 x 8 KiB of head buffer allocated only
 * when a header block spans several I/Os. */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H
#include <stddef.h>
#include <stdint.h>

enum http_guess { HTTP_NO = 0, HTTP_YES = 1, HTTP_MAYBE = 2 };
/* Status classes, as counted everywhere a status is (server routes, client peers). */
enum { STATUS_1XX, STATUS_2XX, STATUS_3XX, STATUS_4XX, STATUS_5XX, STATUS_CLASSES };
/* Does this look like the start of an HTTP/1.x request (method token, SP, '/' or '*' or absolute URI)?
 * MAYBE when the bytes are a proper prefix of one (e.g. "GE"), so the caller can wait for more. */
enum http_guess http_guess_request(const uint8_t *p, size_t n);
/* Same for a response status line ("HTTP/1.1 200"; any HTTP-version: uWSGI echoes "HTTP/2.0"). */
enum http_guess http_guess_response(const uint8_t *p, size_t n);

/* How an exchange ended when it did not end with a whole response (client role only: a server
 * that never answered is the client's problem, counted as dropped_requests). */
enum http_abort {
	HTTP_ABORT_NONE = 0,
	HTTP_ABORT_NO_RESPONSE,     /* the connection closed (reset, timeout) before a final status */
	HTTP_ABORT_CUT_SHORT,       /* it closed inside the response's body */
};

struct http_txn {               /* one finished request/response exchange */
	char method[16];
	char path[256];             /* request target without query string or fragment, truncated if longer */
	char host[64];              /* the request's Host header, "" if none (truncated if longer) */
	int status;                 /* final status code (never 1xx); 0 if the response never parsed */
	int aborted;                /* enum http_abort */
	uint64_t start_ns;          /* ts of the I/O that carried the request's first byte */
	uint64_t end_ns;            /* ts of the I/O that carried the response's last byte (or the close) */
	uint32_t tid;               /* thread that moved the request's first byte */
	uint32_t resp_tid;          /* thread, or task (agent/units.h), that moved the response's first
	                             * byte: the one that ran the handler, on an event loop too */
};
typedef void (*http_txn_cb)(void *ctx, const struct http_txn *txn);

struct http_server_conn;        /* opaque: both directions of one server-side connection */
struct http_server_conn *http_server_conn_new(void);
/* How requests are framed; responses are HTTP either way (uWSGI answers nginx's uwsgi requests
 * with HTTP responses). */
enum http_req_framing { HTTP_REQ_HTTP = 0, HTTP_REQ_UWSGI = 1 };
struct http_server_conn *http_server_conn_new_framed(enum http_req_framing framing);
/* The client role: requests are the bytes the service writes, responses the bytes it reads.
 * At close, requests still waiting for their response are reported as transactions with
 * `aborted` set (status 0, or the status of a response cut short), not as dropped. */
struct http_server_conn *http_client_conn_new(void);
void http_server_conn_free(struct http_server_conn *c);
/* Feed one I/O. recv = bytes the service read (requests for a server, responses for a client);
 * !recv = bytes it wrote. */
void http_server_conn_feed(struct http_server_conn *c, int recv, const uint8_t *cap, size_t cap_len,
                           size_t len, uint64_t ts_ns, uint32_t tid, http_txn_cb cb, void *ctx);
/* The connection closed (or our side shut it): finish a response delimited by close, using the
 * ts of its last I/O; drop requests that never got a response (count them in stats; a client
 * reports them as aborted transactions).
 * The connection is reset and may be fed again (a new connection on the same socket). */
void http_server_conn_close(struct http_server_conn *c, uint64_t ts_ns, http_txn_cb cb, void *ctx);
/* Bytes of the connection were lost before the next I/O (the ring buffer was full): the
 * requests waiting may have been answered unseen, so they are dropped (counted as such) and
 * parsing starts over at the next message. */
void http_server_conn_gap(struct http_server_conn *c);
/* A response whose end could not be framed (a chunk-size line past the capture) ends at its
 * last I/O before the next request, a status line or the close; on a keep-alive connection left
 * idle none of these may come for minutes. If its side has been quiet since quiet_since_ns,
 * report it now, ending at that last I/O (later bytes of it are skipped, as before). */
void http_server_conn_settle(struct http_server_conn *c, uint64_t quiet_since_ns, http_txn_cb cb, void *ctx);
/* unread_requests: final responses to a request that could not be read (it lay in bytes past
 * the capture, or before attach): requests missing from the routes; for a client, also requests
 * that could not be read and never got a response. */
struct http_conn_stats { uint64_t resyncs, dropped_requests, malformed, unread_requests; };
void http_server_conn_stats(const struct http_server_conn *c, struct http_conn_stats *out);

/* ---- Lower-level pieces, used by http_session.c and the unit tests. ---- */

#define HTTP_HEAD_MAX 8192      /* longest header block we buffer */

enum http_body { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED, HTTP_BODY_CLOSE };

struct http_head {              /* a parsed request or response head */
	char method[16];            /* requests */
	char path[256];             /* requests: see struct http_txn */
	char host[64];              /* requests: the Host header, printable bytes only */
	int status;                 /* responses */
	int minor;                  /* HTTP/1.<minor> */
	int body;                   /* enum http_body, as the head alone says (no HEAD/204/304 rules) */
	uint64_t content_length;
	int conn_close;             /* Connection: close */
};

enum http_head_rc { HTTP_HEAD_OK = 0, HTTP_HEAD_BAD_LINE = -1, HTTP_HEAD_BAD_FIELD = -2 };
/* Parse the first line only (no line terminator in p..n). */
int http_parse_first_line(const uint8_t *p, size_t n, int request, struct http_head *out);
/* The path of a request target t..n into out (outlen > 0): no query or fragment, absolute-form
 * loses scheme and authority, truncated to fit; "/" when empty. Also used for uwsgi's REQUEST_URI. */
void http_target_path(const uint8_t *t, size_t n, char *out, size_t outlen);
/* Parse a complete head: first line, fields, blank line. Returns enum http_head_rc. */
int http_parse_head(const uint8_t *p, size_t n, int request, struct http_head *out);

/* Chunked transfer coding, fed in pieces. */
struct http_chunker {
	uint8_t st;
	uint8_t ndigits;
	uint32_t line;              /* bytes in the current extension or trailer line */
	uint64_t left;              /* size being read, then data bytes still to come */
};
enum http_chunk_rc { HTTP_CHUNK_MORE, HTTP_CHUNK_DONE, HTTP_CHUNK_BAD };
void http_chunk_init(struct http_chunker *c);
/* Consume bytes from p; *used says how many (stops right after the final CRLF on DONE). */
int http_chunk_feed(struct http_chunker *c, const uint8_t *p, size_t n, size_t *used);
/* How many following bytes are chunk data (and the CRLF after it), so they may be counted
 * without being seen. */
uint64_t http_chunk_skippable(const struct http_chunker *c);
void http_chunk_skip(struct http_chunker *c, uint64_t n);

#endif
