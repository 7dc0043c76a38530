/*
 * test_agent_gpu.c - agent_run handing GPUs out, against a real SQLite
 * store and GPU snapshots (docs/gpus.md), with real child processes that
 * write the CUDA_VISIBLE_DEVICES they got: shares packed by memory and
 * never overcommitted, whole GPUs exclusive, a GPU freed by a timeout, a
 * trial too big for any GPU left pending with a warning, --gpus none, an
 * unreadable snapshot, and CPU trials left with the agent's own environment. (The scenarios with a
 * snapshot rewritten mid-sweep and an inherited CUDA_VISIBLE_DEVICES are
 * tests/e2e/t0501-agent-gpus.sh.)
 */
#include "util/common.h"

#include "project_fixture.h"

#include "agent/agent.h"
#include "agent/register.h"
#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <unistd.h>

#include <cmocka.h>

#define UUID0 "GPU-5f3c1a2e-0b9d-4c7e-9a1f-3d2b6e8c7a01"
#define UUID1 "GPU-a83d77e0-51c2-4f0b-8d5e-2c9b41f6e302"

typedef struct fixture {
    test_project p;
    char *one_gpu, *two_gpus; /* snapshot files */
    size_t started, warnings, max_running;
    char last_warning[512];
    bool check_agents; /* at each start, read the agents' registered GPUs */
    char *agents_gpus; /* the gpus_json seen then */
} fixture;

static char *write_snapshot(const char *dir, const char *name, const char *json)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(json, fp);
    fclose(fp);
    return path;
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    test_project_open(&f->p, "sq-agent-gpu");
    f->one_gpu = write_snapshot(f->p.dir, "one.json",
                                "[{\"uuid\": \"" UUID0 "\", \"memory_total\": \"80GiB\", "
                                "\"memory_free\": \"80GiB\"}]");
    f->two_gpus = write_snapshot(f->p.dir, "two.json",
                                 "[{\"uuid\": \"" UUID0 "\", \"memory_total\": \"80GiB\"},"
                                 " {\"uuid\": \"" UUID1 "\", \"memory_total\": \"80GiB\"}]");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("CUDA_DEVICE_ORDER");
    unsetenv("SWEEPQ_GPU_SNAPSHOT");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_project_close(&f->p);
    free(f->one_gpu);
    free(f->two_gpus);
    free(f->agents_gpus);
    free(f);
    unsetenv("CUDA_VISIBLE_DEVICES");
    return 0;
}

static void on_event(const agent_event *ev, void *ud)
{
    fixture *f = ud;
    if (ev->type == AGENT_EV_STARTED) {
        f->started++;
        if (ev->running > f->max_running)
            f->max_running = ev->running;
        if (f->check_agents && !f->agents_gpus) {
            store_agent *ag = NULL;
            size_t n = 0;
            assert_int_equal(store_list_agents(f->p.st, &ag, &n), 0);
            for (size_t i = 0; i < n && !f->agents_gpus; i++)
                if (ag[i].gpus_json)
                    f->agents_gpus = xstrdup(ag[i].gpus_json);
            store_agents_free(ag, n);
        }
    } else if (ev->type == AGENT_EV_WARNING) {
        f->warnings++;
        snprintf(f->last_warning, sizeof f->last_warning, "%s", ev->text);
    }
}

static void register_yaml(fixture *f, const char *yaml)
{
    test_project_register_yaml(&f->p, yaml);
}

static agent_summary run_agent(fixture *f, int slots, const char *snapshot, const char *gpus)
{
    agent_config cfg = {
        .ws = &f->p.ws,
        .slots = slots,
        .exit_when_idle = true,
        .grace = 1,
        .gpus = gpus,
        .gpu_snapshot = snapshot,
        .on_event = on_event,
        .ud = f,
    };
    agent_summary sum;
    if (agent_run(f->p.st, &cfg, &sum) != 0)
        fail_msg("agent_run: %s", sq_error_msg());
    return sum;
}

