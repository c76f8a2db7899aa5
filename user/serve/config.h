/* pyvitals serve's configuration file (INI, read with inih): [serve] and [health]. Options on
 * the command line win over the file. */
#ifndef SERVE_CONFIG_H
#define SERVE_CONFIG_H
#include <stddef.h>
#include "health.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"

struct serve_config {
	char listen[256];
	char auth_token_file[256];
	struct health_config health;
};

void serve_config_defaults(struct serve_config *c);
/* Read path over the defaults. 0, or -1 with what is wrong, where, and what is expected in err. */
int serve_config_load(struct serve_config *c, const char *path, char *err, size_t errlen);
#endif
