/* The HTTP side of pyvitals serve, on libmicrohttpd: GET/HEAD only, bounded connections, request
 * size and idle time, optional bearer token. It never touches the agent: the agent thread
 * publishes rendered documents after each snapshot and the server's thread serves the latest,
 * so a slow or huge request cannot stall the agent and a scrape never waits for a drain. */
#ifndef WEB_H
#define WEB_H
#include <stdbool.h>
#include <stddef.h>

enum web_doc { WEB_METRICS, WEB_HEALTH, WEB_SNAPSHOT, WEB_DOCS };

struct web;
/* Bind and listen on "ADDR:PORT" ("[v6]:PORT" for IPv6). Nothing is served before web_serve. */
struct web *web_bind(const char *listen, char *err, size_t errlen);
/* Start the server's thread. token: required as "Authorization: Bearer TOKEN" on the data
 * endpoints (NULL: none). 0, or -1 with err. */
int web_serve(struct web *w, const char *token, char *err, size_t errlen);
/* Replace a document (copied); critical makes /health answer 503. */
void web_publish(struct web *w, enum web_doc doc, const char *body, size_t len, bool critical);
void web_stop(struct web *w);
#endif
