/* Standalone driver of the object reader (`make harnesses`), for checking it on one process:
 *   build/pyobj-harness PID                 sys.version, module count, read cost
 *   build/pyobj-harness PID MODULE NAME [ATTR...]  MODULE.NAME.ATTR... (str, int, or its type)
 *   build/pyobj-harness PID --gc            objects on the GC lists
 *   build/pyobj-harness PID --routes        app_routes_read's whole result: parts, vars, markers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "app_routes.h"
#include "pyobj.h"

static int count(struct pyproc *p, uint64_t k, uint64_t v, void *arg)
{
	(void)p, (void)k, (void)v;
	++*(int *)arg;
	return 0;
}

static int count_obj(struct pyproc *p, uint64_t o, void *arg)
{
	(void)p, (void)o;
	++*(long *)arg;
	return 0;
}

static double ms(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

static int dump_routes(int pid, const struct timespec *t0)
{
	struct app_routes t;
	char err[512];

	if (app_routes_read(pid, &t, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("framework %d \"%s\" app \"%s\" fingerprint %016llx routes %d skipped %d later %d why \"%s\" "
	       "(%.1f ms)\n", t.framework, t.framework_version, t.app, (unsigned long long)t.fingerprint, t.nroutes,
	       t.skipped, t.later, t.why, ms(t0));
	for (int i = 0; i < t.nroutes; i++) {
		const struct app_route *rt = &t.routes[i];
		printf("route %s methods=%#x strict=%d%s\n", rt->name, rt->methods, rt->strict_slashes,
		       rt->mount_end ? " mount_end" : "");
		for (int j = 0; j < rt->nparts; j++)
			printf("  part %s\n", rt->parts[j]);
		for (int j = 0; j < rt->nvars; j++)
			printf("  var %s %s weight=%d isolating=%d\n", rt->vars[j].name, rt->vars[j].regex,
			       rt->vars[j].weight, rt->vars[j].part_isolating);
	}
	app_routes_free(&t);
	return 0;
}

int main(int argc, char **argv)
{
	struct pyproc p;
	struct timespec t0;
	char err[512], s[PYOBJ_STR_MAX * 4 + 1], tn[128];
	uint64_t v;
	int64_t n;
	int r, nmod = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PID [MODULE NAME | --gc]\n", argv[0]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (argc == 3 && !strcmp(argv[2], "--routes"))
		return dump_routes(atoi(argv[1]), &t0);
	if ((r = pyproc_open(atoi(argv[1]), &p, err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (argc == 3 && !strcmp(argv[2], "--gc")) {
		long objs = 0;
		r = pyobj_gc_walk(&p, count_obj, &objs);
		printf("gc: %ld objects (r=%d), %u page reads, %.1f ms\n", objs, r, p.reads, ms(&t0));
	} else if (argc >= 4) {
		if ((r = pyobj_module_attr(&p, argv[2], argv[3], &v))) {
			fprintf(stderr, "%s.%s: %s\n", argv[2], argv[3], strerror(-r));
			return 1;
		}
		for (int i = 4; i < argc; i++)
			if ((r = pyobj_attr(&p, v, argv[i], &v))) {
				fprintf(stderr, ".%s: %s\n", argv[i], strerror(-r));
				return 1;
			}
		if (!pyobj_str(&p, v, s, sizeof(s)))
			printf("%s\n", s);
		else if (!pyobj_long(&p, v, &n))
			printf("%lld\n", (long long)n);
		else if (!pyobj_type_name(&p, pyobj_type(&p, v), tn, sizeof(tn)))
			printf("<%s object at 0x%llx>\n", tn, (unsigned long long)v);
	} else {
		pyobj_dict_walk(&p, p.modules, count, &nmod);
		r = pyobj_module_attr(&p, "sys", "version", &v);
		if (!r)
			r = pyobj_str(&p, v, s, sizeof(s));
		printf("Python %s (3.%d): sys.version %s; %d modules; %u page reads, %.1f ms\n", p.pi.elf.version,
		       p.minor, r ? strerror(-r) : s, nmod, p.reads, ms(&t0));
	}
	pyproc_close(&p);
	return r ? 1 : 0;
}
