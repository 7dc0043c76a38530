/*
 * register.c - a loaded spec into a store: the sweep's definition, its
 * trials made chunk by chunk, and the frozen copy of the spec file. See
 * register.h for the invariants.
 */
#include "util/common.h"

#include "agent/register.h"

#include "util/file.h"

#include <errno.h>
#include <unistd.h>

/* One chunk of trial definitions and the strings they point at. */
typedef struct trial_chunk {
    store_trial_def *defs;
    char **strings; /* key and params_json of each trial, 2 per trial */
    size_t n;
} trial_chunk;

static void chunk_release(trial_chunk *c)
{
    for (size_t i = 0; i < 2 * c->n; i++)
        free(c->strings[i]);
    free(c->strings);
    free(c->defs);
    memset(c, 0, sizeof *c);
}

/*
 * The key of trial number of s. A grid trial is its parameters: the key
 * hashes them alone, so an edited grid finds its old trials. A random trial
 * is draw number N of the seed, and two draws may give equal parameters
 * (a categorical search): its key hashes the number too, so no two trials
 * of a random sweep share a key (nor a WANDB_RUN_ID), and raising run_cap
 * adds the new draws even when their parameters were drawn before.
 */
static char *trial_key(const spec *s, uint64_t number, json_t *params)
{
    if (s->method == SPEC_METHOD_GRID)
        return spec_params_key(params);
    json_t *draw = json_pack("{s:O, s:I}", "params", params, "trial", (json_int_t)number);
    if (!draw)
        SQ_BUG("cannot pack the key of random trial %llu", (unsigned long long)number);
    char *key = spec_params_key(draw);
    json_decref(draw);
    return key;
}

/* Makes trials first .. first + n - 1 of s into c. */
static int chunk_make(trial_chunk *c, const spec *s, uint64_t first, size_t n)
{
    memset(c, 0, sizeof *c);
    c->defs = xcalloc(n ? n : 1, sizeof *c->defs);
    c->strings = xcalloc(2 * n + 1, sizeof *c->strings);
    for (size_t i = 0; i < n; i++) {
        json_t *params = NULL;
        int rc = spec_trial_params(s, first + i, &params);
        if (rc) {
            chunk_release(c);
            return rc;
        }
        /* The key hashes the canonical (sorted) form; the stored text keeps
         * the parameter order, so what reads it back (the agent's
         * params.json, trials, export) lists parameters as the spec does. */
        char *key = trial_key(s, first + i, params), *text = spec_json_compact(params, false);
        json_decref(params);
        c->strings[2 * i] = key;
        c->strings[2 * i + 1] = text;
        c->defs[i].number = first + i;
        c->defs[i].key = key;
        c->defs[i].params_json = text;
        c->n = i + 1;
    }
    return 0;
}

char *sweep_command_json(const spec *s)
{
    json_t *t = json_object();
    if (s->command_shell) {
        json_object_set_new(t, "command_shell", json_string(s->command_shell));
    } else if (s->command) {
        json_t *cmd = json_array();
        for (size_t i = 0; i < s->ncommand; i++)
            json_array_append_new(cmd, json_string(s->command[i]));
        json_object_set_new(t, "command", cmd);
    }
    if (s->program)
        json_object_set_new(t, "program", json_string(s->program));
    if (s->interpreter)
        json_object_set_new(t, "interpreter", json_string(s->interpreter));
    if (s->nenv) {
        json_t *env = json_object();
        for (size_t i = 0; i < s->nenv; i++)
            json_object_set_new(env, s->env[i].name,
                                json_string(s->env[i].value ? s->env[i].value : ""));
        json_object_set_new(t, "env", env);
    }
    if (s->workdir)
        json_object_set_new(t, "workdir", json_string(s->workdir));
    char *text = spec_json_compact(t, true);
    json_decref(t);
    return text;
}

/* Writes the frozen copy of the spec's text (temporary file, then rename,
 * so a reader never sees half a file). An existing copy is kept unless
 * replace (this call made the sweep or added trials to it). */
static int write_frozen_copy(const workspace *ws, const spec *s, bool replace)
{
    if (!ws || !s->source)
        return 0;
    char *dir = workspace_sweep_dir(ws, s->name);
    char *path = xasprintf("%s/spec.yaml", dir);
    int rc = 0;
    if (!replace && access(path, F_OK) == 0)
        goto done;
    if ((rc = mkdir_p(dir, 0700)))
        goto done;
    rc = file_replace(path, s->source, strlen(s->source));
done:
    free(dir);
    free(path);
    return rc;
}

