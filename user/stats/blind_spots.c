/* Blind spots of a service (see blind_spots.h): one entry per endpoint, protocol and reason. */
#include <string.h>
#include "blind_spots.h"
#include "json.h"

void blind_spots_add(struct blind_spots *b, bool server, const char *endpoint, const char *peer,
		     const char *protocol, const char *why, bool hides_db_calls)
{
	struct blind_spot *e = NULL;

	for (unsigned i = 0; i < b->n && !e; i++)
		if (b->e[i].server == server && !strcmp(b->e[i].endpoint, endpoint) &&
		    !strcmp(b->e[i].protocol, protocol) && !strcmp(b->e[i].why, why))
			e = &b->e[i];
	if (!e) {
		if (b->n == BLIND_SPOTS_MAX) {
			b->overflow++;
			return;
		}
		e = &b->e[b->n++];
		e->server = server;
		snprintf(e->endpoint, sizeof(e->endpoint), "%s", endpoint);
		snprintf(e->protocol, sizeof(e->protocol), "%s", protocol);
		snprintf(e->why, sizeof(e->why), "%s", why);
		e->hides_db_calls = hides_db_calls;
	}
	snprintf(e->last_peer, sizeof(e->last_peer), "%s", peer);
	e->connections++;
}

bool blind_spots_hide_db_calls(const struct blind_spots *b)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->e[i].hides_db_calls)
			return true;
	return b->overflow > 0;
}

bool blind_spots_server(const struct blind_spots *b)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->e[i].server)
			return true;
	return false;
}

void blind_spots_json(const struct blind_spots *b, FILE *f)
{
	fputs("[", f);
	for (unsigned i = 0; i < b->n; i++) {
		const struct blind_spot *e = &b->e[i];

		fprintf(f, "%s{\"side\": \"%s\", \"%s\": ", i ? ", " : "", e->server ? "server" : "client",
			e->server ? "local" : "peer");
		json_str(f, e->endpoint);
		fputs(e->server ? ", \"last_peer\": " : ", \"last_local\": ", f);
		json_str(f, e->last_peer);
		fputs(", \"protocol\": ", f);
		json_str(f, e->protocol);
		fputs(", \"why\": ", f);
		json_str(f, e->why);
		fprintf(f, ", \"connections\": %llu, \"hides_db_calls\": %s}", (unsigned long long)e->connections,
			e->hides_db_calls ? "true" : "false");
	}
	if (b->overflow)
		fprintf(f, "%s{\"side\": \"{overflow}\", \"connections\": %llu}", b->n ? ", " : "",
			(unsigned long long)b->overflow);
	fputs("]", f);
}

void blind_spots_text(const struct blind_spots *b, FILE *f)
{
	for (unsigned i = 0; i < b->n; i++) {
		const struct blind_spot *e = &b->e[i];

		fprintf(f, "  BLIND %s %s %s: %s (%llu connection%s)\n", e->server ? "server" : "client",
			e->endpoint, e->protocol, e->why, (unsigned long long)e->connections,
			e->connections == 1 ? "" : "s");
	}
	if (b->overflow)
		fprintf(f, "  BLIND %llu more connections\n", (unsigned long long)b->overflow);
}
