/*
 * test_gpu.c - GPU discovery: snapshots (read again on every call), the
 * nvidia-smi path through a real subprocess (tests/gpu/bin/nvidia-smi, a
 * test fixture that prints captured CSV), NVML absent or not NVML, the
 * visibility rules of CUDA_VISIBLE_DEVICES and --gpus, and the JSON form.
 */
#include "util/common.h"

#include "agent/gpu.h"
#include "agent/spawn.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <cmocka.h>

#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)
#define FIXTURE_SMI SQ_SOURCE_DIR "/tests/gpu/bin/nvidia-smi"
#define SNAP(name) SQ_SOURCE_DIR "/tests/gpu/" name
#define UUID0 "GPU-5f3c1a2e-0b9d-4c7e-9a1f-3d2b6e8c7a01"
#define UUID1 "GPU-a83d77e0-51c2-4f0b-8d5e-2c9b41f6e302"
#define UUID2 "GPU-c1e9b250-7a64-4d38-b0f2-95e07d3a1c13"
#define UUID3 "GPU-f40a6d18-2e87-4b91-a6c3-7d51e2b09f44"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-gpu-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *fmt, ...)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    assert_int_equal(fclose(f), 0);
    /* Renamed into place, as a test changing a snapshot under a running
     * agent should do. */
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

static gpu_table read_with(const gpu_probe_opts *o)
{
    gpu_probe *p = gpu_probe_new(o);
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_probe_read(p, &t), 0);
    gpu_probe_free(p);
    return t;
}

/* Only the fixture nvidia-smi: NVML skipped, so the test means the same on a
 * machine that has the real driver. */
static gpu_table read_fixture(const char *which)
{
    setenv("SWEEPQ_FAKE_SMI", which, 1);
    gpu_probe_opts o = {.snapshot = "", .no_nvml = true, .smi_program = FIXTURE_SMI};
    gpu_table t = read_with(&o);
    unsetenv("SWEEPQ_FAKE_SMI");
    return t;
}

/* ---- snapshots --------------------------------------------------------- */

static void test_snapshot_reads_every_field(void **state)
{
    gpu_probe_opts o = {.snapshot = SNAP("h100x4-busy.json")};
    gpu_table t = read_with(&o);
    assert_int_equal(t.source, GPU_SOURCE_SNAPSHOT);
    assert_string_equal(gpu_source_name(t.source), "snapshot");
    assert_int_equal(t.n, 4);
    const gpu_info *g = &t.gpus[2];
    assert_int_equal(g->index, 2);
    assert_string_equal(g->uuid, UUID2);
    assert_string_equal(g->name, "NVIDIA H100 80GB HBM3");
    assert_string_equal(g->pci_bus_id, "00000000:4C:00.0");
    assert_true(g->total == 81559 * MIB);
    assert_true(g->free == 3600 * MIB);
    assert_true(g->used == 77405 * MIB);
    assert_int_equal(g->utilization, 100);
    assert_int_equal(g->nprocs, 2);
    assert_int_equal(g->procs[0].pid, 30012);
    assert_true(g->procs[0].used == 40 * GIB);
    assert_false(g->hidden);
    gpu_table_release(&t);
}

static void test_snapshot_sizes_as_text_and_derived_figures(void **state)
{
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_parse_snapshot(&t,
                                        "[{\"uuid\": \"GPU-a\", \"memory_total\": \"80GiB\","
                                        " \"processes\": [{\"pid\": 7, \"used_memory\": \"10GiB\"},"
                                        " {\"pid\": 8}]},"
                                        " {\"uuid\": \"GPU-b\", \"memory_total\": \"40GiB\","
                                        " \"memory_free\": \"30GiB\"}]",
                                        "inline"),
                     0);
    assert_int_equal(t.n, 2);
    /* No index: the position. No used, no free: the processes' memory. */
    assert_int_equal(t.gpus[0].index, 0);
    assert_true(t.gpus[0].used == 10 * GIB);
    assert_true(t.gpus[0].free == 70 * GIB);
    assert_true(t.gpus[0].procs[1].used == GPU_UNKNOWN);
    assert_int_equal(t.gpus[0].utilization, -1);
    assert_int_equal(t.gpus[1].index, 1);
    assert_true(t.gpus[1].used == 10 * GIB);
    gpu_table_release(&t);
}

