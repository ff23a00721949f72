# doppel: one GNU Makefile (STYLE.md rule 32).
#
#   make                 build/doppel (release, -O2)
#   make check           deps, ASan+UBSan build, unit tests (cmocka), e2e tests (pytest)
#   make SANITIZE=address,undefined   a sanitizer build in build/san/
#   make fuzz            libFuzzer targets (clang) in build/fuzz/
#   make demo            replay the bundled sample traffic and print the stats
#   make install         PREFIX=/usr/local DESTDIR=
#   make deps            install the Debian 12 packages the build and tests need

PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
PYTHON   ?= /usr/bin/python3
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SANITIZE),)
B        := build
OPT      := -O2
else
B        := build/san
OPT      := -O1 -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo 1)
WARN := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wmissing-declarations -Wold-style-definition -Wredundant-decls -Wpointer-arith \
        -Wcast-qual -Wcast-align -Wwrite-strings -Wundef -Wvla -Wformat=2 -Wformat-security \
        -Wnull-dereference -Wimplicit-fallthrough -Wconversion -Wno-sign-conversion \
        -Wdouble-promotion
ifeq ($(IS_CLANG),1)
WARN += -Wshorten-64-to-32 -Wcomma -Wconditional-uninitialized -Wmissing-variable-declarations
else
WARN += -Wlogical-op -Wduplicated-cond -Wduplicated-branches
endif

PKGS     := libuv zlib libpcap openssl libpcre2-8 lua5.4
PKG_CF   := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -DDP_VERSION='"$(VERSION)"' -Isrc
CFLAGS   ?= -g
CFLAGS   += -std=c17 $(OPT) $(WARN) -MMD -MP $(PKG_CF)
LDFLAGS  += $(if $(SANITIZE),-fsanitize=$(SANITIZE))
LDLIBS   += $(PKG_LIBS) -lm -lpthread

SRC      := $(sort $(shell find src -name '*.c'))
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_SUP := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/replay/%)

.PHONY: all tests check unit e2e fuzz fuzz-replay demo install deps checksrc clean bench
all: $(B)/doppel

$(B)/doppel: $(B)/obj/src/main.o $(B)/libdoppel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libdoppel.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Unit tests: one cmocka binary per tests/unit/test_<module>.c, linked with the library.
$(B)/tests/%: tests/unit/%.c $(TEST_SUP) $(B)/libdoppel.a
	@mkdir -p $(@D)
	@echo "  TEST $@"
	@$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -o $@ $< $(TEST_SUP) $(B)/libdoppel.a \
		$(LDFLAGS) $(LDLIBS) -lcmocka

# gcc/ASan replay of every fuzz target over its seed corpus (rule 30).
$(B)/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(B)/libdoppel.a
	@mkdir -p $(@D)
	@echo "  REPLAY $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(B)/libdoppel.a $(LDFLAGS) $(LDLIBS)

tests: $(B)/doppel $(UNIT_BIN) $(REPLAY_BIN)

check: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined tests
	@$(MAKE) --no-print-directory all
	@scripts/checksrc
	@DOPPEL=$(CURDIR)/build/san/doppel DOPPEL_RELEASE=$(CURDIR)/build/doppel PYTHON=$(PYTHON) \
		scripts/run-tests build/san

unit: 
	@$(MAKE) --no-print-directory SANITIZE=address,undefined tests
	@scripts/run-tests --unit-only build/san

# libFuzzer targets: clang, the library rebuilt with coverage instrumentation.
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz:
	@$(MAKE) --no-print-directory CC=clang B=build/fuzz-lib OPT="$(FUZZ_FLAGS)" \
		build/fuzz-lib/libdoppel.a
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); echo "  FUZZ $$n"; \
		clang $(CPPFLAGS) -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CF) \
			-o build/fuzz/$$n $$f build/fuzz-lib/libdoppel.a $(PKG_LIBS) -lm -lpthread \
			|| exit 1; \
	done

demo: deps all
	@scripts/demo

deps:
	@scripts/deps --ensure

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 build/doppel $(DESTDIR)$(PREFIX)/bin/doppel
	install -m 0644 docs/doppel.1 $(DESTDIR)$(PREFIX)/share/man/man1/doppel.1

checksrc:
	@scripts/checksrc

bench: all
	@bench/file_throughput.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
