/*
 * test_spec_command.c - how values are written (W&B's agent: Python str(),
 * json.dumps) and how a trial's command is built: every macro, the default
 * command, ${param.NAME} in items, env and workdir, the shell form with its
 * quoting (run for real under /bin/sh), and the errors.
 */
#include "util/common.h"

#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- value formatting ---------------------------------------------------- */

static void assert_formats(const char *json, const char *want)
{
    json_error_t err;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("bad test JSON %s: %s", json, err.text);
    char *got = spec_format_value(v);
    if (strcmp(got, want))
        fail_msg("%s formats as '%s', want '%s'", json, got, want);
    free(got);
    json_decref(v);
}

static void assert_real_formats(double d, const char *want)
{
    json_t *v = json_real(d);
    char *got = spec_format_value(v);
    if (strcmp(got, want))
        fail_msg("%.17g formats as '%s', want '%s'", d, got, want);
    free(got);
    json_decref(v);
}

static void test_scalars_format_as_python_str(void **state)
{
    assert_formats("true", "True");
    assert_formats("false", "False");
    assert_formats("null", "None");
    assert_formats("32", "32");
    assert_formats("-7", "-7");
    assert_formats("\"adam\"", "adam");
    assert_formats("\"it's \\\"x\\\"\"", "it's \"x\"");
    assert_formats("\"caf\\u00e9\"", "café");
}

static void test_floats_format_as_python_repr(void **state)
{
    assert_real_formats(0.001, "0.001");
    assert_real_formats(1e-5, "1e-05");
    assert_real_formats(0.0001, "0.0001");
    assert_real_formats(1e16, "1e+16");
    assert_real_formats(1e15, "1000000000000000.0");
    assert_real_formats(1.0, "1.0");
    assert_real_formats(100.0, "100.0");
    assert_real_formats(2.5, "2.5");
    assert_real_formats(-0.0, "-0.0");
    assert_real_formats(0.1 + 0.2, "0.30000000000000004");
    assert_real_formats(1e22, "1e+22");
    assert_real_formats(1.5e-7, "1.5e-07");
    assert_real_formats(123456789012345678.0, "1.2345678901234568e+17");
    assert_real_formats(5e-324, "5e-324");
    assert_real_formats(1.7976931348623157e308, "1.7976931348623157e+308");
    assert_real_formats(0.005417051459795853, "0.005417051459795853");
}

static void test_lists_and_dicts_format_as_python_repr(void **state)
{
    /* W&B writes f"--{name}={value}": str() of a list is its repr. */
    assert_formats("[1, 2]", "[1, 2]");
    assert_formats("[0.1, 1e-05, 1.0]", "[0.1, 1e-05, 1.0]");
    assert_formats("[\"a\", \"b\"]", "['a', 'b']");
    assert_formats("[true, null]", "[True, None]");
    assert_formats("[\"it's\"]", "[\"it's\"]");
    assert_formats("[\"a'b\\\"c\"]", "['a\\'b\"c']");
    assert_formats("[\"tab\\there\\n\"]", "['tab\\there\\n']");
    assert_formats("[\"\\u00e9\\u00a0\"]", "['é\\xa0']");
    assert_formats("{\"k\": true, \"n\": [1, {\"x\": \"y\"}]}",
                   "{'k': True, 'n': [1, {'x': 'y'}]}");
    assert_formats("[]", "[]");
    assert_formats("{}", "{}");
}

static void test_args_json_is_python_json_dumps(void **state)
{
    json_t *p = json_loads("{\"lr\": 0.001, \"name\": \"\\u00e9\", \"flag\": true, "
                           "\"l\": [1, 2], \"x\": null, \"s\": \"q\\\"\\\\\"}",
                           0, NULL);
    char *j = spec_args_json(p);
    assert_string_equal(j, "{\"lr\": 0.001, \"name\": \"\\u00e9\", \"flag\": true, \"l\": [1, 2], "
                           "\"x\": null, \"s\": \"q\\\"\\\\\"}");
    free(j);
    json_decref(p);
}

static void test_compact_json_keeps_order_and_shortest_reals(void **state)
{
    json_t *p = json_loads("{\"b\": 0.1, \"a\": [1e-05, \"\\u00e9\\n\"]}", 0, NULL);
    char *j = spec_json_compact(p, false);
    assert_string_equal(j, "{\"b\":0.1,\"a\":[1e-05,\"\xc3\xa9\\n\"]}");
    free(j);
    j = spec_json_compact(p, true);
    assert_string_equal(j, "{\"a\":[1e-05,\"\xc3\xa9\\n\"],\"b\":0.1}");
    free(j);
    json_decref(p);
}

