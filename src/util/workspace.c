/* workspace.c - find and lay out the project's .sweepq/; see workspace.h. */
#include "util/workspace.h"

#include "util/common.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir_p(const char *path, unsigned mode)
{
    char *p = xstrdup(path);
    int rc = 0, e = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) && errno != EEXIST) {
            e = errno;
            rc = sq_error_set(SQ_EIO, "cannot create directory '%s': %s", p, strerror(e));
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    if (rc) /* callers tell a full or read-only disk by it */
        errno = e;
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int workspace_init_dir(const char *root)
{
    char *sweeps = xasprintf("%s/.sweepq/sweeps", root);
    /* Private: the store, logs and tokens inside are for this user only
     * (docs/store.md, "Who can read what"). */
    int rc = mkdir_p(sweeps, 0700);
    free(sweeps);
    return rc;
}

/* The nearest ancestor of cwd (itself included) holding .sweepq/, or NULL. */
static char *find_root(const char *cwd)
{
    char *dir = xstrdup(cwd);
    for (;;) {
        char *probe = xasprintf("%s/.sweepq", *dir ? dir : "");
        bool found = is_dir(probe);
        free(probe);
        if (found)
            return *dir ? dir : (free(dir), xstrdup("/"));
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            bool at_root = is_dir("/.sweepq");
            free(dir);
            return at_root ? xstrdup("/") : NULL;
        }
        *slash = '\0';
    }
}

/* For "sqlite:DIR/.sweepq/NAME", DIR; else NULL. */
static char *root_of_store(const char *url)
{
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    const char *mark = strstr(path, "/.sweepq/");
    if (!mark || path[0] != '/')
        return NULL;
    return xstrndup(path, (size_t)(mark - path));
}

int workspace_open(workspace *ws, const char *store_override, bool create)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return sq_error_set(SQ_EIO, "cannot read the working directory: %s", strerror(errno));
    const char *url = store_override ? store_override : getenv("SWEEPQ_STORE");
    if (url && !*url)
        url = NULL;
    char *root = url ? root_of_store(url) : NULL;
    if (!root)
        root = find_root(cwd);
    if (!root && create) {
        int rc = workspace_init_dir(cwd);
        if (rc)
            return rc;
        root = xstrdup(cwd);
    } else if (!root && url) {
        /* A store named on the command line needs no project to be read:
         * don't leave a .sweepq/ behind in whatever directory this ran. */
        root = xstrdup(cwd);
    }
    if (!root)
        return sq_error_set(SQ_ENOTFOUND,
                            "no sweepq project in '%s' or any parent directory; run 'sweepq "
                            "init' or 'sweepq run SPEC' here, or pass --store URL",
                            cwd);
    ws->root = root;
    ws->dir = xasprintf("%s/.sweepq", strcmp(root, "/") ? root : "");
    ws->store_url = url ? xstrdup(url) : xasprintf("sqlite:%s/sweepq.db", ws->dir);
    return 0;
}

void workspace_release(workspace *ws)
{
    free(ws->root);
    free(ws->dir);
    free(ws->store_url);
    ws->root = ws->dir = ws->store_url = NULL;
}

char *workspace_config_path(const workspace *ws)
{
    return xasprintf("%s/config.yaml", ws->dir);
}

int workspace_check_name(const char *name)
{
    bool ok = name && *name && strcmp(name, ".") && strcmp(name, "..") && strlen(name) <= 255;
    for (const char *p = name; ok && *p; p++)
        ok = *p != '/' && !iscntrl((unsigned char)*p);
    if (ok)
        return 0;
    return sq_error_set(SQ_EINVAL,
                        "invalid sweep name '%s': a name must be a non-empty file name of at "
                        "most 255 bytes, not '.' or '..', without '/' or control characters; "
                        "set 'name:' in the spec",
                        name ? name : "");
}

char *workspace_sweep_dir(const workspace *ws, const char *sweep)
{
    return xasprintf("%s/sweeps/%s", ws->dir, sweep);
}

char *workspace_trial_dir(const workspace *ws, const char *sweep, uint64_t number)
{
    return xasprintf("%s/sweeps/%s/trials/%llu", ws->dir, sweep, (unsigned long long)number);
}
