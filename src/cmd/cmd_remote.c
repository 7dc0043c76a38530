/*
 * cmd_remote.c - `sweepq remote add|list|test|health|remove`: the SSH
 * machines of this project (cluster/remote.h keeps them in
 * .sweepq/config.yaml), and what they look like from here.
 *
 * test and health log in once each and run one small POSIX sh script there
 * (every value in it quoted); its output comes back in sections that start
 * with a line "@@ NAME", so one round trip answers every question.
 */
#include "util/common.h"

#include "cluster/remote.h"
#include "cluster/ssh.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/units.h"
#include "util/workspace.h"

#include <jansson.h>

static const sq_usage usage = {
    "remote",
    "add|list|test|health|remove [NAME] [options]",
    "manage the SSH machines this project launches agents on",
    "  remote add NAME --host H [--user U] [--port P] [--key K] [--workdir DIR]\n"
    "             [--slots N] [--sweepq PATH] [--known-hosts FILE]\n"
    "                       add a remote, or replace the one of that name\n"
    "  remote list          the remotes, one a line (--json: all their fields)\n"
    "  remote test [NAME]   log in; check the workdir can be written and that\n"
    "                       sweepq and rsync are there (no NAME: every remote)\n"
    "  remote health [NAME] reachable?, sweepq and its version, GPUs (from\n"
    "                       'sweepq gpus --json' there), free disk of the\n"
    "                       workdir, load average and CPUs (--json: an object,\n"
    "                       or a list of them without NAME)\n"
    "  remote remove NAME   forget a remote\n"
    "\n"
    "Remotes live in .sweepq/config.yaml under 'remotes:'; add, replace and\n"
    "remove change only that remote's lines, the rest of the file (comments\n"
    "included) stays as it is. The workdir (default sweepq/PROJECT, relative to\n"
    "the remote home) is where 'sweepq launch' syncs the project to. ssh runs\n"
    "with BatchMode (keys or an agent, never a password prompt), a 10 s connect\n"
    "timeout, keep-alives, and StrictHostKeyChecking=accept-new; your\n"
    "~/.ssh/config still applies (aliases, ProxyJump).\n"
    "\n"
    "test and health exit 0 when every remote they check is usable, else 1.\n"
    "\n"
    "Examples:\n"
    "  sweepq remote add gpu1 --host gpu1.example.com --key ~/.ssh/id_ed25519 --slots 4\n"
    "  sweepq remote test gpu1\n"
    "  sweepq remote health gpu1 --json",
    true,
};

typedef struct remote_opts {
    const char *host, *user, *key, *workdir, *sweepq, *known_hosts;
    int port, slots;
} remote_opts;

static int fail(int rc, const char *what)
{
    fprintf(stderr, "sweepq: cannot %s: %s\n", what, sq_error_msg());
    return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
}

static int do_add(const char *path, const workspace *ws, const char *name, const remote_opts *o)
{
    if (!o->host)
        return options_usage_error(&usage, "remote add needs --host HOST");
    remote r = {0};
    r.name = xstrdup(name);
    r.host = xstrdup(o->host);
    r.user = xstrdup(o->user);
    r.port = o->port;
    r.key = xstrdup(o->key);
    r.slots = o->slots;
    r.sweepq = xstrdup(o->sweepq);
    r.known_hosts = xstrdup(o->known_hosts);
    /* "~/x" and "x" are the same place for ssh and rsync (the login's
     * home); a quoted '~' would not be expanded, so keep the plain form. */
    const char *wd = o->workdir;
    while (wd && !strncmp(wd, "~/", 2))
        wd += 2;
    r.workdir = wd && *wd ? xstrdup(wd) : remote_default_workdir(ws->root);
    remote old = {0};
    bool existed = remote_lookup(&old, path, name) == 0;
    remote_release(&old);
    sq_error_clear();
    int rc = remote_save(path, &r);
    int code = EXIT_OK;
    if (rc) {
        code = rc == SQ_EINVAL ? EXIT_USAGE : EXIT_FAILED;
        fprintf(stderr, "sweepq: cannot save remote '%s': %s\n", name, sq_error_msg());
    } else {
        ssh_target t = remote_target(&r);
        char *who = ssh_target_text(&t);
        printf("%s remote '%s' (%s, workdir %s)\n", existed ? "replaced" : "added", name, who,
               r.workdir);
        free(who);
    }
    remote_release(&r);
    return code;
}

