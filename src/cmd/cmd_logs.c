/*
 * cmd_logs.c - `sweepq logs SWEEP TRIAL [-f] [--attempt K]`: print an
 * attempt's log, .sweepq/sweeps/NAME/trials/N/attempt-K.log (default: the
 * latest attempt), and with -f keep printing what is appended while the
 * trial runs.
 *
 * When that file is not here (the trial ran on another machine, or its
 * directory was removed) the log's tail that the agent shipped to the store
 * is printed instead (store_get_log, at most STORE_LOG_MAX bytes), with a
 * one-line note on stderr saying so. The file always wins: it is the whole
 * log, the stored tail only its end.
 *
 * Following polls both the log and the trial's state (no inotify: the log
 * may be on NFS, written by an agent on another machine). It stops once the
 * trial is in a final state and the log is drained. Without --attempt it
 * moves on to the next attempt's log when the trial is retried. A stored
 * tail is replaced by each shipment: following it prints what a new tail
 * adds after the end of the one shown before.
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
#define STORED_POLL_SECONDS 1.0 /* agents ship a running trial's tail every 10 s */
#define OVERLAP_MAX 4096        /* bytes of the shown tail looked for in the next one */

static const sq_usage usage = {
    "logs",
    "[options] SWEEP TRIAL",
    "print a trial's output (stdout and stderr) from its latest or a chosen attempt",
    "The log of attempt K of trial N is .sweepq/sweeps/SWEEP/trials/N/attempt-K.log.\n"
    "When that file is not here (the trial ran on another machine, or its\n"
    "directory was removed), the tail of the log that its agent stored is\n"
    "printed, at most its last 256 KiB, with a note on stderr (see\n"
    "'sweepq agent --ship-logs').\n"
    "-f follows it while the trial runs and stops when the trial is finished;\n"
    "without --attempt it follows the trial's retries too. --json prints\n"
    "{\"sweep\", \"trial\", \"attempt\", \"path\", \"log\", \"source\"} (not with -f),\n"
    "source \"file\" or \"store\" (path null).",
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

/* "the agent on HOST" for the agent that ran attempt of trial_id (its id is
 * HOST:PID:RANDOM), or "an agent" when the store does not say; caller frees. */
static char *attempt_agent(store *st, int64_t trial_id, int attempt)
{
    store_attempt *v = NULL;
    size_t n = 0;
    char *who = NULL;
    if (store_list_attempts(st, trial_id, &v, &n) == 0) {
        for (size_t i = 0; i < n && !who; i++) {
            if (v[i].attempt != attempt || !v[i].agent_id)
                continue;
            char *host = xstrdup(v[i].agent_id);
            for (int k = 0; k < 2; k++) { /* drop ":RANDOM", then ":PID" */
                char *colon = strrchr(host, ':');
                if (colon && colon != host)
                    *colon = '\0';
            }
            who = xasprintf("the agent on %s", host);
            free(host);
        }
    }
    store_attempts_free(v, n);
    return who ? who : xstrdup("an agent");
}

/* Prints the one-line note that the text shown is the stored tail. */
static void note_stored(store *st, const store_trial *t, int attempt, size_t len)
{
    char *who = attempt_agent(st, t->id, attempt);
    fprintf(stderr,
            "sweepq: the log file of attempt %d is not here: this is its tail stored in the "
            "store, %zu bytes from %s\n",
            attempt, len, who);
    free(who);
}

/* What a follower of a stored tail has printed: the tail it last saw. */
typedef struct stored_view {
    char *text;
    size_t len;
    bool seen; /* a tail was found (and the note printed) */
} stored_view;

/* Prints what tail adds to the one shown before (v), then keeps it. */
static void stored_show_new(stored_view *v, char *tail, size_t len)
{
    size_t from = 0;
    if (v->len && len >= v->len && memcmp(tail, v->text, v->len) == 0) {
        from = v->len; /* the log has not reached the cap: it only grew */
    } else if (v->len) {
        /* The window slid: find the end of the shown tail in the new one
         * (its last occurrence) and print what follows. */
        size_t m = v->len < OVERLAP_MAX ? v->len : OVERLAP_MAX;
        const char *needle = v->text + v->len - m, *hit = NULL, *p = tail;
        while ((p = memmem(p, len - (size_t)(p - tail), needle, m)) != NULL) {
            hit = p;
            if ((size_t)(++p - tail) > len - m)
                break;
        }
        if (hit)
            from = (size_t)(hit - tail) + m;
        else
            fputs("--- (the stored tail moved past what was shown) ---\n", stdout);
    }
    fwrite(tail + from, 1, len - from, stdout);
    fflush(stdout);
    free(v->text);
    v->text = tail;
    v->len = len;
}

/* One look at the stored tail of (t, attempt) for a follower. */
static int stored_poll(store *st, const store_trial *t, int attempt, stored_view *v)
{
    char *tail = NULL;
    size_t len = 0;
    int rc = store_get_log(st, t->id, attempt, &tail, &len);
    if (rc == SQ_ENOTFOUND)
        return 0; /* not shipped yet */
    if (rc)
        return rc;
    if (!v->seen)
        note_stored(st, t, attempt, len);
    v->seen = true;
    stored_show_new(v, tail, len);
    return 0;
}

/* Follows the trial until it is final. *attempt may advance when !pinned. */
static int follow(const workspace *ws, store *st, const char *sweep, uint64_t number, int attempt,
                  bool pinned)
{
    FILE *f = NULL;
    char *path = log_path(ws, sweep, number, attempt);
    stored_view view = {NULL, 0, false};
    double next_stored = 0;
    int code = EXIT_OK;
    for (;;) {
        if (!f && !view.seen)
            f = fopen(path, "r");
        store_trial *t = NULL;
        int rc = store_get_trial(st, sweep, number, &t);
        if (rc) {
            code = open_store_fail(rc, "read trial %llu of sweep '%s'", (unsigned long long)number,
                                   sweep);
            break;
        }
        bool done = is_final(t->state);
        int latest = t->attempt;
        bool moved = latest > attempt;
        if (f) {
            drain(f);
        } else if (time_mono() >= next_stored || done || moved) {
            /* No file here: the tail its agent ships, read again after the
             * trial ended or moved on, so its last shipment is shown. */
            next_stored = time_mono() + STORED_POLL_SECONDS;
            rc = stored_poll(st, t, attempt, &view);
            if (rc) {
                code = open_store_fail(rc, "read the stored log of trial %llu of sweep '%s'",
                                       (unsigned long long)number, sweep);
                store_trial_free(t);
                break;
            }
        }
        store_trial_free(t);
        if (!pinned && moved) {
            /* A retry began: finish this log, then go on with the next. */
            if (f) {
                drain(f);
                fclose(f);
                f = NULL;
            }
            free(view.text);
            view = (stored_view){NULL, 0, false};
            next_stored = 0;
            attempt = latest;
            free(path);
            path = log_path(ws, sweep, number, attempt);
            printf("--- attempt %d ---\n", attempt);
            continue;
        }
        if (done || (pinned && moved)) {
            if (!f && !view.seen)
                f = fopen(path, "r");
            if (f)
                drain(f);
            break;
        }
        time_sleep(POLL_SECONDS);
    }
    if (f)
        fclose(f);
    free(view.text);
    free(path);
    return code;
}

/* The whole log as one JSON object; path NULL: text is the stored tail. */
static int print_json(const char *sweep, uint64_t number, int attempt, const char *path,
                      const char *text, size_t len)
{
    json_t *o = json_pack("{s:s, s:I, s:i, s:s?, s:s%, s:s}", "sweep", sweep, "trial",
                          (json_int_t)number, "attempt", attempt, "path", path, "log", text, len,
                          "source", path ? "file" : "store");
    if (!o) {
        fprintf(stderr,
                "sweepq: cannot print the log of trial %llu as JSON: it is not valid "
                "UTF-8\n",
                (unsigned long long)number);
        return EXIT_FAILED;
    }
    report_json_print(stdout, o);
    return EXIT_OK;
}

/* Prints the stored tail of (t, attempt): the log file is not here. */
static int print_stored(store *st, const store_trial *t, const char *sweep, int attempt,
                        const char *path, bool json)
{
    char *text = NULL;
    size_t len = 0;
    int rc = store_get_log(st, t->id, attempt, &text, &len);
    if (rc == SQ_ENOTFOUND) {
        fprintf(stderr,
                "sweepq: no log of trial %llu attempt %d: '%s' is not here and no agent stored "
                "its tail (see 'sweepq agent --ship-logs')\n",
                (unsigned long long)t->number, attempt, path);
        return EXIT_NOTFOUND;
    }
    if (rc)
        return open_store_fail(rc, "read the stored log of trial %llu of sweep '%s'",
                               (unsigned long long)t->number, sweep);
    note_stored(st, t, attempt, len);
    int code = EXIT_OK;
    if (json)
        code = print_json(sweep, t->number, attempt, NULL, text, len);
    else
        fwrite(text, 1, len, stdout);
    free(text);
    return code;
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
    f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        code = print_stored(st, t, argv[0], attempt, path, g.json);
        goto out;
    }
    if (!f) {
        fprintf(stderr, "sweepq: cannot open the log '%s': %s\n", path, strerror(errno));
        code = EXIT_NOTFOUND;
        goto out;
    }
    if (g.json) {
        strbuf text = SB_INIT;
        rc = sb_read_file(&text, path);
        if (rc)
            fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = rc ? (rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED)
                  : print_json(argv[0], number, attempt, path, sb_str(&text), text.len);
        sb_release(&text);
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
