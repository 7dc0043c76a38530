/*
 * test_spec_load.c - the spec loader: the three dialects, scalar resolution,
 * nested parameters, every class of error with its file:line:col, did you
 * mean, and canonical JSON that two equivalent specs share.
 */
#include "util/common.h"

#include "spec/spec.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <unistd.h>

/* ---- helpers ---- */

static spec *load_opts(const char *yaml, const spec_load_options *opts)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    int rc = spec_load_string(&s, yaml, strlen(yaml), "t.yaml", opts, &d);
    for (size_t i = 0; i < d.n; i++) {
        char *line = spec_diag_format(&d.items[i]);
        print_message("unexpected: %s\n", line);
        free(line);
    }
    assert_int_equal(rc, 0);
    assert_non_null(s);
    assert_int_equal(d.n, 0);
    spec_diags_release(&d);
    return s;
}

static spec *load(const char *yaml)
{
    return load_opts(yaml, NULL);
}

/* Every diagnostic of a failing load, one formatted line each. */
static char *errors_of(const char *yaml, size_t len, const spec_load_options *opts)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    int rc = spec_load_string(&s, yaml, len, "t.yaml", opts, &d);
    assert_int_equal(rc, SQ_EINVAL);
    assert_null(s);
    assert_true(d.n > 0);
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < d.n; i++) {
        char *line = spec_diag_format(&d.items[i]);
        sb_addf(&sb, "%s\n", line);
        free(line);
    }
    spec_diags_release(&d);
    return sb_detach(&sb);
}

/* Asserts that loading yaml fails with exactly the diagnostic lines want. */
static void expect_errors(const char *yaml, const char *want)
{
    char *got = errors_of(yaml, strlen(yaml), NULL);
    if (strcmp(got, want))
        print_message("yaml:\n%s\nwant:\n%s\ngot:\n%s\n", yaml, want, got);
    assert_string_equal(got, want);
    free(got);
}

static spec_param *param(spec *s, const char *name)
{
    for (size_t i = 0; i < s->nparams; i++)
        if (!strcmp(s->params[i].name, name))
            return &s->params[i];
    fail_msg("no parameter '%s'", name);
    return NULL;
}

static char *dump(const json_t *v)
{
    return spec_json_compact(v, false);
}

static void assert_json(const json_t *v, const char *want)
{
    char *got = dump(v);
    assert_string_equal(got, want);
    free(got);
}

/* The value a plain scalar resolves to, through `value:` of a constant. */
static char *resolve(const char *scalar)
{
    char *yaml = xasprintf("program: p\nmethod: grid\nparameters:\n  x: {value: %s}\n", scalar);
    spec *s = load(yaml);
    char *out = dump(json_array_get(s->params[0].values, 0));
    spec_free(s);
    free(yaml);
    return out;
}

/* ---- W&B ---- */

static void test_wandb_grid_loads_every_field(void **state)
{
    spec *s = load("program: train.py\n"
                   "name: lr-sweep\n"
                   "description: a small grid\n"
                   "entity: me\n"
                   "project: demo\n"
                   "method: grid\n"
                   "metric:\n"
                   "  name: val_loss\n"
                   "  goal: maximize\n"
                   "  target: 0.9\n"
                   "run_cap: 5\n"
                   "parameters:\n"
                   "  lr:\n"
                   "    values: [0.1, 0.01]\n"
                   "  epochs:\n"
                   "    value: 3\n"
                   "  layers:\n"
                   "    min: 1\n"
                   "    max: 4\n");
    assert_string_equal(s->program, "train.py");
    assert_string_equal(s->name, "lr-sweep");
    assert_string_equal(s->description, "a small grid");
    assert_string_equal(s->entity, "me");
    assert_string_equal(s->project, "demo");
    assert_int_equal(s->method, SPEC_METHOD_GRID);
    assert_string_equal(s->metric.name, "val_loss");
    assert_int_equal(s->metric.goal, SPEC_GOAL_MAXIMIZE);
    assert_true(s->metric.has_target);
    assert_true(fabs(s->metric.target - 0.9) < 1e-12);
    assert_int_equal(s->run_cap, 5);
    assert_int_equal(s->nparams, 3);
    /* sorted by name, as W&B sorts them */
    assert_string_equal(s->params[0].name, "epochs");
    assert_int_equal(s->params[0].dist, SPEC_DIST_CONSTANT);
    assert_json(s->params[0].values, "[3]");
    assert_string_equal(s->params[1].name, "layers");
    assert_int_equal(s->params[1].dist, SPEC_DIST_INT_UNIFORM);
    assert_true(s->params[1].int_valued);
    assert_true(s->params[1].min == 1 && s->params[1].max == 4);
    assert_string_equal(s->params[2].name, "lr");
    assert_int_equal(s->params[2].dist, SPEC_DIST_CATEGORICAL);
    assert_json(s->params[2].values, "[0.1,0.01]");
    for (size_t i = 0; i < s->nparams; i++)
        assert_int_equal(s->params[i].group, -1);
    /* W&B's default command */
    assert_int_equal(s->ncommand, 4);
    assert_string_equal(s->command[0], "${env}");
    assert_string_equal(s->command[1], "${interpreter}");
    assert_string_equal(s->command[2], "${program}");
    assert_string_equal(s->command[3], "${args}");
    assert_null(s->command_shell);
    /* sweepq defaults */
    assert_int_equal(s->max_attempts, 3);
    assert_true(s->lease_ttl == 60);
    assert_true(s->timeout == 0);
    assert_int_equal(s->resources.cpus, 1);
    assert_int_equal(s->grid_cap, 10000000);
    assert_string_equal(s->path, "t.yaml");
    assert_non_null(strstr(s->source, "lr-sweep"));
    spec_free(s);
}

