/*
 * store_conformance.c - the behaviour every store backend must have, written
 * against store.h only and run against a store URL.
 *
 * A backend's test runner (test_store.c for sqlite; later the postgresql
 * and http ones) #includes this file, because CMake builds each
 * tests/unit/test_*.c as one executable from one file, and calls
 *     store_conformance_run("sqlite", &backend_env);
 * where the env makes a fresh, empty store for each test and drops it after.
 *
 * Every test reads as the sentence its name says. Tests that need leases to
 * expire use a lease TTL of 1 ms and sleep 20 ms; tests that need leases to
 * hold use 600 s, so load on the machine cannot flip an outcome. Forked
 * children open their own handle and report through their exit status.
 */
#include "util/common.h"

#include "store/store.h"
#include "util/timeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct store_conformance_env {
    /* A URL naming a new, empty store; the caller frees it. */
    char *(*new_url)(void *ctx);
    /* Removes what new_url made. */
    void (*drop_url)(const char *url, void *ctx);
    void *ctx;
} store_conformance_env;

static const store_conformance_env *conf_env;

typedef struct conf_fixture {
    char *url;
    store *st;
} conf_fixture;

static int conf_setup(void **state)
{
    conf_fixture *f = xcalloc(1, sizeof *f);
    f->url = conf_env->new_url(conf_env->ctx);
    int rc = store_open(&f->st, f->url);
    if (rc < 0) {
        fprintf(stderr, "store_open(%s): %s\n", f->url, sq_error_msg());
        return -1;
    }
    *state = f;
    return 0;
}

static int conf_teardown(void **state)
{
    conf_fixture *f = *state;
    store_close(f->st);
    conf_env->drop_url(f->url, conf_env->ctx);
    free(f->url);
    free(f);
    return 0;
}

/* ---- building sweeps ------------------------------------------------------ */

/* A sweep definition that owns its strings: trials numbered first..first+n-1
 * with key "k<number>" and params {"x": <number>}. */
typedef struct conf_sweep {
    store_sweep_def def;
    store_trial_def *trials;
    char **strings;
    size_t nstrings;
} conf_sweep;

static const char *conf_tags[] = {"batch-7", "nightly"};

static void conf_sweep_init(conf_sweep *cs, const char *name, size_t n)
{
    memset(cs, 0, sizeof *cs);
    cs->trials = xcalloc(n ? n : 1, sizeof *cs->trials);
    cs->strings = xcalloc(2 * n + 1, sizeof *cs->strings);
    for (size_t i = 0; i < n; i++) {
        uint64_t num = i + 1;
        cs->strings[cs->nstrings++] = xasprintf("k%llu", (unsigned long long)num);
        cs->strings[cs->nstrings++] = xasprintf("{\"x\":%llu}", (unsigned long long)num);
        cs->trials[i].number = num;
        cs->trials[i].key = cs->strings[cs->nstrings - 2];
        cs->trials[i].params_json = cs->strings[cs->nstrings - 1];
    }
    store_sweep_def *d = &cs->def;
    d->name = name;
    d->spec_json = "{\"grid\":1}";
    d->spec_yaml = "name: test\n";
    d->command_json = "[\"python3\",\"train.py\"]";
    d->tags = conf_tags;
    d->ntags = 2;
    d->metric_name = "val.loss";
    d->maximize = false;
    d->max_attempts = 3;
    d->lease_ttl = 600;
    d->cpus = 1;
    d->total = n;
    d->trials = cs->trials;
    d->ntrials = n;
}

/* Renumbers trial i to number and key "k<key>" (for edited grids). */
static void conf_sweep_set(conf_sweep *cs, size_t i, uint64_t number, uint64_t key)
{
    cs->strings = xrealloc(cs->strings, (cs->nstrings + 1) * sizeof *cs->strings);
    cs->strings[cs->nstrings++] = xasprintf("k%llu", (unsigned long long)key);
    cs->trials[i].number = number;
    cs->trials[i].key = cs->strings[cs->nstrings - 1];
}

static void conf_sweep_release(conf_sweep *cs)
{
    for (size_t i = 0; i < cs->nstrings; i++)
        free(cs->strings[i]);
    free(cs->strings);
    free(cs->trials);
}

/* Creates a sweep of n trials; returns its id. */
static int64_t conf_create(store *st, const char *name, size_t n, int max_attempts, double ttl)
{
    conf_sweep cs;
    conf_sweep_init(&cs, name, n);
    cs.def.max_attempts = max_attempts;
    cs.def.lease_ttl = ttl;
    int64_t id = 0;
    uint64_t added = 0;
    int rc = store_create_sweep(st, &cs.def, &id, &added);
    if (rc < 0)
        fail_msg("create '%s': %s", name, sq_error_msg());
    assert_int_equal(added, n);
    conf_sweep_release(&cs);
    return id;
}

static store_sweep *conf_get(store *st, const char *name)
{
    store_sweep *s = NULL;
    if (store_get_sweep(st, name, &s) < 0)
        fail_msg("get '%s': %s", name, sq_error_msg());
    return s;
}

static store_trial *conf_trial(store *st, const char *name, uint64_t number)
{
    store_trial *t = NULL;
    if (store_get_trial(st, name, number, &t) < 0)
        fail_msg("get trial %llu: %s", (unsigned long long)number, sq_error_msg());
    return t;
}

/* Claims exactly one trial and returns it (caller frees). */
static store_claimed *conf_claim1(store *st, const char *agent, int64_t sweep_id)
{
    store_claimed *c = NULL;
    size_t n = 0;
    if (store_claim(st, agent, sweep_id, 1, &c, &n) < 0)
        fail_msg("claim: %s", sq_error_msg());
    assert_int_equal(n, 1);
    return c;
}

static int conf_finish(store *st, int64_t trial_id, int attempt, attempt_outcome o,
                       const char *metrics)
{
    store_result r = {.outcome = o,
                      .exit_code = o == OUTCOME_SUCCEEDED ? 0 : 1,
                      .error = o == OUTCOME_SUCCEEDED ? NULL : "it broke",
                      .metrics_json = metrics};
    return store_finish(st, trial_id, attempt, &r);
}

#define assert_ok(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ < 0)                                                                               \
            fail_msg("%s: %d %s", #expr, rc_, sq_error_msg());                                     \
    } while (0)

static void assert_counts(store *st, const char *name, uint64_t pending, uint64_t running,
                          uint64_t succeeded, uint64_t failed, uint64_t cancelled)
{
    store_sweep *s = conf_get(st, name);
    assert_int_equal(s->counts.pending, pending);
    assert_int_equal(s->counts.running, running);
    assert_int_equal(s->counts.succeeded, succeeded);
    assert_int_equal(s->counts.failed, failed);
    assert_int_equal(s->counts.cancelled, cancelled);
    store_sweep_free(s);
}

static void lease_expire_pause(void)
{
    time_sleep(0.02);
}

/* Forks a child that runs fn(url, arg, gate[0]) and _exits with its result.
 * The child closes the gate's write end, so that the parent closing its own
 * releases every child at once (read sees end of file). */
static pid_t conf_fork(int (*fn)(const char *url, int arg, int gate), const char *url, int arg,
                       const int gate[2])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(gate[1]);
        _exit(fn(url, arg, gate[0]));
    }
    return pid;
}

static int conf_wait(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Blocks until the parent closes the gate's write end: starts children at once. */
static void conf_gate_wait(int gate)
{
    char c;
    while (read(gate, &c, 1) < 0)
        ;
}

/* ---- creating sweeps ------------------------------------------------------ */

static void test_create_sweep_stores_definition_and_trials(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "grid", 5, 3, 600);
    store_sweep *s = conf_get(f->st, "grid");
    assert_string_equal(s->name, "grid");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    assert_string_equal(s->command_json, "[\"python3\",\"train.py\"]");
    assert_string_equal(s->spec_yaml, "name: test\n");
    assert_int_equal(s->ntags, 2);
    assert_string_equal(s->tags[0], "batch-7");
    assert_string_equal(s->metric_name, "val.loss");
    assert_int_equal(s->max_attempts, 3);
    assert_int_equal(s->total, 5);
    assert_int_equal(s->next_number, 6);
    assert_int_equal(s->counts.pending, 5);
    assert_true(s->created_at > 0);
    assert_false(s->completion_claimed);
    store_sweep_free(s);

    store_trial *t = conf_trial(f->st, "grid", 3);
    assert_string_equal(t->sweep_name, "grid");
    assert_string_equal(t->key, "k3");
    assert_string_equal(t->params_json, "{\"x\":3}");
    assert_int_equal(t->state, TRIAL_PENDING);
    assert_int_equal(t->attempt, 0);
    assert_int_equal(t->exit_code, -1);
    assert_string_equal(t->metrics_json, "{}");
    store_trial_free(t);
}

static void test_create_same_spec_twice_changes_nothing(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "same", 4, 3, 600);
    conf_sweep cs;
    conf_sweep_init(&cs, "same", 4);
    int64_t id2 = 0;
    uint64_t added = 99;
    assert_ok(store_create_sweep(f->st, &cs.def, &id2, &added));
    assert_int_equal(id2, id);
    assert_int_equal(added, 0);
    assert_counts(f->st, "same", 4, 0, 0, 0, 0);
    conf_sweep_release(&cs);
}

/* The sweep's tags, joined with ',' (caller frees). */
static char *conf_tags_of(store *st, const char *name)
{
    store_sweep *s = conf_get(st, name);
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < s->ntags; i++)
        sb_addf(&sb, "%s%s", i ? "," : "", s->tags[i]);
    store_sweep_free(s);
    return sb_detach(&sb);
}

static size_t conf_count_tagged(store *st, const char *tag)
{
    store_sweep_filter f = {.tag = tag};
    store_sweep *v = NULL;
    size_t n = 0;
    assert_ok(store_list_sweeps(st, &f, &v, &n));
    store_sweeps_free(v, n);
    return n;
}

static void test_create_again_adds_new_tags_and_keeps_old_ones(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "tagged", 3, 3, 600); /* batch-7, nightly */
    conf_sweep cs;
    conf_sweep_init(&cs, "tagged", 3);
    const char *more[] = {"b", "nightly", "a", "b"};
    cs.def.tags = more;
    cs.def.ntags = 4;
    int64_t id2 = 0;
    uint64_t added = 99;
    assert_ok(store_create_sweep(f->st, &cs.def, &id2, &added));
    assert_int_equal(id2, id);
    assert_int_equal(added, 0);
    char *tags = conf_tags_of(f->st, "tagged");
    assert_string_equal(tags, "batch-7,nightly,b,a"); /* old first, then new in order given */
    free(tags);
    assert_int_equal(conf_count_tagged(f->st, "a"), 1);
    assert_counts(f->st, "tagged", 3, 0, 0, 0, 0);

    /* no tags given: none removed */
    cs.def.ntags = 0;
    cs.def.tags = NULL;
    assert_ok(store_create_sweep(f->st, &cs.def, &id2, &added));
    tags = conf_tags_of(f->st, "tagged");
    assert_string_equal(tags, "batch-7,nightly,b,a");
    free(tags);

    /* an edited grid keeps the stored tags too and adds its new ones */
    conf_sweep edit;
    conf_sweep_init(&edit, "tagged", 4);
    edit.def.spec_json = "{\"grid\":2}";
    const char *one[] = {"edited"};
    edit.def.tags = one;
    edit.def.ntags = 1;
    assert_ok(store_create_sweep(f->st, &edit.def, &id2, &added));
    assert_int_equal(added, 1);
    tags = conf_tags_of(f->st, "tagged");
    assert_string_equal(tags, "batch-7,nightly,b,a,edited");
    free(tags);

    /* a refused create adds nothing */
    const char *refused[] = {"refused"};
    edit.def.tags = refused;
    edit.def.command_json = "[\"python3\",\"other.py\"]";
    assert_int_equal(store_create_sweep(f->st, &edit.def, &id2, &added), SQ_ECONFLICT);
    assert_int_equal(conf_count_tagged(f->st, "refused"), 0);
    conf_sweep_release(&edit);
    conf_sweep_release(&cs);
}

