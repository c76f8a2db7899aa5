/* JSON strings carry bytes from the wire (paths, statement text): escape everything
 * that is not printable ASCII so the output stays valid whatever arrives. */
#include <math.h>
#include "json.h"

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void json_num(FILE *f, double v)
{
	if (!isfinite(v))
		v = 0;
	if (v == (double)(int64_t)v && fabs(v) < 1e15)
		fprintf(f, "%lld", (long long)v);
	else
		fprintf(f, "%.3f", v);
}

void json_latency(FILE *f, const struct hist *h)
{
	fputs("{\"p50\": ", f);
	json_num(f, hist_percentile_ms(h, 0.50));
	fputs(", \"p90\": ", f);
	json_num(f, hist_percentile_ms(h, 0.90));
	fputs(", \"p95\": ", f);
	json_num(f, hist_percentile_ms(h, 0.95));
	fputs(", \"p99\": ", f);
	json_num(f, hist_percentile_ms(h, 0.99));
	fputs(", \"max\": ", f);
	json_num(f, hist_max_ms(h));
	fputs("}", f);
}