static json_t *remote_json(const remote *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "user", r->user ? json_string(r->user) : json_null());
    json_object_set_new(o, "port", r->port ? json_integer(r->port) : json_null());
    json_object_set_new(o, "key", r->key ? json_string(r->key) : json_null());
    json_object_set_new(o, "workdir", r->workdir ? json_string(r->workdir) : json_null());
    json_object_set_new(o, "slots", r->slots ? json_integer(r->slots) : json_null());
    json_object_set_new(o, "sweepq", json_string(remote_program(r)));
    json_object_set_new(o, "known_hosts",
                        r->known_hosts ? json_string(r->known_hosts) : json_null());
    return o;
}

static int do_list(const char *path, const workspace *ws, bool as_json)
{
    remote_list l = REMOTE_LIST_INIT;
    int rc = remote_list_load(&l, path);
    if (rc)
        return fail(rc, "read the remotes");
    for (size_t i = 0; i < l.n; i++)
        if (!l.items[i].workdir)
            l.items[i].workdir = remote_default_workdir(ws->root);
    if (as_json) {
        json_t *a = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(a, remote_json(&l.items[i]));
        report_json_print(stdout, a);
    } else if (!l.n) {
        puts("no remotes; add one with 'sweepq remote add NAME --host HOST'");
    } else {
        static const char *const headers[] = {"name", "ssh", "workdir", "slots", "key"};
        report_table *tab = report_table_new(ARRAY_SIZE(headers), headers);
        report_table_align_right(tab, 3);
        for (size_t i = 0; i < l.n; i++) {
            const remote *r = &l.items[i];
            ssh_target t = remote_target(r);
            char *who = ssh_target_text(&t);
            report_table_add(tab, r->name);
            report_table_add(tab, who);
            report_table_add(tab, r->workdir);
            if (r->slots)
                report_table_addf(tab, "%d", r->slots);
            else
                report_table_add(tab, "auto");
            report_table_add(tab, r->key);
            free(who);
        }
        report_table_print(stdout, tab, 0);
        report_table_free(tab);
    }
    remote_list_release(&l);
    return EXIT_OK;
}

static int do_remove(const char *path, const char *name)
{
    int rc = remote_delete(path, name);
    if (rc)
        return fail(rc, "remove the remote");
    printf("removed remote '%s'\n", name);
    return EXIT_OK;
}

/* ---- test and health: one script, answers in sections ---------------- */

/* The script: S is the sweepq program, W the workdir. Each section is
 * "@@ NAME" and what follows up to the next such line. */
static char *probe_script(const remote *r, bool health)
{
    strbuf sb = SB_INIT;
    sb_adds(&sb, "S=");
    ssh_quote(&sb, remote_program(r));
    sb_adds(&sb, "; W=");
    ssh_quote(&sb, r->workdir ? r->workdir : ".");
    sb_adds(&sb, "\necho '@@ connected'\n"
                 "echo '@@ sweepq'; command -v \"$S\" && \"$S\" --version 2>&1\n"
                 "echo '@@ rsync'; command -v rsync\n");
    if (!health) {
        sb_adds(&sb, "echo '@@ workdir'; mkdir -p -- \"$W\" && test -w \"$W\" && "
                     "cd -- \"$W\" && pwd\n");
    } else {
        sb_adds(&sb,
                "echo '@@ gpus'; command -v \"$S\" >/dev/null && \"$S\" gpus --json 2>/dev/null\n"
                "echo '@@ disk'; d=$W; while [ ! -d \"$d\" ]; do d=$(dirname -- \"$d\"); done; "
                "(cd -- \"$d\" && pwd); df -Pk -- \"$d\" | tail -n 1\n"
                "echo '@@ load'; cat /proc/loadavg 2>/dev/null || uptime\n"
                "echo '@@ cpus'; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN\n"
                "echo '@@ hostname'; uname -n\n");
    }
    sb_adds(&sb, "echo '@@ end'\n");
    return sb_detach(&sb);
}