static void test_wandb_infers_distributions_and_defaults(void **state)
{
    spec *s = load("program: p\nmethod: random\nparameters:\n"
                   "  a: {values: [x, y], probabilities: [0.25, 0.75]}\n"
                   "  b: {min: 0, max: 10}\n"
                   "  c: {min: 0, max: 1.5}\n"
                   "  d: {min: 0.1, max: 1}\n"
                   "  e: {distribution: normal}\n"
                   "  f: {distribution: q_log_normal, mu: 1, sigma: 2, q: 5}\n"
                   "  g: {distribution: log_uniform_values, min: 1e-5, max: 1e-1}\n"
                   "  h: {distribution: q_uniform, min: 0, max: 10}\n"
                   "  i: {distribution: inv_log_uniform, min: -3, max: 2}\n"
                   "  j: {distribution: categorical_w_probabilities, values: [1, 2], "
                   "probabilities: [0.5, 0.5]}\n"
                   "  k: {distribution: constant, value: [1, 2]}\n");
    spec_param *p = param(s, "a");
    assert_int_equal(p->dist, SPEC_DIST_CATEGORICAL);
    assert_non_null(p->probabilities);
    assert_true(p->probabilities[0] == 0.25 && p->probabilities[1] == 0.75);
    assert_int_equal(param(s, "b")->dist, SPEC_DIST_INT_UNIFORM);
    assert_int_equal(param(s, "c")->dist, SPEC_DIST_UNIFORM);
    assert_false(param(s, "c")->int_valued);
    assert_int_equal(param(s, "d")->dist, SPEC_DIST_UNIFORM);
    p = param(s, "e");
    assert_int_equal(p->dist, SPEC_DIST_NORMAL);
    assert_true(p->mu == 0 && p->sigma == 1);
    p = param(s, "f");
    assert_int_equal(p->dist, SPEC_DIST_Q_LOG_NORMAL);
    assert_true(p->mu == 1 && p->sigma == 2 && p->q == 5);
    assert_true(p->int_valued); /* q written as an integer */
    p = param(s, "g");
    assert_int_equal(p->dist, SPEC_DIST_LOG_UNIFORM_VALUES);
    assert_true(p->min == 1e-5 && p->max == 1e-1);
    p = param(s, "h");
    assert_true(p->q == 1);
    assert_false(p->int_valued); /* W&B's default q is 1.0, a float */
    assert_int_equal(param(s, "i")->dist, SPEC_DIST_INV_LOG_UNIFORM);
    assert_non_null(param(s, "j")->probabilities);
    assert_json(param(s, "k")->values, "[[1,2]]");
    assert_int_equal(spec_trial_count(s), SPEC_UNBOUNDED);
    spec_free(s);
}

static void test_wandb_nested_parameters_join_names_with_dots(void **state)
{
    spec *s = load("program: p\nmethod: grid\nparameters:\n"
                   "  optimizer:\n"
                   "    parameters:\n"
                   "      lr: {values: [1, 2]}\n"
                   "      betas:\n"
                   "        parameters:\n"
                   "          b1: {value: 0.9}\n"
                   "  seed: {values: [1, 2, 3]}\n");
    assert_int_equal(s->nparams, 3);
    /* sorted by key at every level, as W&B's HyperParameterSet is */
    assert_string_equal(s->params[0].name, "optimizer.betas.b1");
    assert_int_equal(s->params[0].npath, 3);
    assert_string_equal(s->params[0].path[1], "betas");
    assert_string_equal(s->params[1].name, "optimizer.lr");
    assert_string_equal(s->params[2].name, "seed");
    assert_int_equal(s->params[2].npath, 1);
    assert_int_equal(spec_trial_count(s), 6);
    spec_free(s);
    /* the sort goes key by key: "a.b" (one key) sorts as "a.b", after "a" */
    s = load("program: p\nmethod: grid\nparameters:\n"
             "  a.b: {value: 1}\n"
             "  a:\n    parameters:\n      z: {value: 2}\n"
             "  A: {value: 3}\n");
    assert_string_equal(s->params[0].name, "A");
    assert_string_equal(s->params[1].name, "a.z");
    assert_string_equal(s->params[2].name, "a.b");
    spec_free(s);
}

/* W&B's own tests (tests/test_grid_search.py): a repeated grid value runs
 * once; 1 and 1.0 are one value, and so are mappings equal but for the
 * order of their keys; the last occurrence's form is the one used. */
static void test_wandb_grid_runs_repeated_values_once(void **state)
{
    spec *s = load("program: p\nmethod: grid\nparameters:\n"
                   "  v1: {values: [null, 2, 3, a, [2, 3], 3]}\n"
                   "  v2: {values: [a, b, \"c'\"]}\n");
    assert_int_equal(spec_trial_count(s), 15);
    spec_free(s);
    s = load("program: p\nmethod: grid\nparameters:\n"
             "  x: {values: [1, 1.0, 2, \"1\", [1], [1.0]]}\n"
             "  d: {values: [{a: 1, b: 2}, {b: 2, a: 1}]}\n");
    assert_int_equal(spec_trial_count(s), 5); /* 1|1.0, 2, "1", [1], [1.0] */
    json_t *t;
    assert_int_equal(spec_trial_params(s, 1, &t), 0);
    char *j = spec_json_compact(t, false);
    assert_string_equal(j, "{\"d\":{\"b\":2,\"a\":1},\"x\":1.0}");
    free(j);
    json_decref(t);
    spec_free(s);
    /* random draws keep every listed value, as W&B's random search does */
    s = load("program: p\nmethod: random\nparameters:\n  x: {values: [1, 1, 2]}\n");
    assert_null(s->params[0].grid_values);
    spec_free(s);
}

static void test_wandb_command_list_and_shell_form(void **state)
{
    spec *s = load("program: train.py\nmethod: random\n"
                   "command: [\"${env}\", python3, \"${program}\", --epochs, 10, \"${args}\"]\n");
    assert_int_equal(s->ncommand, 6);
    assert_string_equal(s->command[1], "python3");
    assert_string_equal(s->command[4], "10");
    spec_free(s);
    s = load("program: train.py\nmethod: random\ncommand: python3 ${program} ${args} > out.txt\n");
    assert_null(s->command);
    assert_string_equal(s->command_shell, "python3 ${program} ${args} > out.txt");
    spec_free(s);
}

static void test_wandb_early_terminate_and_metadata_are_kept(void **state)
{
    spec *s = load("program: p\nmethod: bayes\n"
                   "metric: {name: loss, impute: best, impute_while_running: false}\n"
                   "controller: {type: local}\n"
                   "early_terminate:\n"
                   "  type: hyperband\n"
                   "  min_iter: 3\n"
                   "  eta: 2\n"
                   "parameters: {x: {min: 0.0, max: 1.0}}\n");
    assert_int_equal(s->method, SPEC_METHOD_BAYES);
    assert_json(s->early_terminate, "{\"type\":\"hyperband\",\"min_iter\":3,\"eta\":2}");
    assert_json(json_object_get(s->canonical, "controller"), "{\"type\":\"local\"}");
    assert_int_equal(s->metric.goal, SPEC_GOAL_MINIMIZE);
    assert_json(json_object_get(s->canonical, "metric"),
                "{\"goal\":\"minimize\",\"impute\":\"best\",\"impute_while_running\":\"false\","
                "\"name\":\"loss\"}");
    assert_true(spec_is_open_ended(s)); /* its trials are proposed as agents need them */
    spec_free(s);
}