static void expect_snapshot_error(const char *text, const char *message)
{
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_parse_snapshot(&t, text, "s.json"), SQ_EINVAL);
    if (!strstr(sq_error_msg(), message))
        fail_msg("expected '%s' in '%s'", message, sq_error_msg());
    assert_int_equal(t.n, 0);
    assert_null(t.gpus);
}

static void test_snapshot_errors_name_the_file_and_the_place(void **state)
{
    expect_snapshot_error("{\"gpus\": [", "bad GPU snapshot 's.json': line 1:");
    expect_snapshot_error("{\"gpu\": []}", "expected {\"gpus\": [...]}");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_totl\": 1}]",
                          "gpus[0]: unknown key 'memory_totl'");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\"}]", "gpus[0]: memory_total is missing");
    expect_snapshot_error("[{\"memory_total\": 1}]", "gpus[0].uuid: expected a string");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": \"lots\"}]",
                          "gpus[0].memory_total: expected bytes or a size");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": 10, \"memory_free\": 11}]",
                          "free or used memory is more than memory_total");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": 1, \"utilization\": 101}]",
                          "gpus[0].utilization: expected a percentage");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": 1, \"processes\": [{}]}]",
                          "gpus[0].processes[0].pid: expected a positive integer");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": 1, \"index\": 3},"
                          " {\"uuid\": \"GPU-b\", \"memory_total\": 1, \"index\": 3}]",
                          "GPU index 3 appears twice");
    expect_snapshot_error("[{\"uuid\": \"GPU-a\", \"memory_total\": 1},"
                          " {\"uuid\": \"GPU-a\", \"memory_total\": 1}]",
                          "GPU UUID 'GPU-a' appears twice");
}

static void test_snapshot_is_read_again_on_every_call(void **state)
{
    char *path = tmp_path("live.json");
    write_file(path, "[{\"uuid\": \"GPU-a\", \"memory_total\": \"80GiB\"}]");
    gpu_probe_opts o = {.snapshot = path};
    gpu_probe *p = gpu_probe_new(&o);
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_probe_read(p, &t), 0);
    assert_int_equal(t.gpus[0].nprocs, 0);
    assert_true(t.gpus[0].free == 80 * GIB);
    gpu_table_release(&t);

    /* Another user's process appears. */
    write_file(path, "[{\"uuid\": \"GPU-a\", \"memory_total\": \"80GiB\","
                     " \"processes\": [{\"pid\": 4242, \"used_memory\": \"60GiB\"}]}]");
    assert_int_equal(gpu_probe_read(p, &t), 0);
    assert_int_equal(t.gpus[0].nprocs, 1);
    assert_true(t.gpus[0].free == 20 * GIB);
    gpu_table_release(&t);

    /* A snapshot broken mid-run is an error, not a fall-back to hardware. */
    write_file(path, "[{\"uuid\": \"GPU-a\"");
    assert_int_equal(gpu_probe_read(p, &t), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), path));
    assert_int_equal(t.n, 0);
    gpu_probe_free(p);
    free(path);
}

static void test_snapshot_from_the_environment(void **state)
{
    setenv("SWEEPQ_GPU_SNAPSHOT", SNAP("h100x1.json"), 1);
    gpu_probe *p = gpu_probe_new(NULL);
    unsetenv("SWEEPQ_GPU_SNAPSHOT");
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_probe_read(p, &t), 0);
    assert_int_equal(t.source, GPU_SOURCE_SNAPSHOT);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.gpus[0].uuid, UUID0);
    gpu_table_release(&t);
    gpu_probe_free(p);
}

static void test_missing_snapshot_is_not_found(void **state)
{
    gpu_probe_opts o = {.snapshot = "/nonexistent/gpus.json"};
    gpu_probe *p = gpu_probe_new(&o);
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_probe_read(p, &t), SQ_ENOTFOUND);
    assert_string_equal(sq_error_msg(), "cannot read GPU snapshot '/nonexistent/gpus.json': No "
                                        "such file or directory");
    gpu_probe_free(p);
}

