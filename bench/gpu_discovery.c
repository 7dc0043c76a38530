/*
 * gpu_discovery.c - what one GPU discovery call costs with each source the
 * agent can use (gpu.h): NVML, nvidia-smi and a snapshot file, measured in
 * the same run, with the ratio of nvidia-smi to NVML when both are here.
 *
 *   bench_gpu_discovery SNAPSHOT [--calls N] [--smi PROGRAM] [--smi-label TEXT]
 *
 * Each source is asked alone through a probe of its own, as the agent asks
 * (one probe for its life: NVML is loaded and initialised on the first call,
 * timed apart). A source that does not answer here is reported as "not
 * available here" with the reason the probe gives. --smi runs another
 * program in nvidia-smi's place (the test fixture on machines without a
 * GPU); --smi-label says so in the output.
 */
#include "util/common.h"

#include "agent/gpu.h"
#include "util/timeutil.h"

typedef struct result {
    bool available;
    double first;    /* seconds for the first call (NVML: load + init + read) */
    double per_call; /* seconds per call after the first */
    size_t gpus;
} result;

static result measure(const char *label, const gpu_probe_opts *o, gpu_source want, int calls)
{
    result r = {false, 0, 0, 0};
    gpu_probe *p = gpu_probe_new(o);
    gpu_table t = GPU_TABLE_INIT;
    double t0 = time_mono();
    int rc = gpu_probe_read(p, &t);
    r.first = time_mono() - t0;
    if (rc || t.source != want) {
        printf("  %-44s not available here (%s)\n", label,
               rc ? sq_error_msg() : (t.tried && *t.tried ? t.tried : "no answer"));
        gpu_table_release(&t);
        gpu_probe_free(p);
        return r;
    }
    r.gpus = t.n;
    gpu_table_release(&t);
    t0 = time_mono();
    for (int i = 0; i < calls; i++) {
        if (gpu_probe_read(p, &t)) {
            printf("  %-44s failed on call %d: %s\n", label, i + 2, sq_error_msg());
            gpu_probe_free(p);
            return r;
        }
        gpu_table_release(&t);
    }
    r.per_call = (time_mono() - t0) / calls;
    r.available = true;
    printf("  %-44s %10.1f us/call  (first call %.1f ms, %zu GPUs, %d calls)\n", label,
           r.per_call * 1e6, r.first * 1e3, r.gpus, calls);
    gpu_probe_free(p);
    return r;
}

int main(int argc, char **argv)
{
    const char *snapshot = NULL, *smi = NULL, *smi_label = NULL;
    int calls = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--smi") && i + 1 < argc)
            smi = argv[++i];
        else if (!strcmp(argv[i], "--smi-label") && i + 1 < argc)
            smi_label = argv[++i];
        else if (!snapshot && argv[i][0] != '-')
            snapshot = argv[i];
        else {
            fprintf(stderr, "usage: bench_gpu_discovery SNAPSHOT [--calls N] [--smi PROGRAM] "
                            "[--smi-label TEXT]\n");
            return 2;
        }
    }
    if (!snapshot || calls < 1) {
        fprintf(stderr, "usage: bench_gpu_discovery SNAPSHOT [--calls N] [--smi PROGRAM] "
                        "[--smi-label TEXT]\n");
        return 2;
    }
    /* nvidia-smi costs tens of milliseconds a call: fewer of them. */
    int smi_calls = calls / 10 > 5 ? calls / 10 : 5;

    printf("GPU discovery, cost per call (same run, same machine)\n");
    gpu_probe_opts nvml_o = {.snapshot = "", .no_smi = true};
    result nvml = measure("NVML (libnvidia-ml.so.1 via dlopen)", &nvml_o, GPU_SOURCE_NVML, calls);

    gpu_probe_opts smi_o = {.snapshot = "", .no_nvml = true, .smi_program = smi};
    char *label = xasprintf("%s", smi_label ? smi_label : "nvidia-smi (two queries)");
    result smi_r = measure(label, &smi_o, GPU_SOURCE_SMI, smi_calls);

    gpu_probe_opts snap_o = {.snapshot = snapshot};
    result snap =
        measure("snapshot (JSON file, the testing aid)", &snap_o, GPU_SOURCE_SNAPSHOT, calls);

    if (nvml.available && smi_r.available)
        printf("  nvidia-smi / NVML: %.0fx the cost per call\n", smi_r.per_call / nvml.per_call);
    else
        printf("  nvidia-smi / NVML: not measured here (both are needed)\n");
    if (smi_r.available && snap.available)
        printf("  %s / snapshot: %.0fx\n", smi_label ? "fixture" : "nvidia-smi",
               smi_r.per_call / snap.per_call);
    if (nvml.available && snap.available)
        printf("  NVML / snapshot: %.1fx\n", nvml.per_call / snap.per_call);
    free(label);
    return 0;
}
