/* The uwsgi binary protocol's request side (what nginx `uwsgi_pass` sends a uWSGI server):
 * a 4-byte header (modifier1 u8, datasize u16 little-endian, modifier2 u8), then datasize bytes
 * of vars, each a key and a value prefixed by their u16 LE lengths (REQUEST_METHOD,
 * REQUEST_URI, PATH_INFO, CONTENT_LENGTH...), then CONTENT_LENGTH bytes of body. uWSGI answers
 * with a plain HTTP response, so http_session.c frames the responses as HTTP and only the
 * requests with these functions. Pure functions of bytes: every length is checked against n. */
#ifndef UWSGI_PARSE_H
#define UWSGI_PARSE_H
#include <stddef.h>
#include <stdint.h>
#include "http_parse.h"

#define UWSGI_HEADER 4

/* Does p..n start a uwsgi request (a known modifier1, modifier2 0, room for one var, and a first
 * key that is an upper-case CGI name)? MAYBE when the bytes are a proper prefix of one. */
enum http_guess uwsgi_guess_request(const uint8_t *p, size_t n);

/* Bytes of vars the header at p (UWSGI_HEADER bytes) announces. */
uint32_t uwsgi_datasize(const uint8_t *p);

struct uwsgi_req {
	char method[16];            /* REQUEST_METHOD; "" if not seen */
	char path[256];             /* REQUEST_URI without query (as HTTP's request target), else
	                             * SCRIPT_NAME + PATH_INFO; "" if not seen */
	int have_length;            /* CONTENT_LENGTH seen (an empty value, as nginx sends for no body, is 0) */
	uint64_t content_length;
};

enum uwsgi_rc {
	UWSGI_OK = 0,               /* every var parsed (a missing CONTENT_LENGTH means no body) */
	UWSGI_PARTIAL = 1,          /* p..n ends inside the vars: out holds the vars seen whole */
	UWSGI_BAD = -1,             /* not a uwsgi request, or a var that cannot be */
};
/* Parse the header and the vars from the captured prefix p..n of a request (bytes past the vars,
 * the body, are ignored). Returns enum uwsgi_rc. */
int uwsgi_parse_request(const uint8_t *p, size_t n, struct uwsgi_req *out);

#endif