/* ---- commands ------------------------------------------------------------ */

static json_t *params_of(const char *json)
{
    json_t *p = json_loads(json, 0, NULL);
    assert_non_null(p);
    return p;
}

static spec base_spec(void)
{
    spec s = {0};
    s.name = "demo";
    s.program = "train.py";
    return s;
}

static spec_command_ctx base_ctx(void)
{
    spec_command_ctx c = {0};
    c.sweep_name = "demo";
    c.trial_number = 7;
    c.trial_dir = "/p/.sweepq/sweeps/demo/trials/7";
    return c;
}

/* Builds and checks argv joined by '|' and the display line. */
static void assert_command(const spec *s, const char *params_json, const char *want_argv,
                           const char *want_display)
{
    json_t *p = params_of(params_json);
    spec_command_ctx ctx = base_ctx();
    spec_command c;
    if (spec_build_command(s, p, &ctx, &c))
        fail_msg("build failed: %s", sq_error_msg());
    strbuf joined = SB_INIT;
    for (size_t i = 0; i < c.argc; i++)
        sb_addf(&joined, "%s%s", i ? "|" : "", c.argv[i]);
    assert_null(c.argv[c.argc]);
    assert_string_equal(sb_str(&joined), want_argv);
    if (want_display)
        assert_string_equal(c.display, want_display);
    sb_release(&joined);
    spec_command_release(&c);
    json_decref(p);
}

static void test_default_command_is_wandbs(void **state)
{
    spec s = base_spec();
    assert_command(&s, "{\"lr\": 0.001, \"epochs\": 20, \"opt\": \"adam\", \"flag\": true}",
                   "/usr/bin/env|python3|train.py|--lr=0.001|--epochs=20|--opt=adam|--flag=True",
                   "/usr/bin/env python3 train.py --lr=0.001 --epochs=20 --opt=adam --flag=True");
}

static void test_interpreter_and_env_come_from_spec_then_context(void **state)
{
    spec s = base_spec();
    char *cmd[] = {"${env}", "${interpreter}", "${program}"};
    s.command = cmd;
    s.ncommand = 3;
    json_t *p = params_of("{}");
    spec_command_ctx ctx = base_ctx();
    ctx.interpreter = "/venv/bin/python";
    ctx.env_program = "/bin/env";
    spec_command c;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_string_equal(c.display, "/bin/env /venv/bin/python train.py");
    spec_command_release(&c);
    s.interpreter = "python3.11";
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_string_equal(c.argv[1], "python3.11");
    spec_command_release(&c);
    json_decref(p);
}

static void test_args_macros_expand_to_items(void **state)
{
    spec s = base_spec();
    const char *params = "{\"lr\": 1e-05, \"use_bn\": true, \"dropout\": false, \"l\": [1, 2]}";
    char *args[] = {"${args}"};
    s.command = args;
    s.ncommand = 1;
    assert_command(&s, params, "--lr=1e-05|--use_bn=True|--dropout=False|--l=[1, 2]", NULL);
    char *nohyph[] = {"python3", "${program}", "${args_no_hyphens}"};
    s.command = nohyph;
    s.ncommand = 3;
    assert_command(&s, params, "python3|train.py|lr=1e-05|use_bn=True|dropout=False|l=[1, 2]",
                   "python3 train.py lr=1e-05 use_bn=True dropout=False 'l=[1, 2]'");
    /* True -> --flag, False -> left out, as W&B's ${args_no_boolean_flags}. */
    char *nobool[] = {"${args_no_boolean_flags}"};
    s.command = nobool;
    s.ncommand = 1;
    assert_command(&s, params, "--lr=1e-05|--use_bn|--l=[1, 2]", NULL);
    char *noeq[] = {"${args_no_equals}"};
    s.command = noeq;
    assert_command(&s, params, "--lr|1e-05|--use_bn|True|--dropout|False|--l|[1, 2]", NULL);
    char *json[] = {"x", "${args_json}"};
    s.command = json;
    s.ncommand = 2;
    assert_command(&s, params,
                   "x|{\"lr\": 1e-05, \"use_bn\": true, \"dropout\": false, \"l\": [1, 2]}",
                   "x '{\"lr\": 1e-05, \"use_bn\": true, \"dropout\": false, \"l\": [1, 2]}'");
    char *file[] = {"x", "--config", "${args_json_file}"};
    s.command = file;
    s.ncommand = 3;
    assert_command(&s, params, "x|--config|/p/.sweepq/sweeps/demo/trials/7/params.json", NULL);
}