static void test_create_edited_grid_adds_only_new_keys(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "edit", 3, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);

    conf_sweep cs; /* the grid grew from 3 to 5 values */
    conf_sweep_init(&cs, "edit", 5);
    cs.def.spec_json = "{\"grid\":2}";
    cs.def.spec_yaml = "name: test # edited\n";
    int64_t id2 = 0;
    uint64_t added = 0;
    assert_ok(store_create_sweep(f->st, &cs.def, &id2, &added));
    assert_int_equal(id2, id);
    assert_int_equal(added, 2);
    store_sweep *s = conf_get(f->st, "edit");
    assert_string_equal(s->spec_json, "{\"grid\":2}");
    assert_string_equal(s->spec_yaml, "name: test # edited\n");
    assert_int_equal(s->total, 5);
    assert_int_equal(s->next_number, 6);
    store_sweep_free(s);
    assert_counts(f->st, "edit", 4, 0, 1, 0, 0);
    store_trial *t = conf_trial(f->st, "edit", 1);
    assert_int_equal(t->state, TRIAL_SUCCEEDED); /* the old trial is untouched */
    store_trial_free(t);
    conf_sweep_release(&cs);
}

static void test_create_edited_grid_that_renumbers_is_refused(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "renum", 3, 3, 600);
    conf_sweep cs; /* a new value inserted first: k9 would take number 1 */
    conf_sweep_init(&cs, "renum", 3);
    cs.def.spec_json = "{\"grid\":3}";
    conf_sweep_set(&cs, 0, 1, 9);
    int64_t id = 0;
    uint64_t added = 0;
    int rc = store_create_sweep(f->st, &cs.def, &id, &added);
    assert_int_equal(rc, SQ_ECONFLICT);
    assert_non_null(strstr(sq_error_msg(), "trial 1"));
    assert_counts(f->st, "renum", 3, 0, 0, 0, 0);
    store_sweep *s = conf_get(f->st, "renum");
    assert_string_equal(s->spec_json, "{\"grid\":1}"); /* nothing changed */
    store_sweep_free(s);
    conf_sweep_release(&cs);
}

static void test_create_with_other_command_is_refused_saying_how_to_proceed(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "cmd", 2, 3, 600);
    conf_sweep cs;
    conf_sweep_init(&cs, "cmd", 2);
    cs.def.command_json = "[\"python3\",\"other.py\"]";
    int64_t id = 0;
    uint64_t added = 0;
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, &added), SQ_ECONFLICT);
    assert_non_null(strstr(sq_error_msg(), "another command"));
    assert_non_null(strstr(sq_error_msg(), "use another 'name:'"));
    assert_int_equal(id, 0);
    conf_sweep_release(&cs);
}

static void test_create_with_other_settings_is_refused_naming_them(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "set", 2, 3, 600);
    conf_sweep cs;
    conf_sweep_init(&cs, "set", 2);
    cs.def.max_attempts = 5;
    cs.def.gpus = 1;
    int64_t id = 0;
    uint64_t added = 0;
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, &added), SQ_ECONFLICT);
    assert_non_null(strstr(sq_error_msg(), "max_attempts 3 -> 5"));
    assert_non_null(strstr(sq_error_msg(), "gpus 0 -> 1"));
    cs.def.max_attempts = 3;
    cs.def.gpus = 0;
    cs.def.metric_name = "acc";
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, &added), SQ_ECONFLICT);
    assert_non_null(strstr(sq_error_msg(), "metric val.loss (minimize) -> acc"));
    conf_sweep_release(&cs);
}

static int child_create(const char *url, int n, int gate)
{
    conf_gate_wait(gate);
    store *st = NULL;
    if (store_open(&st, url) < 0)
        return 10;
    conf_sweep cs;
    conf_sweep_init(&cs, "race", (size_t)n);
    int64_t id = 0;
    uint64_t added = 0;
    int rc = store_create_sweep(st, &cs.def, &id, &added);
    conf_sweep_release(&cs);
    store_close(st);
    if (rc < 0)
        return 11;
    return added == (uint64_t)n ? 1 : added == 0 ? 0 : 12;
}

static void test_create_racing_processes_make_one_sweep(void **state)
{
    conf_fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = conf_fork(child_create, f->url, 200, fds);
    close(fds[0]);
    close(fds[1]);
    int winners = 0;
    for (int i = 0; i < 4; i++) {
        int rc = conf_wait(pids[i]);
        assert_true(rc == 0 || rc == 1);
        winners += rc;
    }
    assert_int_equal(winners, 1);
    store_sweep *v = NULL;
    size_t n = 0;
    assert_ok(store_list_sweeps(f->st, NULL, &v, &n));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].counts.pending, 200);
    store_sweeps_free(v, n);
}

/* ---- claiming ------------------------------------------------------------- */

static void test_claim_takes_lowest_numbers_with_a_lease_and_attempt(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "claim", 5, 3, 600);
    double before = store_now(f->st);
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim(f->st, "agent-a", id, 3, &c, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].number, i + 1);
        assert_int_equal(c[i].sweep_id, id);
        assert_int_equal(c[i].attempt, 1);
        assert_int_equal(c[i].failures, 0);
        assert_false(c[i].resume);
        assert_true(c[i].lease_expires >= before + 599);
        assert_non_null(strstr(c[i].params_json, "\"x\""));
    }
    store_trial *t = conf_trial(f->st, "claim", 2);
    assert_int_equal(t->state, TRIAL_RUNNING);
    assert_string_equal(t->agent_id, "agent-a");
    assert_int_equal(t->attempt, 1);
    assert_true(t->started_at >= before);
    store_trial_free(t);
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, c[0].trial_id, &a, &na));
    assert_int_equal(na, 1);
    assert_int_equal(a[0].attempt, 1);
    assert_string_equal(a[0].agent_id, "agent-a");
    assert_int_equal(a[0].outcome, OUTCOME_NONE);
    store_attempts_free(a, na);
    store_claims_free(c, n);

    assert_ok(store_claim(f->st, "agent-b", id, 10, &c, &n));
    assert_int_equal(n, 2); /* only 4 and 5 were left */
    assert_int_equal(c[0].number, 4);
    store_claims_free(c, n);
    assert_ok(store_claim(f->st, "agent-b", id, 10, &c, &n));
    assert_int_equal(n, 0);
    assert_null(c);
    assert_counts(f->st, "claim", 0, 5, 0, 0, 0);
}

static void test_claim_of_a_paused_sweep_gets_nothing_until_resumed(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "pause", 2, 3, 600);
    assert_ok(store_set_sweep_state(f->st, "pause", SWEEP_PAUSED));
    store_sweep *s = conf_get(f->st, "pause");
    assert_int_equal(s->state, SWEEP_PAUSED);
    store_sweep_free(s);
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim(f->st, "a", id, 2, &c, &n));
    assert_int_equal(n, 0);
    assert_ok(store_set_sweep_state(f->st, "pause", SWEEP_ACTIVE));
    assert_ok(store_claim(f->st, "a", id, 2, &c, &n));
    assert_int_equal(n, 2);
    store_claims_free(c, n);
}

static void test_paused_sweep_finishes_when_its_last_running_trial_ends(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "pfin", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(store_set_sweep_state(f->st, "pfin", SWEEP_PAUSED));
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    store_sweep *s = conf_get(f->st, "pfin");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
    assert_ok(store_set_sweep_state(f->st, "pfin", SWEEP_ACTIVE)); /* no-op when finished */
    s = conf_get(f->st, "pfin");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
}

static void test_claim_of_a_missing_sweep_is_not_found(void **state)
{
    conf_fixture *f = *state;
    store_claimed *c = NULL;
    size_t n = 0;
    assert_int_equal(store_claim(f->st, "a", 4242, 1, &c, &n), SQ_ENOTFOUND);
    assert_null(c);
    store_sweep *s = NULL;
    assert_int_equal(store_get_sweep(f->st, "nope", &s), SQ_ENOTFOUND);
    assert_non_null(strstr(sq_error_msg(), "'nope'"));
    store_trial *t = NULL;
    conf_create(f->st, "one", 1, 3, 600);
    assert_int_equal(store_get_trial(f->st, "one", 2, &t), SQ_ENOTFOUND);
    assert_int_equal(store_get_trial(f->st, "two", 1, &t), SQ_ENOTFOUND);
}

/* ---- finishing -------------------------------------------------------------- */

static void test_finish_succeeded_stores_metrics_and_finishes_the_sweep(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "done", 2, 3, 600);
    for (int i = 0; i < 2; i++) {
        store_claimed *c = conf_claim1(f->st, "a", id);
        assert_ok(
            conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, "{\"val.loss\":0.25}"));
        store_claims_free(c, 1);
        store_sweep *s = conf_get(f->st, "done");
        assert_int_equal(s->state, i == 0 ? SWEEP_ACTIVE : SWEEP_FINISHED);
        assert_true(i == 0 ? s->finished_at == 0 : s->finished_at > 0);
        store_sweep_free(s);
    }
    store_trial *t = conf_trial(f->st, "done", 1);
    assert_int_equal(t->state, TRIAL_SUCCEEDED);
    assert_int_equal(t->last_outcome, OUTCOME_SUCCEEDED);
    assert_int_equal(t->exit_code, 0);
    assert_true(t->finished_at >= t->started_at);
    assert_non_null(strstr(t->metrics_json, "0.25"));
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, t->id, &a, &na));
    assert_int_equal(na, 1);
    assert_int_equal(a[0].outcome, OUTCOME_SUCCEEDED);
    assert_true(a[0].finished_at > 0);
    store_attempts_free(a, na);
    /* A succeeded trial never changes again: a second finish is refused. */
    assert_int_equal(conf_finish(f->st, t->id, 1, OUTCOME_FAILED, NULL), SQ_ELEASE_LOST);
    store_trial_free(t);
    assert_counts(f->st, "done", 0, 0, 2, 0, 0);
}

static void test_failure_retries_until_max_attempts_then_fails(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "flaky", 1, 3, 600);
    for (int attempt = 1; attempt <= 3; attempt++) {
        store_claimed *c = conf_claim1(f->st, "a", id);
        assert_int_equal(c->attempt, attempt);
        assert_int_equal(c->failures, attempt - 1);
        assert_int_equal(c->resume, attempt > 1);
        store_result r = {.outcome = attempt == 2 ? OUTCOME_TIMED_OUT : OUTCOME_FAILED,
                          .exit_code = attempt == 2 ? -1 : 3,
                          .term_signal = attempt == 2 ? 9 : 0,
                          .error = "CUDA out of memory"};
        assert_ok(store_finish(f->st, c->trial_id, c->attempt, &r));
        store_claims_free(c, 1);
        store_trial *t = conf_trial(f->st, "flaky", 1);
        assert_int_equal(t->failures, attempt);
        assert_int_equal(t->state, attempt < 3 ? TRIAL_PENDING : TRIAL_FAILED);
        assert_string_equal(t->error, "CUDA out of memory");
        store_trial_free(t);
    }
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim(f->st, "a", id, 1, &c, &n));
    assert_int_equal(n, 0);
    store_sweep *s = conf_get(f->st, "flaky");
    assert_int_equal(s->state, SWEEP_FINISHED);
    assert_int_equal(s->counts.failed, 1);
    store_sweep_free(s);
    store_trial *t = conf_trial(f->st, "flaky", 1);
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, t->id, &a, &na));
    assert_int_equal(na, 3);
    assert_int_equal(a[1].outcome, OUTCOME_TIMED_OUT);
    assert_int_equal(a[1].term_signal, 9);
    assert_int_equal(a[2].exit_code, 3);
    store_attempts_free(a, na);
    store_trial_free(t);
}