static void test_process_groups_are_read_from_proc(void **state)
{
    char *path = tmp_path("self.json");
    write_file(path,
               "[{\"uuid\": \"GPU-a\", \"memory_total\": \"80GiB\", \"processes\": "
               "[{\"pid\": %d, \"used_memory\": \"1GiB\"}, {\"pid\": 2147483646}]}]",
               (int)getpid());
    gpu_probe_opts o = {.snapshot = path};
    gpu_table t = read_with(&o);
    assert_int_equal(t.gpus[0].procs[0].pgid, (int)getpgrp());
    assert_int_equal(t.gpus[0].procs[1].pgid, -1);
    gpu_table_release(&t);
    free(path);
}

/* ---- nvidia-smi -------------------------------------------------------- */

static void test_smi_csv_is_parsed(void **state)
{
    gpu_table t = GPU_TABLE_INIT;
    const char *gpus =
        "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559, 81004, 1, 0, 00000000:19:00.0\n"
        "1, GPU-bbbb, NVIDIA A100-SXM4-40GB, 40960, 30099, 10244, [N/A], 00000000:0F:00.0\r\n"
        "2, GPU-cccc, Some, Vendor, Card, 1024, [N/A], [N/A], 3, [N/A]\n";
    const char *apps = "GPU-bbbb, 51234, [N/A]\nGPU-aaaa, 7, 512\nMIG-dddd, 9, 100\n";
    assert_int_equal(gpu_parse_smi(&t, gpus, apps), 0);
    assert_int_equal(t.source, GPU_SOURCE_SMI);
    assert_int_equal(t.n, 3);
    assert_true(t.gpus[0].total == 81559 * MIB);
    assert_true(t.gpus[0].free == 81004 * MIB);
    assert_int_equal(t.gpus[0].nprocs, 1);
    assert_true(t.gpus[0].procs[0].used == 512 * MIB);
    assert_int_equal(t.gpus[1].utilization, -1);
    assert_int_equal(t.gpus[1].nprocs, 1);
    assert_true(t.gpus[1].procs[0].used == GPU_UNKNOWN);
    /* A name with commas; memory not reported: kept, but no trial goes there. */
    assert_string_equal(t.gpus[2].name, "Some, Vendor, Card");
    assert_int_equal(t.gpus[2].utilization, 3);
    assert_string_equal(t.gpus[2].pci_bus_id, "");
    assert_true(t.gpus[2].hidden);
    assert_non_null(strstr(t.gpus[2].hidden_why, "does not report its memory"));
    gpu_table_release(&t);

    assert_int_equal(gpu_parse_smi(&t, "", NULL), 0);
    assert_int_equal(t.n, 0);
    gpu_table_release(&t);
}

static void test_smi_bad_output_is_refused(void **state)
{
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_parse_smi(&t, "0, GPU-a, X, 1, 1\n", NULL), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "line 1: expected 8 fields, got 5");
    assert_int_equal(gpu_parse_smi(&t, "x, GPU-a, X, 1, 1, 0, 0, b\n", NULL), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "line 1: bad GPU index 'x'");
    assert_int_equal(gpu_parse_smi(&t, "0, 12, X, 1, 1, 0, 0, b\n", NULL), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "line 1: bad GPU UUID '12'");
    assert_int_equal(gpu_parse_smi(&t, "0, GPU-a, X, 1, 1, 0, 0, b\n", "GPU-a, x, 1\n"), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "compute apps line 1: bad pid 'x'");
    assert_int_equal(t.n, 0);
}

static void test_fixture_smi_runs_as_a_real_subprocess(void **state)
{
    gpu_table t = read_fixture("h100x4");
    assert_int_equal(t.source, GPU_SOURCE_SMI);
    assert_string_equal(t.tried, "NVML: not asked");
    assert_int_equal(t.n, 4);
    assert_string_equal(t.gpus[1].uuid, UUID1);
    assert_true(t.gpus[1].free == 19566 * MIB);
    assert_int_equal(t.gpus[1].utilization, 97);
    assert_int_equal(t.gpus[1].nprocs, 1);
    assert_int_equal(t.gpus[1].procs[0].pid, 24811);
    assert_int_equal(t.gpus[2].nprocs, 2);
    assert_true(t.gpus[2].procs[1].used == 36444 * MIB);
    assert_int_equal(t.gpus[3].nprocs, 0);
    gpu_table_release(&t);
}

