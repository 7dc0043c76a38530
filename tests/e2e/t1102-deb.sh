#!/bin/bash
# make deb: a .deb that lintian finds no error in, whose Depends are exactly
# the packages of the libraries the binary links (dpkg-shlibdeps), with the
# libraries it loads with dlopen (libpq, libcurl, libmicrohttpd) recommended;
# `apt-get install ./sweepq_*.deb` installs it, then sweepq --version, man
# sweepq, bash-completion's loader and the quickstart work; the package is
# purged at the end, also when a check fails. Needs root (CI runs as root).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "# installing a package needs root: run as root (CI does)" >&2; exit 1; }
for tool in make dpkg-buildpackage dh lintian apt-get dpkg-deb readelf man; do
    command -v "$tool" >/dev/null || { echo "# $tool is missing: run scripts/install-deps" >&2; exit 1; }
done
installed() { dpkg-query -W -f='${db:Status-Abbrev}' sweepq 2>/dev/null | grep -q '^.[^n]'; }
if installed; then
    echo "# a sweepq package is installed on this machine already; this test would remove it" >&2
    exit 1
fi
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
purge() { installed && "${APT[@]}" purge sweepq >/dev/null 2>&1; true; }
trap 'purge; lib_cleanup' EXIT

expect 'make deb builds a package that lintian passes without errors' '
    make -s -C "$SQ_SOURCE_DIR" deb DEB_BUILD="$TEST_DIR/deb" JOBS=2 >deb.log 2>&1 &&
    ls deb/sweepq_*.deb >debs && test "$(wc -l <debs)" = 1 &&
    lintian --fail-on error "$(cat debs)" >lintian.out 2>&1
'
DEB=$(cat debs 2>/dev/null)

# owner PATH: the package that ships the library PATH (on a merged /usr,
# dpkg knows /lib/... for what ldconfig finds as /usr/lib/...).
owner() {
    local p
    p=$(readlink -f "$1")
    { dpkg -S "$p" 2>/dev/null || dpkg -S "${p#/usr}"; } | head -n 1 | cut -d: -f1
}

expect 'Depends names exactly the packages of the linked libraries; dlopened ones are recommended' '
    dpkg-deb -x "$DEB" x &&
    readelf -d x/usr/bin/sweepq | sed -n "s/.*Shared library: \[\(.*\)\]/\1/p" >needed &&
    test -s needed &&
    while read -r lib; do
        path=$(ldconfig -p | awk -v l="$lib" "\$1 == l { print \$NF; exit }") &&
        owner "$path"
    done <needed | sort -u >want &&
    dpkg-deb -f "$DEB" Depends | tr "," "\n" | sed "s/^ *//; s/ .*//" | sort -u >got &&
    diff want got &&
    for so in libpq.so.5 libcurl.so.4 libmicrohttpd.so.12; do
        path=$(ldconfig -p | awk -v l="$so" "\$1 == l { print \$NF; exit }") &&
        pkg=$(owner "$path") &&
        dpkg-deb -f "$DEB" Recommends | grep -qw "$pkg" || { echo "$so ($pkg) not recommended"; return 1; }
    done
'

expect 'apt-get install ./sweepq_*.deb installs it; sweepq --version is this build'"'"'s' '
    "${APT[@]}" install "./$DEB" >apt.out 2>&1 &&
    test "$(/usr/bin/sweepq --version)" = "$(sq --version)"
'

expect 'man sweepq and man sweepq-run work' '
    MANPAGER=cat MANWIDTH=100 man sweepq >man.out 2>&1 && grep -q "sweepq-run" man.out &&
    man -w sweepq-run | grep -q "^/usr/share/man/man1/sweepq-run.1"
'

expect 'bash-completion loads the completion on demand' '
    bash --norc -i -c ". /usr/share/bash-completion/bash_completion; _completion_loader sweepq; complete -p sweepq" \
        >comp.out 2>/dev/null &&
    grep -q "complete -F _sweepq sweepq" comp.out &&
    test -s /usr/share/zsh/vendor-completions/_sweepq &&
    test -s /usr/share/fish/vendor_completions.d/sweepq.fish
'

expect 'the installed quickstart runs with the installed sweepq' '
    cp -r /usr/share/doc/sweepq/examples/quickstart q && cd q &&
    { /usr/bin/sweepq run sweep.yaml -j 2 >run.out 2>&1; rc=$?; cd "$TEST_DIR"; test $rc = 0; } &&
    grep -q "quickstart: finished, 9 succeeded" q/run.out
'

expect 'apt-get purge removes it all' '
    "${APT[@]}" purge sweepq >purge.out 2>&1 &&
    ! installed && ! test -e /usr/bin/sweepq && ! test -e /usr/share/man/man1/sweepq.1.gz
'

finish
