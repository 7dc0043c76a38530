/*
 * agent_output.c - print an agent's events as plain lines or a progress
 * line; see agent_output.h.
 */
#include "util/common.h"

#include "cmd/agent_output.h"

#include "cmd/exitcodes.h"
#include "cmd/report.h"
#include "util/text.h"
#include "util/timeutil.h"

#define DRAW_PERIOD 0.25

void agent_output_init(agent_output *o, store *st, const char **sweeps, size_t nsweeps,
                       bool progress, bool starts, double grace)
{
    memset(o, 0, sizeof *o);
    o->st = st;
    o->sweeps = sweeps;
    o->nsweeps = nsweeps;
    o->progress = progress;
    o->multi = nsweeps != 1;
    o->starts = starts;
    o->grace = grace > 0 ? grace : 10;
    o->t0 = time_mono();
}

static void erase(agent_output *o)
{
    if (o->line_shown) {
        fputs("\r\033[K", stderr);
        o->line_shown = false;
    }
}

void agent_output_done(agent_output *o)
{
    erase(o);
    fflush(stderr);
}

/* "trial 3" or "sweep/3" when several sweeps run. */
static const char *who(const agent_output *o, const agent_event *ev, char *buf, size_t size)
{
    if (o->multi && ev->sweep)
        snprintf(buf, size, "%s trial %llu", ev->sweep, (unsigned long long)ev->trial);
    else
        snprintf(buf, size, "trial %llu", (unsigned long long)ev->trial);
    return buf;
}

static void draw(agent_output *o, bool force)
{
    double now = time_mono();
    if (!o->progress || (!force && now - o->last_draw < DRAW_PERIOD))
        return;
    o->last_draw = now;
    uint64_t done = 0, total = 0, running = 0, failed = 0;
    for (size_t i = 0; i < o->nsweeps; i++) {
        store_sweep *s = NULL;
        if (store_get_sweep(o->st, o->sweeps[i], &s) != 0)
            return; /* busy: draw at the next tick */
        const store_counts *c = &s->counts;
        uint64_t d = c->succeeded + c->failed + c->cancelled + c->stopped;
        uint64_t all = d + c->pending + c->running;
        done += d;
        total += s->total > all ? s->total : all;
        running += c->running;
        failed += c->failed;
        store_sweep_free(s);
    }
    if (!o->have_start) {
        o->done_at_start = done;
        o->have_start = true;
    }
    double elapsed = now - o->t0;
    double rate = elapsed > 0.5 ? (double)(done - o->done_at_start) / elapsed : 0;
    char eta[32] = "-", rate_text[48];
    if (rate > 0 && total > done)
        report_duration((double)(total - done) / rate, eta, sizeof eta);
    if (rate >= 1)
        snprintf(rate_text, sizeof rate_text, "%.1f/s", rate);
    else
        snprintf(rate_text, sizeof rate_text, "%.1f/min", rate * 60);
    strbuf line = SB_INIT;
    report_bar(&line, done, total, 20);
    sb_addf(&line, " %llu/%llu done, %llu running, %llu failed, %s, ETA %s",
            (unsigned long long)done, (unsigned long long)total, (unsigned long long)running,
            (unsigned long long)failed, rate_text, eta);
    fprintf(stderr, "\r\033[K%s", sb_str(&line));
    fflush(stderr);
    sb_release(&line);
    o->line_shown = true;
}

static void finished(agent_output *o, const agent_event *ev)
{
    const store_result *r = ev->result;
    char name[256], took[32];
    who(o, ev, name, sizeof name);
    report_duration(ev->elapsed, took, sizeof took);
    if (r->outcome == OUTCOME_SUCCEEDED) {
        if (o->progress)
            return; /* the progress line says it */
        char *m = r->metrics_json ? report_kv_brief(r->metrics_json) : NULL;
        fprintf(stderr, "%s succeeded in %s%s%s\n", name, took, m && *m ? ": " : "", m ? m : "");
        free(m);
        return;
    }
    /* The error quotes the trial's output: never print its escapes live. */
    char *error = text_printable_str(r->error);
    switch (r->outcome) {
    case OUTCOME_PREEMPTED:
        fprintf(stderr, "%s stopped after %s; it goes back to pending\n", name, took);
        break;
    case OUTCOME_CANCELLED: fprintf(stderr, "%s cancelled after %s\n", name, took); break;
    case OUTCOME_STOPPED:
        fprintf(stderr, "%s %s after %s\n", name, error ? error : "stopped early", took);
        break;
    case OUTCOME_TIMED_OUT:
        fprintf(stderr, "%s attempt %d %s\n", name, ev->attempt, error ? error : "timed out");
        break;
    default:
        fprintf(stderr, "%s attempt %d failed after %s: %s\n", name, ev->attempt, took,
                error ? error : "failed");
        break;
    }
    free(error);
}