static void test_preemption_does_not_use_a_try_and_resumes(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "preempt", 1, 1, 600);
    for (int i = 0; i < 3; i++) {
        store_claimed *c = conf_claim1(f->st, "a", id);
        assert_int_equal(c->attempt, i + 1);
        assert_int_equal(c->resume, i > 0);
        assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_PREEMPTED, NULL));
        store_claims_free(c, 1);
    }
    store_trial *t = conf_trial(f->st, "preempt", 1);
    assert_int_equal(t->state, TRIAL_PENDING); /* max_attempts is 1, yet still pending */
    assert_int_equal(t->failures, 0);
    assert_int_equal(t->last_outcome, OUTCOME_PREEMPTED);
    store_trial_free(t);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    assert_counts(f->st, "preempt", 0, 0, 1, 0, 0);
}

/* ---- leases: reap and fencing ---------------------------------------------- */

static void test_reap_of_an_expired_lease_uses_a_try(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "crash", 1, 2, 0.001);
    store_claimed *c = conf_claim1(f->st, "dead-agent", id);
    store_claims_free(c, 1);
    lease_expire_pause();
    uint64_t n = 0;
    assert_ok(store_reap(f->st, &n));
    assert_int_equal(n, 1);
    store_trial *t = conf_trial(f->st, "crash", 1);
    assert_int_equal(t->state, TRIAL_PENDING);
    assert_int_equal(t->failures, 1);
    assert_int_equal(t->last_outcome, OUTCOME_LOST);
    assert_non_null(strstr(t->error, "dead-agent"));
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, t->id, &a, &na));
    assert_int_equal(a[0].outcome, OUTCOME_LOST);
    store_attempts_free(a, na);
    store_trial_free(t);

    c = conf_claim1(f->st, "dead-agent", id); /* the second try also vanishes */
    store_claims_free(c, 1);
    lease_expire_pause();
    assert_ok(store_reap(f->st, &n));
    assert_int_equal(n, 1);
    t = conf_trial(f->st, "crash", 1);
    assert_int_equal(t->state, TRIAL_FAILED);
    assert_int_equal(t->failures, 2);
    store_trial_free(t);
    store_sweep *s = conf_get(f->st, "crash");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
    assert_ok(store_reap(f->st, &n));
    assert_int_equal(n, 0);
}

static void test_stale_attempt_is_refused_after_reap_and_reclaim(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "fence", 1, 3, 0.001);
    store_claimed *old = conf_claim1(f->st, "stopped", id);
    lease_expire_pause();
    store_claimed *cur = conf_claim1(f->st, "second", id); /* the claim reaps first */
    assert_int_equal(cur->trial_id, old->trial_id);
    assert_int_equal(cur->attempt, 2);
    assert_true(cur->resume);
    assert_int_equal(cur->failures, 1);

    /* The stopped agent comes back: every write is refused, nothing changes. */
    assert_int_equal(
        conf_finish(f->st, old->trial_id, old->attempt, OUTCOME_SUCCEEDED, "{\"val.loss\":9}"),
        SQ_ELEASE_LOST);
    assert_non_null(strstr(sq_error_msg(), "lease lost"));
    assert_int_equal(
        store_append_metrics(f->st, old->trial_id, old->attempt, "[{\"step\":1,\"val.loss\":9}]"),
        SQ_ELEASE_LOST);
    store_lease l = {.trial_id = old->trial_id, .attempt = old->attempt};
    assert_ok(store_heartbeat(f->st, "stopped", &l, 1));
    assert_true(l.lost);
    assert_false(l.cancel);

    assert_ok(
        conf_finish(f->st, cur->trial_id, cur->attempt, OUTCOME_SUCCEEDED, "{\"val.loss\":0.5}"));
    store_trial *t = conf_trial(f->st, "fence", 1);
    assert_int_equal(t->state, TRIAL_SUCCEEDED);
    assert_int_equal(t->attempt, 2);
    assert_string_equal(t->metrics_json, "{\"val.loss\":0.5}");
    store_trial_free(t);
    char *series = NULL;
    assert_ok(store_get_metrics(f->st, cur->trial_id, &series));
    assert_string_equal(series, "[]");
    free(series);
    store_claims_free(old, 1);
    store_claims_free(cur, 1);
}

static void test_heartbeat_renews_leases_and_marks_the_agent_seen(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "hb", 2, 3, 600);
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim(f->st, "hb-agent", id, 2, &c, &n));
    assert_int_equal(n, 2);
    time_sleep(0.01);
    store_lease l[2] = {{.trial_id = c[0].trial_id, .attempt = 1, .lost = true, .cancel = true},
                        {.trial_id = c[1].trial_id, .attempt = 1}};
    assert_ok(store_heartbeat(f->st, "hb-agent", l, 2));
    assert_false(l[0].lost);
    assert_false(l[0].cancel);
    assert_false(l[1].lost);
    store_trial *t = conf_trial(f->st, "hb", 1);
    assert_true(t->lease_expires > c[0].lease_expires);
    store_trial_free(t);
    store_agent *a = NULL;
    size_t na = 0;
    assert_ok(store_list_agents(f->st, &a, &na));
    assert_int_equal(na, 1);
    assert_string_equal(a[0].id, "hb-agent");
    assert_true(a[0].alive);
    assert_int_equal(a[0].running, 2);
    store_agents_free(a, na);
    store_claims_free(c, n);
}

static void test_heartbeat_after_expiry_but_before_a_reap_keeps_the_trial(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "late", 1, 3, 0.001);
    store_claimed *c = conf_claim1(f->st, "slow", id);
    lease_expire_pause();
    /* Nobody reaped yet: a late heartbeat is still the holder's. */
    store_lease l = {.trial_id = c->trial_id, .attempt = c->attempt};
    assert_ok(store_heartbeat(f->st, "slow", &l, 1));
    assert_false(l.lost);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
}

/* ---- cancel and retry ------------------------------------------------------- */

static void test_cancel_stops_pending_and_flags_running_trials(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "cancel", 3, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    store_claimed *c2 = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c2->trial_id, c2->attempt, OUTCOME_SUCCEEDED, NULL));
    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "cancel", &n));
    assert_int_equal(n, 2); /* trial 1 running and trial 3 pending */
    assert_counts(f->st, "cancel", 0, 0, 1, 0, 2);
    store_sweep *s = conf_get(f->st, "cancel");
    assert_int_equal(s->state, SWEEP_CANCELLED);
    assert_true(s->finished_at > 0);
    store_sweep_free(s);

    store_lease l[2] = {{.trial_id = c->trial_id, .attempt = c->attempt},
                        {.trial_id = c2->trial_id, .attempt = c2->attempt}};
    assert_ok(store_heartbeat(f->st, "a", l, 2));
    assert_true(l[0].cancel);
    assert_false(l[0].lost);
    assert_true(l[1].lost); /* finished already: not the agent's anymore */
    assert_int_equal(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_FAILED, NULL),
                     SQ_ELEASE_LOST);
    store_trial *t = conf_trial(f->st, "cancel", 1);
    assert_int_equal(t->state, TRIAL_CANCELLED);
    assert_true(t->cancel_requested);
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, t->id, &a, &na));
    assert_int_equal(a[0].outcome, OUTCOME_CANCELLED);
    store_attempts_free(a, na);
    store_trial_free(t);
    store_claimed *none = NULL;
    size_t nn = 0;
    assert_ok(store_claim(f->st, "a", id, 5, &none, &nn));
    assert_int_equal(nn, 0);
    store_claims_free(c, 1);
    store_claims_free(c2, 1);
}

static void test_retry_puts_failed_and_cancelled_back_and_reopens(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "retry", 3, 1, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_FAILED, NULL));
    store_claims_free(c, 1);
    c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "retry", &n));
    assert_counts(f->st, "retry", 0, 0, 1, 1, 1);

    assert_ok(store_retry(f->st, "retry", true, false, &n));
    assert_int_equal(n, 1);
    assert_counts(f->st, "retry", 1, 0, 1, 0, 1);
    store_trial *t = conf_trial(f->st, "retry", 1);
    assert_int_equal(t->state, TRIAL_PENDING);
    assert_int_equal(t->failures, 0);
    store_trial_free(t);
    store_sweep *s = conf_get(f->st, "retry");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    assert_true(s->finished_at == 0);
    store_sweep_free(s);

    assert_ok(store_retry(f->st, "retry", false, true, &n));
    assert_int_equal(n, 1);
    assert_counts(f->st, "retry", 2, 0, 1, 0, 0);
    t = conf_trial(f->st, "retry", 2);
    assert_int_equal(t->state, TRIAL_SUCCEEDED); /* retry never touches succeeded */
    store_trial_free(t);

    c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 1);
    assert_int_equal(c->attempt, 2);
    assert_int_equal(c->failures, 0);
    assert_true(c->resume);
    store_claims_free(c, 1);
    assert_int_equal(store_retry(f->st, "missing", true, true, &n), SQ_ENOTFOUND);
}

static void test_retry_of_a_finished_sweep_makes_it_active_again(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "refin", 1, 1, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_FAILED, NULL));
    store_claims_free(c, 1);
    store_sweep *s = conf_get(f->st, "refin");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
    uint64_t n = 0;
    assert_ok(store_retry(f->st, "refin", false, false, &n)); /* neither: both */
    assert_int_equal(n, 1);
    s = conf_get(f->st, "refin");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    store_sweep_free(s);
}

static void test_cancelled_sweep_cannot_be_resumed_but_can_be_retried(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "cr", 2, 3, 600);
    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "cr", &n));
    assert_int_equal(store_set_sweep_state(f->st, "cr", SWEEP_ACTIVE), SQ_ECONFLICT);
    assert_non_null(strstr(sq_error_msg(), "retry"));
    assert_int_equal(store_set_sweep_state(f->st, "cr", SWEEP_FINISHED), SQ_EINVAL);
    assert_ok(store_retry(f->st, "cr", false, true, &n));
    assert_int_equal(n, 2);
    store_sweep *s = conf_get(f->st, "cr");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    store_sweep_free(s);
}

/* ---- completion ------------------------------------------------------------- */