static void test_bayes_needs_a_metric_and_is_made_on_demand(void **state)
{
    expect_errors("program: p\nmethod: bayes\nparameters: {x: {min: 0.0, max: 1.0}}\n",
                  "t.yaml:2:9: key 'method': bayes proposes each trial from the results so far, "
                  "so it needs a metric to optimize; add 'metric: {name: val_loss, goal: "
                  "minimize}' naming a metric your program prints, or use method random\n");
    spec *s = load("program: p\nmethod: bayes\nrun_cap: 40\nmetric: {name: loss}\n"
                   "parameters: {x: {min: 0.0, max: 1.0}}\n");
    assert_true(spec_is_open_ended(s)); /* none exists up front, even with run_cap */
    assert_true(spec_trial_count(s) == 40);
    spec_free(s);
    s = load("program: p\nmethod: random\nrun_cap: 40\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    assert_false(spec_is_open_ended(s));
    spec_free(s);
}

/* ---- hpc-sweep-manager ---- */

static void test_hsm_grid_and_paired_groups(void **state)
{
    spec *s = load("program: train.py\n"
                   "sweep:\n"
                   "  grid:\n"
                   "    seed: [1, 2, 3]\n"
                   "    model.hidden_size: [128, 256]\n"
                   "  paired:\n"
                   "    - model_and_data:\n"
                   "        model.name: [cnn, mlp]\n"
                   "        data.augmentation: [basic, none]\n"
                   "    - sched:\n"
                   "        lr: [0.1, 0.01, 0.001]\n");
    assert_int_equal(s->method, SPEC_METHOD_GRID);
    assert_int_equal(s->nparams, 5);
    assert_string_equal(s->params[0].name, "seed");
    assert_int_equal(s->params[0].group, -1);
    assert_int_equal(s->params[0].dist, SPEC_DIST_CATEGORICAL);
    assert_string_equal(s->params[2].name, "model.name");
    assert_int_equal(s->params[2].group, 0);
    assert_int_equal(s->params[3].group, 0);
    assert_string_equal(s->params[4].name, "lr");
    assert_int_equal(s->params[4].group, 1);
    assert_int_equal(s->ngroups, 2);
    assert_string_equal(s->groups[0].name, "model_and_data");
    assert_int_equal(s->groups[0].length, 2);
    assert_int_equal(s->groups[1].length, 3);
    assert_string_equal(s->command[3], "${args_no_hyphens}");
    assert_int_equal(spec_trial_count(s), 3 * 2 * 2 * 3);
    spec_free(s);
}

static void test_hsm_scalar_and_nested_grid_entries(void **state)
{
    spec *s = load("program: p\n"
                   "sweep:\n"
                   "  grid:\n"
                   "    trainer: {max_epochs: [1, 2], fast: true}\n"
                   "    +experiment: base\n");
    assert_int_equal(s->nparams, 3);
    assert_string_equal(s->params[0].name, "trainer.max_epochs");
    assert_string_equal(s->params[1].name, "trainer.fast");
    assert_json(s->params[1].values, "[true]");
    assert_string_equal(s->params[2].name, "+experiment");
    assert_int_equal(spec_trial_count(s), 2);
    spec_free(s);
}

static void test_params_from_wandb_and_hsm_keep_grid_before_paired(void **state)
{
    spec *s = load("program: p\n"
                   "sweep:\n"
                   "  paired:\n"
                   "    - g: {a: [1, 2], b: [3, 4]}\n"
                   "  grid: {c: [5, 6]}\n"
                   "method: grid\n"
                   "parameters: {d: {values: [7]}}\n");
    assert_string_equal(s->params[0].name, "c");
    assert_string_equal(s->params[1].name, "d");
    assert_string_equal(s->params[2].name, "a");
    assert_string_equal(s->params[3].name, "b");
    spec_free(s);
}

/* ---- sweepq keys ---- */

static void test_sweepq_keys(void **state)
{
    spec *s = load("program: train.py\nmethod: random\n"
                   "name: exp-1\n"
                   "tags: [batch-7, nightly, batch-7]\n"
                   "seed: 42\n"
                   "resources: {gpus: 2, gpu_memory: 4GiB, min_free_gpu_memory: 1000, cpus: 4}\n"
                   "max_attempts: 5\n"
                   "timeout: 1h30m\n"
                   "lease_ttl: 10s\n"
                   "env: {OMP_NUM_THREADS: 4, OUT: \"out/${param.lr}\", FLAG: yes}\n"
                   "workdir: runs/${sweep}/${trial}\n"
                   "on_complete: echo done\n"
                   "metrics: '^([a-z_]+): ([-0-9.e]+)$'\n"
                   "grid_cap: 50\n"
                   "interpreter: python3.11\n"
                   "parameters: {lr: {min: 0.0, max: 1.0}}\n");
    assert_string_equal(s->name, "exp-1");
    assert_int_equal(s->ntags, 2);
    assert_string_equal(s->tags[0], "batch-7");
    assert_string_equal(s->tags[1], "nightly");
    assert_int_equal(s->seed, 42);
    assert_int_equal(s->resources.gpus, 2);
    assert_int_equal(s->resources.gpu_memory, 4ULL << 30);
    assert_int_equal(s->resources.min_free_gpu_memory, 1000);
    assert_int_equal(s->resources.cpus, 4);
    assert_int_equal(s->max_attempts, 5);
    assert_true(s->timeout == 5400);
    assert_true(s->lease_ttl == 10);
    assert_int_equal(s->nenv, 3);
    assert_string_equal(s->env[0].name, "OMP_NUM_THREADS");
    assert_string_equal(s->env[0].value, "4");
    assert_string_equal(s->env[1].value, "out/${param.lr}");
    assert_string_equal(s->env[2].value, "yes");
    assert_string_equal(s->workdir, "runs/${sweep}/${trial}");
    assert_string_equal(s->on_complete, "echo done");
    assert_string_equal(s->metrics_pattern, "^([a-z_]+): ([-0-9.e]+)$");
    assert_int_equal(s->grid_cap, 50);
    assert_string_equal(s->interpreter, "python3.11");
    spec_free(s);

    s = load("program: p\nmethod: random\ntags: solo\ntimeout: 1:30:00\n");
    assert_int_equal(s->ntags, 1);
    assert_string_equal(s->tags[0], "solo");
    assert_true(s->timeout == 5400); /* base 60, as YAML 1.1 reads it */
    spec_free(s);
    s = load("program: p\nmethod: random\ntimeout: 2.5\nlease_ttl: \"00:02:00\"\n");
    assert_true(s->timeout == 2.5 && s->lease_ttl == 120);
    spec_free(s);
}

static void test_default_name_comes_from_the_file_stem(void **state)
{
    const char *yaml = "program: p\nmethod: random\nname: My fine sweep!\n";
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    assert_int_equal(spec_load_string(&s, yaml, strlen(yaml), "dir/sweep v2.yaml", NULL, &d), 0);
    assert_string_equal(s->name, "sweep-v2");
    spec_free(s);
    assert_int_equal(spec_load_string(&s, yaml, strlen(yaml), "../.hidden.yml", NULL, &d), 0);
    assert_string_equal(s->name, "hidden");
    spec_free(s);
    assert_int_equal(spec_load_string(&s, yaml, strlen(yaml), NULL, NULL, &d), 0);
    assert_string_equal(s->name, "string");
    spec_free(s);
    assert_int_equal(d.n, 0);
}

/* ---- scalars ---- */

static void test_plain_scalars_resolve_as_pyyaml_with_exponents(void **state)
{
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"~", "null"},
        {"null", "null"},
        {"", "null"},
        {"true", "true"},
        {"False", "false"},
        {"yes", "true"},
        {"NO", "false"},
        {"on", "true"},
        {"Off", "false"},
        {"42", "42"},
        {"-7", "-7"},
        {"+3", "3"},
        {"1_000", "1000"},
        {"0x1F", "31"},
        {"0b101", "5"},
        {"010", "8"},
        {"0", "0"},
        {"1:30", "90"},
        {"1e-3", "0.001"},
        {".5", "0.5"},
        {"-1E+2", "-100.0"},
        {"1.", "1.0"},
        {"1.5e3", "1500.0"},
        {"-.25", "-0.25"},
        {"'1'", "\"1\""},
        {"\"yes\"", "\"yes\""},
        {"!!str 12", "\"12\""},
        {"!!float 3", "3.0"},
        {"09", "\"09\""},
        {"0o17", "\"0o17\""},
        {"1e", "\"1e\""},
        {"y", "\"y\""},
        {"1.2.3", "\"1.2.3\""},
        {"2024-01-01", "\"2024-01-01\""},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = resolve(cases[i].yaml);
        if (strcmp(got, cases[i].json))
            print_message("'%s' resolved to %s, want %s\n", cases[i].yaml, got, cases[i].json);
        assert_string_equal(got, cases[i].json);
        free(got);
    }
}

