/*
 * cmd_recent.c - `sweepq recent [--days N]`: the sweeps created or updated
 * in the last N days (default 7), newest first, as hpc-sweep-manager's
 * `hsm recent` lists them.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/timeutil.h"

static const sq_usage usage = {
    "recent", "[options]", "list the sweeps created or updated in the last N days, newest first",
    NULL,     true,
};

static double last_activity(const store_sweep *s)
{
    return s->updated_at > s->created_at ? s->updated_at : s->created_at;
}

static int newest_first(const void *a, const void *b)
{
    double x = last_activity(a), y = last_activity(b);
    return x < y   ? 1
           : x > y ? -1
                   : strcmp(((const store_sweep *)a)->name, ((const store_sweep *)b)->name);
}

static void print_table(const store_sweep *s, size_t n, double now)
{
    static const char *const headers[] = {"sweep",  "state", "created", "updated",
                                          "trials", "ok",    "failed",  "tags"};
    report_table *t = report_table_new(ARRAY_SIZE(headers), headers);
    for (size_t c = 4; c < 7; c++)
        report_table_align_right(t, c);
    for (size_t i = 0; i < n; i++) {
        const store_counts *c = &s[i].counts;
        uint64_t stored = c->pending + c->running + c->succeeded + c->failed + c->cancelled;
        char created[40], updated[48];
        strbuf tags = SB_INIT;
        for (size_t k = 0; k < s[i].ntags; k++)
            sb_addf(&tags, "%s%s", k ? "," : "", s[i].tags[k]);
        report_table_add(t, s[i].name);
        report_table_add(t, sweep_state_name(s[i].state));
        report_table_add(t, time_format_local(s[i].created_at, created, sizeof created));
        report_table_add(t, report_ago(last_activity(&s[i]), now, updated, sizeof updated));
        report_table_addf(t, "%llu", (unsigned long long)stored);
        report_table_addf(t, "%llu", (unsigned long long)c->succeeded);
        report_table_addf(t, "%llu", (unsigned long long)c->failed);
        report_table_add(t, tags.len ? sb_str(&tags) : "-");
        sb_release(&tags);
    }
    report_table_print(stdout, t, report_term_width(stdout));
    report_table_free(t);
}

int cmd_recent(int argc, char **argv)
{
    int days = 7;
    const sq_option opts[] = {
        OPT_INT('d', "days", &days, "N", "how far back to look (default 7)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    if (days < 0)
        return options_usage_error(&usage, "option '--days' expects a number >= 0, not %d", days);
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *s = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    double now = store_now(st);
    store_sweep_filter f = {.since = now - (double)days * 86400};
    rc = store_list_sweeps(st, &f, &s, &n);
    if (rc) {
        code = open_store_fail(rc, "list the sweeps");
        goto out;
    }
    if (n)
        qsort(s, n, sizeof *s, newest_first);
    if (g.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, report_sweep_json(&s[i]));
        report_json_print(stdout, arr);
    } else if (n == 0) {
        printf("no sweeps in the last %d day%s\n", days, days == 1 ? "" : "s");
    } else {
        print_table(s, n, now);
    }
out:
    store_sweeps_free(s, n);
    store_close(st);
    workspace_release(&ws);
    return code;
}