static void test_args_follow_the_spec_order_not_the_objects(void **state)
{
    /* Params read back from the store are canonical JSON (sorted keys); the
     * command must be the one the dry run showed, in parameter order. */
    spec_param ps[2] = {{.name = "lr", .group = -1}, {.name = "batch_size", .group = -1}};
    spec s = base_spec();
    s.params = ps;
    s.nparams = 2;
    char *cmd[] = {"${args}", "${args_json}"};
    s.command = cmd;
    s.ncommand = 2;
    const char *want = "--lr=0.1|--batch_size=32|{\"lr\": 0.1, \"batch_size\": 32}";
    assert_command(&s, "{\"batch_size\": 32, \"lr\": 0.1}", want, NULL);
    assert_command(&s, "{\"lr\": 0.1, \"batch_size\": 32}", want, NULL);
    /* A key the spec does not name comes last. */
    assert_command(
        &s, "{\"extra\": 1, \"batch_size\": 32, \"lr\": 0.1}",
        "--lr=0.1|--batch_size=32|--extra=1|{\"lr\": 0.1, \"batch_size\": 32, \"extra\": 1}", NULL);
    /* And a trial read back from its canonical text builds the same argv. */
    json_t *p = params_of("{\"lr\": 0.1, \"batch_size\": 32}");
    char *canon = spec_params_canonical(p);
    assert_string_equal(canon, "{\"batch_size\":32,\"lr\":0.1}");
    assert_command(&s, canon, want, NULL);
    free(canon);
    json_decref(p);
}

static spec *load_spec(const char *yaml)
{
    spec *s = NULL;
    spec_diags d = SPEC_DIAGS_INIT;
    if (spec_load_string(&s, yaml, strlen(yaml), "t.yaml", NULL, &d))
        fail_msg("spec did not load: %s", d.n ? d.items[0].message : sq_error_msg());
    spec_diags_release(&d);
    return s;
}

/* W&B's agent gets one config entry per top-level key, a nested
 * parameter's values in one mapping, keys sorted at every level (W&B's
 * examples/nested-params: --optimizer={'lr': 0.001, 'name': 'adam'}). */
static void test_nested_parameters_pass_one_dict_per_top_level_key(void **state)
{
    spec *s = load_spec("program: train.py\nmethod: grid\n"
                        "command: [\"${args}\", \"${args_no_equals}\", \"${args_json}\", "
                        "\"${param.optimizer.lr}\"]\n"
                        "parameters:\n"
                        "  optimizer:\n    parameters:\n"
                        "      name: {value: adam}\n      lr: {value: 0.001}\n"
                        "  epochs: {value: 5}\n");
    json_t *t;
    assert_int_equal(spec_trial_params(s, 1, &t), 0);
    char *params = spec_json_compact(t, false);
    assert_command(s, params,
                   "--epochs=5|--optimizer={'lr': 0.001, 'name': 'adam'}|"
                   "--epochs|5|--optimizer|{'lr': 0.001, 'name': 'adam'}|"
                   "{\"epochs\": 5, \"optimizer\": {\"lr\": 0.001, \"name\": \"adam\"}}|0.001",
                   NULL);
    char *cfg = spec_wandb_config(s, t);
    assert_string_equal(cfg, "{\"wandb_version\": 1, \"epochs\": {\"value\": 5}, "
                             "\"optimizer\": {\"value\": {\"lr\": 0.001, \"name\": \"adam\"}}}");
    free(cfg);
    free(params);
    json_decref(t);
    spec_free(s);
    /* PyYAML reads 1e-05 as a string, so the file writes 1.0e-05 */
    s = load_spec("program: p\nmethod: grid\nparameters:\n  lr: {value: 1e-5}\n");
    assert_int_equal(spec_trial_params(s, 1, &t), 0);
    cfg = spec_wandb_config(s, t);
    assert_string_equal(cfg, "{\"wandb_version\": 1, \"lr\": {\"value\": 1.0e-05}}");
    free(cfg);
    json_decref(t);
    spec_free(s);
}

