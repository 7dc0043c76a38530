/*
 * test_gpu_alloc.c - the allocation rules over snapshots read through the
 * real discovery path: whole GPUs, packing by memory (best fit), a foreign
 * process appearing mid-sweep, CUDA_VISIBLE_DEVICES inherited, trials too
 * big for any GPU, min_free_gpu_memory, and GPUs freed when trials end.
 * Trials that "run" are real processes in their own process groups, so
 * their GPU usage is told apart from other work as the agent will do it.
 */
#include "util/common.h"

#include "agent/gpu.h"
#include "agent/gpu_alloc.h"
#include "agent/spawn.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <cmocka.h>

#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)
#define SNAP(name) SQ_SOURCE_DIR "/tests/gpu/" name
#define UUID0 "GPU-5f3c1a2e-0b9d-4c7e-9a1f-3d2b6e8c7a01"
#define UUID1 "GPU-a83d77e0-51c2-4f0b-8d5e-2c9b41f6e302"
#define UUID2 "GPU-c1e9b250-7a64-4d38-b0f2-95e07d3a1c13"
#define UUID3 "GPU-f40a6d18-2e87-4b91-a6c3-7d51e2b09f44"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-gpualloc-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static gpu_table read_snapshot(const char *path, const char *cuda_visible)
{
    gpu_probe_opts o = {.snapshot = path};
    gpu_probe *p = gpu_probe_new(&o);
    gpu_table t = GPU_TABLE_INIT;
    assert_int_equal(gpu_probe_read(p, &t), 0);
    gpu_probe_free(p);
    assert_int_equal(gpu_table_restrict(&t, cuda_visible, NULL), 0);
    return t;
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
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

static const gpu_request SHARE_12G = {0, 12 * GIB, 4 * GIB};
static const gpu_request WHOLE_1 = {1, 0, 4 * GIB};
static const gpu_request WHOLE_2 = {2, 0, 4 * GIB};

/* Chooses and takes for owner; returns the index of the first GPU given. */
static int place(gpu_alloc *a, const gpu_table *t, const gpu_request *r, const char *owner)
{
    gpu_grant g = GPU_GRANT_INIT;
    int rc = gpu_alloc_choose(&g, t, a, r);
    if (rc)
        fail_msg("'%s' did not fit: %s", owner, sq_error_msg());
    gpu_alloc_take(a, owner, &g);
    int first = g.n ? g.indices[0] : -1;
    gpu_grant_release(&g);
    return first;
}

static void assert_contains(const char *text, const char *part)
{
    if (!text || !strstr(text, part))
        fail_msg("expected '%s' in '%s'", part, text ? text : "(null)");
}

/* ---- whole GPUs -------------------------------------------------------- */

static void test_whole_gpus_are_exclusive(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_2, 100), 2);

    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &WHOLE_2), 0);
    assert_int_equal(g.n, 2);
    assert_true(g.exclusive);
    assert_int_equal(g.indices[0], 0);
    assert_int_equal(g.indices[1], 1);
    char *cvd = gpu_grant_cuda_visible(&g, false);
    assert_string_equal(cvd, UUID0 "," UUID1);
    free(cvd);
    cvd = gpu_grant_cuda_visible(&g, true);
    assert_string_equal(cvd, "0,1");
    free(cvd);
    gpu_alloc_take(&a, "s/1", &g);
    gpu_grant_release(&g);

    assert_int_equal(place(&a, &t, &WHOLE_2, "s/2"), 2);
    /* All four are held whole: nothing more, not even a small share. */
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 100), 0);
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 100), 0);
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &WHOLE_1), SQ_EBUSY);
    assert_contains(sq_error_msg(), "needs 1 whole GPU with 4 GiB free; not now: 0 of this "
                                    "agent's GPUs could take it now (GPU 0: held whole by trial "
                                    "s/1; GPU 1: held whole by trial s/1; GPU 2: held whole by "
                                    "trial s/2; GPU 3: held whole by trial s/2)");
    char *why = gpu_alloc_why_not(&t, &a, 3, &SHARE_12G);
    assert_string_equal(why, "held whole by trial s/2");
    free(why);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

