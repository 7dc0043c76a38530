/*
 * cmd_collect.c - `sweepq collect SWEEP [--remote NAME]`: bring the trial
 * directories a sweep's remote agents wrote back into this project, with
 * rsync over ssh (cluster/ssh.h).
 *
 * From each remote, WORKDIR/.sweepq/sweeps/SWEEP/trials/ is merged into
 * .sweepq/sweeps/SWEEP/trials/ here (files are added or updated, nothing
 * here is deleted), and the remote agents' logs go to
 * .sweepq/sweeps/SWEEP/remotes/NAME/logs/. Without --remote, every remote
 * the sweep was launched on from here (those with a
 * .sweepq/sweeps/SWEEP/remotes/NAME/ directory) is collected from.
 */
#include "util/common.h"

#include "cluster/remote.h"
#include "cluster/ssh.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "util/workspace.h"

#include <dirent.h>

static const sq_usage usage = {
    "collect",
    "SWEEP [--remote NAME]",
    "bring a sweep's trial directories back from its remotes",
    "Copies (rsync over ssh) the remote's WORKDIR/.sweepq/sweeps/SWEEP/trials/\n"
    "into .sweepq/sweeps/SWEEP/trials/ here: new and changed files come over,\n"
    "nothing here is deleted, so collecting again is cheap and safe. The remote\n"
    "agents' logs land in .sweepq/sweeps/SWEEP/remotes/NAME/logs/. Without\n"
    "--remote, every remote the sweep was launched on from this project.\n"
    "\n"
    "Example:\n"
    "  sweepq collect lr-search --remote gpu1",
    false,
};

/* The remotes the sweep was launched on: the names of the directories in
 * .sweepq/sweeps/SWEEP/remotes/. */
static char **launched_on(const workspace *ws, const char *sweep, size_t *n)
{
    char *sweep_dir = workspace_sweep_dir(ws, sweep);
    char *dir = xasprintf("%s/remotes", sweep_dir);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR || remote_check_name(e->d_name))
            continue;
        XGROW(names, cap, *n + 1);
        names[(*n)++] = xstrdup(e->d_name);
    }
    sq_error_clear();
    if (d)
        closedir(d);
    free(dir);
    free(sweep_dir);
    return names;
}

/* rsync from the remote's rel_src (relative to its workdir) into dst here;
 * *items counts the entries rsync names that match top_dirs (top-level
 * directories) or every file. A source that does not exist there counts 0. */
static int pull(int *items, const remote *r, const char *rel_src, const char *dst, bool top_dirs)
{
    ssh_target t = remote_target(r);
    ssh_argv argv = SSH_ARGV_INIT;
    run_result res;
    char *path = xasprintf("%s/%s", r->workdir, rel_src);
    char *src = ssh_rsync_remote(&t, path);
    static const char *const extra[] = {"--out-format=%n", NULL};
    char *what = xasprintf("copy '%s' from '%s'", rel_src, r->name);
    int rc = mkdir_p(dst, 0700);
    *items = 0;
    if (rc)
        goto cleanup;
    ssh_rsync_build(&argv, &t, extra, src, dst);
    run_result_init(&res, SSH_OUTPUT_MAX);
    rc = ssh_run_checked(&res, argv.v, NULL, 3600, what);
    /* 23 with "No such file or directory" for the source: nothing ran
     * there yet. */
    if (rc && res.exit_code == 23 && strstr(sb_str(&res.err), "change_dir") &&
        strstr(sb_str(&res.err), "No such file or directory")) {
        sq_error_clear();
        rc = 0;
    }
    for (const char *p = sb_str(&res.out); !rc && *p; p += strcspn(p, "\n"), p += *p == '\n') {
        size_t len = strcspn(p, "\n");
        if (!len || (len == 2 && !strncmp(p, "./", 2)))
            continue;
        const char *slash = memchr(p, '/', len);
        if (!top_dirs ? p[len - 1] != '/' : (slash && slash == p + len - 1))
            (*items)++;
    }
    run_result_release(&res);
cleanup:
    ssh_argv_release(&argv);
    free(src);
    free(path);
    free(what);
    return rc;
}

static int collect_one(const workspace *ws, const char *sweep, const char *name)
{
    remote r;
    int rc = remote_open(&r, ws, name);
    if (rc) {
        fprintf(stderr, "sweepq: cannot collect from '%s': %s\n", name, sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
    }
    char *sweep_dir = workspace_sweep_dir(ws, sweep);
    char *trials_dst = xasprintf("%s/trials/", sweep_dir);
    char *logs_dst = xasprintf("%s/remotes/%s/logs/", sweep_dir, name);
    char *trials_src = xasprintf(".sweepq/sweeps/%s/trials/", sweep);
    char *logs_src = xasprintf(".sweepq/sweeps/%s/remotes/", sweep);
    int trials = 0, logs = 0, code = EXIT_OK;
    rc = pull(&trials, &r, trials_src, trials_dst, true);
    if (!rc)
        rc = pull(&logs, &r, logs_src, logs_dst, false);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = EXIT_FAILED;
    } else {
        printf("%s: %d trial director%s new or changed, %d agent log%s (into %s)\n", name, trials,
               trials == 1 ? "y" : "ies", logs, logs == 1 ? "" : "s", trials_dst);
    }
    free(sweep_dir);
    free(trials_dst);
    free(logs_dst);
    free(trials_src);
    free(logs_src);
    remote_release(&r);
    return code;
}

int cmd_collect(int argc, char **argv)
{
    const char *remote_name = NULL;
    const sq_option opts[] = {
        OPT_STRING(0, "remote", &remote_name, "NAME",
                   "collect from this remote only (default: every one the sweep was launched on)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (nargs != 1)
        return options_usage_error(&usage, nargs ? "collect takes one SWEEP" : "name the SWEEP");
    const char *sweep = argv[0];
    if (remote_name && remote_check_name(remote_name))
        return options_usage_error(&usage, "%s", sq_error_msg());
    if (strchr(sweep, '/') || !strcmp(sweep, ".") || !strcmp(sweep, ".."))
        return options_usage_error(&usage, "bad sweep name '%s'", sweep);

    workspace ws = WORKSPACE_INIT;
    int rc = workspace_open(&ws, g.store_url, false);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
    }
    size_t n = 0;
    char **names = NULL;
    if (remote_name) {
        names = xcalloc(1, sizeof *names);
        names[n++] = xstrdup(remote_name);
    } else {
        names = launched_on(&ws, sweep, &n);
    }
    if (!n) {
        fprintf(stderr,
                "sweepq: sweep '%s' was not launched on any remote from here; name one with "
                "--remote NAME\n",
                sweep);
        code = EXIT_NOTFOUND;
    }
    for (size_t i = 0; i < n; i++) {
        int c = collect_one(&ws, sweep, names[i]);
        if (c && !code)
            code = c;
        free(names[i]);
    }
    free(names);
    workspace_release(&ws);
    return code;
}