static void test_smi_driver_failure_falls_through_to_none(void **state)
{
    gpu_table t = read_fixture("driver-failure");
    assert_int_equal(t.source, GPU_SOURCE_NONE);
    assert_int_equal(t.n, 0);
    assert_string_equal(t.tried,
                        "NVML: not asked; nvidia-smi: exit status 9: NVIDIA-SMI has failed "
                        "because it couldn't communicate with the NVIDIA driver. Make sure that "
                        "the latest NVIDIA driver is installed and running.");
    gpu_table_release(&t);
}

/* True while some process of group pgid runs (zombies do not count). */
static bool group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    bool alive = false;
    struct dirent *e;
    while (!alive && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        char path[64];
        if (pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        strbuf sb = SB_INIT;
        if (sb_read_file(&sb, path) == 0) {
            const char *close_paren = strrchr(sb_str(&sb), ')');
            char st = 0;
            int ppid = 0, pgrp = 0;
            if (close_paren && sscanf(close_paren + 1, " %c %d %d", &st, &ppid, &pgrp) == 3)
                alive = pgrp == (int)pgid && st != 'Z';
        }
        sb_release(&sb);
    }
    closedir(d);
    return alive;
}

static void test_smi_that_hangs_is_killed_at_its_timeout(void **state)
{
    char *pidfile = tmp_path("smi.pid");
    setenv("SWEEPQ_FAKE_SMI", "hang", 1);
    setenv("SWEEPQ_FAKE_SMI_PIDFILE", pidfile, 1);
    gpu_probe_opts o = {
        .snapshot = "", .no_nvml = true, .smi_program = FIXTURE_SMI, .smi_timeout = 0.3};
    gpu_table t = read_with(&o);
    unsetenv("SWEEPQ_FAKE_SMI");
    unsetenv("SWEEPQ_FAKE_SMI_PIDFILE");
    assert_int_equal(t.source, GPU_SOURCE_NONE);
    assert_string_equal(t.tried, "NVML: not asked; nvidia-smi: timed out after 0.3s");
    gpu_table_release(&t);

    /* Its whole process group went with it (the shell and its sleep). */
    strbuf sb = SB_INIT;
    assert_int_equal(sb_read_file(&sb, pidfile), 0);
    pid_t pid = (pid_t)atoi(sb_str(&sb));
    sb_release(&sb);
    assert_true(pid > 0);
    /* SIGKILL takes a moment to land; a zombie waiting for its new parent
     * to reap it counts as gone. */
    double deadline = time_mono() + 10;
    while (group_alive(pid) && time_mono() < deadline)
        time_sleep(0.01);
    assert_false(group_alive(pid));
    free(pidfile);
}

static void test_smi_not_installed(void **state)
{
    gpu_probe_opts o = {.snapshot = "", .no_nvml = true, .smi_program = "sweepq-no-such-smi"};
    gpu_table t = read_with(&o);
    assert_int_equal(t.source, GPU_SOURCE_NONE);
    assert_string_equal(t.tried, "NVML: not asked; nvidia-smi: not found in PATH");
    gpu_table_release(&t);
}

/* ---- NVML -------------------------------------------------------------- */

