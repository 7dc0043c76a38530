/*
 * spec.h - sweep specs: a YAML file in, validated spec tree, trials and the
 * exact command of each trial out.
 *
 * Three dialects are accepted in one file (docs/spec.md is the reference):
 *   1. the W&B sweep config, unchanged (program, command, method, metric,
 *      parameters with values/distributions, nested parameters, run_cap ...);
 *   2. hpc-sweep-manager's `sweep: {grid: {...}, paired: [{GROUP: {...}}]}`;
 *   3. sweepq's own keys (name, tags, seed, resources, max_attempts, timeout,
 *      lease_ttl, env, workdir, on_complete, metrics, grid_cap, interpreter).
 *
 * Pipeline:
 *   spec_load_file / spec_load_string  YAML -> spec (all errors collected
 *                                      as diagnostics with file:line:col)
 *   spec_trial_count                   how many trials (or unbounded)
 *   spec_trial_params                  trial N -> {"dotted.name": value}
 *                                      (pure function of the spec and N)
 *   spec_params_key                    canonical JSON -> stable hex key
 *   spec_build_command                 params -> argv (or sh -c), env, cwd
 *
 * Invariants:
 *   - Trials are numbered 1..N. Grid order: W&B's parameters sorted by name
 *     at every nesting level (as W&B does), the sweep: form's in the order
 *     written; the last one fastest; paired groups come after the grid
 *     parameters, in the order written, each group zipped. A W&B grid runs
 *     a repeated value once (1 and 1.0 are one value). Random trial N depends only on
 *     (seed, N), so trials can be made lazily and re-made identically.
 *   - Parameter values are jansson values; names are dotted full paths.
 *   - A loaded spec is immutable; every function here is thread-safe on it.
 */
#ifndef SQ_SPEC_H
#define SQ_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SPEC_METHOD_GRID, SPEC_METHOD_RANDOM, SPEC_METHOD_BAYES } spec_method;

typedef enum { SPEC_GOAL_MINIMIZE, SPEC_GOAL_MAXIMIZE } spec_goal;

typedef enum {
    SPEC_DIST_CONSTANT,
    SPEC_DIST_CATEGORICAL,
    SPEC_DIST_INT_UNIFORM,
    SPEC_DIST_UNIFORM,
    SPEC_DIST_Q_UNIFORM,
    SPEC_DIST_LOG_UNIFORM,
    SPEC_DIST_LOG_UNIFORM_VALUES,
    SPEC_DIST_Q_LOG_UNIFORM,
    SPEC_DIST_Q_LOG_UNIFORM_VALUES,
    SPEC_DIST_INV_LOG_UNIFORM,
    SPEC_DIST_INV_LOG_UNIFORM_VALUES,
    SPEC_DIST_NORMAL,
    SPEC_DIST_Q_NORMAL,
    SPEC_DIST_LOG_NORMAL,
    SPEC_DIST_Q_LOG_NORMAL,
    SPEC_DIST_BETA,
    SPEC_DIST_Q_BETA,
} spec_dist;

/* The W&B name of a distribution ("log_uniform_values"). */
const char *spec_dist_name(spec_dist d);

typedef struct spec_param {
    char *name;  /* full dotted name: "optimizer.lr" */
    char **path; /* the keys as written, outermost first: {"optimizer", "lr"}; one key
                    for a top-level parameter (which may itself hold dots) */
    size_t npath;
    spec_dist dist;
    json_t *values;                /* array: CONSTANT has one item, CATEGORICAL the values */
    json_t *grid_values;           /* W&B grid: values with repeats dropped (W&B's
                                      yaml_hash equality), or NULL when none repeat */
    double *probabilities;         /* NULL, or one per value, summing to 1 */
    double min, max, mu, sigma, q; /* as given (W&B's meaning per dist) */
    double a, b;                   /* beta's shapes (default 1) */
    bool int_valued;               /* draws are integers: int_uniform, or a q_* distribution
                                      whose q is written as an integer (W&B's rule) */
    int group;                     /* -1: grid/independent; else index into spec.groups */
} spec_param;

typedef struct spec_group {
    char *name;    /* the paired group's name */
    size_t length; /* the common length of its lists */
} spec_group;

typedef struct spec_resources {
    int gpus;                     /* whole GPUs, exclusive; 0 = none */
    uint64_t gpu_memory;          /* bytes of one shared GPU; 0 = none */
    uint64_t min_free_gpu_memory; /* bytes; 0 = agent default */
    int cpus;                     /* CPU slots; default 1 */
} spec_resources;

