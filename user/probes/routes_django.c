/* Placeholder until the Django reader (ROOT_URLCONF -> urlpatterns, design section 2) lands;
 * that work replaces this file. */
#include <stdio.h>
#include "app_routes_int.h"

int routes_django_read(struct pyproc *p, struct app_routes *out, char *err, size_t errlen)
{
	(void)p, (void)err, (void)errlen;
	out->framework = APP_NONE;
	snprintf(out->why, sizeof(out->why), "Django reader not built");
	return 0;
}
