/*
 * assets.h - the dashboard's static files, embedded in the binary.
 *
 * The table is generated at build time by cmake/embed.cmake from the files
 * under web/ (cmake/web_assets.cmake wires it into sq_server), so `serve` is
 * one file to deploy. Invariants: every entry's data is NUL-terminated one
 * byte past len (so text assets can be used as C strings), paths are unique,
 * and the table never changes at run time.
 *
 * URL paths: web/index.html is "/" and "/index.html"; every other file
 * web/REL is "/assets/REL" (e.g. "/assets/app.js",
 * "/assets/vendor/uPlot.iife.min.js"). Licence files are not served.
 * Assets need no token (api-contract.md): they hold no data.
 */
#ifndef SQ_SERVER_ASSETS_H
#define SQ_SERVER_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;         /* URL path, e.g. "/assets/app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} web_asset;

/* The asset served at URL path `path` ("/" and "/index.html" give the page;
 * a query string or fragment after the path is ignored), or NULL when there
 * is none. Returns a borrowed pointer into a static table. */
const web_asset *web_asset_find(const char *path);

#endif