/* What trial n of sweep wrote into its directory's "cuda" file. */
static char *trial_cuda(fixture *f, const char *sweep, int n)
{
    char *path = xasprintf("%s/.sweepq/sweeps/%s/trials/%d/cuda", f->p.dir, sweep, n);
    FILE *fp = fopen(path, "r");
    free(path);
    if (!fp)
        fail_msg("trial %d of '%s' wrote no cuda file", n, sweep);
    char line[256] = "";
    if (!fgets(line, sizeof line, fp))
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\n")] = '\0';
    return xstrdup(line);
}

static trial_state trial_state_of(fixture *f, const char *sweep, uint64_t n)
{
    store_trial *t = NULL;
    if (store_get_trial(f->p.st, sweep, n, &t) != 0)
        fail_msg("store_get_trial: %s", sq_error_msg());
    trial_state s = t->state;
    store_trial_free(t);
    return s;
}

/* $VAR, not ${VAR}: ${...} is the spec's macro syntax */
#define WRITE_CUDA                                                                                 \
    "command: [sh, -c, 'v=$(printenv CUDA_VISIBLE_DEVICES || echo unset); "                        \
    "o=$(printenv CUDA_DEVICE_ORDER || echo unset); "                                              \
    "echo \"$v $o\" > \"$SWEEPQ_TRIAL_DIR/cuda\"; sleep 0.4']\n"

static void test_shares_are_packed_but_never_overcommitted(void **state)
{
    fixture *f = *state;
    /* 12 GiB shares of an 80 GiB GPU: 6 fit at once (72 GiB), never 7. */
    register_yaml(f, "name: pack\nmethod: grid\nresources: {gpu_memory: 12GiB}\n" WRITE_CUDA
                     "parameters: {x: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9]}}\n");
    agent_summary sum = run_agent(f, 9, f->one_gpu, NULL);
    assert_int_equal(sum.succeeded, 9);
    assert_true(f->max_running >= 2);
    assert_true(f->max_running <= 6);
    for (int n = 1; n <= 9; n++) {
        char *cuda = trial_cuda(f, "pack", n);
        assert_string_equal(cuda, UUID0 " PCI_BUS_ID");
        free(cuda);
    }
}

static void test_whole_gpus_are_exclusive(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: excl\nmethod: grid\nresources: {gpus: 1}\n" WRITE_CUDA
                     "parameters: {x: {values: [1, 2, 3, 4, 5]}}\n");
    agent_summary sum = run_agent(f, 5, f->two_gpus, NULL);
    assert_int_equal(sum.succeeded, 5);
    assert_true(f->max_running <= 2);
    bool seen0 = false, seen1 = false;
    for (int n = 1; n <= 5; n++) {
        char *cuda = trial_cuda(f, "excl", n);
        seen0 = seen0 || !strcmp(cuda, UUID0 " PCI_BUS_ID");
        seen1 = seen1 || !strcmp(cuda, UUID1 " PCI_BUS_ID");
        free(cuda);
    }
    assert_true(seen0 && seen1);
}

static void test_two_gpus_per_trial(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: pair\nmethod: grid\nresources: {gpus: 2}\n" WRITE_CUDA
                     "parameters: {x: {values: [1, 2]}}\n");
    agent_summary sum = run_agent(f, 4, f->two_gpus, NULL);
    assert_int_equal(sum.succeeded, 2);
    assert_int_equal(f->max_running, 1);
    char *cuda = trial_cuda(f, "pair", 1);
    assert_string_equal(cuda, UUID0 "," UUID1 " PCI_BUS_ID");
    free(cuda);
}

static void test_a_timed_out_trial_frees_its_gpu(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: slow\nmethod: grid\nresources: {gpus: 1}\ntimeout: 1s\n"
                     "max_attempts: 1\ncommand: [sleep, '30']\n"
                     "parameters: {x: {values: [1, 2]}}\n");
    agent_summary sum = run_agent(f, 2, f->one_gpu, NULL);
    assert_int_equal(sum.timed_out, 2); /* the second ran once the first's GPU was free */
    assert_int_equal(f->max_running, 1);
}

