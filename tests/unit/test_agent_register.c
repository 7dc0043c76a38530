/*
 * test_agent_register.c - a spec into a real SQLite store: trials numbered
 * and keyed as spec_trial_params makes them, more than one chunk, the same
 * spec twice adds nothing, an open-ended sweep starts small and grows with
 * sweep_extend, and the frozen copy of the spec lands in the project.
 */
#include "util/common.h"

#include "project_fixture.h"

#include "agent/register.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct fixture {
    test_project p;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    test_project_open(&f->p, "sq-register");
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

/* A spec built by hand as the loader would: a grid of int_uniform ranges. */
typedef struct test_spec {
    spec s;
    spec_param params[3];
} test_spec;

static void make_grid(test_spec *t, const char *name, int64_t n0, int64_t n1, int64_t n2)
{
    memset(t, 0, sizeof *t);
    const char *names[] = {"a", "b", "c"};
    int64_t max[] = {n0 - 1, n1 - 1, n2 - 1};
    for (int i = 0; i < 3; i++) {
        spec_param *p = &t->params[i];
        p->name = (char *)names[i];
        p->dist = SPEC_DIST_INT_UNIFORM;
        p->min = 0;
        p->max = (double)max[i];
        p->int_valued = true;
        p->group = -1;
    }
    spec *s = &t->s;
    s->name = (char *)name;
    s->source = "name: x\n";
    s->program = "train.py";
    s->method = SPEC_METHOD_GRID;
    s->params = t->params;
    s->nparams = 3;
    s->max_attempts = 3;
    s->lease_ttl = 60;
    s->resources.cpus = 1;
    s->grid_cap = 10000000;
    s->canonical = json_pack("{s:s,s:[i,i,i]}", "name", name, "grid", (int)n0, (int)n1, (int)n2);
}

static void test_grid_registers_every_trial_across_chunks(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "big", 50, 50, 30); /* 75,000 trials: more than one chunk */
    int64_t id = 0;
    uint64_t added = 0;
    if (sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added))
        fail_msg("register: %s", sq_error_msg());
    assert_true(id > 0);
    assert_int_equal(added, 75000);
    store_sweep *sw = NULL;
    assert_int_equal(store_get_sweep(f->p.st, "big", &sw), 0);
    assert_int_equal(sw->total, 75000);
    assert_int_equal(sw->next_number, 75001);
    assert_false(sw->open_ended);
    assert_int_equal(sw->counts.pending, 75000);
    store_sweep_free(sw);

    /* A trial past the first chunk carries the key and params of its number. */
    store_trial *tr = NULL;
    assert_int_equal(store_get_trial(f->p.st, "big", 70001, &tr), 0);
    json_t *want = NULL;
    assert_int_equal(spec_trial_params(&t.s, 70001, &want), 0);
    char *want_text = spec_json_compact(want, false), *want_key = spec_params_key(want);
    assert_string_equal(tr->params_json, want_text);
    assert_string_equal(tr->key, want_key);
    assert_string_equal(tr->params_json, "{\"a\":46,\"b\":33,\"c\":10}");
    free(want_text);
    free(want_key);
    json_decref(want);
    store_trial_free(tr);

    /* The same spec again: nothing to do. */
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    assert_int_equal(added, 0);

    /* The frozen copy is in the project. */
    char *copy = xasprintf("%s/.sweepq/sweeps/big/spec.yaml", f->p.dir);
    strbuf text = SB_INIT;
    assert_int_equal(sb_read_file(&text, copy), 0);
    assert_string_equal(sb_str(&text), "name: x\n");
    sb_release(&text);
    free(copy);
    json_decref(t.s.canonical);
}

static void test_stored_params_keep_the_parameter_order(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "order", 2, 2, 2);
    t.params[0].name = "zeta";
    int64_t id;
    uint64_t added;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    store_trial *tr = NULL;
    assert_int_equal(store_get_trial(f->p.st, "order", 2, &tr), 0);
    assert_string_equal(tr->params_json, "{\"zeta\":0,\"b\":0,\"c\":1}");
    json_t *p = json_loads(tr->params_json, 0, NULL);
    char *key = spec_params_key(p);
    assert_string_equal(tr->key, key); /* the key is of the sorted form */
    free(key);
    json_decref(p);
    store_trial_free(tr);
    json_decref(t.s.canonical);
}

static void test_changed_command_is_a_conflict(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "conf", 2, 2, 2);
    int64_t id;
    uint64_t added;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    assert_int_equal(added, 8);
    t.s.program = "other.py";
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), SQ_ECONFLICT);
    json_decref(t.s.canonical);
}

static void test_edited_grid_adds_only_new_trials(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "edit", 2, 3, 1);
    int64_t id;
    uint64_t added;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    assert_int_equal(added, 6);
    /* One more value of the first (slowest) parameter: trials 7..9 are new. */
    json_decref(t.s.canonical);
    make_grid(&t, "edit", 3, 3, 1);
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    assert_int_equal(added, 3);
    json_decref(t.s.canonical);
}

