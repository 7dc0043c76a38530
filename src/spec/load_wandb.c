/*
 * load_wandb.c - W&B's top-level keys (program, command, method, metric,
 * parameters, run_cap, early_terminate, the descriptive keys, and the
 * Launch keys refused); W&B's parameters themselves are load_params.c's.
 */
#include "search/search.h"
#include "spec/load_internal.h"

static void key_program(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    L->program_key = k;
    if (get_nonempty(L, v, path, "the script to run, such as train.py", &s))
        L->s->program = xstrdup(s);
}

static void key_command(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    spec *s = L->s;
    L->command_key = k;
    if (!node_ok(L, v, path))
        return;
    if (v->kind == YTREE_SCALAR && v->type == YTREE_STR) {
        if (!*v->text) {
            diag(L, v,
                 "key '%s': empty; give the command as a list, such as "
                 "[\"${env}\", python3, \"${program}\", \"${args}\"]",
                 path);
            return;
        }
        s->command_shell = xstrdup(v->text);
        add_macro_use(L, v, path, v->text, true);
        return;
    }
    if (v->kind != YTREE_SEQ) {
        diag_type(L, v, path, "a list of strings (or one string to run with /bin/sh)", NULL);
        return;
    }
    if (v->n == 0) {
        diag(L, v, "key '%s': the list is empty; give at least the program to run", path);
        return;
    }
    s->command = xcalloc(v->n, sizeof *s->command);
    s->ncommand = v->n;
    for (size_t i = 0; i < v->n; i++) {
        char *ip = index_path(path, i);
        const char *text;
        if (get_text(L, v->items[i], ip, &text)) {
            s->command[i] = xstrdup(text);
            add_macro_use(L, v->items[i], ip, text, false);
        }
        free(ip);
    }
}

static void key_method(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const methods[] = {"grid", "random", "bayes", NULL};
    const char *m;
    L->method_key = k;
    L->method_val = v;
    if (!get_string(L, v, path, &m))
        return;
    for (int i = 0; methods[i]; i++) {
        if (!strcmp(m, methods[i])) {
            L->s->method = i == 0   ? SPEC_METHOD_GRID
                           : i == 1 ? SPEC_METHOD_RANDOM
                                    : SPEC_METHOD_BAYES;
            L->have_method = true;
            return;
        }
    }
    const char *near = closest(m, methods, 3);
    if (near)
        diag(L, v, "key '%s': unknown method '%s'; did you mean '%s'?", path, m, near);
    else
        diag(L, v,
             "key '%s': unknown method '%s'; use grid (every combination), random or "
             "bayes",
             path, m);
}

