/*
 * sweeps.c - the agent's cache of sweeps: each sweep's loaded spec, metrics
 * pattern, the environment its trials start from, and the flags the claim
 * loop keeps about it (usable, exhausted, completion due...).
 *
 * A sweep enters the cache when a listing or a completion first shows it and
 * stays until agent_run returns; one that cannot run here (its spec does
 * not load, it asks for more slots than the agent has) is cached unusable
 * with one warning, so that the warning is not repeated.
 */
#include "util/common.h"

#include "agent/agent_int.h"

#include <unistd.h>

extern char **environ;

/* ---- sweeps ------------------------------------------------------------------- */

static bool is_reserved_env(const char *entry, const spec *sp, bool gpu)
{
    static const char *const ours[] = {
        "SWEEPQ_SWEEP",
        "SWEEPQ_TRIAL",
        "SWEEPQ_ATTEMPT",
        "SWEEPQ_TRIAL_DIR",
        "SWEEPQ_RESUME",
        "SWEEPQ_METRICS_FILE",
        "WANDB_RUN_ID",
        "WANDB_RESUME",
        "WANDB_RUN_GROUP",
        "WANDB_DIR",
        "WANDB_SWEEP_PARAM_PATH",
        /* the agent's own secrets: a trial is the user's code, not the
         * agent, and has no business with the store's token */
        "SWEEPQ_TOKEN",
        "SWEEPQ_TOKEN_FILE",
    };
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
        if (strlen(ours[i]) == n && !strncmp(entry, ours[i], n))
            return true;
    if (n == 12 && !strncmp(entry, "SWEEPQ_STORE", n) && store_url_has_password(entry + n + 1))
        return true; /* a password is the agent's, not the trial's */
    /* A GPU trial's variables replace the agent's (docs/gpus.md); a CPU
     * trial keeps the agent's environment as it is. */
    if (gpu && ((n == 20 && !strncmp(entry, "CUDA_VISIBLE_DEVICES", n)) ||
                (n == 17 && !strncmp(entry, "CUDA_DEVICE_ORDER", n))))
        return true;
    /* The spec's project and entity replace the agent's (build_env). */
    if (sp && ((sp->project && n == 13 && !strncmp(entry, "WANDB_PROJECT", n)) ||
               (sp->entity && n == 12 && !strncmp(entry, "WANDB_ENTITY", n))))
        return true;
    for (size_t i = 0; sp && i < sp->nenv; i++)
        if (strlen(sp->env[i].name) == n && !strncmp(entry, sp->env[i].name, n))
            return true;
    return false;
}

/* The environment every trial of sw starts from: the agent's own, without
 * the names the trial gets from us or from the spec, plus the constants. */
static void build_base_env(agent_sweep *sw)
{
    size_t n = 0;
    while (environ[n])
        n++;
    sw->base_env = xmalloc((n + 4) * sizeof *sw->base_env);
    sw->owned_env = xmalloc(3 * sizeof *sw->owned_env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_reserved_env(environ[i], sw->sp, gpu_request_wants_gpu(&sw->gpu)))
            sw->base_env[k++] = environ[i];
    /* CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER join per trial (build_env)
     * for a sweep that asks for GPUs. */
    sw->owned_env[0] = xasprintf("SWEEPQ_SWEEP=%s", sw->name);
    sw->owned_env[1] = xasprintf("WANDB_RUN_GROUP=%s", sw->name);
    sw->owned_env[2] = xstrdup("WANDB_RESUME=allow");
    sw->nowned_env = 3;
    for (size_t i = 0; i < sw->nowned_env; i++)
        sw->base_env[k++] = sw->owned_env[i];
    sw->base_env[k] = NULL;
    sw->nbase_env = k;
}

void agent_sweep_free(agent_sweep *sw)
{
    if (!sw)
        return;
    if (sw->has_rule)
        stop_rule_release(&sw->rule);
    free(sw->name);
    spec_free(sw->sp);
    metrics_pattern_free(sw->pattern);
    for (size_t i = 0; i < sw->nowned_env; i++)
        free(sw->owned_env[i]);
    free(sw->owned_env);
    free(sw->base_env);
    free(sw->trials_dir);
    free(sw->program_abs);
    free(sw->claim_request);
    proposal_release(&sw->proposal);
    free(sw);
}

agent_sweep *agent_sweep_find(agent *a, int64_t id)
{
    for (size_t i = 0; i < a->nsweeps; i++)
        if (a->sweeps[i]->id == id)
            return a->sweeps[i];
    return NULL;
}

