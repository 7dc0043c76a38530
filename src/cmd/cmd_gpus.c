/*
 * cmd_gpus.c - `sweepq gpus`: the GPUs an agent started here would see
 * (index, name, memory, utilisation, processes), where that came from, and
 * which of them it would give new trials now and why not the others. It
 * uses the agent's own discovery (gpu.h) and rules (gpu_alloc.h), with the
 * inherited CUDA_VISIBLE_DEVICES and the same --gpus and --min-free.
 */
#include "util/common.h"

#include "agent/gpu.h"
#include "agent/gpu_alloc.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/units.h"

static const sq_usage usage = {
    "gpus",
    "[options]",
    "show the GPUs an agent here would see, and which it would use now",
    "The GPUs come from NVML (libnvidia-ml.so.1, loaded at run time), else from\n"
    "nvidia-smi, else there are none; the first line says which answered and why\n"
    "the others did not. An inherited CUDA_VISIBLE_DEVICES (indices or GPU UUIDs,\n"
    "as Slurm sets it) limits the GPUs as it limits CUDA; --gpus limits them\n"
    "further. A GPU with less free memory than --min-free (not counting this\n"
    "agent's own trials) is left alone: other work is using it.\n"
    "\n"
    "--snapshot FILE (or $SWEEPQ_GPU_SNAPSHOT) reads the GPUs from a JSON file\n"
    "instead: a testing aid, in the shape this verb's --json prints (docs/gpus.md).",
    true,
};

/* "24811 (60.0 GiB), 30012" for the table; at most 3, then "+N". */
static char *procs_text(const gpu_info *g)
{
    strbuf sb = SB_INIT;
    for (size_t j = 0; j < g->nprocs; j++) {
        if (j == 3) {
            sb_addf(&sb, " +%zu", g->nprocs - 3);
            break;
        }
        char sz[32];
        sb_addf(&sb, "%s%d", j ? ", " : "", g->procs[j].pid);
        if (g->procs[j].used != GPU_UNKNOWN)
            sb_addf(&sb, " (%s)", units_format_size(g->procs[j].used, sz, sizeof sz));
    }
    if (!g->nprocs)
        sb_adds(&sb, "-");
    return sb_detach(&sb);
}

static void print_text(const gpu_table *t, char **why_not, const gpu_request *any)
{
    char a[32], b[32];
    if (t->tried && *t->tried)
        printf("source: %s (%s)\n", gpu_source_name(t->source), t->tried);
    else
        printf("source: %s\n", gpu_source_name(t->source));
    if (!t->n) {
        puts("no GPUs found: trials that ask for GPUs wait for an agent that has them");
    } else {
        static const char *const headers[] = {"index", "name",      "memory used / total",
                                              "util",  "processes", "use"};
        report_table *tab = report_table_new(ARRAY_SIZE(headers), headers);
        report_table_align_right(tab, 0);
        report_table_align_right(tab, 2);
        report_table_align_right(tab, 3);
        for (size_t i = 0; i < t->n; i++) {
            const gpu_info *g = &t->gpus[i];
            char *procs = procs_text(g);
            report_table_addf(tab, "%d", g->index);
            report_table_add(tab, *g->name ? g->name : "-");
            report_table_addf(tab, "%s / %s", units_format_size(g->used, a, sizeof a),
                              units_format_size(g->total, b, sizeof b));
            if (g->utilization >= 0)
                report_table_addf(tab, "%d%%", g->utilization);
            else
                report_table_add(tab, "-");
            report_table_add(tab, procs);
            report_table_add(tab, why_not[i] ? "no" : "yes");
            free(procs);
        }
        report_table_print(stdout, tab, 0);
        report_table_free(tab);

        strbuf use = SB_INIT;
        size_t nuse = 0;
        for (size_t i = 0; i < t->n; i++)
            if (!why_not[i])
                sb_addf(&use, "%s%d", nuse++ ? ", " : "", t->gpus[i].index);
        printf("\nwould use now: %s (min free %s)\n", use.len ? sb_str(&use) : "none",
               units_format_size(any->min_free, a, sizeof a));
        sb_release(&use);
        if (nuse < t->n)
            puts("not the others:");
        for (size_t i = 0; i < t->n; i++)
            if (why_not[i])
                printf("  GPU %d: %s\n", t->gpus[i].index, why_not[i]);
    }
    for (size_t i = 0; i < t->nnotes; i++)
        printf("note: %s\n", t->notes[i]);
}