static void test_nvml_absent_says_so_and_falls_through(void **state)
{
    setenv("SWEEPQ_FAKE_SMI", "h100x4", 1);
    gpu_probe_opts o = {
        .snapshot = "", .nvml_library = "libsweepq-no-such-nvml.so.1", .smi_program = FIXTURE_SMI};
    gpu_probe *p = gpu_probe_new(&o);
    gpu_table t = GPU_TABLE_INIT;
    /* Twice: the library is looked for once, the answer kept. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gpu_probe_read(p, &t), 0);
        assert_int_equal(t.source, GPU_SOURCE_SMI);
        assert_string_equal(t.tried, "NVML: libsweepq-no-such-nvml.so.1 not found");
        assert_int_equal(t.n, 4);
        gpu_table_release(&t);
    }
    gpu_probe_free(p);
    unsetenv("SWEEPQ_FAKE_SMI");

    gpu_probe_opts none = {
        .snapshot = "", .nvml_library = "libsweepq-no-such-nvml.so.1", .no_smi = true};
    t = read_with(&none);
    assert_int_equal(t.source, GPU_SOURCE_NONE);
    assert_string_equal(t.tried,
                        "NVML: libsweepq-no-such-nvml.so.1 not found; nvidia-smi: not asked");
    gpu_table_release(&t);
}

static void test_a_library_that_is_not_nvml_is_refused(void **state)
{
    gpu_probe_opts o = {.snapshot = "", .nvml_library = "libm.so.6", .no_smi = true};
    gpu_table t = read_with(&o);
    assert_int_equal(t.source, GPU_SOURCE_NONE);
    assert_string_equal(t.tried, "NVML: libm.so.6 has no nvmlInit_v2: not the NVIDIA management "
                                 "library; nvidia-smi: not asked");
    gpu_table_release(&t);
}

/* ---- visibility -------------------------------------------------------- */

static gpu_table four_gpus(void)
{
    gpu_probe_opts o = {.snapshot = SNAP("h100x4-idle.json")};
    return read_with(&o);
}

static void assert_hidden(const gpu_table *t, const char *pattern)
{
    /* pattern: one character per GPU, 'v' visible, 'h' hidden */
    assert_int_equal(strlen(pattern), t->n);
    for (size_t i = 0; i < t->n; i++)
        if (t->gpus[i].hidden != (pattern[i] == 'h'))
            fail_msg("GPU %zu: expected %s", i, pattern[i] == 'h' ? "hidden" : "visible");
}

static void test_cuda_visible_devices_by_index(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "2,3", NULL), 0);
    assert_hidden(&t, "hhvv");
    assert_string_equal(t.gpus[0].hidden_why, "not in CUDA_VISIBLE_DEVICES=2,3");
    assert_int_equal(t.nnotes, 0);
    gpu_table_release(&t);

    t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, " 3 , 1 ", "auto"), 0);
    assert_hidden(&t, "hvhv");
    gpu_table_release(&t);
}

static void test_cuda_visible_devices_by_uuid_and_prefix(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, UUID3 ",gpu-a83d77e0", NULL), 0);
    assert_hidden(&t, "hvhv");
    gpu_table_release(&t);
}

static void test_cuda_visible_devices_invalid_entry_ends_the_list(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "1,7,3", NULL), 0);
    assert_hidden(&t, "hvhh");
    assert_int_equal(t.nnotes, 1);
    assert_string_equal(t.notes[0], "CUDA_VISIBLE_DEVICES='1,7,3': there is no GPU 7; that "
                                    "entry and those after it are ignored, as CUDA does");
    gpu_table_release(&t);

    t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "MIG-GPU-5f3c1a2e/1/0", NULL), 0);
    assert_hidden(&t, "hhhh");
    assert_non_null(strstr(t.notes[0], "is a MIG device"));
    gpu_table_release(&t);

    t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "NoDevFiles", NULL), 0);
    assert_hidden(&t, "hhhh");
    gpu_table_release(&t);

    /* Every UUID here starts with "GPU-": ambiguous. */
    t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "GPU-", NULL), 0);
    assert_hidden(&t, "hhhh");
    assert_non_null(strstr(t.notes[0], "'GPU-' matches 4 GPUs"));
    gpu_table_release(&t);
}

static void test_cuda_visible_devices_empty_hides_all(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "", NULL), 0);
    assert_hidden(&t, "hhhh");
    assert_string_equal(t.gpus[2].hidden_why, "CUDA_VISIBLE_DEVICES is empty");
    assert_int_equal(t.nnotes, 0);
    gpu_table_release(&t);
}

static void test_gpus_option_restricts_further(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "1,2,3", "0,2," UUID3), 0);
    assert_hidden(&t, "hhvv");
    assert_string_equal(t.gpus[0].hidden_why, "not in CUDA_VISIBLE_DEVICES=1,2,3");
    assert_string_equal(t.gpus[1].hidden_why, "not in --gpus 0,2," UUID3);
    assert_int_equal(t.nnotes, 1);
    assert_string_equal(t.notes[0], "--gpus names GPU 0, which CUDA_VISIBLE_DEVICES hides");
    gpu_table_release(&t);

    t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, NULL, "none"), 0);
    assert_hidden(&t, "hhhh");
    assert_string_equal(t.gpus[3].hidden_why, "--gpus none");
    gpu_table_release(&t);
}