/* Loads a random categorical sweep of run_cap trials from text. */
static spec *random_categorical(int run_cap)
{
    char *text = xasprintf("name: draws\nmethod: random\nrun_cap: %d\ncommand: [\"true\"]\n"
                           "parameters:\n  a:\n    values: [x, y]\n",
                           run_cap);
    spec_diags d = SPEC_DIAGS_INIT;
    spec *sp = NULL;
    if (spec_load_string(&sp, text, strlen(text), "draws.yaml", NULL, &d))
        fail_msg("spec_load_string: %s", d.n ? d.items[0].message : "?");
    spec_diags_release(&d);
    free(text);
    return sp;
}

static void test_random_draws_with_equal_params_are_distinct_trials(void **state)
{
    fixture *f = *state;
    int64_t id;
    uint64_t added;
    spec *sp = random_categorical(10);
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, sp, &id, &added), 0);
    assert_int_equal(added, 10); /* only two distinct parameter sets among them */
    spec_free(sp);
    /* Raising run_cap adds the new draws, though their parameters were drawn before. */
    sp = random_categorical(12);
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, sp, &id, &added), 0);
    assert_int_equal(added, 2);
    spec_free(sp);
    store_trial *t = NULL;
    size_t n = 0;
    store_trial_query q = {.sweep = "draws", .state = -1};
    assert_int_equal(store_list_trials(f->p.st, &q, &t, &n), 0);
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(t[i].key, t[j].key);
    store_trials_free(t, n);
}

static void test_open_ended_sweep_starts_small_and_extends(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "rand", 1000, 1000, 1000);
    t.s.method = SPEC_METHOD_RANDOM;
    t.s.seed = 5;
    int64_t id;
    uint64_t added;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    assert_int_equal(added, REGISTER_OPEN_ENDED_FIRST);
    store_sweep *sw = NULL;
    assert_int_equal(store_get_sweep(f->p.st, "rand", &sw), 0);
    assert_true(sw->open_ended);
    assert_int_equal(sw->total, 0);
    assert_int_equal(sw->next_number, REGISTER_OPEN_ENDED_FIRST + 1);
    assert_int_equal(sweep_extend(f->p.st, sw, &t.s, 10), 0);
    store_sweep_free(sw);
    assert_int_equal(store_get_sweep(f->p.st, "rand", &sw), 0);
    assert_int_equal(sw->next_number, REGISTER_OPEN_ENDED_FIRST + 11);
    assert_int_equal(sw->counts.pending, REGISTER_OPEN_ENDED_FIRST + 10);
    store_sweep_free(sw);
    /* Trial 70 is what spec_trial_params says trial 70 is. */
    store_trial *tr = NULL;
    assert_int_equal(store_get_trial(f->p.st, "rand", 70, &tr), 0);
    json_t *want = NULL;
    assert_int_equal(spec_trial_params(&t.s, 70, &want), 0);
    char *want_text = spec_json_compact(want, false);
    assert_string_equal(tr->params_json, want_text);
    free(want_text);
    json_decref(want);
    store_trial_free(tr);
    json_decref(t.s.canonical);
}

static void test_bounded_sweep_cannot_be_extended(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "bounded", 2, 1, 1);
    int64_t id;
    uint64_t added;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, &added), 0);
    store_sweep *sw = NULL;
    assert_int_equal(store_get_sweep(f->p.st, "bounded", &sw), 0);
    assert_int_equal(sweep_extend(f->p.st, sw, &t.s, 5), SQ_EINVAL);
    store_sweep_free(sw);
    json_decref(t.s.canonical);
}

static void test_bad_names_are_refused(void **state)
{
    fixture *f = *state;
    test_spec t;
    make_grid(&t, "../evil", 1, 1, 1);
    int64_t id;
    assert_int_equal(sweep_register(f->p.st, &f->p.ws, &t.s, &id, NULL), SQ_EINVAL);
    json_decref(t.s.canonical);
}

static void test_command_json_is_canonical_and_covers_the_template(void **state)
{
    test_spec t;
    make_grid(&t, "cj", 1, 1, 1);
    char *cmd[] = {"${env}", "python3", "${program}", "${args}"};
    t.s.command = cmd;
    t.s.ncommand = 4;
    spec_env env[] = {{"B", "2"}, {"A", "${param.a}"}};
    t.s.env = env;
    t.s.nenv = 2;
    t.s.workdir = "/w";
    char *j = sweep_command_json(&t.s);
    assert_string_equal(j, "{\"command\":[\"${env}\",\"python3\",\"${program}\",\"${args}\"],"
                           "\"env\":{\"A\":\"${param.a}\",\"B\":\"2\"},\"program\":\"train.py\","
                           "\"workdir\":\"/w\"}");
    free(j);
    json_decref(t.s.canonical);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grid_registers_every_trial_across_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stored_params_keep_the_parameter_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_changed_command_is_a_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_grid_adds_only_new_trials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_draws_with_equal_params_are_distinct_trials,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_ended_sweep_starts_small_and_extends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bounded_sweep_cannot_be_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_are_refused, setup, teardown),
        cmocka_unit_test(test_command_json_is_canonical_and_covers_the_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
