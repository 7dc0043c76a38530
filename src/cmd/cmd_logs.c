/*
 * cmd_logs.c - `sweepq logs SWEEP TRIAL [-f] [--attempt K]`: print an
 * attempt's log, .sweepq/sweeps/NAME/trials/N/attempt-K.log (default: the
 * latest attempt), and with -f keep printing what is appended while the
 * trial runs.
 *
 * Following polls both the file and the trial's state (no inotify: the log
 * may be on NFS, written by an agent on another machine). It stops once the
 * trial is in a final state and the file is drained. Without --attempt it
 * moves on to the next attempt's log when the trial is retried.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/timeutil.h"

#include <errno.h>
#include <limits.h>

#define POLL_SECONDS 0.25

static const sq_usage usage = {
    "logs",
    "[options] SWEEP TRIAL",
    "print a trial's output (stdout and stderr) from its latest or a chosen attempt",
    "The log of attempt K of trial N is .sweepq/sweeps/SWEEP/trials/N/attempt-K.log.\n"
    "-f follows it while the trial runs and stops when the trial is finished;\n"
    "without --attempt it follows the trial's retries too. --json prints\n"
    "{\"sweep\", \"trial\", \"attempt\", \"path\", \"log\"} (not with -f).",
    true,
};

static bool is_final(trial_state s)
{
    return s == TRIAL_SUCCEEDED || s == TRIAL_FAILED || s == TRIAL_CANCELLED;
}

/* Copies what f has beyond its position to stdout. */
static void drain(FILE *f)
{
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    clearerr(f); /* forget EOF so the next poll reads what was appended */
    fflush(stdout);
}

static char *log_path(const workspace *ws, const char *sweep, uint64_t number, int attempt)
{
    char *dir = workspace_trial_dir(ws, sweep, number);
    char *p = xasprintf("%s/attempt-%d.log", dir, attempt);
    free(dir);
    return p;
}

/* Follows the trial until it is final. *attempt may advance when !pinned. */
static int follow(const workspace *ws, store *st, const char *sweep, uint64_t number, int attempt,
                  bool pinned)
{
    FILE *f = NULL;
    char *path = log_path(ws, sweep, number, attempt);
    int code = EXIT_OK;
    for (;;) {
        if (!f)
            f = fopen(path, "r");
        if (f)
            drain(f);
        store_trial *t = NULL;
        int rc = store_get_trial(st, sweep, number, &t);
        if (rc) {
            code = open_store_fail(rc, "read trial %llu of sweep '%s'", (unsigned long long)number,
                                   sweep);
            break;
        }
        bool done = is_final(t->state);
        int latest = t->attempt;
        store_trial_free(t);
        if (!pinned && latest > attempt) {
            /* A retry began: finish this log, then go on with the next. */
            if (f) {
                drain(f);
                fclose(f);
                f = NULL;
            }
            attempt = latest;
            free(path);
            path = log_path(ws, sweep, number, attempt);
            printf("--- attempt %d ---\n", attempt);
            continue;
        }
        if (done || (pinned && latest > attempt)) {
            if (!f)
                f = fopen(path, "r");
            if (f)
                drain(f);
            break;
        }
        time_sleep(POLL_SECONDS);
    }
    if (f)
        fclose(f);
    free(path);
    return code;
}

/* The whole log as one JSON object. */
static int print_json(const char *sweep, uint64_t number, int attempt, const char *path)
{
    strbuf text = SB_INIT;
    int rc = sb_read_file(&text, path);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        sb_release(&text);
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
    }
    json_t *o = json_pack("{s:s, s:I, s:i, s:s, s:s%}", "sweep", sweep, "trial", (json_int_t)number,
                          "attempt", attempt, "path", path, "log", sb_str(&text), text.len);
    sb_release(&text);
    if (!o) {
        fprintf(stderr, "sweepq: cannot print the log '%s' as JSON: it is not valid UTF-8\n", path);
        return EXIT_FAILED;
    }
    report_json_print(stdout, o);
    return EXIT_OK;
}

int cmd_logs(int argc, char **argv)
{
    bool follow_mode = false;
    int attempt = 0;
    const sq_option opts[] = {
        OPT_BOOL('f', "follow", &follow_mode, "keep printing while the trial runs"),
        OPT_INT('a', "attempt", &attempt, "K", "the attempt's log (default: the latest)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs < 2)
        return options_usage_error(&usage, nargs ? "missing TRIAL" : "missing SWEEP and TRIAL");
    if (nargs > 2)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[2]);
    char *end;
    errno = 0;
    unsigned long long number = strtoull(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || number == 0 || argv[1][0] == '-')
        return options_usage_error(&usage, "TRIAL must be a trial number (1, 2, ...), not '%s'",
                                   argv[1]);
    if (attempt < 0)
        return options_usage_error(&usage, "option '--attempt' expects a number >= 1");
    if (follow_mode && g.json)
        return options_usage_error(&usage, "--json prints a whole log; it cannot follow (-f)");

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    store_trial *t = NULL;
    char *path = NULL;
    FILE *f = NULL;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    code = open_store_sweep(st, argv[0], &sw);
    if (code)
        goto out;
    rc = store_get_trial(st, argv[0], number, &t);
    if (rc == SQ_ENOTFOUND) {
        fprintf(stderr, "sweepq: sweep '%s' has no trial %llu; see 'sweepq trials %s'\n", argv[0],
                number, argv[0]);
        code = EXIT_NOTFOUND;
        goto out;
    }
    if (rc) {
        code = open_store_fail(rc, "read trial %llu of sweep '%s'", number, argv[0]);
        goto out;
    }
    bool pinned = attempt > 0;
    if (!pinned)
        attempt = t->attempt;
    if (attempt > t->attempt || (attempt == 0 && !follow_mode)) {
        if (t->attempt == 0)
            fprintf(stderr, "sweepq: trial %llu of sweep '%s' has not run yet, so it has no log\n",
                    number, argv[0]);
        else
            fprintf(stderr, "sweepq: trial %llu of sweep '%s' has no attempt %d (it has %d)\n",
                    number, argv[0], attempt, t->attempt);
        code = EXIT_NOTFOUND;
        goto out;
    }
    if (follow_mode) {
        if (attempt == 0) /* not started yet: follow from its first attempt */
            attempt = 1;
        code = follow(&ws, st, argv[0], number, attempt, pinned);
        goto out;
    }
    path = log_path(&ws, argv[0], number, attempt);
    if (g.json) {
        code = print_json(argv[0], number, attempt, path);
        goto out;
    }
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sweepq: cannot open the log '%s': %s\n", path, strerror(errno));
        code = EXIT_NOTFOUND;
        goto out;
    }
    drain(f);
out:
    if (f)
        fclose(f);
    free(path);
    store_trial_free(t);
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    return code;
}