/* hpc-sweep-manager writes null, true and false as Hydra spells them. */
static void test_sweep_form_writes_hydra_values(void **state)
{
    spec *s = load_spec("program: train.py\nsweep:\n  grid:\n"
                        "    z: [null]\n    a: [true]\n    m: [[1, x]]\n");
    json_t *t;
    assert_int_equal(spec_trial_params(s, 1, &t), 0);
    char *params = spec_json_compact(t, false);
    assert_command(s, params, "/usr/bin/env|python3|train.py|z=null|a=true|m=[1, 'x']", NULL);
    free(params);
    json_decref(t);
    spec_free(s);
}

static void test_macros_inside_items_are_substituted_as_text(void **state)
{
    spec s = base_spec();
    char *cmd[] = {"run",
                   "--out=${trial_dir}/ckpt",
                   "--name=${sweep}-${trial}",
                   "--lr=${param.optimizer.lr}",
                   "all:${args}",
                   "${param.tags}"};
    s.command = cmd;
    s.ncommand = 6;
    assert_command(&s, "{\"optimizer.lr\": 0.01, \"tags\": [\"a\", \"b\"]}",
                   "run|--out=/p/.sweepq/sweeps/demo/trials/7/ckpt|--name=demo-7|--lr=0.01|"
                   "all:--optimizer.lr=0.01 --tags=['a', 'b']|['a', 'b']",
                   NULL);
}

static void test_envvar_macro_reads_the_environment_or_keeps_the_name(void **state)
{
    spec s = base_spec();
    char *cmd[] = {"${envvar:SQ_TEST_VAR}", "x${envvar:SQ_TEST_UNSET_VAR}"};
    s.command = cmd;
    s.ncommand = 2;
    setenv("SQ_TEST_VAR", "hello world", 1);
    unsetenv("SQ_TEST_UNSET_VAR");
    assert_command(&s, "{}", "hello world|xSQ_TEST_UNSET_VAR", "'hello world' xSQ_TEST_UNSET_VAR");
    unsetenv("SQ_TEST_VAR");
}

static void test_env_and_workdir_take_param_values(void **state)
{
    spec s = base_spec();
    spec_env env[] = {{"DATASET", "${param.dataset}"}, {"OUT", "/data/${param.dataset}/${trial}"}};
    s.env = env;
    s.nenv = 2;
    s.workdir = "/runs/${param.dataset}";
    json_t *p = params_of("{\"dataset\": \"cifar10\"}");
    spec_command_ctx ctx = base_ctx();
    spec_command c;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_int_equal(c.nenv, 2);
    assert_string_equal(c.env[0], "DATASET=cifar10");
    assert_string_equal(c.env[1], "OUT=/data/cifar10/7");
    assert_null(c.env[2]);
    assert_string_equal(c.workdir, "/runs/cifar10");
    spec_command_release(&c);
    s.workdir = NULL;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_null(c.workdir);
    spec_command_release(&c);
    json_decref(p);
}

static void test_unknown_param_is_an_error_naming_the_parameters(void **state)
{
    spec s = base_spec();
    char *cmd[] = {"x", "--lr=${param.lrr}"};
    s.command = cmd;
    s.ncommand = 2;
    json_t *p = params_of("{\"lr\": 0.1, \"batch\": 32}");
    spec_command_ctx ctx = base_ctx();
    spec_command c;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    assert_null(c.argv);
    assert_string_equal(sq_error_msg(),
                        "unknown parameter 'lrr' in '${param.lrr}': the parameters are lr, batch");
    /* In an env value too. */
    char *ok[] = {"x"};
    s.command = ok;
    s.ncommand = 1;
    spec_env env[] = {{"A", "${param.nope}"}};
    s.env = env;
    s.nenv = 1;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    json_decref(p);
}

static void test_other_command_errors(void **state)
{
    spec s = base_spec();
    json_t *p = params_of("{}");
    spec_command_ctx ctx = base_ctx();
    spec_command c;
    char *unknown[] = {"x", "${prgram}"};
    s.command = unknown;
    s.ncommand = 2;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "unknown macro '${prgram}'"));
    char *open[] = {"x", "${program"};
    s.command = open;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    char *prog[] = {"${program}"};
    s.command = prog;
    s.ncommand = 1;
    s.program = NULL;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "no 'program'"));
    char *empty[] = {"${args}"};
    s.command = empty;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    char *dir[] = {"${trial_dir}"};
    s.command = dir;
    ctx.trial_dir = NULL;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), SQ_EINVAL);
    json_decref(p);
}

/* ---- shell form ------------------------------------------------------------ */

static const char *const hostile[] = {"$(touch pwned)", "; rm -rf x", "'",    "`touch pwned2`",
                                      "a\"b",           "$HOME",      "x\ny", "*"};