/* A line of a trial's output, prefixed with its trial, escapes shown as
 * text: the prefix and the progress line must stay where they are. */
static void print_output(const agent_output *o, const agent_event *ev)
{
    char *line = text_printable_str(ev->text);
    if (o->multi)
        printf("[%s/%llu] %s\n", ev->sweep, (unsigned long long)ev->trial, line);
    else
        printf("[%llu] %s\n", (unsigned long long)ev->trial, line);
    free(line);
}

/* Warnings may quote a trial's output or a stored name. */
static void print_warning(const char *text)
{
    char *line = text_printable_str(text);
    fprintf(stderr, "sweepq: warning: %s\n", line);
    free(line);
}

void agent_output_event(const agent_event *ev, void *ud)
{
    agent_output *o = ud;
    char name[256];
    switch (ev->type) {
    case AGENT_EV_TICK: draw(o, false); return;
    case AGENT_EV_OUTPUT:
        erase(o);
        print_output(o, ev);
        return;
    case AGENT_EV_STARTED:
        if (!o->starts || ev->result) /* a start that failed is reported as finished */
            return;
        erase(o);
        fprintf(stderr, "%s attempt %d started: %s\n", who(o, ev, name, sizeof name), ev->attempt,
                ev->text ? ev->text : "");
        return;
    case AGENT_EV_FINISHED:
        if (o->progress && ev->result->outcome == OUTCOME_SUCCEEDED) {
            draw(o, false);
            return;
        }
        erase(o);
        finished(o, ev);
        break;
    case AGENT_EV_LOST:
        erase(o);
        fprintf(stderr,
                "%s attempt %d: lease lost (the trial was given to another agent); its "
                "process was killed and nothing was recorded\n",
                who(o, ev, name, sizeof name), ev->attempt);
        break;
    case AGENT_EV_DRAINING:
        erase(o);
        if (ev->running == 0)
            fputs("sweepq: interrupted; no trial was running\n", stderr);
        else
            fprintf(stderr,
                    "sweepq: finishing %zu running trial%s; press Ctrl-C again to stop them\n",
                    ev->running, ev->running == 1 ? "" : "s");
        break;
    case AGENT_EV_STOPPING: {
        char g[32];
        erase(o);
        if (ev->running == 0) {
            fputs("sweepq: stopping; no trial was running\n", stderr);
            break;
        }
        fprintf(stderr,
                "sweepq: stopping %zu running trial%s (%s, then SIGKILL after %s); they go back "
                "to pending\n",
                ev->running, ev->running == 1 ? "" : "s", ev->text,
                report_duration(o->grace, g, sizeof g));
        break;
    }
    case AGENT_EV_WARNING:
        erase(o);
        print_warning(ev->text);
        break;
    case AGENT_EV_HOOK:
        erase(o);
        if (!ev->result) {
            fprintf(stderr, "sweepq: running on_complete of sweep '%s': %s\n", ev->sweep, ev->text);
        } else {
            char st[64];
            if (ev->result->exit_code >= 0)
                snprintf(st, sizeof st, "exit status %d", ev->result->exit_code);
            else
                snprintf(st, sizeof st, "killed by signal %d", ev->result->term_signal);
            fprintf(stderr, "sweepq: on_complete of sweep '%s' ended: %s\n", ev->sweep, st);
        }
        break;
    }
    fflush(stderr);
    draw(o, true);
}

int agent_host_failed_exit(const agent_summary *sum)
{
    fprintf(stderr,
            "sweepq: agent stopped: this machine cannot write the trials' files (the "
            "warnings above say why); %llu trials were given back without using a try, "
            "and other agents run them. Free disk space or inodes, or make the project "
            "writable, then start the agent again.\n",
            (unsigned long long)sum->preempted);
    return EXIT_HOST;
}
