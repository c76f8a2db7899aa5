/* Version facts, stamped by the Makefile (PV_VERSION, PV_COMMIT, PV_BUILD_DATE). */
#include <bpf/libbpf.h>
#include "version.h"

#ifndef PV_VERSION
#define PV_VERSION "0.0.0"
#endif
#ifndef PV_COMMIT
#define PV_COMMIT "unknown"
#endif
#ifndef PV_BUILD_DATE
#define PV_BUILD_DATE "unknown"
#endif

const char pyvitals_version[] = PV_VERSION, pyvitals_commit[] = PV_COMMIT, pyvitals_build_date[] = PV_BUILD_DATE;

const char *pyvitals_libbpf_version(void)
{
	return libbpf_version_string();
}

void version_print(FILE *f)
{
	fprintf(f, "pyvitals %s (commit %s, built %s, libbpf %s)\n", pyvitals_version, pyvitals_commit,
		pyvitals_build_date, pyvitals_libbpf_version());
#ifdef PV_SANITIZE
	/* a test build (make test SANITIZE=...): slower, and says so */
	fprintf(f, "sanitized build: %s\n", PV_SANITIZE);
#endif
}