static void key_metric(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"name", "goal", "target", "impute", "impute_while_running",
                                       NULL};
    L->metric_key = k;
    spec *s = L->s;
    if (!is_map(L, v, path, "write 'metric: {name: val_loss, goal: minimize}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *at, *n = map_get(v, "name", &at);
    char *p;
    const char *text;
    if (!n) {
        diag(L, v,
             "key '%s': missing 'name'; name the metric to optimize, such as 'name: "
             "val_loss'",
             path);
    } else {
        p = child_path(path, "name");
        if (get_nonempty(L, n, p, "the metric's name", &text))
            s->metric.name = xstrdup(text);
        free(p);
    }
    if ((n = map_get(v, "goal", NULL))) {
        p = child_path(path, "goal");
        if (get_string(L, n, p, &text)) {
            if (!strcmp(text, "minimize"))
                s->metric.goal = SPEC_GOAL_MINIMIZE;
            else if (!strcmp(text, "maximize"))
                s->metric.goal = SPEC_GOAL_MAXIMIZE;
            else
                diag(L, n, "key '%s': expected minimize or maximize, got '%s'", p, text);
        }
        free(p);
    }
    if ((n = map_get(v, "target", NULL))) {
        p = child_path(path, "target");
        s->metric.has_target = get_number(L, n, p, &s->metric.target);
        free(p);
    }
    /* impute and impute_while_running steer W&B's bayes search: checked
     * against W&B's enums, kept in the canonical JSON. */
    static const char *const impute[] = {"latest", "best", "worst", NULL};
    for (int which = 0; which < 2; which++) {
        const char *key = which ? "impute_while_running" : "impute";
        if (!(n = map_get(v, key, NULL)))
            continue;
        if (which && n->kind == YTREE_SCALAR && n->type == YTREE_BOOL && !n->boolean) {
            json_object_set_new(L->kept_metric, key, json_string("false"));
            continue;
        }
        p = child_path(path, key);
        if (get_string(L, n, p, &text)) {
            bool ok = is_one_of(text, impute) || (which && !strcmp(text, "false"));
            if (!ok)
                diag(L, n, "key '%s': expected latest, best or worst%s, got '%s'", p,
                     which ? " (or false)" : "", text);
            else
                json_object_set_new(L->kept_metric, key, json_string(text));
        }
        free(p);
    }
}

static void key_parameters(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    L->parameters_key = k;
    if (!node_ok(L, v, path))
        return;
    if (v->kind == YTREE_MAP && v->n == 0) {
        diag(L, k, "key '%s': empty; give at least one parameter, or remove the key", path);
        return;
    }
    if (v->kind == YTREE_SCALAR && v->type == YTREE_NULL) {
        diag(L, k, "key '%s': empty; give at least one parameter, or remove the key", path);
        return;
    }
    if (!is_map(L, v, path, "write 'parameters: {lr: {values: [0.1, 0.01]}}'"))
        return;
    load_wandb_params(L, v, NULL, path);
}

static void key_run_cap(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    int64_t n;
    if (get_int(L, v, path, 1, INT64_MAX, &n))
        L->s->run_cap = (uint64_t)n;
}

static void key_early_terminate(loader *L, const ytree_node *k, const ytree_node *v,
                                const char *path)
{
    static const char *const keys[] = {"type", "min_iter", "max_iter",   "s",
                                       "eta",  "strict",   "min_trials", NULL};
    if (!is_map(L, v, path, "write 'early_terminate: {type: hyperband, min_iter: 3}'"))
        return;
    size_t before = L->ndiags;
    check_keys(L, v, path, keys, true);
    const ytree_node *n;
    const char *type = NULL;
    char *p = child_path(path, "type");
    if (!(n = map_get(v, "type", NULL)))
        diag(L, v, "key '%s': missing 'type'; W&B knows 'type: hyperband'", path);
    else if (get_string(L, n, p, &type) && strcmp(type, "hyperband") && strcmp(type, "asha") &&
             strcmp(type, "median"))
        diag(L, n,
             "key '%s': unknown type '%s'; W&B knows only hyperband, and sweepq also asha and "
             "median",
             p, type);
    bool hyperband = type && !strcmp(type, "hyperband");
    free(p);
    int64_t iv;
    double dv;
    bool bv;
    const ytree_node *min_iter = map_get(v, "min_iter", NULL);
    const ytree_node *max_iter = map_get(v, "max_iter", NULL);
    const ytree_node *s_node = map_get(v, "s", NULL);
    if (min_iter) {
        p = child_path(path, "min_iter");
        get_int(L, min_iter, p, 1, INT64_MAX, &iv);
        free(p);
    }
    if (max_iter) {
        p = child_path(path, "max_iter");
        get_int(L, max_iter, p, 1, INT64_MAX, &iv);
        free(p);
    }
    if (s_node) {
        p = child_path(path, "s");
        get_number(L, s_node, p, &dv);
        free(p);
    }
    if ((n = map_get(v, "eta", NULL))) {
        p = child_path(path, "eta");
        if (get_number(L, n, p, &dv) && !(dv > 1))
            diag(L, n, "key '%s': eta must be above 1, got %s", p, n->text);
        free(p);
    }
    if ((n = map_get(v, "strict", NULL))) {
        p = child_path(path, "strict");
        get_bool(L, n, p, &bv);
        free(p);
    }
    if (hyperband && !min_iter && !(max_iter && s_node))
        diag(L, v, "key '%s': hyperband needs 'min_iter', or 'max_iter' with 's'; add one", path);
    if (L->ndiags != before)
        return;
    /* The rule the agents will apply: refused here when it makes no band. */
    json_t *rule = to_json(L, v, path);
    stop_rule r = STOP_RULE_INIT;
    char *why = NULL;
    if (rule && stop_rule_parse(rule, &r, &why) != 0) {
        const char *say = why; /* its sentence names the key itself */
        if (!strncmp(say, "early_terminate: ", 17))
            say += 17;
        diag(L, v, "key '%s': %s", path, say);
        free(why);
        json_decref(rule);
        return;
    }
    stop_rule_release(&r);
    L->s->early_terminate = rule;
    L->early_terminate_key = k;
}

static void key_meta(loader *L, const ytree_node *v, const char *path, char **out)
{
    const char *s;
    if (get_string(L, v, path, &s))
        *out = xstrdup(s);
}

static void key_name(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_nonempty(L, v, path, "a sweep name such as lr-sweep", &s))
        L->name_val = v;
}

static void key_description(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->description);
}

static void key_entity(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->entity);
}

static void key_project(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->project);
}

/* W&B keys with no effect here, checked and kept in the canonical JSON. */
static void key_controller(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"type", NULL};
    if (!is_map(L, v, path, "write 'controller: {type: local}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *t = map_get(v, "type", NULL);
    const char *type;
    char *p = child_path(path, "type");
    if (!t)
        diag(L, v, "key '%s': missing 'type'; W&B knows local and cloud", path);
    else if (get_string(L, t, p, &type) && strcmp(type, "local") && strcmp(type, "cloud"))
        diag(L, t, "key '%s': expected local or cloud, got '%s'", p, type);
    free(p);
    json_t *j = to_json(L, v, path);
    if (j)
        json_object_set_new(L->kept, "controller", j);
}

static void key_api_version(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_string(L, v, path, &s))
        json_object_set_new(L->kept, "apiVersion", json_string(s));
}

static void key_kind(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (!get_string(L, v, path, &s))
        return;
    if (strcmp(s, "sweep"))
        diag(L, v, "key '%s': expected 'sweep', got '%s'", path, s);
    else
        json_object_set_new(L->kept, "kind", json_string(s));
}

static void key_launch(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    diag(L, k,
         "key '%s': W&B Launch jobs and schedulers are not supported; give 'program' "
         "(and 'command') to run the script directly",
         path);
}

/* W&B's keys, in the order of its schema. */
const top_key spec_wandb_keys[] = {
    {"program", key_program},
    {"command", key_command},
    {"method", key_method},
    {"metric", key_metric},
    {"parameters", key_parameters},
    {"run_cap", key_run_cap},
    {"early_terminate", key_early_terminate},
    {"name", key_name},
    {"description", key_description},
    {"entity", key_entity},
    {"project", key_project},
    {"controller", key_controller},
    {"apiVersion", key_api_version},
    {"kind", key_kind},
    {"job", key_launch},
    {"image_uri", key_launch},
    {"scheduler", key_launch},
};
const size_t spec_wandb_nkeys = ARRAY_SIZE(spec_wandb_keys);
