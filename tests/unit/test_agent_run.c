/*
 * test_agent_run.c - agent_run against a real SQLite store in a temporary
 * project, with real child processes: outcomes and metrics are recorded,
 * failures retried, timeouts enforced, a stop signal preempts, events tell
 * the story, and the W&B run id is stable. (The end-to-end scenarios with
 * several agents, crashes and fencing are tests/e2e/t03*.)
 */
#include "util/common.h"

#include "project_fixture.h"

#include "agent/agent.h"
#include "agent/register.h"
#include "spec/spec.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    test_project p;
    /* events seen */
    size_t started, finished, warnings, output_lines;
    int stop_signal_at_start; /* raise this signal when the first trial starts */
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    test_project_open(&f->p, "sq-agent");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_project_close(&f->p);
    free(f);
    return 0;
}

static void on_event(const agent_event *ev, void *ud)
{
    fixture *f = ud;
    switch (ev->type) {
    case AGENT_EV_STARTED:
        f->started++;
        if (f->stop_signal_at_start && f->started == 1)
            raise(f->stop_signal_at_start);
        break;
    case AGENT_EV_FINISHED: f->finished++; break;
    case AGENT_EV_WARNING: f->warnings++; break;
    case AGENT_EV_OUTPUT: f->output_lines++; break;
    default: break;
    }
}

static void register_yaml(fixture *f, const char *yaml)
{
    test_project_register_yaml(&f->p, yaml);
}

static agent_summary run_agent(fixture *f, int slots, double grace)
{
    agent_config cfg = {
        .ws = &f->p.ws,
        .slots = slots,
        .exit_when_idle = true,
        .grace = grace,
        .show_output = true,
        .on_event = on_event,
        .ud = f,
    };
    agent_summary sum;
    if (agent_run(f->p.st, &cfg, &sum) != 0)
        fail_msg("agent_run: %s", sq_error_msg());
    return sum;
}

static store_trial *trial(fixture *f, const char *sweep, uint64_t n)
{
    store_trial *t = NULL;
    if (store_get_trial(f->p.st, sweep, n, &t) != 0)
        fail_msg("store_get_trial: %s", sq_error_msg());
    return t;
}

static void test_agent_runs_every_trial_and_records_metrics(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: ok\nmethod: grid\n"
                     "command: [sh, -c, 'echo \"step=1 loss=0.$SWEEPQ_TRIAL\"']\n"
                     "parameters: {x: {values: [1, 2, 3, 4]}}\n");
    agent_summary sum = run_agent(f, 2, 1);
    assert_int_equal(sum.started, 4);
    assert_int_equal(sum.succeeded, 4);
    assert_false(sum.interrupted);
    assert_int_equal(f->started, 4);
    assert_int_equal(f->finished, 4);
    assert_int_equal(f->output_lines, 4);
    assert_int_equal(f->warnings, 0);
    store_trial *t = trial(f, "ok", 3);
    assert_int_equal(t->state, TRIAL_SUCCEEDED);
    assert_int_equal(t->exit_code, 0);
    assert_string_equal(t->metrics_json, "{\"loss\":0.3}");
    store_trial_free(t);
}

static void test_agent_retries_failures_up_to_max_attempts(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: bad\nmethod: grid\nmax_attempts: 2\n"
                     "command: [sh, -c, 'echo oops >&2; exit 3']\n"
                     "parameters: {x: {values: [1]}}\n");
    agent_summary sum = run_agent(f, 1, 1);
    assert_int_equal(sum.started, 2);
    assert_int_equal(sum.failed, 2);
    store_trial *t = trial(f, "bad", 1);
    assert_int_equal(t->state, TRIAL_FAILED);
    assert_int_equal(t->attempt, 2);
    assert_int_equal(t->exit_code, 3);
    assert_string_equal(t->error, "exited with status 3: oops");
    store_trial_free(t);
}

static void test_agent_enforces_the_timeout(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: slow\nmethod: grid\nmax_attempts: 1\ntimeout: 0.3s\n"
                     "command: [sh, -c, 'trap \"\" TERM; sleep 5']\n"
                     "parameters: {x: {values: [1]}}\n");
    agent_summary sum = run_agent(f, 1, 0.2);
    assert_int_equal(sum.timed_out, 1);
    store_trial *t = trial(f, "slow", 1);
    assert_int_equal(t->state, TRIAL_FAILED);
    assert_int_equal(t->term_signal, SIGKILL); /* it ignored SIGTERM */
    assert_int_equal(t->last_outcome, OUTCOME_TIMED_OUT);
    assert_non_null(strstr(t->error, "timed out after"));
    store_trial_free(t);
}

static void test_agent_stop_signal_preempts_without_using_a_try(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: stopme\nmethod: grid\nmax_attempts: 1\n"
                     "command: [sleep, '5']\n"
                     "parameters: {x: {values: [1, 2, 3]}}\n");
    f->stop_signal_at_start = SIGTERM;
    agent_summary sum = run_agent(f, 2, 1);
    assert_true(sum.stopped);
    assert_true(sum.interrupted);
    assert_int_equal(sum.started, 2);
    assert_int_equal(sum.preempted, 2);
    for (uint64_t n = 1; n <= 3; n++) {
        store_trial *t = trial(f, "stopme", n);
        assert_int_equal(t->state, TRIAL_PENDING);
        assert_int_equal(t->failures, 0);
        store_trial_free(t);
    }
}

static void test_agent_reports_a_program_that_cannot_run(void **state)
{
    fixture *f = *state;
    register_yaml(f, "name: nope\nmethod: grid\nmax_attempts: 1\n"
                     "command: [no-such-program-sweepq]\n"
                     "parameters: {x: {values: [1]}}\n");
    agent_summary sum = run_agent(f, 1, 1);
    assert_int_equal(sum.failed, 1);
    store_trial *t = trial(f, "nope", 1);
    assert_int_equal(t->exit_code, 127);
    assert_string_equal(t->error, "cannot run 'no-such-program-sweepq': No such file or directory");
    store_trial_free(t);
}

static void test_wandb_run_id_is_stable_per_sweep_and_key(void **state)
{
    char a[32], b[32], c[32];
    agent_wandb_run_id("sweep", "0123abcd", a, sizeof a);
    agent_wandb_run_id("sweep", "0123abcd", b, sizeof b);
    agent_wandb_run_id("other", "0123abcd", c, sizeof c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 16);
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
    assert_true(agent_default_slots() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_runs_every_trial_and_records_metrics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_retries_failures_up_to_max_attempts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_enforces_the_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_stop_signal_preempts_without_using_a_try, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_reports_a_program_that_cannot_run, setup,
                                        teardown),
        cmocka_unit_test(test_wandb_run_id_is_stable_per_sweep_and_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