static int64_t finished_sweep(store *st, const char *name)
{
    int64_t id = conf_create(st, name, 2, 3, 600);
    for (int i = 0; i < 2; i++) {
        store_claimed *c = conf_claim1(st, "a", id);
        assert_ok(conf_finish(st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
        store_claims_free(c, 1);
    }
    return id;
}

static void test_completion_is_not_claimable_before_every_trial_is_final(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "early", 1, 3, 600);
    bool won = true;
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_false(won);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_false(won);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_true(won);
    assert_int_equal(store_claim_completion(f->st, 9999, "me", &won), SQ_ENOTFOUND);
}

static void test_completion_is_won_once_across_two_handles(void **state)
{
    conf_fixture *f = *state;
    int64_t id = finished_sweep(f->st, "once");
    store *other = NULL;
    assert_ok(store_open(&other, f->url));
    bool a = false, b = false;
    assert_ok(store_claim_completion(other, id, "other", &a));
    assert_ok(store_claim_completion(f->st, id, "first", &b));
    assert_true(a);
    assert_false(b);
    assert_ok(store_claim_completion(other, id, "other", &a));
    assert_false(a);
    store_sweep *s = conf_get(f->st, "once");
    assert_false(s->completion_claimed); /* held, not done */
    store_sweep_free(s);
    assert_ok(store_complete_update(other, id, "other", COMPLETION_RENEW));
    assert_int_equal(store_complete_update(f->st, id, "first", COMPLETION_SUCCEEDED),
                     SQ_ELEASE_LOST);
    assert_ok(store_complete_update(other, id, "other", COMPLETION_SUCCEEDED));
    store_close(other);
    s = conf_get(f->st, "once");
    assert_true(s->completion_claimed);
    store_sweep_free(s);
    assert_ok(store_claim_completion(f->st, id, "first", &b));
    assert_false(b);
    assert_int_equal(store_complete_update(f->st, id, "other", COMPLETION_RENEW), SQ_ELEASE_LOST);
}

static void test_completion_of_a_dead_holder_is_won_again_after_its_lease(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "hook", 1, 3, 0.001);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    bool won = false;
    assert_ok(store_claim_completion(f->st, id, "dead", &won));
    assert_true(won);
    lease_expire_pause(); /* "dead" never renews */
    assert_ok(store_claim_completion(f->st, id, "next", &won));
    assert_true(won);
    assert_int_equal(store_complete_update(f->st, id, "dead", COMPLETION_SUCCEEDED),
                     SQ_ELEASE_LOST);
    assert_ok(store_complete_update(f->st, id, "next", COMPLETION_SUCCEEDED));
    lease_expire_pause();
    assert_ok(store_claim_completion(f->st, id, "late", &won));
    assert_false(won);
    store_sweep *s = conf_get(f->st, "hook");
    assert_true(s->completion_claimed);
    store_sweep_free(s);
}

static void test_failed_completion_is_retried_after_a_backoff_then_given_up(void **state)
{
    conf_fixture *f = *state;
    /* lease_ttl 0.2 s: the backoff is 0.2 s, then 0.4 s */
    int64_t id = conf_create(f->st, "flaky", 1, 2, 0.2);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    bool won = false;
    assert_ok(store_claim_completion(f->st, id, "a", &won));
    assert_true(won);
    assert_ok(store_complete_update(f->st, id, "a", COMPLETION_FAILED));
    assert_ok(store_claim_completion(f->st, id, "b", &won));
    assert_false(won); /* backing off */
    time_sleep(0.3);
    assert_ok(store_claim_completion(f->st, id, "b", &won));
    assert_true(won);
    assert_ok(store_complete_update(f->st, id, "b", COMPLETION_FAILED)); /* 2 of max_attempts 2 */
    store_sweep *s = conf_get(f->st, "flaky");
    assert_true(s->completion_claimed); /* given up */
    store_sweep_free(s);
    time_sleep(0.5);
    assert_ok(store_claim_completion(f->st, id, "c", &won));
    assert_false(won);
}

static int child_completion(const char *url, int sweep_id, int gate)
{
    conf_gate_wait(gate);
    store *st = NULL;
    bool won = false;
    if (store_open(&st, url) < 0)
        return 10;
    int rc = store_claim_completion(st, sweep_id, "child", &won);
    store_close(st);
    return rc < 0 ? 11 : won ? 1 : 0;
}

static void test_completion_is_won_once_across_processes(void **state)
{
    conf_fixture *f = *state;
    int64_t id = finished_sweep(f->st, "forked");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = conf_fork(child_completion, f->url, (int)id, fds);
    close(fds[0]);
    close(fds[1]);
    int winners = 0;
    for (int i = 0; i < 4; i++) {
        int rc = conf_wait(pids[i]);
        assert_true(rc == 0 || rc == 1);
        winners += rc;
    }
    assert_int_equal(winners, 1);
}

/* ---- concurrency ------------------------------------------------------------ */

#define CONC_TRIALS 400

/* Claims and finishes until nothing is left; writes each claimed number as
 * one line to a file named url + ".claims.<child>". */
static int child_claim_loop(const char *url, int child, int gate)
{
    conf_gate_wait(gate);
    store *st = NULL;
    if (store_open(&st, url) < 0)
        return 10;
    store_sweep *s = NULL;
    if (store_get_sweep(st, "conc", &s) < 0)
        return 11;
    int64_t id = s->id;
    store_sweep_free(s);
    char *path = xasprintf("%s.claims.%d", url, child);
    const char *file = strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path;
    FILE *out = fopen(file, "w");
    char agent[32];
    snprintf(agent, sizeof agent, "agent-%d", child);
    int rc = out ? 0 : 12;
    for (;;) {
        store_claimed *c = NULL;
        size_t n = 0;
        if (rc || store_claim(st, agent, id, 1 + (size_t)child % 3, &c, &n) < 0) {
            rc = rc ? rc : 13;
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n && rc == 0; i++) {
            fprintf(out, "%llu\n", (unsigned long long)c[i].number);
            if (conf_finish(st, c[i].trial_id, c[i].attempt, OUTCOME_SUCCEEDED, NULL) < 0)
                rc = 14;
        }
        store_claims_free(c, n);
    }
    if (out)
        fclose(out);
    free(path);
    store_close(st);
    return rc;
}

static void test_concurrent_claims_never_hand_out_a_trial_twice(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "conc", CONC_TRIALS, 3, 600);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = conf_fork(child_claim_loop, f->url, i, fds);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(conf_wait(pids[i]), 0);

    int seen[CONC_TRIALS + 1] = {0};
    int total = 0;
    for (int i = 0; i < 4; i++) {
        char *path = xasprintf("%s.claims.%d", f->url, i);
        const char *file = strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path;
        FILE *in = fopen(file, "r");
        assert_non_null(in);
        unsigned long long num;
        while (fscanf(in, "%llu", &num) == 1) {
            assert_true(num >= 1 && num <= CONC_TRIALS);
            seen[num]++;
            total++;
        }
        fclose(in);
        unlink(file);
        free(path);
    }
    assert_int_equal(total, CONC_TRIALS);
    for (int i = 1; i <= CONC_TRIALS; i++)
        assert_int_equal(seen[i], 1);
    assert_counts(f->st, "conc", 0, 0, CONC_TRIALS, 0, 0);
    store_trial *v = NULL;
    size_t n = 0;
    store_trial_query q = {.sweep = "conc", .state = -1};
    assert_ok(store_list_trials(f->st, &q, &v, &n));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].attempt, 1);
    store_trials_free(v, n);
}

/* ---- reading ----------------------------------------------------------------- */

static void test_list_trials_sorts_by_a_dotted_metric_with_missing_last(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "sort", 5, 3, 600);
    const char *metrics[] = {"{\"val.loss\":0.5}", "{\"val.loss\":0.1}", "{\"acc\":1}",
                             "{\"val.loss\":0.9}", NULL};
    for (int i = 0; i < 5; i++) {
        store_claimed *c = conf_claim1(f->st, "a", id);
        if (i < 4)
            assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, metrics[i]));
        store_claims_free(c, 1);
    }
    store_trial *v = NULL;
    size_t n = 0;
    store_trial_query q = {.sweep = "sort", .state = -1, .sort_metric = "val.loss"};
    assert_ok(store_list_trials(f->st, &q, &v, &n));
    assert_int_equal(n, 5);
    uint64_t asc[] = {2, 1, 4, 3, 5};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].number, asc[i]);
    store_trials_free(v, n);

    q.descending = true;
    q.limit = 2;
    assert_ok(store_list_trials(f->st, &q, &v, &n));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].number, 4);
    assert_int_equal(v[1].number, 1);
    store_trials_free(v, n);

    store_trial_query running = {.sweep = "sort", .state = TRIAL_RUNNING};
    assert_ok(store_list_trials(f->st, &running, &v, &n));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].number, 5);
    assert_string_equal(v[0].sweep_name, "sort");
    store_trials_free(v, n);

    store_trial_query by_number = {.sweep = "sort", .state = TRIAL_SUCCEEDED, .descending = true};
    assert_ok(store_list_trials(f->st, &by_number, &v, &n));
    assert_int_equal(n, 4);
    assert_int_equal(v[0].number, 4);
    store_trials_free(v, n);

    store_trial_query bad = {.sweep = "sort", .state = -1, .sort_metric = "a\"b"};
    assert_int_equal(store_list_trials(f->st, &bad, &v, &n), SQ_EINVAL);
    store_trial_query missing = {.sweep = "nope", .state = -1};
    assert_int_equal(store_list_trials(f->st, &missing, &v, &n), SQ_ENOTFOUND);
}

static void test_list_sweeps_filters_by_name_tag_time_and_runnable(void **state)
{
    conf_fixture *f = *state;
    conf_create(f->st, "s1", 2, 3, 600);
    finished_sweep(f->st, "s2");
    conf_sweep cs;
    conf_sweep_init(&cs, "s3", 1);
    const char *tags[] = {"other"};
    cs.def.tags = tags;
    cs.def.ntags = 1;
    int64_t id;
    uint64_t added;
    assert_ok(store_create_sweep(f->st, &cs.def, &id, &added));
    conf_sweep_release(&cs);
    assert_ok(store_set_sweep_state(f->st, "s3", SWEEP_PAUSED));

    store_sweep *v = NULL;
    size_t n = 0;
    assert_ok(store_list_sweeps(f->st, NULL, &v, &n));
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "s1");
    assert_int_equal(v[1].counts.succeeded, 2);
    store_sweeps_free(v, n);

    const char *names[] = {"s3", "s1", "absent"};
    store_sweep_filter byname = {.names = names, .nnames = 3};
    assert_ok(store_list_sweeps(f->st, &byname, &v, &n));
    assert_int_equal(n, 2);
    store_sweeps_free(v, n);

    store_sweep_filter bytag = {.tag = "batch-7"};
    assert_ok(store_list_sweeps(f->st, &bytag, &v, &n));
    assert_int_equal(n, 2);
    store_sweeps_free(v, n);

    store_sweep_filter runnable = {.runnable_only = true};
    assert_ok(store_list_sweeps(f->st, &runnable, &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "s1");
    store_sweeps_free(v, n);

    store_sweep_filter future = {.since = store_now(f->st) + 3600};
    assert_ok(store_list_sweeps(f->st, &future, &v, &n));
    assert_int_equal(n, 0);
    store_sweep_filter past = {.since = store_now(f->st) - 3600};
    assert_ok(store_list_sweeps(f->st, &past, &v, &n));
    assert_int_equal(n, 3);
    store_sweeps_free(v, n);
}

static void test_gc_deletes_only_old_finished_and_cancelled_sweeps(void **state)
{
    conf_fixture *f = *state;
    int64_t id = finished_sweep(f->st, "old-done");
    conf_create(f->st, "old-cancelled", 2, 3, 600);
    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "old-cancelled", &n));
    conf_create(f->st, "active", 2, 3, 600);
    char **names = NULL;
    size_t nn = 0;
    assert_ok(store_gc(f->st, store_now(f->st) - 3600, &names, &nn));
    assert_int_equal(nn, 0);
    time_sleep(0.01);
    assert_ok(store_gc(f->st, store_now(f->st), &names, &nn));
    assert_int_equal(nn, 2);
    assert_string_equal(names[0], "old-done");
    assert_string_equal(names[1], "old-cancelled");
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    store_sweep *v = NULL;
    size_t ns = 0;
    assert_ok(store_list_sweeps(f->st, NULL, &v, &ns));
    assert_int_equal(ns, 1);
    assert_string_equal(v[0].name, "active");
    store_sweeps_free(v, ns);
    store_claimed *c = NULL;
    assert_int_equal(store_claim(f->st, "a", id, 1, &c, &nn), SQ_ENOTFOUND);
}

