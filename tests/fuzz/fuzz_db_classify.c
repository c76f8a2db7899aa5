/* libFuzzer target: classifying a connection from its first I/O, as the agent does.
 * Input: a flags byte (bit 0: the service sent the bytes), the server port (u16 LE), the bytes.
 * A connection classified as a database is then fed that I/O, as the agent feeds it next. */
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum db_system sys = DB_NONE;
	struct db_conn *c;
	uint8_t *buf;
	int send;
	uint16_t port;

	if (size < 3)
		return 0;
	send = data[0] & 1;
	port = (uint16_t)(data[1] | data[2] << 8);
	size -= 3;
	buf = malloc(size);      /* exact size: ASan sees reads past the capture */
	if (!buf)
		abort();
	memcpy(buf, data + 3, size);
	if (db_classify(buf, size, send, port, &sys) == DB_GUESS_YES) {
		if (sys <= DB_NONE || sys > DB_SQLITE || !db_system_name(sys))
			abort();
		if ((c = db_conn_new(sys))) {
			db_conn_feed(c, send, buf, size, size, 1, 1, fuzz_db_call, &sys);
			db_conn_close(c, 2, fuzz_db_call, &sys);
			db_conn_free(c);
		}
	}
	free(buf);
	return 0;
}