int sweep_register(store *st, const workspace *ws, const spec *s, int64_t *out_id,
                   uint64_t *out_added)
{
    trial_chunk chunk = {0};
    char *spec_json = NULL, *command_json = NULL;
    store_sweep *sw = NULL;
    uint64_t added = 0, n_added = 0;
    int64_t id = 0;
    int rc = workspace_check_name(s->name); /* it names a directory */
    if (rc)
        return rc;
    if (!s->canonical)
        return sq_error_set(SQ_EINVAL, "cannot register sweep '%s': its spec has no canonical form",
                            s->name);

    bool open_ended = spec_is_open_ended(s);
    /* A bayes sweep starts empty: agents propose its trials (propose.h). */
    bool proposed = s->method == SPEC_METHOD_BAYES;
    uint64_t total = proposed ? 0 : open_ended ? REGISTER_OPEN_ENDED_FIRST : spec_trial_count(s);
    if (total == SPEC_UNBOUNDED) {
        uint64_t n;
        return spec_grid_size(s, &n); /* the message says why it cannot be counted */
    }
    size_t first_n = total < REGISTER_CHUNK ? (size_t)total : REGISTER_CHUNK;
    if ((rc = chunk_make(&chunk, s, 1, first_n)))
        goto done;

    spec_json = spec_json_compact(s->canonical, true);
    command_json = sweep_command_json(s);
    store_sweep_def def = {
        .name = s->name,
        .spec_json = spec_json,
        .spec_yaml = s->source ? s->source : "",
        .command_json = command_json,
        .tags = (const char **)s->tags,
        .ntags = s->ntags,
        .metric_name = s->metric.name,
        .maximize = s->metric.goal == SPEC_GOAL_MAXIMIZE,
        .max_attempts = s->max_attempts,
        .lease_ttl = s->lease_ttl,
        .timeout = s->timeout,
        .cpus = s->resources.cpus,
        .gpus = s->resources.gpus,
        .gpu_memory = s->resources.gpu_memory,
        .open_ended = open_ended,
        .total = proposed     ? s->run_cap
                 : open_ended ? 0
                              : total,
        .trials = chunk.defs,
        .ntrials = chunk.n,
    };
    if ((rc = store_create_sweep(st, &def, &id, &added)))
        goto done;
    chunk_release(&chunk);

    /* The rest, chunk by chunk. A sweep registered before (by a run that
     * was interrupted, or this same spec) already holds a prefix of its
     * trials: start after it. */
    uint64_t next = (uint64_t)first_n + 1;
    if (next <= total) {
        if ((rc = store_get_sweep(st, s->name, &sw)))
            goto done;
        if (sw->next_number > next)
            next = sw->next_number;
    }
    while (next <= total) {
        size_t n = total - next + 1 < REGISTER_CHUNK ? (size_t)(total - next + 1) : REGISTER_CHUNK;
        if ((rc = chunk_make(&chunk, s, next, n)) ||
            (rc = store_add_trials(st, id, chunk.defs, chunk.n, &n_added)))
            goto done;
        added += n_added;
        chunk_release(&chunk);
        next += n;
    }
    rc = write_frozen_copy(ws, s, added > 0);
done:
    chunk_release(&chunk);
    store_sweep_free(sw);
    free(spec_json);
    free(command_json);
    if (!rc) {
        *out_id = id;
        if (out_added)
            *out_added = added;
    }
    return rc;
}

int sweep_extend(store *st, const store_sweep *sw, const spec *s, size_t n)
{
    if (!sw->open_ended || s->method == SPEC_METHOD_BAYES)
        return sq_error_set(SQ_EINVAL,
                            "cannot add trials to sweep '%s': it is not open-ended random search, "
                            "all its trials were made when it was created or are proposed",
                            sw->name);
    uint64_t next = sw->next_number ? sw->next_number : 1;
    while (n > 0) {
        size_t k = n < REGISTER_CHUNK ? n : REGISTER_CHUNK;
        trial_chunk chunk;
        uint64_t added;
        int rc = chunk_make(&chunk, s, next, k);
        if (!rc)
            rc = store_add_trials(st, sw->id, chunk.defs, chunk.n, &added);
        chunk_release(&chunk);
        if (rc)
            return rc;
        next += k;
        n -= k;
    }
    return 0;
}
