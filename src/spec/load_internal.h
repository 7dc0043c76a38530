/*
 * load_internal.h - what the spec loader's files (load.c, load_params.c,
 * load_wandb.c, load_hsm.c, load_own.c) share: the loader's state, the
 * diagnostics and node-access helpers, and each dialect's key table.
 * Private to src/spec; spec.h is the module's interface.
 *
 * Contract of every helper taking a loader: a problem becomes one
 * diagnostic naming the key's dotted path, the helper returns false (or
 * NULL), and the caller goes on, so one load reports every error.
 */
#ifndef SQ_SPEC_LOAD_INTERNAL_H
#define SQ_SPEC_LOAD_INTERNAL_H

#include "util/common.h"

#include "spec/spec.h"
#include "spec/yaml_tree.h"
#include "util/units.h"

#define DEFAULT_GRID_CAP 10000000ULL
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_LEASE_TTL 60.0
#define MIN_LEASE_TTL 2.0
#define MAX_SPEC_BYTES ((size_t)8 << 20)
#define MAX_DIAGS 200
#define PROB_TOLERANCE 1.001e-5          /* W&B: numpy.isclose(sum, 1): 1e-8 + 1e-5 * 1 */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: doubles hold every integer up to here */
#define NAME_MAX_LEN 64
#define MAX_TOP_KEYS 64 /* the top-level keys of all dialects together */

/* ------------------------------------------------------------- name index */

/* A set of names, each with a node, so that finding a duplicate among n
 * keys costs O(n) and not O(n^2) (a mapping may hold 50,000 keys). */
typedef struct name_index {
    const char **names; /* borrowed */
    const ytree_node **nodes;
    size_t cap, n;
} name_index;

#define NAME_INDEX_INIT                                                                            \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }

/* What the loader remembers of each parameter beyond struct spec_param. */
typedef struct param_info {
    const ytree_node *at; /* where it was named */
    bool q_int;           /* q written as an integer */
    bool ends_int;        /* min and max written as integers */
} param_info;

/* A text that may hold ${macros}, checked once every parameter is known. */
typedef struct macro_use {
    const ytree_node *at;
    char *path;
    const char *text; /* borrowed from the tree */
    bool shell;       /* the command's /bin/sh form */
} macro_use;

typedef struct loader {
    const char *file;
    spec_diags *diags;
    size_t first_diag;
    size_t ndiags;
    bool truncated;
    const spec_load_options *opts;
    spec *s;
    const ytree_node *root;

    /* nodes the whole-spec checks point at */
    const ytree_node *program_key, *method_key, *method_val, *parameters_key, *sweep_key,
        *metric_key, *command_key, *name_val, *grid_cap_key, *early_terminate_key;
    bool have_method, sweep_form;
    uint64_t own_grid_cap; /* from the spec's grid_cap key, or the default */

    param_info *info;     /* parallel to s->params */
    name_index params_ix; /* the parameters' names, each with where it was named */
    bool suggested_method, suggested_program; /* a typo's did-you-mean named them */
    size_t params_cap, info_cap, groups_cap, tags_cap, env_cap;
    const ytree_node *hsm_script; /* the sweep: form's script: */
    const char **nest;            /* the keys of the W&B parameters being read, outermost first */
    size_t nnest, nest_cap;
    macro_use *macros;
    size_t nmacros, macros_cap;
    json_t *kept;        /* W&B keys kept as written: controller, apiVersion, kind */
    json_t *kept_metric; /* metric.impute and metric.impute_while_running */
} loader;

typedef void (*key_fn)(loader *L, const ytree_node *key, const ytree_node *val, const char *path);

/* One top-level key and its handler. */
typedef struct top_key {
    const char *name;
    key_fn fn;
} top_key;

/* Each dialect's keys (load_wandb.c, load_hsm.c, load_own.c). */
extern const top_key spec_wandb_keys[], spec_hsm_keys[], spec_own_keys[];
extern const size_t spec_wandb_nkeys, spec_hsm_nkeys, spec_own_nkeys;

/* --- name index (load.c) */
const ytree_node *name_index_add(name_index *ix, const char *name, const ytree_node *node);
bool name_index_has(const name_index *ix, const char *name);
void name_index_release(name_index *ix);

/* --- diagnostics (load.c) */
void diag(loader *L, const ytree_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *shorten(const char *text, size_t max);
bool diags_full(loader *L);
char *child_path(const char *parent, const char *key);
char *index_path(const char *parent, size_t i);
char *describe(const ytree_node *n);
void diag_type(loader *L, const ytree_node *n, const char *path, const char *expected,
               const char *hint);
const char *closest(const char *word, const char *const *candidates, size_t n);
bool is_one_of(const char *word, const char *const *words);
size_t count_words(const char *const *words);
char *join_words(const char *const *words, size_t n, const char *quote, const char *conj);

/* --- node access (load.c) */
bool node_ok(loader *L, const ytree_node *n, const char *path);
bool get_string(loader *L, const ytree_node *n, const char *path, const char **out);
bool get_nonempty(loader *L, const ytree_node *n, const char *path, const char *what,
                  const char **out);
bool get_text(loader *L, const ytree_node *n, const char *path, const char **out);
bool get_int(loader *L, const ytree_node *n, const char *path, int64_t min, int64_t max,
             int64_t *out);
bool get_number(loader *L, const ytree_node *n, const char *path, double *out);
bool get_bool(loader *L, const ytree_node *n, const char *path, bool *out);
bool is_map(loader *L, const ytree_node *n, const char *path, const char *hint);
bool get_duration(loader *L, const ytree_node *n, const char *path, double *out);
bool get_size(loader *L, const ytree_node *n, const char *path, uint64_t *out);
void check_keys(loader *L, const ytree_node *map, const char *path, const char *const *known,
                bool dups);
const ytree_node *map_get(const ytree_node *map, const char *key, const ytree_node **at);
json_t *to_json(loader *L, const ytree_node *n, const char *path);
void add_macro_use(loader *L, const ytree_node *at, const char *path, const char *text, bool shell);

/* --- parameters (load_params.c) */
bool dist_has_q(spec_dist d);
bool dist_is_gauss(spec_dist d);
bool dist_is_range(spec_dist d);
bool dist_is_beta(spec_dist d);
bool valid_param_name(const char *name, bool hydra);
/* Appends parameter name; its path is L->nest then leaf. NULL (reported)
 * when the name is taken. */
spec_param *add_param(loader *L, const char *name, const char *leaf, const ytree_node *at);
json_t *value_list(loader *L, const ytree_node *n, const char *path, const char *hint);
void load_wandb_params(loader *L, const ytree_node *map, const char *prefix, const char *path);
/* A W&B grid's categorical parameters get grid_values: their values with
 * repeats dropped, as W&B's grid runs a repeated point once. */
void dedupe_grid_values(loader *L);

/* --- hpc-sweep-manager's form (load_hsm.c) */
/* Its program and interpreter from script: or hsm_config.yaml beside the
 * file, unless the spec names them; call before the command is defaulted. */
void hsm_finalize(loader *L);

/* --- sweepq's own keys (load_own.c) */
bool valid_env_name(const char *s);

#endif
