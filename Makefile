# iaxkeyd: build, run, test, check (sanitizers), bench, install.
# Objects are built in place; a change of compiler flags (e.g. SANITIZE=)
# rebuilds everything through the .build-flags stamp.

CC	?= cc
PKGS	 = libevent libevent_openssl openssl libcurl sqlite3
DEBPKGS	 = build-essential pkg-config libevent-dev libssl-dev \
	   libcurl4-openssl-dev libiniparser-dev libsqlite3-dev openssl \
	   netcat-openbsd sqlite3
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
PROGS	  = agi/iaxkeyd $(if $(KS_SRCS),keyserver/iaxkey-server)

.SECONDARY: t/lib/tap.o
.PHONY: all deps need-deps run test check bench install install-files clean \
	lint demo
all: $(PROGS) $(HELPERS) $(T_CTESTS)

# Rebuild everything when the flags change.
.build-flags: FORCE
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || \
	    echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

%.o: %.c .build-flags $(wildcard lib/*.h agi/*.h keyserver/*.h t/lib/*.h)
	$(CC) $(CFLAGS) -c -o $@ $<

lib/libiaxkey.a: $(LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

agi/iaxkeyd: $(AGI_OBJS) lib/libiaxkey.a
	$(CC) $(LDFLAGS) -o $@ $(AGI_OBJS) lib/libiaxkey.a $(LDLIBS)

keyserver/iaxkey-server: $(KS_OBJS) lib/libiaxkey.a
	$(CC) $(LDFLAGS) -o $@ $(KS_OBJS) lib/libiaxkey.a $(LDLIBS)

t/%.t: t/%.c t/lib/tap.o lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< t/lib/tap.o lib/libiaxkey.a $(LDLIBS)

# 2xxx: the daemon's objects without main and the route table.
T_AGI_OBJS = $(filter-out agi/iaxkeyd.o agi/route.o,$(AGI_OBJS))
t/2%.t: t/2%.c $(T_AGI_OBJS) t/lib/tap.o lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(T_AGI_OBJS) t/lib/tap.o \
	    lib/libiaxkey.a $(LDLIBS)

t/helper/%: t/helper/%.c lib/libiaxkey.a .build-flags
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libiaxkey.a $(LDLIBS)

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
	    && command -v sqlite3 >/dev/null \
	    || $(MAKE) --no-print-directory deps

run: need-deps
	@$(MAKE) --no-print-directory all
	mkdir -p run/asterisk run/keys
	./agi/iaxkeyd -d -f etc/iaxkeyd.local.conf

test: need-deps
	@$(MAKE) --no-print-directory all
	prove --exec '' -j$(PROVE_JOBS) t/*.t

# The whole suite again under AddressSanitizer and UBSan, in place.
check: need-deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    prove --exec '' -j$(PROVE_JOBS) t/*.t
	@$(MAKE) --no-print-directory all

bench: need-deps
	@$(MAKE) --no-print-directory all
	t/bench/run

# The whole story without Asterisk: key server, two nodes, the emulator.
demo: need-deps
	@$(MAKE) --no-print-directory all
	t/demo/run

lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gets|system|popen|iniparser_getint)\s*\(' \
	    $(LIB_SRCS) $(AGI_SRCS) $(KS_SRCS) lib/*.h agi/*.h

# Install into $(DESTDIR)$(PREFIX); install-files copies what is built.
UNITDIR	?= $(PREFIX)/lib/systemd/system
install: all
	@$(MAKE) --no-print-directory install-files

install-files:
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)/etc/iaxkeyd \
	    $(DESTDIR)$(UNITDIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 etc/iaxkeyd.conf $(DESTDIR)/etc/iaxkeyd/iaxkeyd.conf.sample
	install -m 0644 etc/iaxkey-server.conf \
	    $(DESTDIR)/etc/iaxkeyd/iaxkey-server.conf.sample
	install -m 0644 docs/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	for u in etc/*.service; do \
	    sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' $$u \
	        >$(DESTDIR)$(UNITDIR)/$${u#etc/} && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#etc/} || exit 1; \
	done

clean:
	rm -f lib/*.o lib/*.a agi/*.o keyserver/*.o t/lib/*.o $(PROGS) \
	    $(HELPERS) $(T_CTESTS) .build-flags
	rm -rf t/trash.*

# These include agi/config.c to check the spec table and the sample file.
t/0003-conf.t t/helper/conf-sample: agi/config.c agi/config.h
