/* What this binary is: for --version, doctor and pyvitals_build_info. */
#ifndef VERSION_H
#define VERSION_H
#include <stdio.h>

extern const char pyvitals_version[], pyvitals_commit[], pyvitals_build_date[];
const char *pyvitals_libbpf_version(void);  /* of the library linked at run time */
void version_print(FILE *f);
#endif
