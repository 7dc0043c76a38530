#!/usr/bin/env bash
# t0731-web-assets-build: the build step that embeds web/ in the binary
# (cmake/web_assets.cmake + cmake/embed.cmake), in a small CMake project of
# its own: every byte value survives, each asset is NUL-terminated past its
# length, paths map as src/server/assets.h says, a query string is ignored,
# an edited file is rebuilt into the binary, a new file is picked up on the
# next build, and a web/ without index.html or with a file of unknown type
# is refused with a message.
. "$(dirname "$0")/lib.sh"

# A project that includes web_assets.cmake as CMakeLists.txt does, with a
# one-file sq_server and a program that prints what web_asset_find gives.
mkdir -p proj/src/server proj/web/vendor/lib proj/cmake
cp "$SQ_SOURCE_DIR/src/server/assets.h" proj/src/server/
cp "$SQ_SOURCE_DIR/cmake/web_assets.cmake" "$SQ_SOURCE_DIR/cmake/embed.cmake" proj/cmake/
cat >proj/CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(webtest C)
add_compile_options(-Wall -Wextra -Werror)
add_library(sq_server STATIC src/server/uses.c)
target_include_directories(sq_server PUBLIC src)
include(cmake/web_assets.cmake)
add_executable(dump dump.c)
target_link_libraries(dump PRIVATE sq_server)
EOF
cat >proj/src/server/uses.c <<'EOF'
#include "server/assets.h"
const web_asset *find(const char *path) { return web_asset_find(path); }
EOF
# dump PATH OUT: writes the asset's bytes to OUT, prints its content type;
# exit 3 when there is none, 4 when the byte past its end is not NUL.
cat >proj/dump.c <<'EOF'
#include <stdio.h>
#include "server/assets.h"
const web_asset *find(const char *path);
int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const web_asset *a = find(argv[1]);
    if (!a)
        return 3;
    if (a->data[a->len] != 0)
        return 4;
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(a->data, 1, a->len, f) != a->len || fclose(f) != 0)
        return 1;
    printf("%s\n", a->content_type);
    return 0;
}
EOF
echo '<!doctype html><title>t</title>' >proj/web/index.html
echo 'console.log("one");' >proj/web/app.js
"$PYTHON" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 3)' >proj/web/all-bytes.png
printf 'MIT licence text\n' >proj/web/vendor/lib/LICENSE
printf '.x{color:red}' >proj/web/vendor/lib/lib.css

build() { cmake --build build >build.out 2>&1 || { cat build.out; return 1; }; }
# not_served PATH: web_asset_find gives NULL for PATH.
not_served() {
    build/dump "$1" /dev/null
    test $? = 3
}

expect 'the project configures and builds' '
    cmake -S proj -B build >configure.out 2>&1 &&
    build
'

expect 'index.html is / and /index.html, text/html' '
    test "$(build/dump / out1)" = "text/html; charset=utf-8" &&
    cmp out1 proj/web/index.html &&
    build/dump /index.html out2 >/dev/null &&
    cmp out2 proj/web/index.html
'

expect 'every byte value survives, with a NUL past the end' '
    test "$(build/dump /assets/all-bytes.png out3)" = image/png &&
    cmp out3 proj/web/all-bytes.png
'

expect 'files below web/ are under /assets/, a query string is ignored' '
    test "$(build/dump "/assets/vendor/lib/lib.css?v=2" out4)" = "text/css; charset=utf-8" &&
    cmp out4 proj/web/vendor/lib/lib.css &&
    test "$(build/dump /assets/app.js out5)" = "text/javascript; charset=utf-8"
'

expect 'licence files and unknown paths are not served' '
    not_served /assets/vendor/lib/LICENSE &&
    not_served /assets/nothing.js &&
    not_served /app.js &&
    not_served "" 
'

expect 'an edited file is rebuilt into the binary' '
    echo "console.log(\"two\");" >proj/web/app.js &&
    build &&
    build/dump /assets/app.js out9 >/dev/null &&
    cmp out9 proj/web/app.js
'

expect 'a new file is picked up on the next build' '
    echo "body{}" >proj/web/extra.css &&
    build &&
    build/dump /assets/extra.css out10 >/dev/null &&
    cmp out10 proj/web/extra.css
'

expect 'a file of unknown type is refused, naming it' '
    echo "{}" >data.txt &&
    must_fail cmake -DWEB_DIR=proj/web -DOUT=gen.c "-DFILES=proj/web/index.html;$TEST_DIR/data.txt" \
        -P proj/cmake/embed.cmake >unknown.out 2>&1 &&
    grep -q "no content type for" unknown.out &&
    grep -q "/data.txt" unknown.out
'

expect 'a web/ without index.html is refused' '
    mkdir empty &&
    must_fail cmake -DWEB_DIR=empty -DOUT=gen.c -DFILES= -P proj/cmake/embed.cmake >noindex.out 2>&1 &&
    grep -q "empty/index.html" noindex.out &&
    grep -q "is missing; the dashboard needs its page" noindex.out
'

finish
