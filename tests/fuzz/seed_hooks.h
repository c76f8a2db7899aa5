/* Seed mode (make fuzz-seed): force-included (-include) into the unit tests, it renames the
 * parser entry points they call to the recording wrappers of seed_record.c, which call the
 * real ones and write every session, statement, path and maps text the tests feed as an
 * input of the matching fuzz target (into $PYVITALS_FUZZ_SEED_DIR/<target>/). The unit tests'
 * fixtures, recorded sessions included, thus become the fuzz corpora without being copied. */
#ifndef SEED_HOOKS_H
#define SEED_HOOKS_H
#define http_server_conn_new seed_http_server_conn_new
#define http_server_conn_new_framed seed_http_server_conn_new_framed
#define http_client_conn_new seed_http_client_conn_new
#define http_server_conn_free seed_http_server_conn_free
#define http_server_conn_feed seed_http_server_conn_feed
#define http_server_conn_close seed_http_server_conn_close
#define http_server_conn_settle seed_http_server_conn_settle
#define db_conn_new seed_db_conn_new
#define db_conn_free seed_db_conn_free
#define db_conn_feed seed_db_conn_feed
#define db_conn_close seed_db_conn_close
#define db_classify seed_db_classify
#define http_guess_request seed_http_guess_request
#define http_guess_response seed_http_guess_response
#define http_parse_head seed_http_parse_head
#define uwsgi_parse_request seed_uwsgi_parse_request
#define uwsgi_guess_request seed_uwsgi_guess_request
#define sql_normalize seed_sql_normalize
#define sql_normalize_ex seed_sql_normalize_ex
#define sql_operation seed_sql_operation
#define route_template seed_route_template
#define route_segment_is_id seed_route_segment_is_id
#define sqlite_maps_find seed_sqlite_maps_find
#endif