static void test_bad_gpus_option_is_an_error_and_changes_nothing(void **state)
{
    gpu_table t = four_gpus();
    assert_int_equal(gpu_table_restrict(&t, "0", "0,7"), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "bad --gpus '0,7': there is no GPU 7; use auto, none, or "
                                        "GPU indices or UUIDs from 'sweepq gpus' (GPUs here: 0, "
                                        "1, 2, 3)");
    assert_hidden(&t, "vvvv");
    assert_int_equal(gpu_table_restrict(&t, NULL, "first"), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "'first' is not a GPU index or UUID"));
    assert_int_equal(gpu_table_restrict(&t, NULL, "GPU-0000"), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "there is no GPU with UUID 'GPU-0000'"));
    gpu_table_release(&t);
}

/* ---- JSON -------------------------------------------------------------- */

static void test_json_is_a_valid_snapshot(void **state)
{
    gpu_probe_opts o = {.snapshot = SNAP("h100x4-busy.json")};
    gpu_table t = read_with(&o);
    assert_int_equal(gpu_table_restrict(&t, "0,1,2", NULL), 0);
    json_t *j = gpu_table_json(&t);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "snapshot");
    char *text = json_dumps(j, 0);
    json_decref(j);

    gpu_table back = GPU_TABLE_INIT;
    assert_int_equal(gpu_parse_snapshot(&back, text, "round trip"), 0);
    assert_int_equal(back.n, t.n);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(back.gpus[i].index, t.gpus[i].index);
        assert_string_equal(back.gpus[i].uuid, t.gpus[i].uuid);
        assert_string_equal(back.gpus[i].name, t.gpus[i].name);
        assert_string_equal(back.gpus[i].pci_bus_id, t.gpus[i].pci_bus_id);
        assert_true(back.gpus[i].total == t.gpus[i].total);
        assert_true(back.gpus[i].free == t.gpus[i].free);
        assert_true(back.gpus[i].used == t.gpus[i].used);
        assert_int_equal(back.gpus[i].utilization, t.gpus[i].utilization);
        assert_int_equal(back.gpus[i].nprocs, t.gpus[i].nprocs);
        assert_int_equal(back.gpus[i].hidden, t.gpus[i].hidden);
    }
    assert_string_equal(back.gpus[3].hidden_why, "not in CUDA_VISIBLE_DEVICES=0,1,2");
    free(text);
    gpu_table_release(&back);
    gpu_table_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_reads_every_field),
        cmocka_unit_test(test_snapshot_sizes_as_text_and_derived_figures),
        cmocka_unit_test(test_snapshot_errors_name_the_file_and_the_place),
        cmocka_unit_test(test_snapshot_is_read_again_on_every_call),
        cmocka_unit_test(test_snapshot_from_the_environment),
        cmocka_unit_test(test_missing_snapshot_is_not_found),
        cmocka_unit_test(test_process_groups_are_read_from_proc),
        cmocka_unit_test(test_smi_csv_is_parsed),
        cmocka_unit_test(test_smi_bad_output_is_refused),
        cmocka_unit_test(test_fixture_smi_runs_as_a_real_subprocess),
        cmocka_unit_test(test_smi_driver_failure_falls_through_to_none),
        cmocka_unit_test(test_smi_that_hangs_is_killed_at_its_timeout),
        cmocka_unit_test(test_smi_not_installed),
        cmocka_unit_test(test_nvml_absent_says_so_and_falls_through),
        cmocka_unit_test(test_a_library_that_is_not_nvml_is_refused),
        cmocka_unit_test(test_cuda_visible_devices_by_index),
        cmocka_unit_test(test_cuda_visible_devices_by_uuid_and_prefix),
        cmocka_unit_test(test_cuda_visible_devices_invalid_entry_ends_the_list),
        cmocka_unit_test(test_cuda_visible_devices_empty_hides_all),
        cmocka_unit_test(test_gpus_option_restricts_further),
        cmocka_unit_test(test_bad_gpus_option_is_an_error_and_changes_nothing),
        cmocka_unit_test(test_json_is_a_valid_snapshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