static void test_integer_overflow_and_infinity_are_refused(void **state)
{
    expect_errors("program: p\nmethod: grid\nparameters:\n  x: {value: 9223372036854775808}\n",
                  "t.yaml:4:14: key 'parameters.x.value': the integer 9223372036854775808 does "
                  "not fit in 64 bits; quote it to pass it as a string\n");
    expect_errors("program: p\nmethod: grid\nparameters:\n  x: {values: [1, .inf]}\n",
                  "t.yaml:4:19: key 'parameters.x.values[1]': '.inf' is not a finite number, "
                  "which JSON cannot hold; quote it to pass it as a string\n");
    expect_errors("program: p\nmethod: random\nparameters:\n  x: {min: -.inf, max: 1.0}\n",
                  "t.yaml:4:12: key 'parameters.x.min': expected a finite number, got '-.inf'\n");
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
    spec *s = load("program: p\nmethod: grid\n"
                   "parameters:\n"
                   "  a: &vals {values: [1, 2]}\n"
                   "  b: *vals\n"
                   "  c:\n"
                   "    <<: *vals\n"
                   "  d:\n"
                   "    <<: [{values: [9]}, {distribution: constant}]\n"
                   "    distribution: categorical\n");
    assert_json(param(s, "a")->values, "[1,2]");
    assert_json(param(s, "b")->values, "[1,2]");
    assert_json(param(s, "c")->values, "[1,2]");
    assert_int_equal(param(s, "d")->dist, SPEC_DIST_CATEGORICAL);
    assert_json(param(s, "d")->values, "[9]");
    assert_int_equal(spec_trial_count(s), 8);
    spec_free(s);
    /* as PyYAML: in a merge list the earlier mapping wins */
    s = load("program: p\nmethod: grid\nparameters:\n"
             "  e: {<<: [{values: [1]}, {values: [2], distribution: categorical}]}\n");
    assert_json(param(s, "e")->values, "[1]");
    spec_free(s);
}

/* ---- errors ---- */

static void test_every_error_is_collected_with_its_position(void **state)
{
    expect_errors("progam: train.py\n"
                  "method: grdi\n"
                  "parameters:\n"
                  "  lr: {values: []}\n"
                  "  x: {min: 5, max: 1}\n"
                  "timeout: soon\n",
                  "t.yaml:1:1: key 'progam': unknown key; did you mean 'program'?\n"
                  "t.yaml:2:9: key 'method': unknown method 'grdi'; did you mean 'grid'?\n"
                  "t.yaml:4:16: key 'parameters.lr.values': the list is empty; give at least one "
                  "value\n"
                  "t.yaml:5:12: key 'parameters.x': min 5 is not less than max 1; swap them or "
                  "widen the range\n"
                  "t.yaml:6:10: key 'timeout': invalid duration 'soon': expected seconds or a "
                  "number with a unit, such as 90s, 30m, 4h, 1d2h or HH:MM:SS\n");
}

static void test_wrong_types_say_what_was_expected(void **state)
{
    expect_errors("program: 3\nmethod: [grid]\nrun_cap: many\nparameters: {x: {min: a, max: 2}}\n"
                  "seed: -1\nresources: {gpus: 1.5}\n",
                  "t.yaml:1:10: key 'program': expected a string, got an integer '3'; quote it to "
                  "make it a string: \"3\"\n"
                  "t.yaml:2:9: key 'method': expected a string, got a list\n"
                  "t.yaml:3:10: key 'run_cap': expected an integer, got a string 'many'\n"
                  "t.yaml:4:23: key 'parameters.x.min': expected a number, got a string 'a'\n"
                  "t.yaml:5:7: key 'seed': must be at least 0, got -1\n"
                  "t.yaml:6:19: key 'resources.gpus': expected an integer, got a number '1.5'\n");
}

