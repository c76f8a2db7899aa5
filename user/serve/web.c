/* libmicrohttpd in its own polling thread, on a socket we bind first (so privileges can go before
 * the thread exists: capabilities are per thread). */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include "prom.h"
#include "web.h"

#define MAX_CONNECTIONS 64       /* beyond this, new connections wait in the kernel's backlog */
#define MAX_PER_IP 16            /* one client cannot take every slot */
#define IDLE_TIMEOUT_S 10        /* a connection silent this long is closed */
#define REQUEST_MEMORY (32 << 10) /* a request's head must fit: larger ones get 431/413 */

struct doc {
	char *body;
	size_t len;
	bool critical;
};

struct web {
	int fd;
	bool ipv6;
	struct MHD_Daemon *daemon;
	char *token;
	size_t token_len;
	pthread_mutex_t lock;
	struct doc docs[WEB_DOCS];
};

/* Embedded by user/serve/assets.S. */
#define ASSET_DECL(name) extern const char name##_start[], name##_end[];
ASSET_DECL(asset_dashboard_html)
ASSET_DECL(asset_dashboard_js)
ASSET_DECL(asset_dashboard_css)
ASSET_DECL(asset_dygraph_js)
ASSET_DECL(asset_dygraph_css)

static const struct {
	const char *url, *type;
	const char *start, *end;
} assets[] = {
	{ "/", "text/html; charset=utf-8", asset_dashboard_html_start, asset_dashboard_html_end },
	{ "/static/dashboard.js", "text/javascript; charset=utf-8", asset_dashboard_js_start, asset_dashboard_js_end },
	{ "/static/dashboard.css", "text/css; charset=utf-8", asset_dashboard_css_start, asset_dashboard_css_end },
	{ "/static/dygraph.min.js", "text/javascript; charset=utf-8", asset_dygraph_js_start, asset_dygraph_js_end },
	{ "/static/dygraph.min.css", "text/css; charset=utf-8", asset_dygraph_css_start, asset_dygraph_css_end },
};

static const struct {
	const char *url, *type;
	enum web_doc doc;
} docs[] = {
	{ "/metrics", PROM_CONTENT_TYPE, WEB_METRICS },
	{ "/health", "application/json", WEB_HEALTH },
	{ "/api/snapshot", "application/json", WEB_SNAPSHOT },
};

struct web *web_bind(const char *listen_at, char *err, size_t errlen)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct web *w;
	int one = 1, rc;

	snprintf(host, sizeof(host), "%s", listen_at);
	port = strrchr(host, ':');
	if (!port || port == host || !port[1]) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464", listen_at);
		return NULL;
	}
	*port++ = 0;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai))) {
		snprintf(err, errlen, "--listen %s: %s (the address must be numeric: 127.0.0.1, 0.0.0.0, [::1])",
			 listen_at, gai_strerror(rc));
		return NULL;
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		freeaddrinfo(ai);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->ipv6 = ai->ai_family == AF_INET6;
	w->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w->fd < 0 || setsockopt(w->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(w->fd, ai->ai_addr, ai->ai_addrlen) || listen(w->fd, 128)) {
		snprintf(err, errlen, "--listen %s: %s%s", listen_at, strerror(errno),
			 errno == EADDRINUSE ? " (another process listens there: pick another port)" : "");
		freeaddrinfo(ai);
		web_stop(w);
		return NULL;
	}
	freeaddrinfo(ai);
	return w;
}

/* Equal in time independent of where they differ (the length leaks, not the content). */
static bool token_ok(const struct web *w, const char *header)
{
	const char *given;
	size_t n;
	unsigned char diff = 0;

	if (!header || strncasecmp(header, "Bearer ", 7))
		return false;
	given = header + 7;
	n = strlen(given);
	for (size_t i = 0; i < w->token_len; i++)
		diff |= (unsigned char)w->token[i] ^ (unsigned char)(i < n ? given[i] : 0);
	return !diff && n == w->token_len;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
			     size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	if (!strncmp(type, "text/html", 9))
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
	if (mode != MHD_RESPMEM_PERSISTENT)
		MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"pyvitals\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_doc(struct web *w, struct MHD_Connection *c, enum web_doc d, const char *type)
{
	struct doc *doc = &w->docs[d];
	enum MHD_Result ret;

	pthread_mutex_lock(&w->lock);
	if (!doc->body)
		ret = text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "pyvitals is still attaching: try again in a second\n");
	else
		ret = reply(c, d == WEB_HEALTH && doc->critical ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, type,
			    doc->body, doc->len, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

/* Every answer is queued on the first call, before any body is read: requests here have no
 * body, and one that brings a body is refused at once (MHD then closes the connection). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct web *w = cls;
	const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	(void)version, (void)upload_data, (void)con_cls;
	if (*upload_data_size) { /* a body despite everything: not read */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
	if ((len && strcmp(len, "0")) || te)
		return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "requests to pyvitals carry no body\n");
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (!strcmp(url, assets[i].url))
			return reply(c, MHD_HTTP_OK, assets[i].type, assets[i].start,
				     (size_t)(assets[i].end - assets[i].start), MHD_RESPMEM_PERSISTENT);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		if (strcmp(url, docs[i].url))
			continue;
		if (w->token && !token_ok(w, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
			return text(c, MHD_HTTP_UNAUTHORIZED,
				    "this pyvitals needs 'Authorization: Bearer TOKEN' (the token of --auth-token-file)\n");
		return serve_doc(w, c, docs[i].doc, docs[i].type);
	}
	return text(c, MHD_HTTP_NOT_FOUND, "not found: pyvitals serves /, /metrics, /health and /api/snapshot\n");
}

int web_serve(struct web *w, const char *token, char *err, size_t errlen)
{
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (w->ipv6 ? MHD_USE_IPv6 : 0);

	if (token && !(w->token = strdup(token))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->token_len = token ? strlen(token) : 0;
	w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
				     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)w->fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)MAX_PER_IP,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
				     MHD_OPTION_END);
	if (!w->daemon) {
		snprintf(err, errlen, "starting the HTTP server failed (libmicrohttpd)");
		return -1;
	}
	w->fd = -1; /* the daemon's now */
	return 0;
}

void web_publish(struct web *w, enum web_doc d, const char *body, size_t len, bool critical)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return; /* the previous document stays */
	memcpy(copy, body, len);
	copy[len] = 0;
	pthread_mutex_lock(&w->lock);
	free(w->docs[d].body);
	w->docs[d] = (struct doc){ copy, len, critical };
	pthread_mutex_unlock(&w->lock);
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	if (w->daemon)
		MHD_stop_daemon(w->daemon);
	if (w->fd >= 0)
		close(w->fd);
	for (int i = 0; i < WEB_DOCS; i++)
		free(w->docs[i].body);
	if (w->token) {
		memset(w->token, 0, w->token_len);
		free(w->token);
	}
	pthread_mutex_destroy(&w->lock);
	free(w);
}
