# iaxkeyd: build, run, test, check (sanitizers), fuzz, bench, install.
# Objects are built in place; a change of compiler flags (e.g. SANITIZE=)
# rebuilds everything through the .build-flags stamp.

CC	?= cc
PKGS	 = libevent libevent_openssl openssl libcurl sqlite3
# prometheus: promtool and prometheus for the /metrics tests (t/4101,
# t/5005, t/5301; they skip without it); nginx: the caching proxy of
# t/5006 (skipped without it).
DEBPKGS	 = build-essential pkg-config libevent-dev libssl-dev \
	   libcurl4-openssl-dev libiniparser-dev libsqlite3-dev openssl \
	   netcat-openbsd sqlite3 iproute2 curl prometheus nginx
PREFIX	?= /usr/local
DESTDIR	?=
SANITIZE ?=
PROVE_JOBS ?= 2

WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
	   -Wstrict-prototypes -Wno-unused-parameter -Werror
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -I. $(WARN)
ifneq ($(SANITIZE),)
CFLAGS	+= -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=$(SANITIZE)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS	+= $(PKG_CFLAGS)
LDLIBS	+= $(PKG_LIBS) -liniparser -lpthread -lm

LIB_SRCS  = $(wildcard lib/*.c)
LIB_OBJS  = $(LIB_SRCS:.c=.o)
AGI_SRCS  = $(wildcard agi/*.c)
AGI_OBJS  = $(AGI_SRCS:.c=.o)
KS_SRCS   = $(wildcard keyserver/*.c)
KS_OBJS   = $(KS_SRCS:.c=.o)
T_CSRCS   = $(wildcard t/[0-2]*.c)
T_CTESTS  = $(T_CSRCS:.c=.t)
HELPERS   = $(patsubst %.c,%,$(wildcard t/helper/*.c))
CTL_SRCS  = $(wildcard ctl/*.c)
CTL_OBJS  = $(CTL_SRCS:.c=.o) agi/config.o
PROGS	  = agi/iaxkeyd $(if $(KS_SRCS),keyserver/iaxkey-server) ctl/iaxkeyctl

# Fuzz targets t/fuzz/fuzz-<name>.c; FUZZ_EXTRA_<name>: sources outside
# lib/ that a target needs.  With the normal compiler each becomes
# t/fuzz/replay-<name> (t/fuzz/replay.c as main), which t/0009 runs.
FUZZ_TARGETS = agi-env agi-reply dialstr admin-line conf rsakey keyserver
FUZZ_EXTRA_conf      = agi/config.c
FUZZ_EXTRA_keyserver = $(filter-out keyserver/main.c,$(KS_SRCS))
FUZZ_REPLAYS = $(FUZZ_TARGETS:%=t/fuzz/replay-%)

.SECONDARY: t/lib/tap.o
.PHONY: all deps need-deps need-fuzz-deps run test check fuzz fuzz-build \
	bench install install-files clean lint demo e2e deb deb-build deb-lint
all: $(PROGS) $(HELPERS) $(T_CTESTS) $(FUZZ_REPLAYS)

# Rebuild everything when the flags change.
.build-flags: FORCE
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || \
	    echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

%.o: %.c .build-flags $(wildcard lib/*.h agi/*.h keyserver/*.h t/lib/*.h)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

lib/libiaxkey.a: $(LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

agi/iaxkeyd: $(AGI_OBJS) lib/libiaxkey.a
	$(CC) $(LDFLAGS) -o $@ $(AGI_OBJS) lib/libiaxkey.a $(LDLIBS)

keyserver/iaxkey-server: $(KS_OBJS) lib/libiaxkey.a
	$(CC) $(LDFLAGS) -o $@ $(KS_OBJS) lib/libiaxkey.a $(LDLIBS)

# The one-shot console client reads iaxkeyd's configuration through
# iaxkeyd's own spec table.
ctl/iaxkeyctl: $(CTL_OBJS) lib/libiaxkey.a
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) lib/libiaxkey.a $(LDLIBS)

t/%.t: t/%.c t/lib/tap.o lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< t/lib/tap.o lib/libiaxkey.a $(LDLIBS)

# 2xxx: the daemon's objects without main and the route table.
T_AGI_OBJS = $(filter-out agi/iaxkeyd.o agi/route.o,$(AGI_OBJS))
t/2%.t: t/2%.c $(T_AGI_OBJS) t/lib/tap.o lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(T_AGI_OBJS) t/lib/tap.o \
	    lib/libiaxkey.a $(LDLIBS)

t/helper/%: t/helper/%.c lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libiaxkey.a $(LDLIBS)

# Replay every seed and regression input with the normal compiler.
define FUZZ_REPLAY_RULE
t/fuzz/replay-$(1): t/fuzz/fuzz-$(1).c t/fuzz/replay.c t/fuzz/fuzz-util.c \
    t/fuzz/fuzz.h $(FUZZ_EXTRA_$(1):.c=.o) lib/libiaxkey.a .build-flags
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ t/fuzz/fuzz-$(1).c \
	    t/fuzz/replay.c t/fuzz/fuzz-util.c $(FUZZ_EXTRA_$(1):.c=.o) \
	    lib/libiaxkey.a $$(LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_REPLAY_RULE,$(t))))
t/0009-fuzz-replay.t: $(FUZZ_REPLAYS)

# Install the Debian packages that are missing (needs root or sudo).
deps:
	@missing=; for p in $(DEBPKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	    $$sudo apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

# Run deps first only when a library is missing, then rebuild with its flags.
need-deps:
	@pkg-config --exists $(PKGS) && [ -f /usr/include/iniparser/iniparser.h ] \
	    && command -v nc >/dev/null && command -v openssl >/dev/null \
	    && command -v sqlite3 >/dev/null && command -v curl >/dev/null \
	    && command -v promtool >/dev/null && command -v ss >/dev/null \
	    && command -v nginx >/dev/null \
	    || $(MAKE) --no-print-directory deps

# make fuzz needs clang with libFuzzer (Debian: libclang-rt-14-dev).
FUZZ_DEBPKGS = clang libclang-rt-14-dev
need-fuzz-deps: need-deps
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ return (0); }\n' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null \
	    || $(MAKE) --no-print-directory DEBPKGS='$(FUZZ_DEBPKGS)' deps

run: need-deps
	@$(MAKE) --no-print-directory all
	mkdir -p run/asterisk run/keys
	./agi/iaxkeyd -d -f etc/iaxkeyd.local.conf

test: need-deps
	@$(MAKE) --no-print-directory all
	prove --exec '' -j$(PROVE_JOBS) t/*.t

# The real tier (t/e2e, docs/e2e.md): real Asterisk nodes from
# ASTERISK_ROOTS or ../shared/asterisk running docs/dialplan.md's blocks.
E2E_JOBS ?= 2
e2e: need-deps
	@$(MAKE) --no-print-directory all
	prove --exec '' -j$(E2E_JOBS) t/e2e/*.t

# The whole suite again under AddressSanitizer and UBSan, in place.
check: need-deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    prove --exec '' -j$(PROVE_JOBS) t/*.t
	@$(MAKE) --no-print-directory all

# Fuzzing (docs/fuzzing.md): each target is built with clang, libFuzzer,
# ASan and UBSan into $(FUZZ_DIR) (objects there, never next to the
# sources) and runs for FUZZ_SECONDS on a copy of its seed corpus plus its
# regression inputs; any crash, leak or sanitizer report fails.
FUZZ_CC		?= clang
FUZZ_SECONDS	?= 30
FUZZ_DIR	 = t/fuzz/build
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = -O1 -g -std=c11 -D_GNU_SOURCE -I. $(WARN) $(PKG_CFLAGS) \
		   $(FUZZ_SAN)
FUZZ_LIB_OBJS	 = $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS	 = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%)

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard lib/*.h agi/*.h keyserver/*.h t/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libiaxkey.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

define FUZZ_RULE
$(FUZZ_DIR)/fuzz-$(1): $(FUZZ_DIR)/obj/t/fuzz/fuzz-$(1).o \
    $(FUZZ_DIR)/obj/t/fuzz/fuzz-util.o \
    $(FUZZ_EXTRA_$(1):%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/libiaxkey.a
	$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

fuzz-build: $(FUZZ_BINS)

fuzz: need-fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@fail=; for t in $(FUZZ_TARGETS); do \
	    work=$(FUZZ_DIR)/corpus/$$t; rm -rf $$work; mkdir -p $$work; \
	    cp t/fuzz/corpus/$$t/* $$work/; \
	    regress=; [ -d t/fuzz/regress/$$t ] && regress=t/fuzz/regress/$$t; \
	    echo "fuzz-$$t: $(FUZZ_SECONDS) s"; \
	    if $(FUZZ_DIR)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
		-timeout=30 -print_final_stats=1 \
		-dict=t/fuzz/$$t.dict \
		-artifact_prefix=$(FUZZ_DIR)/$$t- \
		$$work $$regress >$(FUZZ_DIR)/$$t.log 2>&1; then \
		grep -E '^#[0-9]+.*DONE' $(FUZZ_DIR)/$$t.log | tail -1; \
		grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
		    $(FUZZ_DIR)/$$t.log; \
	    else \
		tail -40 $(FUZZ_DIR)/$$t.log; fail="$$fail $$t"; \
	    fi; \
	done; \
	if [ -n "$$fail" ]; then \
	    echo "fuzz: failed:$$fail (inputs: $(FUZZ_DIR)/<target>-crash-*;" \
	        "see docs/fuzzing.md)"; exit 1; \
	fi

bench: need-deps
	@$(MAKE) --no-print-directory all
	t/bench/run

# The whole story without Asterisk: key server, two nodes, the emulator.
demo: need-deps
	@$(MAKE) --no-print-directory all
	t/demo/run

lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gets|system|popen|iniparser_getint)\s*\(' \
	    $(LIB_SRCS) $(AGI_SRCS) $(KS_SRCS) $(CTL_SRCS) lib/*.h agi/*.h

# Install into $(DESTDIR)$(PREFIX); install-files copies what is built.
UNITDIR	?= $(PREFIX)/lib/systemd/system
COMPDIR	?= $(PREFIX)/share/bash-completion/completions
install: all
	@$(MAKE) --no-print-directory install-files

install-files:
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)/etc/iaxkeyd \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 etc/iaxkeyd.conf $(DESTDIR)/etc/iaxkeyd/iaxkeyd.conf.sample
	install -m 0644 etc/iaxkey-server.conf \
	    $(DESTDIR)/etc/iaxkeyd/iaxkey-server.conf.sample
	install -m 0644 docs/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 etc/iaxkeyctl.bash-completion $(DESTDIR)$(COMPDIR)/iaxkeyctl
	for u in etc/*.service; do \
	    sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' $$u \
	        >$(DESTDIR)$(UNITDIR)/$${u#etc/} && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#etc/} || exit 1; \
	done

# Debian packages (README, "Packages"): dpkg-buildpackage -us -uc -b in a
# copy of the tree (the files git tracks plus new ones it does not ignore)
# under DEB_BUILD, so the working tree's objects and tests are left alone;
# the .deb, .buildinfo and .changes files land in DEB_OUT.  Nothing is
# written outside the tree.  deb installs the tools first (deb-build does
# not: t/3009 uses it); deb-lint runs lintian on the packages.
DEB_DEBPKGS = dpkg-dev debhelper lintian
DEB_BUILD  ?= $(CURDIR)/.deb-build
DEB_OUT	   ?= $(CURDIR)/dist
deb: need-deps
	@$(MAKE) --no-print-directory DEBPKGS='$(DEB_DEBPKGS)' deps
	@$(MAKE) --no-print-directory deb-build

deb-build:
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/iaxkeyd $(DEB_OUT)
	git ls-files -z -co --exclude-standard | \
	    tar --null -T - --ignore-failed-read -cf - | \
	    tar -xf - -C $(DEB_BUILD)/iaxkeyd
	cd $(DEB_BUILD)/iaxkeyd && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b -j2
	rm -f $(DEB_OUT)/iaxkey*.deb $(DEB_OUT)/iaxkeyd_*.buildinfo \
	    $(DEB_OUT)/iaxkeyd_*.changes
	mv $(DEB_BUILD)/*.deb $(DEB_BUILD)/*.buildinfo $(DEB_BUILD)/*.changes \
	    $(DEB_OUT)/
	rm -rf $(DEB_BUILD)
	@ls -l $(DEB_OUT)/*.deb

deb-lint:
	lintian --fail-on error,warning $(DEB_OUT)/iaxkeyd_*.deb \
	    $(DEB_OUT)/iaxkey-server_*.deb

clean:
	rm -f lib/*.o lib/*.a agi/*.o keyserver/*.o ctl/*.o t/lib/*.o $(PROGS) \
	    $(HELPERS) $(T_CTESTS) $(FUZZ_REPLAYS) .build-flags
	rm -rf t/trash.* $(FUZZ_DIR) .deb-build dist

# These include agi/config.c and keyserver/config.c to check the spec
# tables and the sample files.
t/0003-conf.t t/helper/conf-sample: agi/config.c agi/config.h \
    keyserver/config.c keyserver/ks.h