typedef struct spec_env {
    char *name;
    char *value; /* may hold ${param.NAME} */
} spec_env;

/* Whose rules a spec follows where W&B and hpc-sweep-manager differ: the
 * order of parameters, nested ${args}, repeated grid values. */
typedef enum { SPEC_DIALECT_WANDB, SPEC_DIALECT_HSM } spec_dialect;

typedef struct spec {
    char *path;           /* the file it came from ("<string>" otherwise) */
    spec_dialect dialect; /* HSM for the sweep: form */
    char *source;         /* the file's text, as read */

    /* metadata */
    char *name; /* sweepq name; else W&B name; else file's stem */
    char *description, *entity, *project;
    char **tags;
    size_t ntags;

    /* what to run */
    char *program;     /* ${program}; may be NULL */
    char *interpreter; /* ${interpreter}; NULL = the caller's default */
    char **command;    /* list form, items may hold macros; NULL if shell form */
    size_t ncommand;
    char *command_shell; /* string form, run under /bin/sh -c; else NULL */
    spec_env *env;
    size_t nenv;
    char *workdir;         /* NULL = the trial directory */
    char *on_complete;     /* shell command run once when the sweep ends */
    char *metrics_pattern; /* POSIX ERE with 2 groups (name, value); NULL = default */
    char **metric_names;   /* `metrics: [a, b]`: also recorded from output lines */
    size_t nmetric_names;

    /* search */
    spec_method method;
    struct {
        char *name; /* NULL when there is no metric */
        spec_goal goal;
        bool has_target;
        double target;
    } metric;
    spec_param *params;
    size_t nparams;
    spec_group *groups;
    size_t ngroups;
    uint64_t run_cap;        /* 0 = none */
    json_t *early_terminate; /* validated, kept as given; NULL if absent */
    uint64_t seed;           /* default 0 */
    uint64_t grid_cap;       /* most grid trials allowed; default 10,000,000 */

    /* execution */
    spec_resources resources;
    int max_attempts; /* default 3 */
    double timeout;   /* seconds; 0 = none */
    double lease_ttl; /* seconds; default 60 */

    json_t *canonical; /* the whole spec as canonical JSON (sorted keys) */
} spec;

/* One problem found in a spec. */
typedef struct spec_diag {
    char *file;
    int line, col; /* 1-based; 0 when unknown */
    char *message; /* "key 'parameters.lr.min': expected a number, got 'abc'" */
} spec_diag;

typedef struct spec_diags {
    spec_diag *items;
    size_t n, cap;
} spec_diags;

#define SPEC_DIAGS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void spec_diags_release(spec_diags *d);
/* Appends a copy of message at file:line:col (line 0: no position) unless the
 * very same diagnostic is already in d; returns true when it was appended. */
bool spec_diags_add(spec_diags *d, const char *file, int line, int col, const char *message);
/* Sorts d->items[from..n) by line, then column, keeping the order of equals. */
void spec_diags_sort(spec_diags *d, size_t from);
/* "file:line:col: message" for diagnostic i; caller frees. */
char *spec_diag_format(const spec_diag *d);

typedef struct spec_load_options {
    uint64_t grid_cap; /* overrides the spec's and the default cap; 0 = keep */
} spec_load_options;

/*
 * Loads and validates a spec. On success *out is the spec (free with
 * spec_free) and returns 0. On any error returns SQ_EINVAL (or SQ_ENOTFOUND /
 * SQ_EIO for an unreadable file), leaves *out NULL and appends every problem
 * found to diags (at least one). opts may be NULL.
 */
int spec_load_file(spec **out, const char *path, const spec_load_options *opts, spec_diags *diags);
int spec_load_string(spec **out, const char *text, size_t len, const char *name,
                     const spec_load_options *opts, spec_diags *diags);
void spec_free(spec *s);

#define SPEC_UNBOUNDED UINT64_MAX

/* Number of trials: the grid size (capped by run_cap when set), run_cap for
 * random and bayes, SPEC_UNBOUNDED for either without run_cap. */
uint64_t spec_trial_count(const spec *s);

/*
 * The size of the grid of s: the product of every grid parameter's number of
 * values and every paired group's length, whatever the method. 0 and
 * *out set, or SQ_EINVAL (message names the parameter) when the product
 * overflows 64 bits or a parameter cannot be enumerated (a continuous
 * distribution). The loader uses it for the grid cap.
 */
int spec_grid_size(const spec *s, uint64_t *out);