/* The text of section name in out (without its header line), or NULL when
 * the script never got there. Caller frees. */
static char *section(const char *out, const char *name)
{
    char *head = xasprintf("@@ %s\n", name);
    const char *p = strstr(out, head);
    while (p && p != out && p[-1] != '\n')
        p = strstr(p + 1, head);
    char *s = NULL;
    if (p) {
        p += strlen(head);
        const char *end = strstr(p, "@@ ");
        while (end && end != p && end[-1] != '\n')
            end = strstr(end + 1, "@@ ");
        s = xstrndup(p, end ? (size_t)(end - p) : strlen(p));
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
            s[--n] = '\0';
    }
    free(head);
    return s;
}

/* Line k (0-based) of text, or NULL. Caller frees. */
static char *line_of(const char *text, int k)
{
    if (!text)
        return NULL;
    const char *p = text;
    for (int i = 0; i < k; i++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    size_t n = strcspn(p, "\n");
    return n ? xstrndup(p, n) : NULL;
}

typedef struct probe {
    bool reachable;
    char *error;       /* why not reachable */
    double seconds;    /* the round trip */
    char *sweepq_path; /* NULL: not found */
    char *sweepq_version;
    bool rsync;
    char *workdir; /* test: the absolute workdir, NULL when not writable */
    json_t *gpus;  /* health: `sweepq gpus --json` there, or NULL */
    char *disk_path;
    long long disk_free; /* bytes, -1 unknown */
    double load[3];
    bool have_load;
    int cpus;
    char *hostname;
} probe;

static void probe_release(probe *p)
{
    free(p->error);
    free(p->sweepq_path);
    free(p->sweepq_version);
    free(p->workdir);
    json_decref(p->gpus);
    free(p->disk_path);
    free(p->hostname);
}

/* Fills p's answers from the sections of the script's output. */
static void parse_probe(probe *p, const char *out)
{
    char *s = section(out, "sweepq");
    p->sweepq_path = line_of(s, 0);
    char *v = line_of(s, 1);
    if (v && !strncmp(v, "sweepq ", 7))
        p->sweepq_version = xstrdup(v + 7);
    else if (p->sweepq_path)
        p->sweepq_version = v ? xstrdup(v) : NULL;
    if (!p->sweepq_version) {
        free(p->sweepq_path);
        p->sweepq_path = NULL;
    }
    free(v);
    free(s);
    s = section(out, "rsync");
    p->rsync = s && *s;
    free(s);
    s = section(out, "workdir");
    p->workdir = line_of(s, 0);
    free(s);
    s = section(out, "gpus");
    if (s && *s)
        p->gpus = json_loads(s, 0, NULL);
    free(s);
    s = section(out, "disk");
    p->disk_path = line_of(s, 0);
    char *df = line_of(s, 1);
    long long avail;
    if (df && sscanf(df, "%*s %*s %*s %lld", &avail) == 1)
        p->disk_free = avail * 1024;
    free(df);
    free(s);
    s = section(out, "load");
    p->have_load = s && sscanf(s, "%lf %lf %lf", &p->load[0], &p->load[1], &p->load[2]) == 3;
    free(s);
    s = section(out, "cpus");
    p->cpus = s ? atoi(s) : 0;
    free(s);
    s = section(out, "hostname");
    p->hostname = line_of(s, 0);
    free(s);
}

static void run_probe(probe *p, const remote *r, bool health)
{
    memset(p, 0, sizeof *p);
    p->disk_free = -1;
    char *script = probe_script(r, health);
    run_result res;
    run_result_init(&res, SSH_OUTPUT_MAX);
    int rc = remote_run(&res, r, script, NULL, SSH_CONNECT_TIMEOUT + 30, NULL);
    p->seconds = res.seconds;
    const char *out = sb_str(&res.out);
    char *connected = section(out, "connected");
    if (rc) {
        p->error = xstrdup(sq_error_msg());
    } else if (!connected) {
        p->error = ssh_result_why(&res);
    } else {
        p->reachable = true;
        parse_probe(p, out);
    }
    free(connected);
    run_result_release(&res);
    free(script);
}

static int do_test(const remote *r)
{
    probe p;
    ssh_target t = remote_target(r);
    char *who = ssh_target_text(&t);
    run_probe(&p, r, false);
    int code = EXIT_OK;
    if (!p.reachable) {
        printf("%s: cannot log in to %s: %s\n", r->name, who, p.error);
        code = EXIT_FAILED;
        goto out;
    }
    printf("%s: logged in to %s in %.2f s\n", r->name, who, p.seconds);
    if (p.workdir) {
        printf("  workdir: %s (writable)\n", p.workdir);
    } else {
        printf("  workdir: '%s' cannot be made or written; choose another with "
               "'sweepq remote add %s ... --workdir DIR'\n",
               r->workdir, r->name);
        code = EXIT_FAILED;
    }
    if (p.sweepq_path) {
        printf("  sweepq: %s (%s)%s\n", p.sweepq_version, p.sweepq_path,
               strcmp(p.sweepq_version, SQ_VERSION) ? ", not this sweepq's version " SQ_VERSION
                                                    : "");
    } else {
        printf("  sweepq: '%s' not found there; install sweepq on the remote, or give its path "
               "with --sweepq PATH\n",
               remote_program(r));
        code = EXIT_FAILED;
    }
    if (p.rsync) {
        puts("  rsync: found");
    } else {
        puts("  rsync: not found there; install rsync on the remote (launch and collect use it)");
        code = EXIT_FAILED;
    }
out:
    free(who);
    probe_release(&p);
    return code;
}

/* r's health as a JSON object (remote health --json). */
static json_t *health_json(const probe *p, const remote *r, const char *who, bool usable)
{
    json_t *gpus = p->gpus ? json_object_get(p->gpus, "gpus") : NULL;
    const char *gpu_source = p->gpus ? json_string_value(json_object_get(p->gpus, "source")) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "ssh", json_string(who));
    json_object_set_new(o, "reachable", json_boolean(p->reachable));
    json_object_set_new(o, "error", p->error ? json_string(p->error) : json_null());
    json_object_set_new(o, "seconds", json_real(p->seconds));
    json_object_set_new(o, "hostname", p->hostname ? json_string(p->hostname) : json_null());
    json_t *sq = json_null();
    if (p->sweepq_path) {
        sq = json_object();
        json_object_set_new(sq, "path", json_string(p->sweepq_path));
        json_object_set_new(sq, "version", json_string(p->sweepq_version));
        json_object_set_new(sq, "same_version",
                            json_boolean(!strcmp(p->sweepq_version, SQ_VERSION)));
    }
    json_object_set_new(o, "sweepq", sq);
    json_object_set_new(o, "rsync", json_boolean(p->rsync));
    json_object_set_new(o, "gpus", gpus ? json_incref(gpus) : json_null());
    json_object_set_new(o, "gpu_source", gpu_source ? json_string(gpu_source) : json_null());
    json_t *disk = json_null();
    if (p->disk_path) {
        disk = json_object();
        json_object_set_new(disk, "path", json_string(p->disk_path));
        json_object_set_new(disk, "free_bytes",
                            p->disk_free >= 0 ? json_integer(p->disk_free) : json_null());
    }
    json_object_set_new(o, "disk", disk);
    json_t *load = json_null();
    if (p->have_load)
        load = json_pack("[f,f,f]", p->load[0], p->load[1], p->load[2]);
    json_object_set_new(o, "load", load);
    json_object_set_new(o, "cpus", p->cpus ? json_integer(p->cpus) : json_null());
    json_object_set_new(o, "usable", json_boolean(usable));
    return o;
}