static void test_import_marks_a_pending_trial_succeeded_without_running_it(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "imp", 2, 3, 600);
    store_trial *t = conf_trial(f->st, "imp", 2);
    assert_ok(store_import_result(f->st, t->id, "{\"val.loss\":0.3}"));
    assert_int_equal(store_import_result(f->st, t->id, "{}"), SQ_ECONFLICT);
    assert_int_equal(store_import_result(f->st, t->id, "[1]"), SQ_EINVAL);
    store_trial_free(t);
    t = conf_trial(f->st, "imp", 2);
    assert_int_equal(t->state, TRIAL_SUCCEEDED);
    assert_int_equal(t->attempt, 0);
    assert_string_equal(t->metrics_json, "{\"val.loss\":0.3}");
    store_trial_free(t);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 1); /* the imported trial is not handed out */
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    store_sweep *s = conf_get(f->st, "imp");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
    assert_int_equal(store_import_result(f->st, 987654, NULL), SQ_ENOTFOUND);
}

static void test_agents_register_list_and_deregister(void **state)
{
    conf_fixture *f = *state;
    store_agent_info info = {.id = "host:1:ab",
                             .host = "host",
                             .pid = 1,
                             .slots = 4,
                             .gpus_json = "[{\"index\":0}]",
                             .version = "0.1.0"};
    assert_ok(store_register_agent(f->st, &info));
    info.id = "host:2:cd";
    info.gpus_json = NULL;
    assert_ok(store_register_agent(f->st, &info));
    int64_t id = conf_create(f->st, "ag", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "host:1:ab", id);
    store_claims_free(c, 1);
    store_agent *a = NULL;
    size_t n = 0;
    assert_ok(store_list_agents(f->st, &a, &n));
    assert_int_equal(n, 2);
    assert_string_equal(a[0].id, "host:1:ab");
    assert_string_equal(a[0].host, "host");
    assert_int_equal(a[0].slots, 4);
    assert_string_equal(a[0].gpus_json, "[{\"index\":0}]");
    assert_string_equal(a[0].version, "0.1.0");
    assert_int_equal(a[0].running, 1);
    assert_true(a[0].alive);
    assert_null(a[1].gpus_json);
    assert_int_equal(a[1].running, 0);
    store_agents_free(a, n);
    assert_ok(store_deregister_agent(f->st, "host:2:cd"));
    assert_ok(store_list_agents(f->st, &a, &n));
    assert_int_equal(n, 1);
    store_agents_free(a, n);
}

static void test_metrics_append_as_time_series_and_latest_values(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "met", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(store_append_metrics(f->st, c->trial_id, c->attempt,
                                   "[{\"step\":1,\"val.loss\":0.9,\"note\":\"x\"},"
                                   "{\"step\":2,\"val.loss\":0.7,\"acc\":0.5}]"));
    assert_ok(store_append_metrics(f->st, c->trial_id, c->attempt, "{\"val.loss\":0.6}"));
    assert_int_equal(store_append_metrics(f->st, c->trial_id, c->attempt, "not json"), SQ_EINVAL);
    store_trial *t = conf_trial(f->st, "met", 1);
    assert_non_null(strstr(t->metrics_json, "\"val.loss\":0.6"));
    assert_non_null(strstr(t->metrics_json, "\"acc\":0.5"));
    store_trial_free(t);
    char *series = NULL;
    assert_ok(store_get_metrics(f->st, c->trial_id, &series));
    assert_non_null(strstr(series, "{\"attempt\":1,\"step\":1,"));
    assert_non_null(strstr(series, "\"name\":\"val.loss\",\"value\":0.9}"));
    assert_non_null(strstr(series, "\"step\":null"));
    assert_null(strstr(series, "note"));
    free(series);
    /* finishing without metrics keeps the latest values as the final ones */
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    t = conf_trial(f->st, "met", 1);
    assert_non_null(strstr(t->metrics_json, "\"val.loss\":0.6"));
    store_trial_free(t);
    assert_int_equal(store_get_metrics(f->st, 424242, &series), SQ_ENOTFOUND);
    store_claims_free(c, 1);
}

static void test_open_ended_sweep_grows_and_never_finishes_by_itself(void **state)
{
    conf_fixture *f = *state;
    conf_sweep cs;
    conf_sweep_init(&cs, "random", 2);
    cs.def.open_ended = true;
    cs.def.total = 0;
    int64_t id = 0;
    uint64_t added = 0;
    assert_ok(store_create_sweep(f->st, &cs.def, &id, &added));
    for (int i = 0; i < 2; i++) {
        store_claimed *c = conf_claim1(f->st, "a", id);
        assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
        store_claims_free(c, 1);
    }
    store_sweep *s = conf_get(f->st, "random");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    assert_int_equal(s->next_number, 3);
    store_sweep_free(s);
    bool won = true;
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_false(won);

    store_trial_def more[2] = {{2, "k2", "{\"x\":2}"}, {3, "k3", "{\"x\":3}"}};
    assert_ok(store_add_trials(f->st, id, more, 2, &added));
    assert_int_equal(added, 1); /* number 2 was there already */
    assert_int_equal(store_add_trials(f->st, 31337, more, 2, &added), SQ_ENOTFOUND);
    s = conf_get(f->st, "random");
    assert_int_equal(s->next_number, 4);
    assert_int_equal(s->counts.pending, 1);
    store_sweep_free(s);

    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "random", &n));
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_true(won);
    conf_sweep_release(&cs);
}

static void test_finished_sweep_that_gets_new_trials_is_active_again(void **state)
{
    conf_fixture *f = *state;
    finished_sweep(f->st, "grow");
    conf_sweep cs;
    conf_sweep_init(&cs, "grow", 3);
    cs.def.spec_json = "{\"grid\":3}";
    int64_t id = 0;
    uint64_t added = 0;
    assert_ok(store_create_sweep(f->st, &cs.def, &id, &added));
    assert_int_equal(added, 1);
    store_sweep *s = conf_get(f->st, "grow");
    assert_int_equal(s->state, SWEEP_ACTIVE);
    assert_true(s->finished_at == 0);
    store_sweep_free(s);
    conf_sweep_release(&cs);
}

static void test_counts_match_the_trials_after_every_kind_of_transition(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "mix", 8, 2, 600);
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim(f->st, "a", id, 6, &c, &n));
    assert_ok(conf_finish(f->st, c[0].trial_id, 1, OUTCOME_SUCCEEDED, NULL));
    assert_ok(conf_finish(f->st, c[1].trial_id, 1, OUTCOME_FAILED, NULL));
    assert_ok(conf_finish(f->st, c[2].trial_id, 1, OUTCOME_PREEMPTED, NULL));
    assert_ok(conf_finish(f->st, c[3].trial_id, 1, OUTCOME_CANCELLED, NULL));
    assert_ok(conf_finish(f->st, c[4].trial_id, 1, OUTCOME_STOPPED, NULL));
    store_claims_free(c, n);
    store_trial *t = conf_trial(f->st, "mix", 8);
    assert_ok(store_import_result(f->st, t->id, "{}"));
    store_trial_free(t);

    store_trial *v = NULL;
    size_t nv = 0;
    store_trial_query q = {.sweep = "mix", .state = -1};
    assert_ok(store_list_trials(f->st, &q, &v, &nv));
    uint64_t by_state[TRIAL_STOPPED + 1] = {0};
    for (size_t i = 0; i < nv; i++)
        by_state[v[i].state]++;
    store_trials_free(v, nv);
    assert_counts(f->st, "mix", by_state[0], by_state[1], by_state[2], by_state[3], by_state[4]);
    store_sweep *s = conf_get(f->st, "mix");
    assert_int_equal(s->counts.stopped, by_state[TRIAL_STOPPED]);
    store_sweep_free(s);
    assert_int_equal(by_state[TRIAL_PENDING], 3); /* 2 (failed once), 3 (preempted), 7 */
    assert_int_equal(by_state[TRIAL_RUNNING], 1);
    assert_int_equal(by_state[TRIAL_STOPPED], 1);
    assert_int_equal(by_state[TRIAL_SUCCEEDED], 2);
    assert_int_equal(by_state[TRIAL_CANCELLED], 1);
}

/* ---- early termination: stopped, values at a band ------------------------- */

static void test_stopped_is_final_never_retried_and_counts_as_done(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "stop", 2, 1, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 1);
    store_result r = {.outcome = OUTCOME_STOPPED,
                      .exit_code = -1,
                      .term_signal = 15,
                      .error = "stopped early at step 3: below the hyperband threshold",
                      .metrics_json = "{\"loss\":0.75}",
                      .stopped_step = 3};
    assert_ok(store_finish(f->st, c->trial_id, c->attempt, &r));
    /* final: a second end and a heartbeat find the attempt gone, not cancelled */
    assert_int_equal(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL),
                     SQ_ELEASE_LOST);
    store_lease l = {.trial_id = c->trial_id, .attempt = c->attempt};
    assert_ok(store_heartbeat(f->st, "a", &l, 1));
    assert_true(l.lost);
    assert_false(l.cancel);
    store_claims_free(c, 1);
    store_trial *t = conf_trial(f->st, "stop", 1);
    assert_int_equal(t->state, TRIAL_STOPPED);
    assert_int_equal(t->last_outcome, OUTCOME_STOPPED);
    assert_int_equal(t->failures, 0); /* no try used (max_attempts is 1) */
    assert_int_equal(t->stopped_step, 3);
    assert_non_null(strstr(t->metrics_json, "0.75"));
    store_trial_free(t);
    /* never retried, never claimed again */
    uint64_t n = 0;
    assert_ok(store_retry(f->st, "stop", false, false, &n));
    assert_int_equal(n, 0);
    c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 2);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    store_claims_free(c, 1);
    /* done: the sweep finishes and its completion can be claimed */
    store_sweep *s = conf_get(f->st, "stop");
    assert_int_equal(s->state, SWEEP_FINISHED);
    assert_int_equal(s->counts.stopped, 1);
    assert_int_equal(s->counts.succeeded, 1);
    store_sweep_free(s);
    bool won = false;
    assert_ok(store_claim_completion(f->st, id, "a", &won));
    assert_true(won);
    store_trial *v = NULL;
    size_t nv = 0;
    store_trial_query q = {.sweep = "stop", .state = TRIAL_STOPPED};
    assert_ok(store_list_trials(f->st, &q, &v, &nv));
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].number, 1);
    assert_int_equal(v[0].stopped_step, 3);
    store_trials_free(v, nv);
    /* the stopped step is only kept for a stopped trial */
    t = conf_trial(f->st, "stop", 2);
    assert_int_equal(t->stopped_step, 0);
    store_trial_free(t);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Asserts the values at (name, step) are want[0..nwant) in any order. */
static void assert_band(store *st, int64_t sweep_id, const char *name, uint64_t step,
                        bool completed, const double *want, size_t nwant)
{
    double *v = NULL;
    size_t n = 0;
    assert_ok(store_band_values(st, sweep_id, name, step, completed, &v, &n));
    assert_int_equal(n, nwant);
    if (n) /* v is NULL when there are none */
        qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(v[i], want[i], 1e-12);
    free(v);
}

