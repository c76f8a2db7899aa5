/* libFuzzer target: one server connection with uwsgi request framing (nginx uwsgi_pass in,
 * HTTP responses out); each captured read also goes through the uwsgi parser directly. */
#include "fuzz_http.h"
#include "uwsgi_parse.h"

static void parse_read(const uint8_t *data, size_t size)
{
	struct fuzz_reader r;
	struct uwsgi_req u;

	fuzz_reader_init(&r, data, size);
	while (fuzz_next(&r)) {
		if (r.rec.kind != FUZZ_FEED || !r.rec.dir)
			continue;
		(void)uwsgi_guess_request(r.rec.cap, r.rec.cap_len);
		memset(&u, 0, sizeof(u));
		if (uwsgi_parse_request(r.rec.cap, r.rec.cap_len, &u) != UWSGI_BAD) {
			fuzz_check_str(u.method, sizeof(u.method));
			fuzz_check_str(u.path, sizeof(u.path));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_read(data, size);
	fuzz_http_run(http_server_conn_new_framed(HTTP_REQ_UWSGI), data, size);
	return 0;
}