/* r's health as text. */
static void print_health(const probe *p, const remote *r, const char *who)
{
    json_t *gpus = p->gpus ? json_object_get(p->gpus, "gpus") : NULL;
    const char *gpu_source = p->gpus ? json_string_value(json_object_get(p->gpus, "source")) : NULL;
    if (!p->reachable) {
        printf("%s: unreachable (%s): %s\n", r->name, who, p->error);
        return;
    }
    printf("%s: reachable (%s, host %s) in %.2f s\n", r->name, who, p->hostname ? p->hostname : "?",
           p->seconds);
    if (p->sweepq_path)
        printf("  sweepq:  %s (%s)\n", p->sweepq_version, p->sweepq_path);
    else
        printf("  sweepq:  '%s' not found; install it there or set --sweepq PATH\n",
               remote_program(r));
    if (gpus && json_array_size(gpus)) {
        printf("  gpus:    %zu (%s)\n", json_array_size(gpus), gpu_source ? gpu_source : "?");
        size_t i;
        json_t *g;
        json_array_foreach(gpus, i, g)
        {
            const char *name = json_string_value(json_object_get(g, "name"));
            printf("           %lld: %s\n",
                   (long long)json_integer_value(json_object_get(g, "index")), name ? name : "?");
        }
    } else {
        printf("  gpus:    none%s%s%s\n", gpu_source ? " (" : "", gpu_source ? gpu_source : "",
               gpu_source ? ")" : "");
    }
    if (p->disk_free >= 0) {
        char sz[32];
        printf("  disk:    %s free at %s\n",
               units_format_size((uint64_t)p->disk_free, sz, sizeof sz), p->disk_path);
    }
    if (p->have_load)
        printf("  load:    %.2f %.2f %.2f (%d CPUs)\n", p->load[0], p->load[1], p->load[2],
               p->cpus);
}