static void test_whole_gpus_avoid_shared_and_busy_ones(void **state)
{
    /* GPU 1 has another user's 60 GiB (19 GiB free), GPU 2 is nearly full
     * (3.5 GiB free, below min_free), GPU 0 gets a share of ours. */
    gpu_table t = read_snapshot(SNAP("h100x4-busy.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    assert_int_equal(place(&a, &t, &SHARE_12G, "s/1"), 1);
    /* The share went to the fullest GPU where it fits (best fit: GPU 1),
     * which keeps GPUs 0 and 3 whole. */
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_2, 100), 1);
    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &WHOLE_2), 0);
    assert_int_equal(g.indices[0], 0);
    assert_int_equal(g.indices[1], 3);
    gpu_grant_release(&g);

    gpu_request whole_3 = {3, 0, 4 * GIB};
    assert_int_equal(gpu_alloc_fit(NULL, &t, &a, &whole_3), GPU_FIT_LATER);
    char *why = gpu_alloc_why_not(&t, &a, 1, &whole_3);
    assert_string_equal(why, "shared by 1 trial of this agent");
    free(why);
    why = gpu_alloc_why_not(&t, &a, 2, &whole_3);
    assert_string_equal(why, "only 3.5 GiB free, less than min_free_gpu_memory 4 GiB; other work: "
                             "pid 30012 uses 40 GiB, pid 30013 uses 35.6 GiB");
    free(why);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

static void test_whole_gpu_with_a_memory_need(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-busy.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    gpu_request big = {1, 70 * GIB, 4 * GIB};
    /* GPUs 0 and 3 have 79 GiB free; GPU 1 only 19. */
    assert_int_equal(gpu_alloc_count(&t, &a, &big, 100), 2);
    char *why = gpu_alloc_why_not(&t, &a, 1, &big);
    assert_string_equal(why, "only 19.1 GiB free; the trial needs 70 GiB; other work: pid 24811 "
                             "uses 60.0 GiB");
    free(why);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

/* ---- packing ----------------------------------------------------------- */

static void test_shares_are_packed_while_reservations_and_free_memory_fit(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x1.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    /* 79.1 GiB free: the k-th trial needs 12 GiB plus the 12 GiB each
     * earlier one may still take, so 6 fit (72 GiB), not 7 (84 GiB). */
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 100), 6);
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 4), 4);
    char owner[16];
    for (int i = 1; i <= 6; i++) {
        snprintf(owner, sizeof owner, "s/%d", i);
        assert_int_equal(place(&a, &t, &SHARE_12G, owner), 0);
    }
    assert_int_equal(a.n, 6);
    char *why = NULL;
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &SHARE_12G), GPU_FIT_LATER);
    assert_string_equal(why, "needs 12 GiB of one GPU; not now: 0 of this agent's GPUs could take "
                             "it now (GPU 0: this agent's trials reserve 72 GiB of its 79.6 GiB; "
                             "12 GiB more does not fit)");
    free(why);
    /* A smaller share still fits beside them. */
    gpu_request share_4g = {0, 4 * GIB, 4 * GIB};
    assert_int_equal(gpu_alloc_count(&t, &a, &share_4g, 100), 1);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

static void test_packing_prefers_the_fullest_gpu(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    gpu_request share_30g = {0, 30 * GIB, 4 * GIB};
    assert_int_equal(place(&a, &t, &share_30g, "s/1"), 0);
    assert_int_equal(place(&a, &t, &share_30g, "s/2"), 0);
    /* GPU 0 has 19.6 GiB of room left: a third 30 GiB goes to GPU 1, a
     * 12 GiB one back to GPU 0. */
    assert_int_equal(place(&a, &t, &share_30g, "s/3"), 1);
    assert_int_equal(place(&a, &t, &SHARE_12G, "s/4"), 0);
    /* GPUs 2 and 3 stayed whole. */
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_2, 100), 1);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

