/* The dashboard's files, embedded in the binary: served by pyvitals serve, never fetched from
 * a CDN. dygraph.min.* come from Debian's libjs-dygraphs directory, on the assembler's include path (see the Makefile). */
#define ASSET(name, file)            \
	.section .rodata;            \
	.global name##_start;        \
	.global name##_end;          \
	.balign 16;                  \
name##_start:                        \
	.incbin file;                \
name##_end:                          \
	.byte 0

ASSET(asset_dashboard_html, "web/dashboard.html")
ASSET(asset_dashboard_js, "web/dashboard.js")
ASSET(asset_dashboard_css, "web/dashboard.css")
ASSET(asset_dygraph_js, "dygraph.min.js")
ASSET(asset_dygraph_css, "dygraph.min.css")
	.section .note.GNU-stack,"",@progbits