static void test_parameter_errors(void **state)
{
    expect_errors(
        "program: p\nmethod: random\nparameters:\n"
        "  a: {values: [x, y], probabilities: [0.5, 0.6]}\n"
        "  b: {values: [x, y], probabilities: [1.0]}\n"
        "  c: {values: [x, y], probabilities: [-0.5, 1.5]}\n"
        "  d: {distribution: log_uniform_values, min: 0, max: 1}\n"
        "  e: {distribution: int_uniform, min: 0.5, max: 3}\n"
        "  f: {distribution: uniform, min: 0.0, max: 1.0, q: 2}\n"
        "  g: {distribution: normal, sigma: -1}\n"
        "  h: {distribution: q_normal, q: 0}\n"
        "  i: {distribution: zipf}\n"
        "  j: {value: 1, values: [1]}\n"
        "  k: {}\n"
        "  l: {mu: 1}\n"
        "  m: {distribution: uniform}\n"
        "  9n: {value: 1}\n"
        "  o: {parameters: {p: {value: 1}}, value: 2}\n",
        "t.yaml:4:38: key 'parameters.a.probabilities': the probabilities sum to 1.1, not 1; "
        "make them add up to 1\n"
        "t.yaml:5:38: key 'parameters.b.probabilities': has 1 probability but 'values' has 2; "
        "give one per value\n"
        "t.yaml:6:39: key 'parameters.c.probabilities[0]': a probability cannot be negative, got "
        "-0.5\n"
        "t.yaml:7:46: key 'parameters.d.min': log_uniform_values takes the values themselves, so "
        "min must be above 0, got 0; use 'log_uniform' to give natural-log exponents instead\n"
        "t.yaml:8:39: key 'parameters.e.min': int_uniform needs an integer, got 0.5; use "
        "'distribution: uniform' for real numbers\n"
        "t.yaml:9:50: key 'parameters.f.q': not used by distribution 'uniform'; remove it\n"
        "t.yaml:10:36: key 'parameters.g.sigma': sigma cannot be negative, got -1\n"
        "t.yaml:11:34: key 'parameters.h.q': q must be above 0, got 0\n"
        "t.yaml:12:21: key 'parameters.i.distribution': unknown distribution 'zipf'; docs/spec.md "
        "lists the 17 W&B distributions\n"
        "t.yaml:13:17: key 'parameters.j': give either 'value' (one constant) or 'values' (a list "
        "to choose from), not both\n"
        "t.yaml:14:6: key 'parameters.k': the parameter is empty; give 'value', 'values', or "
        "'min' and 'max'\n"
        "t.yaml:15:6: key 'parameters.l': 'mu' alone does not say what to sample; add a "
        "distribution, such as 'distribution: normal'\n"
        "t.yaml:16:6: key 'parameters.m': distribution 'uniform' needs 'min' and 'max'; add them\n"
        "t.yaml:17:3: key 'parameters.9n': '9n' is not a parameter name; use letters, digits, "
        "'_', '.' and '-', starting with a letter or '_'\n"
        "t.yaml:18:7: key 'parameters.o.parameters': a parameter with nested 'parameters' takes no "
        "other keys; move the others inside it\n");
}

static void test_grid_refuses_what_it_cannot_enumerate(void **state)
{
    expect_errors("program: p\nmethod: grid\nparameters:\n"
                  "  a: {min: 0.0, max: 1.0}\n"
                  "  b: {values: [1, 2], probabilities: [0.5, 0.5]}\n"
                  "  c: {distribution: normal}\n",
                  "t.yaml:4:3: parameter 'a': method grid cannot enumerate distribution 'uniform'; "
                  "give 'values', use int_uniform or q_uniform, or use method random\n"
                  "t.yaml:5:3: parameter 'b': method grid tries every value once, so "
                  "'probabilities' have no use; remove them or use method random\n"
                  "t.yaml:6:3: parameter 'c': method grid cannot enumerate distribution 'normal'; "
                  "give 'values', use int_uniform or q_uniform, or use method random\n");
    /* what a grid can enumerate */
    spec *s = load("program: p\nmethod: grid\nparameters:\n"
                   "  a: {min: 1, max: 3}\n"
                   "  b: {distribution: q_uniform, min: 0, max: 10, q: 2}\n");
    assert_int_equal(spec_trial_count(s), 3 * 5);
    assert_true(param(s, "b")->int_valued);
    spec_free(s);
}

static void test_grid_size_cap_and_overflow(void **state)
{
    expect_errors("program: p\nmethod: grid\nparameters:\n"
                  "  a: {min: 1, max: 100000}\n"
                  "  b: {min: 1, max: 1000}\n",
                  "t.yaml:3:1: the grid has 100000000 trials, more than the cap of 10000000; use "
                  "fewer values, method random with run_cap, or raise 'grid_cap'\n");
    expect_errors("program: p\nmethod: grid\ngrid_cap: 10\nparameters:\n"
                  "  a: {min: 1, max: 11}\n",
                  "t.yaml:4:1: the grid has 11 trials, more than the cap of 10; use fewer values, "
                  "method random with run_cap, or raise 'grid_cap'\n");
    spec_load_options raise = {.grid_cap = 1000000000};
    spec *s = load_opts("program: p\nmethod: grid\nparameters:\n"
                        "  a: {min: 1, max: 100000}\n"
                        "  b: {min: 1, max: 1000}\n",
                        &raise);
    assert_int_equal(spec_trial_count(s), 100000000);
    assert_int_equal(s->grid_cap, 1000000000);
    /* the canonical JSON holds the spec's own cap, not the load option's */
    assert_json(json_object_get(s->canonical, "grid_cap"), "10000000");
    spec_free(s);
    char *got = errors_of("program: p\nmethod: grid\nparameters:\n"
                          "  a: {min: 0, max: 4000000000000000}\n"
                          "  b: {min: 0, max: 4000000000000000}\n",
                          strlen("program: p\nmethod: grid\nparameters:\n"
                                 "  a: {min: 0, max: 4000000000000000}\n"
                                 "  b: {min: 0, max: 4000000000000000}\n"),
                          NULL);
    assert_non_null(strstr(got, "t.yaml:3:1: the grid has more than 2^64 trials"));
    free(got);
    /* a random sweep needs no cap */
    s = load("program: p\nmethod: random\nrun_cap: 3\nparameters:\n"
             "  a: {min: 1, max: 100000}\n  b: {min: 1, max: 100000}\n");
    assert_int_equal(spec_trial_count(s), 3);
    spec_free(s);
}

