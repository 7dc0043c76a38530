/*
 * cmd_best.c - `sweepq best SWEEP [-n K]`: the K best succeeded and stopped trials by
 * the sweep's metric and goal (report_best_trials does the ranking, so
 * `run`'s closing summary and this verb always agree).
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"

static const sq_usage usage = {
    "best",
    "[options] SWEEP",
    "show the best succeeded and stopped trials by the sweep's metric and goal",
    "The metric and its goal (minimize or maximize) come from the spec's\n"
    "'metric:' key. Trials that never reported the metric are not ranked.",
    true,
};

static json_t *best_json(const store_sweep *sw, const store_trial *t, size_t n, double now)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = report_trial_json(&t[i], now);
        json_object_set_new(o, "rank", json_integer((json_int_t)i + 1));
        json_object_set(o, "value",
                        json_object_get(json_object_get(o, "metrics"), sw->metric_name));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o}", "sweep", sw->name, "metric", "name",
                     sw->metric_name, "goal", sw->maximize ? "maximize" : "minimize", "trials",
                     arr);
}

int cmd_best(int argc, char **argv)
{
    int k = 5;
    const sq_option opts[] = {
        OPT_INT('n', "count", &k, "K", "how many trials to show (default 5; 0 for all)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "missing SWEEP");
    if (nargs > 1)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[1]);
    if (k < 0)
        return options_usage_error(&usage, "option '-n' expects a count >= 0, not %d", k);

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    store_trial *t = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    code = open_store_sweep(st, argv[0], &sw);
    if (code)
        goto out;
    if (!sw->metric_name) {
        fprintf(stderr,
                "sweepq: sweep '%s' has no metric; add 'metric: {name: loss, goal: minimize}' to "
                "the spec, or use 'sweepq trials %s --sort NAME'\n",
                sw->name, sw->name);
        code = EXIT_FAILED;
        goto out;
    }
    if (g.json) {
        rc = report_best_trials(st, sw, (size_t)k, &t, &n);
        if (rc) {
            code = open_store_fail(rc, "rank the trials of sweep '%s'", sw->name);
            goto out;
        }
        report_json_print(stdout, best_json(sw, t, n, store_now(st)));
    } else {
        rc = report_print_best(stdout, st, sw, k);
        if (rc)
            code = open_store_fail(rc, "rank the trials of sweep '%s'", sw->name);
    }
out:
    store_trials_free(t, n);
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    return code;
}