static void test_band_values_are_each_trials_value_at_the_step(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "band", 4, 3, 600);
    store_claimed *c = NULL;
    size_t nc = 0;
    assert_ok(store_claim(f->st, "a", id, 3, &c, &nc));
    assert_int_equal(nc, 3);
    /* 1 succeeds after steps 1..3; 2 is stopped at step 2 */
    assert_ok(store_append_metrics(f->st, c[0].trial_id, 1,
                                   "[{\"step\":1,\"loss\":0.9,\"acc\":0.1},"
                                   "{\"step\":2,\"loss\":0.5},{\"step\":3,\"loss\":0.25}]"));
    assert_ok(conf_finish(f->st, c[0].trial_id, 1, OUTCOME_SUCCEEDED, NULL));
    assert_ok(store_append_metrics(f->st, c[1].trial_id, 1,
                                   "[{\"step\":1,\"loss\":1.5},{\"step\":2,\"loss\":1.25}]"));
    store_result stop = {.outcome = OUTCOME_STOPPED, .exit_code = -1, .stopped_step = 2};
    assert_ok(store_finish(f->st, c[1].trial_id, 1, &stop));
    /* 3's first attempt is preempted; only its current attempt counts, and
     * its last row at a step (a step reported twice) */
    assert_ok(store_append_metrics(f->st, c[2].trial_id, 1, "[{\"step\":1,\"loss\":7}]"));
    assert_ok(conf_finish(f->st, c[2].trial_id, 1, OUTCOME_PREEMPTED, NULL));
    store_claimed *again = conf_claim1(f->st, "b", id);
    assert_int_equal(again->number, 3);
    assert_ok(store_append_metrics(f->st, again->trial_id, again->attempt,
                                   "[{\"step\":1,\"loss\":0.8},{\"step\":2,\"loss\":0.75},"
                                   "{\"step\":2,\"loss\":0.7},{\"loss\":0.1}]"));
    /* trial 4 never ran */
    assert_band(f->st, id, "loss", 1, false, (double[]){0.8, 0.9, 1.5}, 3);
    assert_band(f->st, id, "loss", 2, false, (double[]){0.5, 0.7, 1.25}, 3);
    assert_band(f->st, id, "loss", 3, false, (double[]){0.25}, 1);
    assert_band(f->st, id, "loss", 2, true, (double[]){0.5}, 1);
    assert_band(f->st, id, "acc", 1, false, (double[]){0.1}, 1);
    assert_band(f->st, id, "loss", 9, false, NULL, 0);
    assert_band(f->st, id, "other", 1, false, NULL, 0);
    double *v = NULL;
    size_t n = 0;
    assert_int_equal(store_band_values(f->st, 424242, "loss", 1, false, &v, &n), SQ_ENOTFOUND);
    assert_int_equal(store_band_values(f->st, id, "", 1, false, &v, &n), SQ_EINVAL);
    assert_null(v);
    store_claims_free(again, 1);
    store_claims_free(c, nc);
}

static void test_invalid_arguments_are_refused(void **state)
{
    conf_fixture *f = *state;
    conf_sweep cs;
    conf_sweep_init(&cs, "bad", 1);
    int64_t id = 0;
    cs.def.max_attempts = 0;
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, NULL), SQ_EINVAL);
    cs.def.max_attempts = 1;
    cs.def.name = "";
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, NULL), SQ_EINVAL);
    cs.def.name = "bad";
    cs.trials[0].number = 0;
    assert_int_equal(store_create_sweep(f->st, &cs.def, &id, NULL), SQ_EINVAL);
    conf_sweep_release(&cs);
    store_result r = {.outcome = OUTCOME_NONE};
    assert_int_equal(store_finish(f->st, 1, 1, &r), SQ_EINVAL);
    store_claimed *c = NULL;
    size_t n = 5;
    assert_int_equal(store_claim(f->st, "", 1, 1, &c, &n), SQ_EINVAL);
    assert_int_equal(n, 0);
    trial_state ts;
    assert_int_equal(trial_state_parse("succeeded", &ts), 0);
    assert_int_equal(ts, TRIAL_SUCCEEDED);
    assert_int_equal(trial_state_parse("done", &ts), SQ_EINVAL);
    assert_string_equal(trial_state_name(TRIAL_CANCELLED), "cancelled");
    assert_string_equal(sweep_state_name(SWEEP_FINISHED), "finished");
    assert_string_equal(attempt_outcome_name(OUTCOME_TIMED_OUT), "timed_out");
}

static void test_create_with_a_name_that_is_no_file_name_is_refused(void **state)
{
    conf_fixture *f = *state;
    static const char *const bad[] = {"../../../../tmp/x", "a/b", "..", ".", "tab\there", "/abs"};
    conf_sweep cs;
    conf_sweep_init(&cs, "bad", 1);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t id = 0;
        cs.def.name = bad[i];
        assert_int_equal(store_create_sweep(f->st, &cs.def, &id, NULL), SQ_EINVAL);
        assert_non_null(strstr(sq_error_msg(), "invalid sweep name"));
    }
    conf_sweep_release(&cs);
    store_sweep *list = NULL;
    size_t n = 9;
    assert_ok(store_list_sweeps(f->st, NULL, &list, &n));
    assert_int_equal(n, 0);
    store_sweeps_free(list, n);
}

/* ---- idempotent claims (store_claim_request) ------------------------------ */

/* Claims with a request id; checks it returned the numbers want[0..nwant). */
static void claim_req_expect(store *st, const char *agent, const char *request, int64_t sweep_id,
                             size_t max, const uint64_t *want, size_t nwant, int attempt)
{
    store_claimed *c = NULL;
    size_t n = 0;
    int rc = store_claim_request(st, agent, request, sweep_id, max, &c, &n);
    if (rc < 0)
        fail_msg("claim %s/%s: %s", agent, request ? request : "(null)", sq_error_msg());
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].number, want[i]);
        assert_int_equal(c[i].sweep_id, sweep_id);
        assert_int_equal(c[i].attempt, attempt);
        assert_non_null(c[i].params_json);
        assert_non_null(c[i].key);
    }
    store_claims_free(c, n);
}

static void test_claim_repeated_request_returns_the_same_trials_and_claims_nothing_new(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "idem", 6, 1, 600);
    const uint64_t first[] = {1, 2}, third[] = {3}, fourth[] = {4};
    claim_req_expect(f->st, "agent-a", "claim-1", id, 2, first, 2, 1);
    /* The answer was lost: the same request again gets the same trials,
     * even when it asks for more, and claims nothing new. */
    claim_req_expect(f->st, "agent-a", "claim-1", id, 2, first, 2, 1);
    claim_req_expect(f->st, "agent-a", "claim-1", id, 5, first, 2, 1);
    assert_counts(f->st, "idem", 4, 2, 0, 0, 0);
    /* Another agent's request of the same id is another request. */
    claim_req_expect(f->st, "agent-b", "claim-1", id, 1, third, 1, 1);
    /* A new id claims new trials; repeating it gets those. */
    claim_req_expect(f->st, "agent-a", "claim-2", id, 1, fourth, 1, 1);
    claim_req_expect(f->st, "agent-a", "claim-2", id, 1, fourth, 1, 1);
    assert_counts(f->st, "idem", 2, 4, 0, 0, 0);
    store_trial *t = conf_trial(f->st, "idem", 1);
    assert_int_equal(t->attempt, 1);
    assert_string_equal(t->agent_id, "agent-a");
    store_attempt *a = NULL;
    size_t na = 0;
    assert_ok(store_list_attempts(f->st, t->id, &a, &na));
    assert_int_equal(na, 1); /* one attempt: the repeats made none */
    store_attempts_free(a, na);
    store_trial_free(t);
}

static void test_claim_repeat_after_a_finish_returns_only_what_still_runs(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "idem-fin", 3, 3, 600);
    store_claimed *c = NULL;
    size_t n = 0;
    assert_ok(store_claim_request(f->st, "a", "r1", id, 2, &c, &n));
    assert_int_equal(n, 2);
    assert_ok(conf_finish(f->st, c[0].trial_id, c[0].attempt, OUTCOME_SUCCEEDED, NULL));
    const uint64_t second[] = {2};
    claim_req_expect(f->st, "a", "r1", id, 2, second, 1, 1);
    /* Failed with tries left: trial 2 is pending again, and the repeat
     * still claims nothing (neither it nor trial 3). */
    assert_ok(conf_finish(f->st, c[1].trial_id, c[1].attempt, OUTCOME_FAILED, NULL));
    store_claims_free(c, n);
    claim_req_expect(f->st, "a", "r1", id, 2, NULL, 0, 1);
    assert_counts(f->st, "idem-fin", 2, 0, 1, 0, 0);
    const uint64_t rest[] = {2, 3};
    c = NULL;
    assert_ok(store_claim_request(f->st, "a", "r2", id, 5, &c, &n));
    assert_int_equal(n, 2);
    assert_int_equal(c[0].number, rest[0]);
    assert_int_equal(c[0].attempt, 2);
    assert_true(c[0].resume);
    assert_int_equal(c[1].number, rest[1]);
    store_claims_free(c, n);
}

static void test_claim_repeat_does_not_return_a_trial_reclaimed_by_another_agent(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "idem-reap", 1, 3, 0.001);
    const uint64_t one[] = {1};
    claim_req_expect(f->st, "a", "r1", id, 1, one, 1, 1);
    lease_expire_pause();
    /* a's lease expired: b gets the trial at attempt 2 (with a lease so
     * short that a's repeat below reaps it too). */
    claim_req_expect(f->st, "b", "r1", id, 1, one, 1, 2);
    claim_req_expect(f->st, "a", "r1", id, 1, NULL, 0, 0);
    store_trial *t = conf_trial(f->st, "idem-reap", 1);
    assert_int_equal(t->attempt, 2);
    assert_true(t->state == TRIAL_PENDING || t->state == TRIAL_RUNNING);
    if (t->state == TRIAL_RUNNING)
        assert_string_equal(t->agent_id, "b");
    store_trial_free(t);
}

static void test_claim_repeat_of_an_empty_claim_claims_nothing_new(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "idem-empty", 2, 3, 600);
    assert_ok(store_set_sweep_state(f->st, "idem-empty", SWEEP_PAUSED));
    claim_req_expect(f->st, "a", "r1", id, 2, NULL, 0, 0);
    assert_ok(store_set_sweep_state(f->st, "idem-empty", SWEEP_ACTIVE));
    claim_req_expect(f->st, "a", "r1", id, 2, NULL, 0, 0);
    const uint64_t both[] = {1, 2};
    claim_req_expect(f->st, "a", "r2", id, 2, both, 2, 1);
}