static void test_paired_and_duplicate_errors(void **state)
{
    expect_errors("program: p\n"
                  "sweep:\n"
                  "  grid: {a: [1, 2], b: []}\n"
                  "  paired:\n"
                  "    - g: {x: [1, 2], y: [1, 2, 3]}\n"
                  "    - g: {z: [1]}\n"
                  "    - h: {a: [5]}\n"
                  "method: random\n",
                  "t.yaml:3:24: key 'sweep.grid.b': the list is empty; give at least one value\n"
                  "t.yaml:5:25: key 'sweep.paired.g.y': has 3 values but 'sweep.paired.g.x' has "
                  "2; paired lists are zipped, so give each the same number of values\n"
                  "t.yaml:6:7: key 'sweep.paired.g': the paired group 'g' is defined twice; give "
                  "each group its own name\n"
                  "t.yaml:7:11: parameter 'a' is defined twice (first at line 3:10); keep one\n"
                  "t.yaml:8:9: key 'method': the 'sweep:' form is a grid; set 'method: grid' or "
                  "remove 'method'\n");
    expect_errors("program: p\nmethod: grid\nprogram: q\nparameters:\n  a: {value: 1}\n"
                  "  a: {value: 2}\n",
                  "t.yaml:3:1: key 'program': defined twice in this mapping (first at line 1:1); "
                  "keep one\n"
                  "t.yaml:6:3: parameter 'a' is defined twice (first at line 5:3); keep one\n");
}

static void test_macros_and_program_are_checked(void **state)
{
    expect_errors(
        "method: random\n"
        "parameters: {lr: {min: 0.0, max: 1.0}}\n"
        "command: [\"${env}\", \"${program}\", \"${arg}\", \"--lr=${param.lrr}\", "
        "\"${envvar:}\", \"${x\"]\n"
        "env: {A: \"${trial_dir}\", B: \"${nope}\"}\n"
        "workdir: \"${param.lr}/${swep}\"\n",
        "t.yaml:3:1: key 'program': missing, but the command uses ${program}; add "
        "'program: train.py'\n"
        "t.yaml:3:35: key 'command[2]': unknown macro '${arg}'; did you mean '${args}'?\n"
        "t.yaml:3:45: key 'command[3]': '${param.lrr}' names no parameter; did you mean "
        "'${param.lr}'?\n"
        "t.yaml:3:66: key 'command[4]': '${envvar:}' needs an environment variable name "
        "after 'envvar:', such as ${envvar:HOME}\n"
        "t.yaml:3:80: key 'command[5]': '${' is not closed; write ${name}, such as "
        "${args}\n"
        "t.yaml:4:29: key 'env.B': unknown macro '${nope}'; docs/spec.md lists the "
        "macros\n"
        "t.yaml:5:10: key 'workdir': unknown macro '${swep}'; did you mean '${sweep}'?\n");
    expect_errors("program: p\nmethod: random\ncommand: echo ${HOME} ${args}\n",
                  "t.yaml:3:10: key 'command': unknown macro '${HOME}'; for a shell variable "
                  "write $HOME without braces\n");
    /* every known macro passes */
    spec *s = load("program: p\nmethod: random\nparameters: {a.b: {value: 1}}\n"
                   "command: [\"${env}\", \"${interpreter}\", \"${program}\", \"${args}\", "
                   "\"${args_no_hyphens}\", \"${args_no_boolean_flags}\", \"${args_no_equals}\", "
                   "\"${args_json}\", \"${args_json_file}\", \"${trial_dir}/${trial}/${sweep}\", "
                   "\"${param.a.b}\", \"${envvar:HOME}\"]\n");
    assert_int_equal(s->ncommand, 12);
    spec_free(s);
}

static void test_sweepq_key_errors(void **state)
{
    expect_errors(
        "program: p\nmethod: random\n"
        "lease_ttl: 1s\n"
        "max_attempts: 0\n"
        "metrics: '([a-z]+'\n"
        "env: {9X: a, SWEEPQ_TRIAL: b, OK: [1]}\n"
        "resources: {gpu_memory: lots, cpus: 0, gpu: 1}\n"
        "tags: [ok, '', [x]]\n",
        "t.yaml:3:12: key 'lease_ttl': must be at least 2s, got 1s; agents renew leases "
        "every ttl/4\n"
        "t.yaml:4:15: key 'max_attempts': must be at least 1, got 0\n"
        "t.yaml:5:10: key 'metrics': invalid regular expression: Unmatched ( or \\(; write a "
        "POSIX extended regex such as '([a-z_]+)=([-0-9.e]+)'\n"
        "t.yaml:6:7: key 'env.9X': '9X' is not an environment variable name; use "
        "letters, digits and '_', not starting with a digit\n"
        "t.yaml:6:14: key 'env.SWEEPQ_TRIAL': names starting with SWEEPQ_ are set by "
        "sweepq for each trial; choose another name\n"
        "t.yaml:6:35: key 'env.OK': expected a string, got a list\n"
        "t.yaml:7:25: key 'resources.gpu_memory': invalid size 'lots': expected a "
        "number with an optional unit, such as 512MiB, 4GiB or 500MB\n"
        "t.yaml:7:37: key 'resources.cpus': must be at least 1, got 0\n"
        "t.yaml:7:40: key 'resources.gpu': unknown key; did you mean 'gpus'?\n"
        "t.yaml:8:12: key 'tags[1]': a tag is 1 to 128 characters with no control "
        "characters, got ''\n"
        "t.yaml:8:16: key 'tags[2]': expected a string, got a list\n");
}

static void test_metrics_list_names_what_to_record(void **state)
{
    spec *s = load("program: p\nmethod: random\nmetric: {name: loss}\n"
                   "metrics: [acc, val.loss]\nparameters: {x: {values: [1]}}\n");
    assert_int_equal(s->nmetric_names, 2);
    assert_string_equal(s->metric_names[0], "acc");
    assert_string_equal(s->metric_names[1], "val.loss");
    assert_null(s->metrics_pattern);
    assert_json(json_object_get(s->canonical, "metrics"), "[\"acc\",\"val.loss\"]");
    spec_free(s);
    expect_errors("program: p\nmethod: random\nparameters: {x: {values: [1]}}\n"
                  "metrics: [{name: loss, goal: minimize}]\n",
                  "t.yaml:4:11: key 'metrics': a 'metrics' list names the metrics to record "
                  "from the trial's output, e.g. [acc, val_loss] (W&B's multi-objective list "
                  "is not supported; 'metric' names the one to optimize)\n");
}