static void test_shell_form_quotes_every_value(void **state)
{
    spec s = base_spec();
    s.command_shell = "printf '%s\\n' ${param.v} ${args} > out.txt";
    json_t *p = json_object();
    json_object_set_new(p, "v", json_string("$(touch pwned)"));
    spec_command_ctx ctx = base_ctx();
    spec_command c;
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_int_equal(c.argc, 3);
    assert_string_equal(c.argv[0], "/bin/sh");
    assert_string_equal(c.argv[1], "-c");
    assert_string_equal(c.argv[2],
                        "printf '%s\\n' '$(touch pwned)' '--v=$(touch pwned)' > out.txt");
    assert_string_equal(c.display, c.argv[2]);
    spec_command_release(&c);
    json_object_set_new(p, "v", json_string("'"));
    assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
    assert_string_equal(c.argv[2], "printf '%s\\n' ''\\''' '--v='\\''' > out.txt");
    spec_command_release(&c);
    json_decref(p);
}

/* Runs argv in dir and returns its exit status. */
static int run_in(const char *dir, char **argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_shell_form_values_stay_inert_when_run(void **state)
{
    char dir[] = "/tmp/sq-shell-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *victim = xasprintf("%s/x", dir);
    assert_int_equal(mkdir(victim, 0755), 0);
    spec s = base_spec();
    s.command_shell = "printf '%s\\n' ${param.v} > out.txt";
    spec_command_ctx ctx = base_ctx();
    for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
        json_t *p = json_object();
        json_object_set_new(p, "v", json_string(hostile[i]));
        spec_command c;
        assert_int_equal(spec_build_command(&s, p, &ctx, &c), 0);
        assert_int_equal(run_in(dir, c.argv), 0);
        /* The program saw the value as one argument, byte for byte. */
        char *out_path = xasprintf("%s/out.txt", dir);
        strbuf out = SB_INIT;
        assert_int_equal(sb_read_file(&out, out_path), 0);
        char *want = xasprintf("%s\n", hostile[i]);
        assert_string_equal(sb_str(&out), want);
        free(want);
        sb_release(&out);
        unlink(out_path);
        free(out_path);
        spec_command_release(&c);
        json_decref(p);
    }
    struct stat st;
    char *pwned = xasprintf("%s/pwned", dir), *pwned2 = xasprintf("%s/pwned2", dir);
    assert_int_not_equal(stat(pwned, &st), 0);
    assert_int_not_equal(stat(pwned2, &st), 0);
    assert_int_equal(stat(victim, &st), 0);
    rmdir(victim);
    rmdir(dir);
    free(pwned);
    free(pwned2);
    free(victim);
}

static void test_list_form_display_quotes_only_what_needs_it(void **state)
{
    spec s = base_spec();
    char *cmd[] = {"python3", "${program}", "--name=${param.n}", "${param.e}"};
    s.command = cmd;
    s.ncommand = 4;
    assert_command(&s, "{\"n\": \"it's a test\", \"e\": \"\"}",
                   "python3|train.py|--name=it's a test|",
                   "python3 train.py '--name=it'\\''s a test' ''");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_parameters_pass_one_dict_per_top_level_key),
        cmocka_unit_test(test_sweep_form_writes_hydra_values),
        cmocka_unit_test(test_scalars_format_as_python_str),
        cmocka_unit_test(test_floats_format_as_python_repr),
        cmocka_unit_test(test_lists_and_dicts_format_as_python_repr),
        cmocka_unit_test(test_args_json_is_python_json_dumps),
        cmocka_unit_test(test_compact_json_keeps_order_and_shortest_reals),
        cmocka_unit_test(test_default_command_is_wandbs),
        cmocka_unit_test(test_interpreter_and_env_come_from_spec_then_context),
        cmocka_unit_test(test_args_macros_expand_to_items),
        cmocka_unit_test(test_args_follow_the_spec_order_not_the_objects),
        cmocka_unit_test(test_macros_inside_items_are_substituted_as_text),
        cmocka_unit_test(test_envvar_macro_reads_the_environment_or_keeps_the_name),
        cmocka_unit_test(test_env_and_workdir_take_param_values),
        cmocka_unit_test(test_unknown_param_is_an_error_naming_the_parameters),
        cmocka_unit_test(test_other_command_errors),
        cmocka_unit_test(test_shell_form_quotes_every_value),
        cmocka_unit_test(test_shell_form_values_stay_inert_when_run),
        cmocka_unit_test(test_list_form_display_quotes_only_what_needs_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
