/*
 * watch.h - the redraw loop of the --watch verbs (status, queue): render a
 * screen, write it, sleep the interval unless interrupted, until the verb
 * says there is nothing left to watch, rendering fails, or Ctrl-C.
 *
 * Invariants:
 *   - A screen is rendered whole into memory before any of it is written,
 *     so a redraw never shows half a screen.
 *   - On a terminal each screen replaces the last, under a one-line title;
 *     otherwise screens follow each other, separated by a blank line (none
 *     between JSON documents, which stand on their own).
 *   - SIGINT and SIGTERM only set a flag: the screen being drawn is
 *     finished and the loop returns.
 */
#ifndef SQ_WATCH_H
#define SQ_WATCH_H

#include <stdbool.h>
#include <stdio.h>

/* Renders one screen into f. Returns an exit code (EXIT_OK to go on) and
 * sets *again to whether there is still something to watch. */
typedef int (*watch_render_fn)(FILE *f, void *ctx, bool *again);

typedef struct watch_opts {
    const char *title;  /* terminal title: "sweepq status, every 2s" */
    bool clock;         /* the local time after the title */
    bool json;          /* screens are JSON documents: no title, no gap */
    bool show_failures; /* a screen whose render failed is still written */
    double interval;    /* seconds to wait after each screen */
} watch_opts;

/*
 * Redraws render(ctx) on stdout every o->interval seconds until it returns
 * something else than EXIT_OK, sets *again to false, or a SIGINT/SIGTERM
 * arrives (then it returns after the current screen). Installs handlers for
 * both signals for the rest of the process. Returns the last render's exit
 * code (EXIT_OK when interrupted between screens).
 */
int watch_run(const watch_opts *o, watch_render_fn render, void *ctx);

#endif