/* True when the sweep's trials are made as agents need them: random
 * without run_cap (for ever) and every bayes sweep (each trial proposed from
 * the results so far, up to run_cap when there is one). */
bool spec_is_open_ended(const spec *s);

/*
 * The parameters of trial number (1-based) as a new JSON object
 * {"dotted.name": value, ...} in parameter order. SQ_EINVAL when number is
 * out of range. *out is NULL on error.
 */
int spec_trial_params(const spec *s, uint64_t number, json_t **out);

/*
 * The counter-based random word for (seed, trial number, stream) that random
 * trials are drawn from: any word is made without the ones before it, so a
 * draw is a pure function of its three inputs. Other modules that need
 * reproducible draws per trial (search_propose) use it with a seed of their
 * own, so their streams never meet a random trial's.
 */
uint64_t spec_rand_word(uint64_t seed, uint64_t number, uint64_t stream);

/* Canonical JSON of params (sorted keys, compact); caller frees. */
char *spec_params_canonical(const json_t *params);

/* A stable 32-hex-digit key of the canonical JSON of params; caller frees. */
char *spec_params_key(const json_t *params);

/*
 * Compact JSON text of any value (no spaces); object keys sorted when
 * sort_keys, else in their order. Reals are written as the shortest text that
 * reads back as the same double (0.1, not 0.10000000000000001). Caller frees.
 */
char *spec_json_compact(const json_t *v, bool sort_keys);

/* ${args_json}: params as Python's json.dumps writes them, which is also the
 * content of ${args_json_file} (TRIAL_DIR/params.json). Caller frees. */
char *spec_args_json(const json_t *params);

/*
 * The run's config as W&B's agent gets it: one entry per top-level key, in
 * the spec's order, a nested parameter's values gathered into one mapping
 * under its outermost key ({"optimizer": {"lr": 0.001}}); the sweep: form's
 * parameters stay flat. ${args} and friends, ${args_json} and the file of
 * WANDB_SWEEP_PARAM_PATH are made from it. New reference.
 */
json_t *spec_args_view(const spec *s, const json_t *params);

/*
 * The file WANDB_SWEEP_PARAM_PATH names, as W&B's agent writes it
 * (config_util.save_config_file_from_dict): wandb_version 1 and each
 * top-level key of spec_args_view as {NAME: {value: VALUE}}, which
 * wandb.init() reads into wandb.config. Written as JSON text that PyYAML
 * reads back exactly (a YAML flow mapping). Caller frees.
 */
char *spec_wandb_config(const spec *s, const json_t *params);

/* How a value appears in ${args}: exactly as W&B's agent writes it
 * (True/False, None, Python float repr, lists and dicts as JSON). */
char *spec_format_value(const json_t *v);

/* 0 when every macro of the one-string command text stands where its
 * values can be quoted safely (bare, inside '...' or "..."); else SQ_EINVAL
 * naming the first that does not (inside `...`, or after a backslash) and
 * what to write instead. spec_build_command refuses the same. */
int spec_shell_macros_check(const char *text);

/* What spec_build_command needs to know of where the trial runs. */
typedef struct spec_command_ctx {
    const char *sweep_name;
    uint64_t trial_number;
    const char *trial_dir;   /* absolute; ${args_json_file} is TRIAL_DIR/params.json */
    const char *interpreter; /* default for ${interpreter} when the spec has none */
    const char *env_program; /* ${env}; default "/usr/bin/env" */
} spec_command_ctx;

typedef struct spec_command {
    char **argv; /* NULL-terminated; for the shell form: /bin/sh -c STRING */
    size_t argc;
    char **env; /* NULL-terminated "NAME=value" from the spec's env */
    size_t nenv;
    char *workdir; /* resolved workdir, or NULL for the trial directory */
    char *display; /* the command as one shell-quoted line, for humans */
} spec_command;

/*
 * Builds the command of one trial. Macros: ${env} ${interpreter} ${program}
 * ${args} ${args_no_hyphens} ${args_no_boolean_flags} ${args_no_equals}
 * ${args_json} ${args_json_file} ${param.NAME} ${trial_dir} ${trial} ${sweep}
 * ${envvar:NAME}. A list item that is exactly ${args...} expands into several
 * argv items; elsewhere a macro is substituted into the item's text. Returns
 * 0, or SQ_EINVAL for an unknown ${param.NAME} or macro. *out is filled on
 * success (and zeroed on error); release it with spec_command_release.
 */
int spec_build_command(const spec *s, const json_t *params, const spec_command_ctx *ctx,
                       spec_command *out);
void spec_command_release(spec_command *c);

#endif