static void test_a_trial_too_big_is_left_pending_with_one_warning(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: big\nmethod: grid\nresources: {gpu_memory: 100GiB}\n" WRITE_CUDA
                     "parameters: {x: {values: [1, 2]}}\n");
    agent_summary sum = run_agent(f, 2, f->one_gpu, NULL);
    assert_int_equal(sum.started, 0);
    assert_int_equal(f->warnings, 1);
    assert_non_null(strstr(f->last_warning, "sweep 'big' is left for other agents"));
    assert_non_null(strstr(f->last_warning, "100 GiB"));
    assert_int_equal(trial_state_of(f, "big", 1), TRIAL_PENDING);
    assert_int_equal(trial_state_of(f, "big", 2), TRIAL_PENDING);
}

static void test_gpus_none_runs_cpu_trials_only(void **state)
{
    fixture *f = *state;
    setenv("CUDA_VISIBLE_DEVICES", "3", 1);
    register_yaml(f, "name: gpu\nmethod: grid\nresources: {gpus: 1}\n" WRITE_CUDA
                     "parameters: {x: {values: [1]}}\n");
    register_yaml(f, "name: cpu\nmethod: grid\n" WRITE_CUDA "parameters: {x: {values: [1]}}\n");
    /* no snapshot is read at all with --gpus none: a missing file is fine */
    char *missing = xasprintf("%s/missing.json", f->p.dir);
    agent_summary sum = run_agent(f, 2, missing, "none");
    free(missing);
    assert_int_equal(sum.succeeded, 1);
    assert_int_equal(trial_state_of(f, "gpu", 1), TRIAL_PENDING);
    /* a CPU trial keeps the agent's environment */
    char *cuda = trial_cuda(f, "cpu", 1);
    assert_string_equal(cuda, "3 unset");
    free(cuda);
    assert_non_null(strstr(f->last_warning, "sweep 'gpu' is left for other agents"));
}

static void test_an_unreadable_snapshot_starts_no_gpu_trial(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: gpu\nmethod: grid\nresources: {gpus: 1}\n" WRITE_CUDA
                     "parameters: {x: {values: [1]}}\n");
    char *missing = xasprintf("%s/missing.json", f->p.dir);
    agent_summary sum = run_agent(f, 2, missing, NULL);
    free(missing);
    assert_int_equal(sum.started, 0);
    assert_int_equal(f->warnings, 1);
    assert_non_null(strstr(f->last_warning, "cannot read the GPUs"));
    assert_int_equal(trial_state_of(f, "gpu", 1), TRIAL_PENDING);
}

static void test_gpus_option_picks_gpus_and_the_agent_registers_them(void **state)
{
    fixture *f = *state;
    f->check_agents = true;
    register_yaml(f, "name: excl\nmethod: grid\nresources: {gpus: 1}\n" WRITE_CUDA
                     "parameters: {x: {values: [1]}}\n");
    /* The agent deregisters when it exits: look while its trial runs. */
    agent_config cfg = {
        .ws = &f->p.ws,
        .slots = 1,
        .max_trials = 1,
        .grace = 1,
        .gpu_snapshot = f->two_gpus,
        .gpus = "1",
        .on_event = on_event,
        .ud = f,
    };
    agent_summary sum;
    assert_int_equal(agent_run(f->p.st, &cfg, &sum), 0);
    assert_int_equal(sum.succeeded, 1);
    char *cuda = trial_cuda(f, "excl", 1);
    assert_string_equal(cuda, UUID1 " PCI_BUS_ID"); /* --gpus 1 */
    free(cuda);
    /* registered with its GPUs, GPU 0 marked as not its to use */
    assert_non_null(f->agents_gpus);
    assert_non_null(strstr(f->agents_gpus, UUID0));
    assert_non_null(strstr(f->agents_gpus, "\"hidden\":true"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shares_are_packed_but_never_overcommitted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_whole_gpus_are_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_gpus_per_trial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_timed_out_trial_frees_its_gpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_trial_too_big_is_left_pending_with_one_warning,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpus_none_runs_cpu_trials_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unreadable_snapshot_starts_no_gpu_trial, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gpus_option_picks_gpus_and_the_agent_registers_them,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