/* Starts `sleep 60` as the leader of a process group of its own. */
static pid_t start_trial(void)
{
    char *argv[] = {"sleep", "60", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.new_pgroup = true;
    o.die_with_parent = true;
    pid_t pid = -1;
    assert_int_equal(spawn_start(&pid, NULL, &o), 0);
    return pid;
}

static void stop_trial(pid_t pid)
{
    spawn_status st;
    spawn_signal_group(pid, SIGKILL);
    assert_int_equal(spawn_reap(pid, true, &st), 1);
}

static void test_what_our_trials_use_is_not_counted_twice(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x1.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    pid_t pids[4];
    char owner[16];
    for (int i = 0; i < 4; i++) {
        snprintf(owner, sizeof owner, "s/%d", i + 1);
        assert_int_equal(place(&a, &t, &SHARE_12G, owner), 0);
        pids[i] = start_trial();
    }
    gpu_table_release(&t);

    /* The four trials each allocated 10 GiB: 39.1 GiB free. */
    char *path = xasprintf("%s/ours.json", tmpdir);
    write_file(path,
               "[{\"uuid\": \"" UUID0 "\", \"memory_total\": \"81559MiB\", \"memory_free\": "
               "\"%lluMiB\", \"processes\": [{\"pid\": %d, \"used_memory\": \"10GiB\"}, {\"pid\": "
               "%d, \"used_memory\": \"10GiB\"}, {\"pid\": %d, \"used_memory\": \"10GiB\"}, "
               "{\"pid\": %d, \"used_memory\": \"10GiB\"}]}]",
               81004ULL - 40 * 1024, (int)pids[0], (int)pids[1], (int)pids[2], (int)pids[3]);
    t = read_snapshot(path, NULL);

    /* Not yet told which process groups are the trials': their 48 GiB of
     * reservations count as still to come, so nothing more fits. */
    char *why = gpu_alloc_why_not(&t, &a, 0, &SHARE_12G);
    char *expect = xasprintf("only 39.1 GiB free; the trial asks for 12 GiB and this agent's "
                             "trials may still take 48 GiB; other work: pid %d uses 10 GiB, pid "
                             "%d uses 10 GiB, pid %d uses 10 GiB and 1 more",
                             (int)pids[0], (int)pids[1], (int)pids[2]);
    assert_string_equal(why, expect);
    free(expect);
    free(why);
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 100), 0);

    /* Once started, each trial's 10 GiB is its own: only 2 GiB each may
     * still come, and 39.1 >= 12 + 8: one more fits, then another
     * (39.1 >= 12 + 8 + 12) but not a third (reservations would be 84). */
    for (int i = 0; i < 4; i++) {
        snprintf(owner, sizeof owner, "s/%d", i + 1);
        gpu_alloc_started(&a, owner, (int)pids[i]);
    }
    assert_null(gpu_alloc_why_not(&t, &a, 0, &SHARE_12G));
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 100), 2);

    for (int i = 0; i < 4; i++)
        stop_trial(pids[i]);
    free(path);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

/* ---- other work -------------------------------------------------------- */

static void test_a_foreign_process_appearing_mid_sweep(void **state)
{
    char *path = xasprintf("%s/live.json", tmpdir);
    const char *gpu_fmt = "{\"index\": %d, \"uuid\": \"%s\", \"memory_total\": \"80GiB\", "
                          "\"memory_free\": \"%dGiB\", \"processes\": [%s]}";
    char *g0 = xasprintf(gpu_fmt, 0, UUID0, 80, "");
    write_file(path, "[%s]", g0);
    free(g0);
    gpu_table t = read_snapshot(path, NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    assert_int_equal(place(&a, &t, &SHARE_12G, "s/1"), 0);
    gpu_table_release(&t);

    /* Another user starts a job that takes 70 GiB (its pid is not ours:
     * not a process here at all). Trial s/1 has not allocated yet. */
    g0 = xasprintf(gpu_fmt, 0, UUID0, 10, "{\"pid\": 2147483000, \"used_memory\": \"70GiB\"}");
    write_file(path, "[%s]", g0);
    free(g0);
    t = read_snapshot(path, NULL);
    char *why = NULL;
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &SHARE_12G), GPU_FIT_LATER);
    assert_contains(why, "GPU 0: only 10 GiB free; the trial asks for 12 GiB and this agent's "
                         "trials may still take 12 GiB; other work: pid 2147483000 uses 70 GiB");
    free(why);
    /* Still a usable GPU in general (10 GiB >= min_free 4 GiB). */
    gpu_request any = {0, 0, 4 * GIB};
    assert_null(gpu_alloc_why_not(&t, &a, 0, &any));
    gpu_table_release(&t);

    /* It grows to 77 GiB: the GPU is busy with other work for every new
     * trial, even after ours ends. */
    assert_int_equal(gpu_alloc_drop(&a, "s/1"), 1);
    g0 = xasprintf(gpu_fmt, 0, UUID0, 3, "{\"pid\": 2147483000, \"used_memory\": \"77GiB\"}");
    write_file(path, "[%s]", g0);
    free(g0);
    t = read_snapshot(path, NULL);
    why = gpu_alloc_why_not(&t, &a, 0, &any);
    assert_string_equal(why, "only 3 GiB free, less than min_free_gpu_memory 4 GiB; other work: "
                             "pid 2147483000 uses 77 GiB");
    free(why);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 10), 0);
    /* With no minimum, a small share still fits in the 3 GiB. */
    gpu_request tiny = {0, 2 * GIB, 0};
    assert_int_equal(gpu_alloc_count(&t, &a, &tiny, 10), 1);
    gpu_table_release(&t);

    /* It ends: the GPU is whole again. */
    g0 = xasprintf(gpu_fmt, 0, UUID0, 80, "");
    write_file(path, "[%s]", g0);
    free(g0);
    t = read_snapshot(path, NULL);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 10), 1);
    assert_int_equal(gpu_alloc_count(&t, &a, &SHARE_12G, 10), 6);
    gpu_table_release(&t);
    gpu_alloc_release(&a);
    free(path);
}

