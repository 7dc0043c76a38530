# sweepq - top-level entry points. `make demo` and `make test` are the
# README's quick start; both install missing Debian packages first.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
CLANG_BUILD ?= build-clang
FUZZ_SECONDS ?= 30
# Warnings are errors in the project's own checks (make test, .ci/run) only;
# a plain `make` or a packager's build does not break on a new warning.
WERROR ?= OFF

# make install: PREFIX=$$HOME/.local needs no root; DESTDIR stages for a package.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build compile demo test unit e2e asan fuzz release clang bench format clean \
	install uninstall deb

all: build

deps:
	@scripts/install-deps

build: deps
	$(MAKE) compile WERROR=$(WERROR)

# The build alone, without installing packages (what make install needs).
compile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQ_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The binary, man pages (sweepq(1), sweepq-VERB(1)), bash/zsh/fish
# completions, README, docs and examples under $(DESTDIR)$(PREFIX).
# An existing build is used as configured (the tests install from it).
install:
	[ -f "$(BUILD)/CMakeCache.txt" ] || $(MAKE) compile
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Removes what make install put under $(DESTDIR)$(PREFIX) (same PREFIX and
# DESTDIR), and the directories that leaves empty.
uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/sweepq" \
	  "$(DESTDIR)$(PREFIX)"/share/man/man1/sweepq.1 "$(DESTDIR)$(PREFIX)"/share/man/man1/sweepq-*.1 \
	  "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/sweepq" \
	  "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_sweepq" \
	  "$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_sweepq" \
	  "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sweepq.fish"
	rm -rf "$(DESTDIR)$(PREFIX)/share/doc/sweepq"
	for d in bin share/man/man1 share/man share/bash-completion/completions share/bash-completion \
	  share/zsh/site-functions share/zsh/vendor-completions share/zsh \
	  share/fish/vendor_completions.d share/fish share/doc share; do \
	  rmdir "$(DESTDIR)$(PREFIX)/$$d" 2>/dev/null || true; done

demo: build
	@scripts/demo $(BUILD)/sweepq

# Unit and end-to-end tests, then the unit tests again under ASan+UBSan, in
# a gcc Release (-O3) build and in a clang build, then the fuzzers for a
# bounded time. Every build treats warnings as errors.
test: WERROR = ON
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) asan release clang fuzz WERROR=ON

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSQ_SANITIZE=ON -DSQ_WERROR=$(WERROR) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -L unit -j $(JOBS)

# The unit tests built as distributions build: gcc with -O3 (Release), whose
# optimiser warns about more than -O2 does.
release: deps
	CC=gcc cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DSQ_WERROR=$(WERROR) >/dev/null
	cmake --build $(RELEASE_BUILD) -j $(JOBS)
	cd $(RELEASE_BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# The unit tests built with clang, whose warnings differ from gcc's.
clang: deps
	CC=clang cmake -S . -B $(CLANG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQ_WERROR=$(WERROR) >/dev/null
	cmake --build $(CLANG_BUILD) -j $(JOBS)
	cd $(CLANG_BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSQ_SANITIZE=ON -DSQ_FUZZ=ON -DSQ_WERROR=$(WERROR) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	bench/run-all $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD) $(CLANG_BUILD)

# A Debian package (debian/) built from a copy of this tree in $(DEB_BUILD),
# so the .deb, .buildinfo and .changes land there and not beside the tree;
# lintian must find no error in it.
DEB_BUILD ?= build-deb
deb:
	rm -rf "$(DEB_BUILD)" && mkdir -p "$(DEB_BUILD)/sweepq"
	tar -c --exclude='./build*' --exclude=./.git --exclude=./node_modules \
	  --exclude='./$(DEB_BUILD)' . | tar -x -C "$(DEB_BUILD)/sweepq"
	cd "$(DEB_BUILD)/sweepq" && DEB_BUILD_OPTIONS="parallel=$(JOBS) nocheck" \
	  dpkg-buildpackage -us -uc -b
	lintian --fail-on error "$(DEB_BUILD)"/sweepq_*.deb
	@ls "$(DEB_BUILD)"/sweepq_*.deb