static void print_json(const gpu_table *t, char **why_not, const gpu_request *any,
                       const char *cuda_visible, const char *option)
{
    json_t *root = gpu_table_json(t);
    json_t *gpus = json_object_get(root, "gpus");
    json_t *use = json_array();
    for (size_t i = 0; i < t->n; i++) {
        json_t *o = json_array_get(gpus, i);
        json_object_set_new(o, "usable", json_boolean(!why_not[i]));
        json_object_set_new(o, "why_not", why_not[i] ? json_string(why_not[i]) : json_null());
        if (!why_not[i])
            json_array_append_new(use, json_integer(t->gpus[i].index));
    }
    json_object_set_new(root, "would_use", use);
    json_object_set_new(root, "min_free_gpu_memory", json_integer((json_int_t)any->min_free));
    json_object_set_new(root, "cuda_visible_devices",
                        cuda_visible ? json_string(cuda_visible) : json_null());
    json_object_set_new(root, "gpus_option", json_string(option ? option : "auto"));
    report_json_print(stdout, root);
}

int cmd_gpus(int argc, char **argv)
{
    sq_globals g = {0};
    const char *snapshot = NULL, *option = NULL, *source = "auto";
    uint64_t min_free = GPU_MIN_FREE_DEFAULT;
    const sq_option opts[] = {
        OPT_STRING(0, "snapshot", &snapshot, "FILE",
                   "read the GPUs from this JSON file (a testing aid; docs/gpus.md)"),
        OPT_STRING(0, "gpus", &option, "SPEC",
                   "the agent's --gpus: auto, none, or indices/UUIDs such as 0,2"),
        OPT_SIZE(0, "min-free", &min_free, "SIZE",
                 "skip GPUs with less free memory than this (default 4GiB)"),
        OPT_STRING(0, "source", &source, "SRC",
                   "ask only this source: auto, nvml or nvidia-smi (default auto)"),
        OPT_END(),
    };
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    gpu_probe_opts po = {.snapshot = snapshot};
    if (!strcmp(source, "nvml"))
        po.no_smi = true;
    else if (!strcmp(source, "nvidia-smi"))
        po.no_nvml = true;
    else if (strcmp(source, "auto"))
        return options_usage_error(&usage, "bad --source '%s': use auto, nvml or nvidia-smi",
                                   source);

    const char *cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
    gpu_probe *p = gpu_probe_new(&po);
    gpu_table t = GPU_TABLE_INIT;
    gpu_alloc none = GPU_ALLOC_INIT;
    gpu_request any = {0, 0, min_free};
    char **why_not = NULL;
    int code = EXIT_OK;
    rc = gpu_probe_read(p, &t);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
        goto out;
    }
    if (gpu_table_restrict(&t, cuda_visible, option)) {
        code = options_usage_error(&usage, "%s", sq_error_msg());
        goto out;
    }
    why_not = xcalloc(t.n + 1, sizeof *why_not);
    for (size_t i = 0; i < t.n; i++)
        why_not[i] = gpu_alloc_why_not(&t, &none, i, &any);
    if (g.json)
        print_json(&t, why_not, &any, cuda_visible, option);
    else
        print_text(&t, why_not, &any);
out:
    for (size_t i = 0; why_not && i < t.n; i++)
        free(why_not[i]);
    free(why_not);
    gpu_table_release(&t);
    gpu_probe_free(p);
    return code;
}