/* ---- visibility -------------------------------------------------------- */

static void test_inherited_cuda_visible_devices_by_index(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), "2,3");
    gpu_alloc a = GPU_ALLOC_INIT;
    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &WHOLE_2), 0);
    /* NVML indices 2 and 3, not positions 0 and 1 in the inherited list. */
    assert_int_equal(g.indices[0], 2);
    assert_int_equal(g.indices[1], 3);
    char *cvd = gpu_grant_cuda_visible(&g, false);
    assert_string_equal(cvd, UUID2 "," UUID3);
    free(cvd);
    gpu_alloc_take(&a, "s/1", &g);
    gpu_grant_release(&g);

    gpu_request whole_3 = {3, 0, 4 * GIB};
    char *why = NULL;
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &whole_3), GPU_FIT_NEVER);
    assert_string_equal(why, "needs 3 whole GPUs with 4 GiB free; this agent can never give it: 2 "
                             "of its GPUs could ever take it (GPU 0: not in "
                             "CUDA_VISIBLE_DEVICES=2,3; GPU 1: not in CUDA_VISIBLE_DEVICES=2,3; "
                             "GPU 2: held whole by trial s/1; GPU 3: held whole by trial s/1)");
    free(why);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

static void test_inherited_cuda_visible_devices_by_uuid(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), "GPU-a83d77e0");
    gpu_alloc a = GPU_ALLOC_INIT;
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 10), 1);
    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &SHARE_12G), 0);
    assert_int_equal(g.n, 1);
    assert_false(g.exclusive);
    assert_true(g.memory == 12 * GIB);
    char *cvd = gpu_grant_cuda_visible(&g, false);
    assert_string_equal(cvd, UUID1);
    free(cvd);
    cvd = gpu_grant_cuda_visible(&g, true);
    assert_string_equal(cvd, "1");
    free(cvd);
    gpu_grant_release(&g);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

/* ---- never ------------------------------------------------------------- */

static void test_a_trial_too_big_for_any_gpu_never_fits(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    gpu_request huge = {0, 100 * GIB, 4 * GIB};
    char *why = NULL;
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &huge), GPU_FIT_NEVER);
    assert_contains(why, "needs 100 GiB of one GPU; this agent can never give it: 0 of its GPUs "
                         "could ever take it (GPU 0: has 79.6 GiB in all; the trial asks for 100 "
                         "GiB; GPU 1:");
    free(why);
    assert_int_equal(gpu_alloc_count(&t, &a, &huge, 10), 0);
    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &huge), SQ_EINVAL);
    assert_int_equal(g.n, 0);

    gpu_request five = {5, 0, 4 * GIB};
    assert_int_equal(gpu_alloc_fit(NULL, &t, &a, &five), GPU_FIT_NEVER);
    gpu_request whole_big = {1, 90 * GIB, 4 * GIB};
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &whole_big), GPU_FIT_NEVER);
    assert_contains(why, "GPU 0: has 79.6 GiB in all; the trial needs 90 GiB free");
    free(why);
    gpu_request min_free_big = {0, 1 * GIB, 100 * GIB};
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &min_free_big), GPU_FIT_NEVER);
    assert_contains(why, "GPU 0: has 79.6 GiB in all, less than min_free_gpu_memory 100 GiB");
    free(why);
    gpu_table_release(&t);

    /* No GPUs at all: the reason says why none were found. */
    t = read_snapshot(SNAP("none.json"), NULL);
    assert_int_equal(gpu_alloc_fit(&why, &t, &a, &WHOLE_1), GPU_FIT_NEVER);
    assert_string_equal(why, "needs 1 whole GPU with 4 GiB free; this agent can never give it: 0 "
                             "of its GPUs could ever take it (no GPUs found: none)");
    free(why);
    gpu_table_release(&t);

    /* Every GPU hidden. */
    t = read_snapshot(SNAP("h100x4-idle.json"), "");
    assert_int_equal(gpu_alloc_fit(NULL, &t, &a, &SHARE_12G), GPU_FIT_NEVER);
    gpu_table_release(&t);
    gpu_alloc_release(&a);
}