/* Prints r's health; with as_json, as one object, or appended to all
 * (when not NULL) for the caller to print. */
static int do_health(const remote *r, bool as_json, json_t *all)
{
    probe p;
    run_probe(&p, r, true);
    int code = p.reachable && p.sweepq_path ? EXIT_OK : EXIT_FAILED;
    ssh_target t = remote_target(r);
    char *who = ssh_target_text(&t);
    if (!as_json) {
        print_health(&p, r, who);
    } else {
        json_t *o = health_json(&p, r, who, code == EXIT_OK);
        if (all)
            json_array_append_new(all, o);
        else
            report_json_print(stdout, o);
    }
    free(who);
    probe_release(&p);
    return code;
}

/* remote test|health [NAME]: the one remote, or every remote in turn;
 * the exit code is the worst of them. */
static int do_probe(const char *path, const workspace *ws, const char *sub, const char *name,
                    bool as_json)
{
    remote_list l = REMOTE_LIST_INIT;
    int rc = name ? 0 : remote_list_load(&l, path);
    if (name) {
        l.items = xcalloc(1, sizeof *l.items);
        rc = remote_lookup(&l.items[0], path, name);
        l.n = rc ? 0 : 1;
    }
    if (rc) {
        remote_list_release(&l);
        return fail(rc, "use the remote");
    }
    if (!l.n) {
        fprintf(stderr, "sweepq: no remotes; add one with 'sweepq remote add NAME --host HOST'\n");
        remote_list_release(&l);
        return EXIT_NOTFOUND;
    }
    json_t *all = as_json && !name ? json_array() : NULL;
    int code = EXIT_OK;
    for (size_t i = 0; i < l.n; i++) {
        remote *r = &l.items[i];
        if (!r->workdir)
            r->workdir = remote_default_workdir(ws->root);
        int c = !strcmp(sub, "test") ? do_test(r) : do_health(r, as_json, all);
        if (c && !code)
            code = c;
    }
    if (all)
        report_json_print(stdout, all);
    remote_list_release(&l);
    return code;
}

