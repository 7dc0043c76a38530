/*
 * cmd_agents.c - `sweepq agents`: the agents the store knows: id, host,
 * pid, slots, trials running, last heartbeat and whether it is alive (its
 * last heartbeat within its lease TTL, judged by the store's clock).
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"

static const sq_usage usage = {
    "agents",
    "[options]",
    "list the agents: host, pid, slots, running trials, last heartbeat, alive",
    NULL,
    true,
};

static json_t *agent_json(const store_agent *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "host", json_string(a->host ? a->host : ""));
    json_object_set_new(o, "pid", json_integer(a->pid));
    json_object_set_new(o, "slots", json_integer(a->slots));
    json_object_set_new(o, "running", json_integer(a->running));
    json_t *gpus = a->gpus_json ? json_loads(a->gpus_json, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(o, "gpus", gpus ? gpus : json_null());
    json_object_set_new(o, "version", a->version ? json_string(a->version) : json_null());
    json_object_set_new(o, "started_at", report_time_json(a->started_at));
    json_object_set_new(o, "last_seen", report_time_json(a->last_seen));
    json_object_set_new(o, "alive", json_boolean(a->alive));
    return o;
}

int cmd_agents(int argc, char **argv)
{
    sq_globals g = {0};
    const sq_option opts[] = {OPT_END()};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_agent *a = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    rc = store_list_agents(st, &a, &n);
    if (rc) {
        code = open_store_fail(rc, "list the agents");
        goto out;
    }
    if (g.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, agent_json(&a[i]));
        report_json_print(stdout, arr);
    } else if (n == 0) {
        puts("no agents have registered; start one with 'sweepq agent' or 'sweepq run SPEC'");
    } else {
        static const char *const headers[] = {"id",      "host",      "pid",  "slots",
                                              "running", "heartbeat", "alive"};
        report_table *t = report_table_new(ARRAY_SIZE(headers), headers);
        report_table_align_right(t, 2);
        report_table_align_right(t, 3);
        report_table_align_right(t, 4);
        double now = store_now(st);
        for (size_t i = 0; i < n; i++) {
            char ago[48];
            report_table_add(t, a[i].id);
            report_table_add(t, a[i].host);
            report_table_addf(t, "%d", a[i].pid);
            report_table_addf(t, "%d", a[i].slots);
            report_table_addf(t, "%d", a[i].running);
            report_table_add(t, report_ago(a[i].last_seen, now, ago, sizeof ago));
            report_table_add(t, a[i].alive ? "yes" : "no");
        }
        report_table_print(stdout, t, 0);
        report_table_free(t);
    }
out:
    store_agents_free(a, n);
    store_close(st);
    workspace_release(&ws);
    return code;
}
