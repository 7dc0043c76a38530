/*
 * agent_output.h - how `sweepq run` and `sweepq agent` show what their agent
 * does: one plain line per event on stderr ("trial 3 succeeded in 1.2s:
 * loss=0.1"), or, for run on a terminal, one progress line redrawn in place
 * (done/total, running, failed, rate, ETA) with only failures and notices
 * printed above it. --show-output lines go to stdout, prefixed "[N] ".
 *
 * Invariant: the progress line, when shown, is the last thing on the
 * terminal; everything else printed first erases it, and the next tick
 * draws it again.
 */
#ifndef SQ_AGENT_OUTPUT_H
#define SQ_AGENT_OUTPUT_H

#include "agent/agent.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct agent_output {
    store *st;           /* for the progress line's counts (borrowed) */
    const char **sweeps; /* the sweeps the progress line counts (borrowed) */
    size_t nsweeps;
    bool progress; /* draw a progress line (run, stderr is a terminal) */
    bool multi;    /* several sweeps: name them in each line */
    bool starts;   /* print a line when a trial starts (agent) */
    double grace;  /* for the stop notice */
    /* state */
    double t0, last_draw;
    uint64_t done_at_start;
    bool have_start;
    bool line_shown;
} agent_output;

/* Fills o; st and sweeps are borrowed for as long as o is used. */
void agent_output_init(agent_output *o, store *st, const char **sweeps, size_t nsweeps,
                       bool progress, bool starts, double grace);

/* The agent_event_fn: prints ev (ud is the agent_output). */
void agent_output_event(const agent_event *ev, void *ud);

/* Erases the progress line if shown (before the final summary). */
void agent_output_done(agent_output *o);

/* For agent_run's end with sum->host_failed: says what happened and what
 * to do on stderr and returns EXIT_HOST. */
int agent_host_failed_exit(const agent_summary *sum);

#endif