static void test_early_terminate_rules_that_make_no_band_or_lack_a_metric(void **state)
{
    const char *head = "program: p\nmethod: random\nparameters: {x: {values: [1]}}\n";
    char *yaml = xasprintf("%smetric: {name: loss}\n"
                           "early_terminate: {type: asha, min_iter: 2, eta: 3, max_iter: 81}\n",
                           head);
    spec *s = load(yaml);
    assert_non_null(s->early_terminate);
    spec_free(s);
    free(yaml);
    yaml =
        xasprintf("%smetric: {name: loss}\nearly_terminate: {type: median, min_trials: 3}\n", head);
    s = load(yaml);
    spec_free(s);
    free(yaml);
    /* no band: stop_rule_parse's sentence, at the rule */
    yaml = xasprintf("%smetric: {name: loss}\n"
                     "early_terminate: {type: asha, min_iter: 9, max_iter: 3}\n",
                     head);
    char *got = errors_of(yaml, strlen(yaml), NULL);
    assert_non_null(strstr(got, "t.yaml:5:18: key 'early_terminate': "));
    assert_string_equal(strchr(got, '\n'), "\n"); /* one diagnostic */
    free(got);
    free(yaml);
    yaml = xasprintf("%smetric: {name: loss}\n"
                     "early_terminate: {type: hyperband, max_iter: 2, s: 1, eta: 3}\n",
                     head);
    got = errors_of(yaml, strlen(yaml), NULL);
    assert_non_null(strstr(got, "t.yaml:5:18: key 'early_terminate': "));
    free(got);
    free(yaml);
    /* a rule without a metric to judge by */
    yaml = xasprintf("%searly_terminate: {type: hyperband, min_iter: 3}\n", head);
    expect_errors(yaml, "t.yaml:4:1: key 'early_terminate': it judges trials by the sweep's "
                        "metric, and there is none; add 'metric: {name: loss, goal: "
                        "minimize}' naming the value the trials report\n");
    free(yaml);
}

static void test_yaml_level_errors(void **state)
{
    expect_errors("", "t.yaml:1:1: the spec is empty; write at least 'program', 'method' and "
                      "'parameters' (see docs/spec.md)\n");
    expect_errors("# only\n# comments\n",
                  "t.yaml:1:1: the spec is empty; write at least 'program', 'method' and "
                  "'parameters' (see docs/spec.md)\n");
    expect_errors("- a\n- b\n", "t.yaml:1:1: the spec must be a mapping of keys such as program, "
                                "method and parameters; got a list\n");
    expect_errors("program: p\nmethod: grid\nparameters:\n  a: {values: [1]\n",
                  "t.yaml:5:1: invalid YAML: did not find expected ',' or '}' while parsing a "
                  "flow mapping (started at line 4:6); check the indentation, colons and quotes "
                  "near here\n");
    expect_errors("program: p\nmethod: grid\ncommand: [python, ${program}]\n",
                  "t.yaml:3:20: invalid YAML: did not find expected ',' or ']' while parsing a "
                  "flow sequence; a ${macro} inside [...] or {...} must be quoted: [python3, "
                  "\"${program}\"]\n");
    expect_errors("program: p\n---\nmethod: grid\n",
                  "t.yaml:2:1: a second YAML document starts here; a spec file holds one "
                  "document, so split it into several files\n");
    expect_errors("program: p\nmethod: *nowhere\n",
                  "t.yaml:2:9: alias '*nowhere' names no anchor; define '&nowhere' before using "
                  "it\n");
    expect_errors("program: p\nmethod: !!int grid\n",
                  "t.yaml:2:9: 'grid' does not match its tag !!int; remove the tag\n");
    expect_errors("program: !python/name:os.system p\n",
                  "t.yaml:1:10: unsupported YAML tag '!python/name:os.system'; "
                  "remove it\n");
    expect_errors("a: &x [1, *x]\n", "t.yaml:1:11: alias '*x' is used inside its own anchor, "
                                     "which would never end; remove the recursion\n");
}

static void test_bytes_that_are_not_utf8_are_located(void **state)
{
    const char text[] = "program: p\nmethod: grid\nname: caf\xc3\xa9-\xe9t\xe9\n";
    char *got = errors_of(text, sizeof text - 1, NULL);
    assert_string_equal(got, "t.yaml:3:12: byte 0xe9 is not UTF-8; save the file as UTF-8 text\n");
    free(got);
    const char nul[] = "program: p\nmethod: \0grid\n";
    got = errors_of(nul, sizeof nul - 1, NULL);
    assert_string_equal(got, "t.yaml:2:9: byte 0x00 is a control character, which YAML does not "
                             "allow; save the file as UTF-8 text\n");
    free(got);
    const char cut[] = "program: p\xe2\x82";
    got = errors_of(cut, sizeof cut - 1, NULL);
    assert_string_equal(got, "t.yaml:1:11: byte 0xe2 starts a UTF-8 sequence that the file cuts "
                             "short; save the file as UTF-8 text\n");
    free(got);
    /* a BOM and multi-byte text are fine */
    spec *s = load("\xef\xbb\xbfprogram: p\nmethod: random\ndescription: \xe2\x9c\x93 ok\n");
    assert_string_equal(s->description, "\xe2\x9c\x93 ok");
    spec_free(s);
}

static void test_billion_laughs_is_refused_quickly(void **state)
{
    strbuf sb = SB_INIT;
    sb_adds(&sb, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++) {
        sb_addf(&sb, "l%d: &l%d [", i, i);
        for (int j = 0; j < 10; j++)
            sb_addf(&sb, "%s*l%d", j ? ", " : "", i - 1);
        sb_adds(&sb, "]\n");
    }
    char *got = errors_of(sb.buf, sb.len, NULL);
    assert_non_null(strstr(got, "the YAML holds more than 100000 values, counting each alias as "
                                "a copy of its anchor"));
    free(got);
    sb_reset(&sb);
    for (int i = 0; i < 100; i++)
        sb_adds(&sb, "[");
    got = errors_of(sb.buf, sb.len, NULL);
    assert_string_equal(got, "t.yaml:1:65: the YAML nests deeper than 64 levels; flatten it\n");
    free(got);
    sb_release(&sb);
}