/* Checks the action sub and what goes with it; sets *name (NULL: every
 * remote, or none). 0, or the exit code of a usage error it printed. */
static int check_action(const char **name, const char *sub, int nargs, char **argv,
                        const remote_opts *o, bool as_json)
{
    *name = NULL;
    static const char *const subs[] = {"add", "list", "test", "health", "remove"};
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
        known |= !strcmp(sub, subs[i]);
    if (!known)
        return options_usage_error(
            &usage, "unknown action '%s': use add, list, test, health or remove", sub);
    /* test and health without a NAME: every remote. */
    bool wants_name = strcmp(sub, "list") != 0;
    bool name_optional = !strcmp(sub, "test") || !strcmp(sub, "health");
    if (wants_name && (nargs > 2 || (nargs < 2 && !name_optional)))
        return options_usage_error(&usage, "remote %s takes one NAME", sub);
    if (!wants_name && nargs != 1)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[1]);
    bool adding = !strcmp(sub, "add");
    if (!adding && (o->host || o->user || o->port || o->key || o->workdir || o->slots ||
                    o->sweepq || o->known_hosts))
        return options_usage_error(&usage, "--host, --user, ... go with 'remote add' only");
    if (adding && (o->port < 0 || o->port > 65535 || o->slots < 0))
        return options_usage_error(&usage, "--port takes 1-65535 and --slots a positive number");
    if (as_json && strcmp(sub, "list") && strcmp(sub, "health"))
        return options_usage_error(&usage, "--json goes with 'remote list' and 'remote health'");
    *name = wants_name && nargs == 2 ? argv[1] : NULL;
    if (*name && remote_check_name(*name))
        return options_usage_error(&usage, "%s", sq_error_msg());
    return 0;
}

int cmd_remote(int argc, char **argv)
{
    remote_opts o = {0};
    const sq_option opts[] = {
        OPT_STRING(0, "host", &o.host, "H",
                   "add: the host name or address (or a ~/.ssh/config alias)"),
        OPT_STRING(0, "user", &o.user, "U", "add: the login (default: ssh's)"),
        OPT_INT(0, "port", &o.port, "P", "add: the ssh port (default: ssh's, 22)"),
        OPT_STRING(0, "key", &o.key, "K", "add: the private key file (default: ssh's identities)"),
        OPT_STRING(0, "workdir", &o.workdir, "DIR",
                   "add: where the project goes there (default sweepq/PROJECT under the home)"),
        OPT_INT(0, "slots", &o.slots, "N",
                "add: trial slots there, shared by its agents (default: its CPUs)"),
        OPT_STRING(0, "sweepq", &o.sweepq, "PATH",
                   "add: the sweepq program there (default: sweepq in its PATH)"),
        OPT_STRING(0, "known-hosts", &o.known_hosts, "FILE",
                   "add: the known_hosts file for it (default: ~/.ssh/known_hosts)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (nargs < 1)
        return options_usage_error(&usage, "name what to do: add, list, test, health or remove");
    const char *sub = argv[0], *name = NULL;
    code = check_action(&name, sub, nargs, argv, &o, g.json);
    if (code)
        return code;

    workspace ws = WORKSPACE_INIT;
    int rc = workspace_open(&ws, g.store_url, false);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
    }
    char *path = workspace_config_path(&ws);
    if (!strcmp(sub, "add")) {
        code = do_add(path, &ws, name, &o);
    } else if (!strcmp(sub, "list")) {
        code = do_list(path, &ws, g.json);
    } else if (!strcmp(sub, "remove")) {
        code = do_remove(path, name);
    } else {
        code = do_probe(path, &ws, sub, name, g.json);
    }
    free(path);
    workspace_release(&ws);
    return code;
}