static void test_claim_without_a_request_id_claims_anew_each_time(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "idem-null", 3, 3, 600);
    const uint64_t one[] = {1}, two[] = {2}, three[] = {3};
    claim_req_expect(f->st, "a", NULL, id, 1, one, 1, 1);
    claim_req_expect(f->st, "a", NULL, id, 1, two, 1, 1);
    /* NULL between two uses of an id leaves the id remembered. */
    claim_req_expect(f->st, "a", "r1", id, 1, three, 1, 1);
    claim_req_expect(f->st, "a", NULL, id, 1, NULL, 0, 0);
    claim_req_expect(f->st, "a", "r1", id, 1, three, 1, 1);
    store_claimed *c = NULL;
    size_t n = 7;
    assert_int_equal(store_claim_request(f->st, "a", "", id, 1, &c, &n), SQ_EINVAL);
    assert_int_equal(n, 0);
    char *longid = xcalloc(STORE_REQUEST_ID_MAX + 2, 1);
    memset(longid, 'r', STORE_REQUEST_ID_MAX + 1);
    assert_int_equal(store_claim_request(f->st, "a", longid, id, 1, &c, &n), SQ_EINVAL);
    longid[STORE_REQUEST_ID_MAX] = '\0'; /* the longest taken */
    claim_req_expect(f->st, "a", longid, id, 1, NULL, 0, 0);
    free(longid);
    assert_int_equal(store_claim_request(f->st, "a", "r9", 4242, 1, &c, &n), SQ_ENOTFOUND);
    assert_null(c);
}

static void test_claim_request_is_forgotten_when_the_agent_deregisters(void **state)
{
    conf_fixture *f = *state;
    store_agent_info info = {.id = "h:1:ab", .host = "h", .pid = 1, .slots = 1, .version = "0"};
    assert_ok(store_register_agent(f->st, &info));
    int64_t id = conf_create(f->st, "idem-dereg", 2, 3, 600);
    const uint64_t one[] = {1}, two[] = {2};
    claim_req_expect(f->st, "h:1:ab", "claim-1", id, 1, one, 1, 1);
    assert_ok(store_deregister_agent(f->st, "h:1:ab"));
    assert_ok(store_register_agent(f->st, &info));
    claim_req_expect(f->st, "h:1:ab", "claim-1", id, 1, two, 1, 1);
}

/* ---- log tails ------------------------------------------------------------ */

/* Reads the stored log of (trial_id, attempt) and checks it is want[0..n). */
static void assert_log(store *st, int64_t trial_id, int attempt, const char *want, size_t n)
{
    char *text = NULL;
    size_t len = 1;
    assert_ok(store_get_log(st, trial_id, attempt, &text, &len));
    assert_int_equal(len, n);
    assert_memory_equal(text, want, n);
    assert_int_equal(text[len], '\0');
    free(text);
}

static void test_log_put_then_get_returns_the_same_bytes(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "log", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    /* a program's output need not be text: a NUL byte and invalid UTF-8 survive */
    static const char out[] = "epoch 1 loss 0.9\n\0\xff\xfe raw\r\nepoch 2";
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, out, sizeof out - 1));
    assert_log(f->st, c->trial_id, c->attempt, out, sizeof out - 1);
    assert_log(f->st, c->trial_id, 0, out, sizeof out - 1);
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, NULL, 0)); /* an empty log */
    assert_log(f->st, c->trial_id, c->attempt, "", 0);
    store_claims_free(c, 1);
}

static void test_log_put_again_replaces_the_stored_tail(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "log", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, "first line\n", 11));
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, "first line\nsecond\n", 18));
    assert_log(f->st, c->trial_id, c->attempt, "first line\nsecond\n", 18);
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, "short", 5)); /* shorter, too */
    assert_log(f->st, c->trial_id, c->attempt, "short", 5);
    store_claims_free(c, 1);
}

static void test_log_longer_than_the_cap_keeps_its_last_bytes(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "log", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    size_t n = STORE_LOG_MAX + 1000;
    char *big = xmalloc(n);
    for (size_t i = 0; i < n; i++) /* every byte value, so an offset shows */
        big[i] = (char)(i * 7 % 251);
    assert_ok(store_put_log(f->st, c->trial_id, c->attempt, big, n));
    assert_log(f->st, c->trial_id, c->attempt, big + 1000, STORE_LOG_MAX);
    free(big);
    store_claims_free(c, 1);
}

static void test_log_attempt_zero_reads_the_latest_attempt_stored(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "log", 1, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    int64_t trial_id = c->trial_id;
    assert_ok(store_put_log(f->st, trial_id, 1, "one", 3));
    assert_ok(conf_finish(f->st, trial_id, 1, OUTCOME_FAILED, NULL));
    store_claims_free(c, 1);
    c = conf_claim1(f->st, "b", id);
    assert_int_equal(c->attempt, 2);
    /* attempt 2 has not shipped yet: the latest stored is attempt 1's */
    assert_log(f->st, trial_id, 0, "one", 3);
    assert_ok(store_put_log(f->st, trial_id, 2, "two", 3));
    /* not fenced: the late tail of attempt 1 is still kept, and not the latest */
    assert_ok(store_put_log(f->st, trial_id, 1, "one, late", 9));
    assert_log(f->st, trial_id, 0, "two", 3);
    assert_log(f->st, trial_id, 1, "one, late", 9);
    assert_log(f->st, trial_id, 2, "two", 3);
    char *text = (char *)1;
    size_t len = 1;
    assert_int_equal(store_get_log(f->st, trial_id, 3, &text, &len), SQ_ENOTFOUND);
    assert_null(text);
    assert_int_equal(len, 0);
    store_claims_free(c, 1);
}

static void test_log_of_an_unknown_trial_or_unshipped_attempt_is_not_found(void **state)
{
    conf_fixture *f = *state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(store_put_log(f->st, 987654, 1, "x", 1), SQ_ENOTFOUND);
    assert_int_equal(store_get_log(f->st, 987654, 0, &text, &len), SQ_ENOTFOUND);
    finished_sweep(f->st, "log");
    store_trial *t = conf_trial(f->st, "log", 1);
    assert_int_equal(store_get_log(f->st, t->id, 0, &text, &len), SQ_ENOTFOUND);
    assert_int_equal(store_get_log(f->st, t->id, 1, &text, &len), SQ_ENOTFOUND);
    assert_int_equal(store_put_log(f->st, t->id, 0, "x", 1), SQ_EINVAL);
    assert_int_equal(store_get_log(f->st, t->id, -1, &text, &len), SQ_EINVAL);
    /* a finished attempt's tail is shipped after its finish; gc deletes it */
    assert_ok(store_put_log(f->st, t->id, 1, "done\n", 5));
    assert_log(f->st, t->id, 0, "done\n", 5);
    char **names = NULL;
    size_t nn = 0;
    time_sleep(0.01);
    assert_ok(store_gc(f->st, store_now(f->st), &names, &nn));
    assert_int_equal(nn, 1);
    free(names[0]);
    free(names);
    assert_int_equal(store_get_log(f->st, t->id, 0, &text, &len), SQ_ENOTFOUND);
    assert_int_equal(store_put_log(f->st, t->id, 1, "x", 1), SQ_ENOTFOUND);
    assert_null(text);
    store_trial_free(t);
}

/* ---- proposals (bayes): store_add_claim ------------------------------------ */

/* An empty open-ended sweep of at most cap trials (0: no cap), as a bayes
 * sweep is registered; returns its id. */
static int64_t conf_create_proposed(store *st, const char *name, uint64_t cap)
{
    conf_sweep cs;
    conf_sweep_init(&cs, name, 0);
    cs.def.open_ended = true;
    cs.def.total = cap;
    int64_t id = 0;
    uint64_t added = 0;
    if (store_create_sweep(st, &cs.def, &id, &added) < 0)
        fail_msg("create '%s': %s", name, sq_error_msg());
    conf_sweep_release(&cs);
    return id;
}

/* store_add_claim of {number, key, {"x": number}}; returns how many it claimed
 * (0 or 1), the claim in *out when out is not NULL (caller frees). */
static size_t conf_propose(store *st, const char *agent, int64_t id, uint64_t number,
                           const char *key, store_claimed **out)
{
    char *params = xasprintf("{\"x\":%llu}", (unsigned long long)number);
    store_trial_def def = {number, key, params};
    store_claimed *c = NULL;
    size_t n = 0;
    if (store_add_claim(st, agent, id, &def, &c, &n) < 0)
        fail_msg("add_claim %s: %s", key, sq_error_msg());
    assert_true(n <= 1);
    free(params);
    if (out)
        *out = c;
    else
        store_claims_free(c, n);
    return n;
}

static void test_add_claim_inserts_a_running_trial_in_one_step(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "bayes", 3);
    assert_counts(f->st, "bayes", 0, 0, 0, 0, 0);
    store_claimed *c = NULL;
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", &c), 1);
    assert_int_equal(c->number, 1);
    assert_int_equal(c->attempt, 1);
    assert_false(c->resume);
    assert_string_equal(c->key, "p1");
    assert_string_equal(c->params_json, "{\"x\":1}");
    assert_true(c->lease_expires > store_now(f->st) + 500);
    store_trial *t = conf_trial(f->st, "bayes", 1);
    assert_int_equal(t->state, TRIAL_RUNNING);
    assert_string_equal(t->agent_id, "a");
    assert_int_equal(t->attempt, 1);
    store_trial_free(t);
    assert_counts(f->st, "bayes", 0, 1, 0, 0, 0);
    store_sweep *s = conf_get(f->st, "bayes");
    assert_int_equal(s->next_number, 2);
    assert_int_equal(s->total, 3);
    assert_true(s->open_ended);
    store_sweep_free(s);
    /* fenced like any claim */
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, "{\"val.loss\":1}"));
    assert_int_equal(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL),
                     SQ_ELEASE_LOST);
    store_claims_free(c, 1);
}

static void test_add_claim_of_a_number_taken_meanwhile_renumbers(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "bayes", 0);
    store_claimed *a = NULL, *b = NULL;
    /* both proposed trial 1 from the same (empty) history */
    assert_int_equal(conf_propose(f->st, "a", id, 1, "pa", &a), 1);
    assert_int_equal(conf_propose(f->st, "b", id, 1, "pb", &b), 1);
    assert_int_equal(a->number, 1);
    assert_int_equal(b->number, 2);
    assert_string_equal(b->key, "pb");
    store_claims_free(a, 1);
    store_claims_free(b, 1);
    /* a number past the highest is kept */
    assert_int_equal(conf_propose(f->st, "a", id, 7, "p7", &a), 1);
    assert_int_equal(a->number, 7);
    store_claims_free(a, 1);
    assert_counts(f->st, "bayes", 0, 3, 0, 0, 0);
}

static void test_add_claim_repeated_returns_the_same_trial_and_adds_nothing(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "bayes", 5);
    store_claimed *a = NULL, *again = NULL;
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", &a), 1);
    /* its answer was lost: the same proposal again */
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", &again), 1);
    assert_int_equal(again->trial_id, a->trial_id);
    assert_int_equal(again->number, 1);
    assert_int_equal(again->attempt, 1);
    store_claims_free(again, 1);
    assert_counts(f->st, "bayes", 0, 1, 0, 0, 0);
    /* another agent's trial with that key, or one no longer running */
    char *params = xstrdup("{\"x\":1}");
    store_trial_def def = {2, "p1", params};
    store_claimed *c = NULL;
    size_t n = 9;
    assert_int_equal(store_add_claim(f->st, "b", id, &def, &c, &n), SQ_ECONFLICT);
    assert_null(c);
    assert_int_equal(n, 0);
    assert_ok(conf_finish(f->st, a->trial_id, a->attempt, OUTCOME_SUCCEEDED, NULL));
    assert_int_equal(store_add_claim(f->st, "a", id, &def, &c, &n), SQ_ECONFLICT);
    free(params);
    store_claims_free(a, 1);
    store_sweep *s = conf_get(f->st, "bayes");
    assert_int_equal(s->next_number, 2);
    store_sweep_free(s);
}