/* True when the command template of sp (command, env, workdir) holds text. */
static bool spec_mentions(const spec *sp, const char *text)
{
    for (size_t i = 0; i < sp->ncommand; i++)
        if (strstr(sp->command[i], text))
            return true;
    for (size_t i = 0; i < sp->nenv; i++)
        if (strstr(sp->env[i].value, text))
            return true;
    return (sp->command_shell && strstr(sp->command_shell, text)) ||
           (sp->workdir && strstr(sp->workdir, text));
}

/* Adds sweep s to the cache; a sweep that cannot run here is cached as
 * unusable, with one warning. */
agent_sweep *agent_sweep_add(agent *a, const store_sweep *s)
{
    agent_sweep *sw = xcalloc(1, sizeof *sw);
    sw->id = s->id;
    sw->name = xstrdup(s->name);
    sw->lease_ttl = s->lease_ttl > 0 ? s->lease_ttl : 60;
    sw->timeout = s->timeout;
    sw->cpus = s->cpus > 0 ? s->cpus : 1;
    sw->open_ended = s->open_ended;
    XGROW(a->sweeps, a->sweeps_cap, a->nsweeps + 1);
    a->sweeps[a->nsweeps++] = sw;
    /* The store refuses such names, but one written by an older sweepq or
     * another program may hold any: never build a path from it. */
    if (workspace_check_name(s->name)) {
        agent_warn(a, sw, "cannot run this sweep: %s", sq_error_msg());
        return sw;
    }
    char *sweep_dir = workspace_sweep_dir(a->cfg->ws, s->name);
    sw->trials_dir = xasprintf("%s/trials", sweep_dir);
    free(sweep_dir);

    spec_diags diags = SPEC_DIAGS_INIT;
    const char *yaml = s->spec_yaml ? s->spec_yaml : "";
    if (spec_load_string(&sw->sp, yaml, strlen(yaml), s->name, NULL, &diags) != 0) {
        char *first = diags.n ? spec_diag_format(&diags.items[0]) : xstrdup(sq_error_msg());
        agent_warn(a, sw, "cannot run sweep '%s': its stored spec does not load: %s", s->name,
                   first);
        free(first);
        spec_diags_release(&diags);
        return sw;
    }
    spec_diags_release(&diags);
    if (metrics_pattern_new(&sw->pattern, sw->sp->metrics_pattern) != 0) {
        agent_warn(a, sw, "cannot run sweep '%s': %s", s->name, sq_error_msg());
        return sw;
    }
    if (sw->sp->early_terminate && sw->sp->metric.name) {
        char *why = NULL;
        if (stop_rule_parse(sw->sp->early_terminate, &sw->rule, &why) != 0) {
            /* The loader refuses such a spec: one stored by an older sweepq. */
            agent_warn(a, sw, "cannot run sweep '%s': %s", s->name, why);
            free(why);
            return sw;
        }
        sw->has_rule = true;
    }
    if (sw->cpus > a->slots) {
        agent_warn(a, sw,
                   "cannot run sweep '%s' here: each trial needs %d CPU slots and this agent has "
                   "%d; start it with -j %d or more",
                   s->name, sw->cpus, a->slots, sw->cpus);
        return sw;
    }
    sw->gpu = (gpu_request){
        .gpus = s->gpus,
        .memory = s->gpu_memory,
        .min_free = sw->sp->resources.min_free_gpu_memory ? sw->sp->resources.min_free_gpu_memory
                    : a->cfg->min_free                    ? a->cfg->min_free
                                                          : GPU_MIN_FREE_DEFAULT,
    };
    sw->params_file = spec_mentions(sw->sp, "${args_json_file}");
    const char *prog = sw->sp->program;
    if (prog && prog[0] != '/') {
        char *abs = xasprintf("%s/%s", a->cfg->ws->root, prog);
        if (access(abs, F_OK) == 0)
            sw->program_abs = abs;
        else
            free(abs);
    }
    build_base_env(sw);
    sw->usable = true;
    return sw;
}

/* Lists the runnable sweeps again: new ones join the cache, listed ones may
 * be claimed from again, the others are left alone until the next listing. */
int agent_refresh_sweeps(agent *a, double now)
{
    store_sweep_filter f = {
        .names = a->cfg->sweeps,
        .nnames = a->cfg->nsweeps,
        .tag = a->cfg->tag,
        .since = 0,
        .runnable_only = true,
    };
    store_sweep *list = NULL;
    size_t n = 0;
    int rc = store_list_sweeps(a->st, &f, &list, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->nsweeps; i++)
        a->sweeps[i]->exhausted = true;
    for (size_t i = 0; i < n; i++) {
        agent_sweep *sw = agent_sweep_find(a, list[i].id);
        if (!sw)
            sw = agent_sweep_add(a, &list[i]);
        sw->exhausted = false;
    }
    store_sweeps_free(list, n);
    a->last_refresh = now;
    return 0;
}