static void test_a_trial_without_gpus_always_fits(void **state)
{
    gpu_table t = read_snapshot(SNAP("none.json"), NULL);
    gpu_alloc a = GPU_ALLOC_INIT;
    gpu_request cpu = {0, 0, 4 * GIB};
    assert_int_equal(gpu_alloc_fit(NULL, &t, &a, &cpu), GPU_FIT_NOW);
    assert_int_equal(gpu_alloc_count(&t, &a, &cpu, 7), 7);
    gpu_grant g = GPU_GRANT_INIT;
    assert_int_equal(gpu_alloc_choose(&g, &t, &a, &cpu), 0);
    assert_int_equal(g.n, 0);
    char *cvd = gpu_grant_cuda_visible(&g, false);
    assert_string_equal(cvd, "");
    free(cvd);
    gpu_alloc_take(&a, "s/1", &g);
    assert_int_equal(a.n, 0);
    assert_int_equal(gpu_alloc_drop(&a, "s/1"), 0);
    gpu_table_release(&t);
}

/* ---- release ----------------------------------------------------------- */

static void test_gpus_are_freed_when_reservations_are_dropped(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), "0,1");
    gpu_alloc a = GPU_ALLOC_INIT;
    assert_int_equal(place(&a, &t, &WHOLE_1, "s/1"), 0);
    assert_int_equal(place(&a, &t, &SHARE_12G, "s/2"), 1);
    assert_int_equal(place(&a, &t, &SHARE_12G, "s/3"), 1);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 10), 0);

    /* The exclusive trial ends: GPU 0 is free for another whole one. */
    assert_int_equal(gpu_alloc_drop(&a, "s/1"), 1);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_1, 10), 1);
    assert_int_equal(gpu_alloc_drop(&a, "s/1"), 0);
    /* One share ends: GPU 1 is still shared. */
    assert_int_equal(gpu_alloc_drop(&a, "s/2"), 1);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_2, 10), 0);
    /* The last one (killed, say) ends too: both are whole again. */
    assert_int_equal(gpu_alloc_drop(&a, "s/3"), 1);
    assert_int_equal(a.n, 0);
    assert_int_equal(gpu_alloc_count(&t, &a, &WHOLE_2, 10), 1);
    gpu_alloc_release(&a);
    gpu_table_release(&t);
}

/* What `status` can do with a live agent's registered gpus_json: whether a
 * sweep's trials could ever run there. */
static void test_another_agents_gpus_can_be_judged_from_its_json(void **state)
{
    gpu_table t = read_snapshot(SNAP("h100x4-idle.json"), "1");
    json_t *j = gpu_table_json(&t);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    gpu_table_release(&t);

    assert_int_equal(gpu_parse_snapshot(&t, text, "agent gpus_json"), 0);
    assert_int_equal(gpu_alloc_fit(NULL, &t, NULL, &WHOLE_1), GPU_FIT_NOW);
    assert_int_equal(gpu_alloc_fit(NULL, &t, NULL, &WHOLE_2), GPU_FIT_NEVER);
    assert_int_equal(gpu_alloc_count(&t, NULL, &SHARE_12G, 100), 6);
    char *why = gpu_alloc_why_not(&t, NULL, 0, &WHOLE_1);
    assert_string_equal(why, "not in CUDA_VISIBLE_DEVICES=1");
    free(why);
    free(text);
    gpu_table_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_gpus_are_exclusive),
        cmocka_unit_test(test_whole_gpus_avoid_shared_and_busy_ones),
        cmocka_unit_test(test_whole_gpu_with_a_memory_need),
        cmocka_unit_test(test_shares_are_packed_while_reservations_and_free_memory_fit),
        cmocka_unit_test(test_packing_prefers_the_fullest_gpu),
        cmocka_unit_test(test_what_our_trials_use_is_not_counted_twice),
        cmocka_unit_test(test_a_foreign_process_appearing_mid_sweep),
        cmocka_unit_test(test_inherited_cuda_visible_devices_by_index),
        cmocka_unit_test(test_inherited_cuda_visible_devices_by_uuid),
        cmocka_unit_test(test_a_trial_too_big_for_any_gpu_never_fits),
        cmocka_unit_test(test_a_trial_without_gpus_always_fits),
        cmocka_unit_test(test_gpus_are_freed_when_reservations_are_dropped),
        cmocka_unit_test(test_another_agents_gpus_can_be_judged_from_its_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
