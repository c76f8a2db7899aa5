# pyvitals build. Generated files (vmlinux.h, BPF objects, skeletons, objects) go to build/.
BUILD    ?= build
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= gcc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
PYTHON   ?= /usr/bin/python3

CFLAGS   ?= -O2 -g
# make unit SANITIZE=address,undefined: the unit tests under sanitizers, built apart;
# make test SANITIZE=...: the e2e suite drives a sanitized agent (build/sanitize/pyvitals).
SANITIZE ?=
BIN      := pyvitals
ifneq ($(SANITIZE),)
BUILD    := build/sanitize
BIN      := $(BUILD)/pyvitals
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
# user/ is split by concern (cli, agent, wire, probes, stats, output); headers are found by name.
USER_DIRS := $(patsubst %/,%,$(wildcard user/*/))
CFLAGS   += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -I$(BUILD) -Ibpf $(addprefix -I,$(USER_DIRS))
LDLIBS   := -lbpf -lelf -lz -lm -lmicrohttpd -linih -lpcre2-8
# --version: the release, the commit built (with -dirty for local changes) and when.
VERSION  := 0.11.0
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
DYGRAPHS ?= /usr/share/javascript/dygraphs
BPFFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(BUILD) -Ibpf \
            -I/usr/include/$(shell uname -m)-linux-gnu

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*/*.c)
USER_HDRS := $(wildcard user/*/*.h)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS)) $(BUILD)/user/serve/assets.o
LIB_OBJS  := $(filter-out $(BUILD)/user/cli/main.o,$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%.o,$(UNIT_SRCS))

# Debian packages needed to build, test, benchmark and demo.
DEPS := clang llvm libclang-rt-14-dev make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev bpftool libmicrohttpd-dev libinih-dev libpcre2-dev libjs-dygraphs \
        python3 python3-pytest python3-flask python3-requests gunicorn python3-uvicorn wrk apache2-utils hey procps \
        postgresql python3-psycopg2 python3-asyncpg mariadb-server python3-pymysql python3-mysqldb \
        redis-server python3-redis memcached python3-pymemcache openssl libssl-dev nginx-light uwsgi uwsgi-plugin-python3 curl \
        python3-aiohttp python3-fastapi python3-django prometheus chromium python3-websocket python3-prometheus-client \
        qemu-system-x86 busybox-static cpio kmod xz-utils systemd python3-yaml python3-venv iproute2 \
        python3-gevent python3-greenlet python3-uvloop python3-psycogreen python3-hypercorn

.PHONY: all deps test unit e2e demo bench soak clean harnesses bpf-arm64 vmtest fuzz fuzz-build fuzz-seed fuzz-merge fuzz-replay FORCE
.SECONDARY:
all: $(BIN)

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; else echo "all build and test packages present"; fi
	@# Debian 12's own kernels for make vmtest, downloaded and unpacked under build/ (never installed).
	tools/vmtest/fetch-kernels

$(BUILD) $(BUILD)/user $(BUILD)/unit:
	mkdir -p $@

$(BUILD)/vmlinux.h: | $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c bpf/pyvitals.h $(wildcard bpf/*.bpf.h) $(BUILD)/vmlinux.h
	$(CLANG) $(BPFFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(BUILD)/user/%.o: user/%.c $(USER_HDRS) bpf/pyvitals.h $(SKELS) | $(BUILD)/user
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The dashboard's files and Debian's dygraphs, embedded at build time (nothing is fetched at run time).
WEB_FILES := $(wildcard web/*) $(DYGRAPHS)/dygraph.min.js $(DYGRAPHS)/dygraph.min.css
$(BUILD)/user/serve/assets.o: user/serve/assets.S $(WEB_FILES) | $(BUILD)/user
	@mkdir -p $(dir $@)
	@test -f $(DYGRAPHS)/dygraph.min.js || { echo "$(DYGRAPHS)/dygraph.min.js is missing: apt-get install libjs-dygraphs (make deps does)"; exit 1; }
	$(CC) -Wa,-I$(DYGRAPHS) -c $< -o $@

# Rebuilt when the commit changes, so that --version names the code it runs.
$(BUILD)/version.stamp: FORCE | $(BUILD)
	@echo '$(VERSION) $(COMMIT)' | cmp -s - $@ || echo '$(VERSION) $(COMMIT)' > $@
$(BUILD)/user/cli/version.o: $(BUILD)/version.stamp
$(BUILD)/user/cli/version.o: CFLAGS += -DPV_VERSION='"$(VERSION)"' -DPV_COMMIT='"$(COMMIT)"' \
	-DPV_BUILD_DATE='"$(shell date -u +%Y-%m-%dT%H:%M:%SZ)"' $(if $(SANITIZE),-DPV_SANITIZE='"$(SANITIZE)"')
FORCE:

$(BIN): $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit/%.o: tests/unit/%.c $(wildcard tests/unit/*.h) $(USER_HDRS) | $(BUILD)/unit
	$(CC) $(CFLAGS) -Itests/unit -c $< -o $@

$(BUILD)/unit_tests: $(UNIT_OBJS) $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Standalone drivers of the runtime and SQLite modules, for investigating one process.
HARNESSES := $(BUILD)/runtime-harness $(BUILD)/sqlite-harness $(BUILD)/pyobj-harness
harnesses: $(HARNESSES)
$(BUILD)/%-harness: tools/%-harness.c $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# ns per request named by the route matcher on 100-route tables (issue #14).
$(BUILD)/route-table-bench: tools/route-table-bench.c $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Build check: the BPF objects compile for arm64 too, against a Debian arm64 kernel's BTF.
bpf-arm64:
	tools/bpf-arm64-check

unit: $(BUILD)/unit_tests fuzz-replay
	$(BUILD)/unit_tests

# ---- Fuzzing (tests/fuzz, FUZZING.md) ----
# Every tests/fuzz/fuzz_*.c is a libFuzzer target. `make unit` replays their regression inputs
# and corpora without libFuzzer (any compiler; under SANITIZE a memory error fails it).
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HDRS    := $(wildcard tests/fuzz/*.h)
FUZZ_REPLAYS := $(addprefix $(BUILD)/fuzz-replay/,$(FUZZ_TARGETS))

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(FUZZ_HDRS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/fuzz tests/fuzz/$*.c tests/fuzz/replay_main.c $(LIB_OBJS) $(LDLIBS) -o $@

fuzz-replay: $(FUZZ_REPLAYS)
	@for t in $(FUZZ_TARGETS); do \
	  $(BUILD)/fuzz-replay/$$t tests/fuzz/regressions/$$t tests/fuzz/corpus/$$t || exit 1; done

# make fuzz [FUZZ_SECONDS=N] [FUZZ_RUN="fuzz_pg fuzz_redis"]: builds every target with clang's
# libFuzzer, ASan and UBSan into build/fuzz/, replays its regressions, then fuzzes it for N s
# on its corpus (new inputs go to build/fuzz/scratch/, not the repository); fails on any crash,
# leak or timeout, naming the target and the input (tests/fuzz/run).
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUN     ?= $(FUZZ_TARGETS)
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
                -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Ibuild -Ibpf $(addprefix -I,$(USER_DIRS)) -Itests/fuzz
# The parsers the targets reach, instrumented for coverage; linked from an archive (only what
# a target uses). tls_probe.c needs its skeleton (build/tls.skel.h).
FUZZ_LIB_SRCS := $(wildcard user/wire/*.c) user/stats/route.c $(wildcard user/stats/route_table*.c) \
                 user/probes/pyinfo.c user/probes/sqlite_elf.c user/probes/pyobj.c user/probes/pyobj_dict.c \
                 user/probes/routes_common.c user/probes/tls_probe.c user/agent/proc.c
FUZZ_LIB_OBJS := $(patsubst user/%.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRCS))

$(FUZZ_BUILD)/obj/%.o: user/%.c $(USER_HDRS) build/tls.skel.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libpv.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS)): $(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_HDRS) $(FUZZ_BUILD)/libpv.a
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libpv.a -lbpf -lelf -lz -lpcre2-8 -o $@

fuzz-build: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_RUN)

# After a long run: the inputs it found (build/fuzz/scratch) merged into the corpora, keeping
# only those that add coverage (libFuzzer -merge=1), so the corpora stay small.
fuzz-merge: fuzz-build
	@for t in $(FUZZ_RUN); do rm -rf $(FUZZ_BUILD)/merged/$$t; mkdir -p $(FUZZ_BUILD)/merged/$$t $(FUZZ_BUILD)/scratch/$$t; \
	  $(FUZZ_BUILD)/$$t -merge=1 -rss_limit_mb=2048 $(FUZZ_BUILD)/merged/$$t tests/fuzz/corpus/$$t $(FUZZ_BUILD)/scratch/$$t \
	    2>$(FUZZ_BUILD)/merged/$$t.log || { echo "merge of $$t failed: $(FUZZ_BUILD)/merged/$$t.log"; exit 1; }; \
	  rm -rf tests/fuzz/corpus/$$t && mv $(FUZZ_BUILD)/merged/$$t tests/fuzz/corpus/$$t; \
	  echo "$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs, $$(du -sk --apparent-size tests/fuzz/corpus/$$t | cut -f1) KiB"; done

# Seeds: the unit tests' fixtures, recorded by running the unit tests with tests/fuzz/seed_hooks.h
# force-included (their parser calls go through seed_record.c), and the ELF and maps seeds of
# tests/fuzz/elf-seeds; each target's corpus is then merged with them (libFuzzer -merge=1 keeps
# the inputs that add coverage).
FUZZ_SEED := $(FUZZ_BUILD)/seed
$(FUZZ_SEED)/unit/%.o: tests/unit/%.c $(wildcard tests/unit/*.h) $(USER_HDRS) tests/fuzz/seed_hooks.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -include tests/fuzz/seed_hooks.h -c $< -o $@
$(FUZZ_SEED)/seed_record.o: tests/fuzz/seed_record.c $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(FUZZ_SEED)/unit_tests: $(patsubst tests/unit/%.c,$(FUZZ_SEED)/unit/%.o,$(UNIT_SRCS)) $(FUZZ_SEED)/seed_record.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

fuzz-seed: $(FUZZ_SEED)/unit_tests fuzz-build
	rm -rf $(FUZZ_SEED)/inputs
	PYVITALS_FUZZ_SEED_DIR=$(CURDIR)/$(FUZZ_SEED)/inputs $(FUZZ_SEED)/unit_tests > $(FUZZ_SEED)/unit.log
	tests/fuzz/elf-seeds $(FUZZ_SEED)/inputs
	@for t in $(FUZZ_TARGETS); do mkdir -p tests/fuzz/corpus/$$t; \
	  $(FUZZ_BUILD)/$$t -merge=1 -rss_limit_mb=2048 tests/fuzz/corpus/$$t $(FUZZ_SEED)/inputs/$$t \
	    2>$(FUZZ_SEED)/merge-$$t.log || { echo "merge of $$t failed: $(FUZZ_SEED)/merge-$$t.log"; exit 1; }; \
	  echo "$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs"; done

# The kernel x hook-mode matrix: Debian 12's 6.1 and 6.12 under QEMU, this host, and a locked-down 6.1.
vmtest: deps pyvitals
	tools/ensure-tracefs
	tools/vmtest/matrix

# PYVITALS names the agent the tests drive; a sanitizer's report fails the test it happened in.
E2E_TESTS ?= tests/e2e
e2e: $(BIN) $(BUILD)/pyobj-harness
	tools/ensure-tracefs
	PYVITALS=$(abspath $(BIN)) $(PYTHON) -m pytest -v -p no:cacheprovider $(E2E_TESTS)

test: deps
	$(MAKE) $(BIN) $(BUILD)/unit_tests
	$(MAKE) unit
ifeq ($(SANITIZE),)
	$(MAKE) unit SANITIZE=address,undefined
endif
	$(MAKE) e2e

DURATION ?=
demo: deps pyvitals
	tools/ensure-tracefs
	DURATION="$(DURATION)" tools/demo

bench: deps pyvitals
	tools/ensure-tracefs
	$(PYTHON) tools/bench.py

# The agent's RSS under a steady load for SOAK_SECONDS (BENCHMARKS.md); make test runs a short one.
SOAK_SECONDS ?= 600
soak: deps pyvitals
	tools/ensure-tracefs
	$(PYTHON) tools/soak.py --duration $(SOAK_SECONDS) --out $(BUILD)/soak.csv

clean:
	rm -rf $(BUILD) pyvitals