static void test_add_claim_stops_at_the_cap_and_the_sweep_then_finishes(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "bayes", 2);
    store_claimed *c[2];
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", &c[0]), 1);
    assert_int_equal(conf_propose(f->st, "a", id, 2, "p2", &c[1]), 1);
    assert_int_equal(conf_propose(f->st, "a", id, 3, "p3", NULL), 0);
    assert_ok(conf_finish(f->st, c[0]->trial_id, 1, OUTCOME_SUCCEEDED, NULL));
    store_sweep *s = conf_get(f->st, "bayes");
    assert_int_equal(s->state, SWEEP_ACTIVE); /* trial 2 still runs */
    store_sweep_free(s);
    bool won = true;
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_false(won);
    assert_ok(conf_finish(f->st, c[1]->trial_id, 1, OUTCOME_FAILED, NULL)); /* back to pending */
    assert_int_equal(conf_propose(f->st, "a", id, 3, "p3", NULL), 0);
    store_claimed *again = conf_claim1(f->st, "b", id);
    assert_int_equal(again->number, 2);
    assert_ok(conf_finish(f->st, again->trial_id, again->attempt, OUTCOME_SUCCEEDED, NULL));
    s = conf_get(f->st, "bayes");
    assert_int_equal(s->state, SWEEP_FINISHED);
    store_sweep_free(s);
    assert_ok(store_claim_completion(f->st, id, "me", &won));
    assert_true(won);
    store_claims_free(again, 1);
    store_claims_free(c[0], 1);
    store_claims_free(c[1], 1);
}

static void test_add_claim_needs_an_active_open_ended_sweep(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "bayes", 0);
    assert_ok(store_set_sweep_state(f->st, "bayes", SWEEP_PAUSED));
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", NULL), 0);
    assert_ok(store_set_sweep_state(f->st, "bayes", SWEEP_ACTIVE));
    assert_int_equal(conf_propose(f->st, "a", id, 1, "p1", NULL), 1);
    uint64_t n = 0;
    assert_ok(store_cancel(f->st, "bayes", &n));
    assert_int_equal(conf_propose(f->st, "a", id, 2, "p2", NULL), 0);

    int64_t grid = conf_create(f->st, "grid", 2, 3, 600);
    store_trial_def def = {3, "p3", "{\"x\":3}"};
    store_claimed *c = NULL;
    size_t k = 0;
    assert_int_equal(store_add_claim(f->st, "a", grid, &def, &c, &k), SQ_EINVAL);
    assert_int_equal(store_add_claim(f->st, "a", 31337, &def, &c, &k), SQ_ENOTFOUND);
    store_trial_def bad = {0, "p", "{}"};
    assert_int_equal(store_add_claim(f->st, "a", id, &bad, &c, &k), SQ_EINVAL);
    assert_int_equal(store_add_claim(f->st, "", id, &def, &c, &k), SQ_EINVAL);
    assert_null(c);
}

#define PROPOSERS 16
#define PROPOSE_CAP 40

/* Proposes (number = the sweep's next_number, as an agent that just read
 * the history) and finishes until the sweep takes no more; writes each
 * trial number it got as a line to url + ".proposed.<child>". */
static int child_propose_loop(const char *url, int child, int gate)
{
    conf_gate_wait(gate);
    store *st = NULL;
    if (store_open(&st, url) < 0)
        return 10;
    char *path = xasprintf("%s.proposed.%d", url, child);
    const char *file = strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path;
    FILE *out = fopen(file, "w");
    char agent[32];
    snprintf(agent, sizeof agent, "agent-%d", child);
    int rc = out ? 0 : 12;
    for (int i = 0; rc == 0 && i < 4 * PROPOSE_CAP; i++) {
        store_sweep *s = NULL;
        if (store_get_sweep(st, "race", &s) < 0) {
            rc = 11;
            break;
        }
        char *key = xasprintf("%s-%d", agent, i);
        char *params = xasprintf("{\"x\":%d}", i);
        store_trial_def def = {s->next_number, key, params};
        store_claimed *c = NULL;
        size_t n = 0;
        if (store_add_claim(st, agent, s->id, &def, &c, &n) < 0)
            rc = 13;
        else if (n == 1 && (fprintf(out, "%llu\n", (unsigned long long)c->number) < 0 ||
                            conf_finish(st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL) < 0))
            rc = 14;
        store_claims_free(c, n);
        store_sweep_free(s);
        free(key);
        free(params);
        if (n == 0)
            break;
    }
    if (out)
        fclose(out);
    free(path);
    store_close(st);
    return rc;
}

static void test_concurrent_proposals_all_get_trials_and_never_pass_the_cap(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create_proposed(f->st, "race", PROPOSE_CAP);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[PROPOSERS];
    for (int i = 0; i < PROPOSERS; i++)
        pids[i] = conf_fork(child_propose_loop, f->url, i, fds);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < PROPOSERS; i++)
        assert_int_equal(conf_wait(pids[i]), 0);
    int seen[PROPOSE_CAP + 1] = {0};
    int total = 0;
    for (int i = 0; i < PROPOSERS; i++) {
        char *path = xasprintf("%s.proposed.%d", f->url, i);
        const char *file = strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path;
        FILE *in = fopen(file, "r");
        assert_non_null(in);
        unsigned long long num;
        while (fscanf(in, "%llu", &num) == 1) {
            assert_true(num >= 1 && num <= PROPOSE_CAP);
            seen[num]++;
            total++;
        }
        fclose(in);
        unlink(file);
        free(path);
    }
    assert_int_equal(total, PROPOSE_CAP);
    for (int i = 1; i <= PROPOSE_CAP; i++)
        assert_int_equal(seen[i], 1);
    assert_counts(f->st, "race", 0, 0, PROPOSE_CAP, 0, 0);
    store_sweep *s = conf_get(f->st, "race");
    assert_int_equal(s->state, SWEEP_FINISHED);
    assert_int_equal(s->next_number, PROPOSE_CAP + 1);
    store_sweep_free(s);
    assert_int_equal(conf_propose(f->st, "late", id, PROPOSE_CAP + 1, "late", NULL), 0);
}

#define CONF_TEST(fn) cmocka_unit_test_setup_teardown(fn, conf_setup, conf_teardown)

/* Runs the whole suite against the stores env makes; returns failures. */
static int store_conformance_run(const char *backend, const store_conformance_env *env)
{
    conf_env = env;
    const struct CMUnitTest tests[] = {
        CONF_TEST(test_create_sweep_stores_definition_and_trials),
        CONF_TEST(test_create_same_spec_twice_changes_nothing),
        CONF_TEST(test_create_again_adds_new_tags_and_keeps_old_ones),
        CONF_TEST(test_create_edited_grid_adds_only_new_keys),
        CONF_TEST(test_create_edited_grid_that_renumbers_is_refused),
        CONF_TEST(test_create_with_other_command_is_refused_saying_how_to_proceed),
        CONF_TEST(test_create_with_other_settings_is_refused_naming_them),
        CONF_TEST(test_create_racing_processes_make_one_sweep),
        CONF_TEST(test_claim_takes_lowest_numbers_with_a_lease_and_attempt),
        CONF_TEST(test_claim_of_a_paused_sweep_gets_nothing_until_resumed),
        CONF_TEST(test_paused_sweep_finishes_when_its_last_running_trial_ends),
        CONF_TEST(test_claim_of_a_missing_sweep_is_not_found),
        CONF_TEST(test_finish_succeeded_stores_metrics_and_finishes_the_sweep),
        CONF_TEST(test_failure_retries_until_max_attempts_then_fails),
        CONF_TEST(test_preemption_does_not_use_a_try_and_resumes),
        CONF_TEST(test_reap_of_an_expired_lease_uses_a_try),
        CONF_TEST(test_stale_attempt_is_refused_after_reap_and_reclaim),
        CONF_TEST(test_heartbeat_renews_leases_and_marks_the_agent_seen),
        CONF_TEST(test_heartbeat_after_expiry_but_before_a_reap_keeps_the_trial),
        CONF_TEST(test_cancel_stops_pending_and_flags_running_trials),
        CONF_TEST(test_retry_puts_failed_and_cancelled_back_and_reopens),
        CONF_TEST(test_retry_of_a_finished_sweep_makes_it_active_again),
        CONF_TEST(test_cancelled_sweep_cannot_be_resumed_but_can_be_retried),
        CONF_TEST(test_completion_is_not_claimable_before_every_trial_is_final),
        CONF_TEST(test_completion_is_won_once_across_two_handles),
        CONF_TEST(test_completion_is_won_once_across_processes),
        CONF_TEST(test_completion_of_a_dead_holder_is_won_again_after_its_lease),
        CONF_TEST(test_failed_completion_is_retried_after_a_backoff_then_given_up),
        CONF_TEST(test_concurrent_claims_never_hand_out_a_trial_twice),
        CONF_TEST(test_list_trials_sorts_by_a_dotted_metric_with_missing_last),
        CONF_TEST(test_list_sweeps_filters_by_name_tag_time_and_runnable),
        CONF_TEST(test_gc_deletes_only_old_finished_and_cancelled_sweeps),
        CONF_TEST(test_import_marks_a_pending_trial_succeeded_without_running_it),
        CONF_TEST(test_agents_register_list_and_deregister),
        CONF_TEST(test_metrics_append_as_time_series_and_latest_values),
        CONF_TEST(test_open_ended_sweep_grows_and_never_finishes_by_itself),
        CONF_TEST(test_finished_sweep_that_gets_new_trials_is_active_again),
        CONF_TEST(test_counts_match_the_trials_after_every_kind_of_transition),
        CONF_TEST(test_stopped_is_final_never_retried_and_counts_as_done),
        CONF_TEST(test_band_values_are_each_trials_value_at_the_step),
        CONF_TEST(test_invalid_arguments_are_refused),
        CONF_TEST(test_create_with_a_name_that_is_no_file_name_is_refused),
        CONF_TEST(test_claim_repeated_request_returns_the_same_trials_and_claims_nothing_new),
        CONF_TEST(test_claim_repeat_after_a_finish_returns_only_what_still_runs),
        CONF_TEST(test_claim_repeat_does_not_return_a_trial_reclaimed_by_another_agent),
        CONF_TEST(test_claim_repeat_of_an_empty_claim_claims_nothing_new),
        CONF_TEST(test_claim_without_a_request_id_claims_anew_each_time),
        CONF_TEST(test_claim_request_is_forgotten_when_the_agent_deregisters),
        CONF_TEST(test_log_put_then_get_returns_the_same_bytes),
        CONF_TEST(test_log_put_again_replaces_the_stored_tail),
        CONF_TEST(test_log_longer_than_the_cap_keeps_its_last_bytes),
        CONF_TEST(test_log_attempt_zero_reads_the_latest_attempt_stored),
        CONF_TEST(test_log_of_an_unknown_trial_or_unshipped_attempt_is_not_found),
        CONF_TEST(test_add_claim_inserts_a_running_trial_in_one_step),
        CONF_TEST(test_add_claim_of_a_number_taken_meanwhile_renumbers),
        CONF_TEST(test_add_claim_repeated_returns_the_same_trial_and_adds_nothing),
        CONF_TEST(test_add_claim_stops_at_the_cap_and_the_sweep_then_finishes),
        CONF_TEST(test_add_claim_needs_an_active_open_ended_sweep),
        CONF_TEST(test_concurrent_proposals_all_get_trials_and_never_pass_the_cap),
    };
    char *name = xasprintf("store conformance (%s)", backend);
    int failed = cmocka_run_group_tests_name(name, tests, NULL, NULL);
    free(name);
    return failed;
}