static void test_unknown_keys_get_did_you_mean(void **state)
{
    expect_errors("program: p\nmethod: grid\nparamters: {}\nmetric: {nmae: x}\n"
                  "early_terminate: {type: hyperband, min_iters: 3}\nsweep: {grids: {}}\n"
                  "frobnicate: 1\n",
                  "t.yaml:3:1: key 'paramters': unknown key; did you mean 'parameters'?\n"
                  "t.yaml:4:9: key 'metric': missing 'name'; name the metric to optimize, such as "
                  "'name: val_loss'\n"
                  "t.yaml:4:10: key 'metric.nmae': unknown key; did you mean 'name'?\n"
                  "t.yaml:5:18: key 'early_terminate': hyperband needs 'min_iter', or 'max_iter' "
                  "with 's'; add one\n"
                  "t.yaml:5:36: key 'early_terminate.min_iters': unknown key; did you mean "
                  "'min_iter'?\n"
                  "t.yaml:6:8: key 'sweep': give 'grid' (every combination) and/or 'paired' "
                  "(zipped lists)\n"
                  "t.yaml:6:9: key 'sweep.grids': unknown key; did you mean 'grid'?\n"
                  "t.yaml:7:1: key 'frobnicate': unknown key; docs/spec.md lists the keys a spec "
                  "may have\n");
}

static void test_missing_file_is_not_found(void **state)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    assert_int_equal(spec_load_file(&s, "/nonexistent/sweep.yaml", NULL, &d), SQ_ENOTFOUND);
    assert_null(s);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].message, "cannot open spec: No such file or directory");
    spec_diags_release(&d);

    char path[] = "/tmp/test_spec_load_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "program: p\nmethod: random\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    assert_int_equal(spec_load_file(&s, path, NULL, &d), 0);
    assert_string_equal(s->path, path);
    assert_string_equal(s->source, yaml);
    spec_free(s);
    unlink(path);
    assert_int_equal(d.n, 0);
}

/* ---- canonical JSON ---- */

static char *canonical_of(const char *yaml, const char *file)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    assert_int_equal(spec_load_string(&s, yaml, strlen(yaml), file, NULL, &d), 0);
    char *out = json_dumps(s->canonical, JSON_COMPACT);
    spec_free(s);
    return out;
}

static void test_equivalent_specs_share_canonical_json(void **state)
{
    char *a = canonical_of("program: train.py\n"
                           "method: grid\n"
                           "# a comment\n"
                           "tags: [b, a]\n"
                           "timeout: 1h\n"
                           "resources: {gpu_memory: 1GiB}\n"
                           "parameters:\n"
                           "  lr: {values: [0.1, 0.01]}\n"
                           "  n: {min: 1, max: 3}\n"
                           "  opt: {values: [{b: 1, a: 2}]}\n",
                           "sweep.yaml");
    char *b = canonical_of("tags:\n  - a\n  - b\n"
                           "resources:\n  gpu_memory: 1073741824\n"
                           "timeout: 3600\n"
                           "parameters:\n"
                           "  lr:\n    distribution: categorical\n    values:\n      - 0.1\n"
                           "      - 1e-2\n"
                           "  n: {distribution: int_uniform, max: 3, min: 1}\n"
                           "  opt: {values: [{a: 2, b: 1}]}\n"
                           "max_attempts: 3\n"
                           "method: grid\n"
                           "program: train.py\n",
                           "other/sweep.yml");
    assert_string_equal(a, b);
    /* keys are sorted at every level */
    assert_non_null(strstr(a, "{\"command\":[\"${env}\""));
    assert_non_null(strstr(a, "\"values\":[{\"a\":2,\"b\":1}]"));
    char *a2;
    char *c = canonical_of("program: train.py\nmethod: grid\ntags: [a, b]\ntimeout: 1h\n"
                           "resources: {gpu_memory: 1GiB}\n"
                           "parameters:\n  n: {min: 1, max: 3}\n  lr: {values: [0.1, 0.01]}\n"
                           "  opt: {values: [{b: 1, a: 2}]}\n",
                           "sweep.yaml");
    assert_string_equal(a, c); /* W&B's parameters are sorted: the order written is moot */
    free(c);
    /* the sweep: form keeps the order written, which numbers its trials */
    a2 = canonical_of("program: t.py\nsweep:\n  grid:\n    n: [1]\n    lr: [2]\n", "s.yaml");
    c = canonical_of("program: t.py\nsweep:\n  grid:\n    lr: [2]\n    n: [1]\n", "s.yaml");
    assert_string_not_equal(a2, c);
    free(a2);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wandb_grid_loads_every_field),
        cmocka_unit_test(test_wandb_grid_runs_repeated_values_once),
        cmocka_unit_test(test_wandb_infers_distributions_and_defaults),
        cmocka_unit_test(test_wandb_nested_parameters_join_names_with_dots),
        cmocka_unit_test(test_wandb_command_list_and_shell_form),
        cmocka_unit_test(test_wandb_early_terminate_and_metadata_are_kept),
        cmocka_unit_test(test_bayes_needs_a_metric_and_is_made_on_demand),
        cmocka_unit_test(test_hsm_grid_and_paired_groups),
        cmocka_unit_test(test_hsm_scalar_and_nested_grid_entries),
        cmocka_unit_test(test_params_from_wandb_and_hsm_keep_grid_before_paired),
        cmocka_unit_test(test_sweepq_keys),
        cmocka_unit_test(test_default_name_comes_from_the_file_stem),
        cmocka_unit_test(test_plain_scalars_resolve_as_pyyaml_with_exponents),
        cmocka_unit_test(test_integer_overflow_and_infinity_are_refused),
        cmocka_unit_test(test_anchors_aliases_and_merge_keys),
        cmocka_unit_test(test_every_error_is_collected_with_its_position),
        cmocka_unit_test(test_wrong_types_say_what_was_expected),
        cmocka_unit_test(test_parameter_errors),
        cmocka_unit_test(test_grid_refuses_what_it_cannot_enumerate),
        cmocka_unit_test(test_grid_size_cap_and_overflow),
        cmocka_unit_test(test_paired_and_duplicate_errors),
        cmocka_unit_test(test_macros_and_program_are_checked),
        cmocka_unit_test(test_sweepq_key_errors),
        cmocka_unit_test(test_metrics_list_names_what_to_record),
        cmocka_unit_test(test_early_terminate_rules_that_make_no_band_or_lack_a_metric),
        cmocka_unit_test(test_yaml_level_errors),
        cmocka_unit_test(test_bytes_that_are_not_utf8_are_located),
        cmocka_unit_test(test_billion_laughs_is_refused_quickly),
        cmocka_unit_test(test_unknown_keys_get_did_you_mean),
        cmocka_unit_test(test_missing_file_is_not_found),
        cmocka_unit_test(test_equivalent_specs_share_canonical_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
