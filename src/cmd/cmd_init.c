/*
 * cmd_init.c - `sweepq init`: start a project in the working directory.
 *
 * Looks for the training script (train.py, main.py, run.py, then the first
 * *.py by name that imports argparse) and a python (./.venv/bin/python,
 * ./venv/bin/python, then python3 and python on PATH), as hpc-sweep-manager's
 * `hsm init` does, then writes a commented sweep.yaml that validates as is
 * and creates .sweepq/ with a commented config.yaml.
 *
 * Invariants: an existing sweep.yaml is never overwritten without --force;
 * an existing .sweepq/config.yaml is never overwritten at all (it may hold
 * the user's settings). Files are written to a temporary name and renamed,
 * so an interrupted init leaves no half-written spec.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "util/file.h"
#include "util/workspace.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

static const sq_usage usage = {
    "init",
    "[options]",
    "start a sweepq project here: write a commented sweep.yaml and create .sweepq/",
    "init looks for a training script (train.py, main.py, run.py, else the first\n"
    "*.py that uses argparse) and a python (.venv/bin/python, venv/bin/python,\n"
    "python3 or python on PATH) and writes them into the spec. Then:\n"
    "  sweepq validate sweep.yaml && sweepq run sweep.yaml -j 4",
    false,
};

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_executable(const char *path)
{
    return is_file(path) && access(path, X_OK) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when the file's first 1 MiB mentions argparse. */
static bool uses_argparse(const char *path)
{
    strbuf sb = SB_INIT;
    sb_init(&sb, (size_t)1 << 20);
    bool yes = sb_read_file(&sb, path) == 0 && strstr(sb_str(&sb), "argparse");
    sb_release(&sb);
    return yes;
}

/* The training script in the working directory, or NULL; caller frees. */
static char *find_script(void)
{
    static const char *const known[] = {"train.py", "main.py", "run.py"};
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (is_file(known[i]))
            return xstrdup(known[i]);
    DIR *d = opendir(".");
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".py") && e->d_name[0] != '.') {
            XGROW(names, cap, n + 1);
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (n > 0) /* qsort's array may not be NULL, even for no elements */
        qsort(names, n, sizeof *names, compare_names);
    char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!found && is_file(names[i]) && uses_argparse(names[i]))
            found = xstrdup(names[i]);
        free(names[i]);
    }
    free(names);
    return found;
}

/* The first executable called name in $PATH, or NULL; caller frees. */
static char *search_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return NULL;
    char *copy = xstrdup(path), *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", *dir ? dir : ".", name);
        if (is_executable(p))
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

/* The python for the spec, absolute, or NULL; caller frees. A project's
 * own virtual environment wins: that is where its dependencies are. */
static char *find_python(const char *cwd)
{
    static const char *const venvs[] = {".venv/bin/python", "venv/bin/python"};
    for (size_t i = 0; i < ARRAY_SIZE(venvs); i++)
        if (is_executable(venvs[i]))
            return xasprintf("%s/%s", cwd, venvs[i]);
    char *p = search_path("python3");
    return p ? p : search_path("python");
}

/* The long options the script declares with add_argument("--name", ...),
 * as " --a --b"; "" when none. Caller frees. */
static char *script_flags(const char *script)
{
    strbuf text = SB_INIT, flags = SB_INIT;
    sb_init(&text, (size_t)1 << 20);
    regex_t re;
    if (regcomp(&re, "add_argument\\([[:space:]]*['\"]--([A-Za-z0-9_.-]+)['\"]", REG_EXTENDED))
        SQ_BUG("bad add_argument pattern");
    if (sb_read_file(&text, script) == 0) {
        const char *p = sb_str(&text);
        regmatch_t m[2];
        int count = 0;
        while (count < 24 && regexec(&re, p, 2, m, 0) == 0) {
            sb_addf(&flags, " --%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
            p += m[0].rm_eo;
            count++;
        }
    }
    regfree(&re);
    sb_release(&text);
    return sb_detach(&flags);
}

/* A sweep name from the directory's name: lower-case letters, digits and
 * '-', never empty. Caller frees. */
static char *name_from_dir(const char *cwd)
{
    const char *base = strrchr(cwd, '/');
    base = base && base[1] ? base + 1 : "project";
    strbuf sb = SB_INIT;
    for (const char *c = base; *c; c++) {
        if (isalnum((unsigned char)*c))
            sb_addc(&sb, (char)tolower((unsigned char)*c));
        else if (sb.len && sb.buf[sb.len - 1] != '-')
            sb_addc(&sb, '-');
    }
    while (sb.len && sb.buf[sb.len - 1] == '-')
        sb.buf[--sb.len] = '\0';
    if (!sb.len)
        sb_adds(&sb, "project");
    sb_adds(&sb, "-sweep");
    return sb_detach(&sb);
}

/* Appends s as a YAML double-quoted scalar. */
static void add_yaml_quoted(strbuf *sb, const char *s)
{
    sb_addc(sb, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_addc(sb, '\\');
        sb_addc(sb, *s);
    }
    sb_addc(sb, '"');
}

static char *spec_text(const char *name, const char *script, const char *python, const char *flags)
{
    strbuf sb = SB_INIT;
    sb_adds(&sb, "# sweep.yaml - a sweepq sweep, written by 'sweepq init'. Edit it, then:\n"
                 "#\n"
                 "#   sweepq validate sweep.yaml          check it\n"
                 "#   sweepq create sweep.yaml --dry-run  see each trial's exact command\n"
                 "#   sweepq run sweep.yaml -j 4          run 4 trials at a time\n"
                 "#   sweepq best NAME                    the best trials so far\n"
                 "#\n"
                 "# The format is W&B's sweep configuration plus sweepq's own keys\n"
                 "# (docs/spec.md): an existing W&B sweep.yaml runs unchanged.\n\n");
    sb_adds(&sb, "name: ");
    add_yaml_quoted(&sb, name);
    sb_adds(&sb, "\n\n");
    if (script) {
        sb_adds(&sb, "# The script and the python, by absolute paths: each trial runs in its\n"
                     "# own directory under .sweepq/sweeps/.\n"
                     "program: ");
        add_yaml_quoted(&sb, script);
        sb_adds(&sb, "\n");
    } else {
        sb_adds(&sb, "# No training script was found here (train.py, main.py, run.py, or a\n"
                     "# *.py using argparse): point `program` at yours, by its absolute\n"
                     "# path, as each trial runs in its own directory under .sweepq/.\n"
                     "program: \"train.py\"\n");
    }
    if (python) {
        sb_adds(&sb, "interpreter: ");
        add_yaml_quoted(&sb, python);
        sb_adds(&sb, "\n");
    } else {
        sb_adds(&sb, "# No python was found (.venv/bin/python, venv/bin/python, python3 or\n"
                     "# python on PATH): set `interpreter` to the one your script needs.\n"
                     "interpreter: \"python3\"\n");
    }
    sb_adds(&sb, "# Each trial runs this argv, without a shell, in its own trial directory;\n"
                 "# ${args} becomes --name=value for every parameter. In a flow list like\n"
                 "# this one, keep every ${macro} quoted.\n"
                 "command: [\"${env}\", \"${interpreter}\", \"${program}\", \"${args}\"]\n\n"
                 "method: grid          # grid: every combination; random: add run_cap\n"
                 "metric:\n"
                 "  name: loss          # a metric your script reports (see below)\n"
                 "  goal: minimize      # or maximize\n\n"
                 "parameters:\n");
    if (*flags)
        sb_addf(&sb, "  # options %s declares:%s\n", script, flags);
    sb_adds(&sb, "  lr:\n"
                 "    values: [0.001, 0.01, 0.1]\n"
                 "  batch_size:\n"
                 "    values: [32, 64]\n"
                 "  # seed:\n"
                 "  #   value: 1\n"
                 "  # dropout:\n"
                 "  #   distribution: uniform\n"
                 "  #   min: 0.0\n"
                 "  #   max: 0.5\n\n"
                 "# Metrics: print lines such as \"loss=0.25\" or \"loss: 0.25\" on stdout,\n"
                 "# or append JSON lines {\"step\": 3, \"loss\": 0.25} to the file named by\n"
                 "# $SWEEPQ_METRICS_FILE. The last value of each is the trial's result.\n\n"
                 "# Execution (sweepq's keys). The commented values are the defaults.\n"
                 "max_attempts: 3        # tries per trial before it counts as failed\n"
                 "# timeout: 4h          # stop a trial that runs longer than this\n"
                 "# lease_ttl: 60s       # how soon a crashed agent's trials are retried\n"
                 "# resources:\n"
                 "#   gpus: 1            # whole GPUs per trial (0: none)\n"
                 "#   cpus: 1            # CPU slots per trial\n"
                 "# tags: [\"batch-1\"]    # group sweeps: sweepq wait --tag batch-1\n"
                 "# on_complete: echo \"sweep finished\"   # runs once when the sweep ends\n");
    return sb_detach(&sb);
}

static char *config_text(const char *python)
{
    return xasprintf("# .sweepq/config.yaml - settings of this sweepq project, written by\n"
                     "# 'sweepq init'. Every key is optional; the commented values are the\n"
                     "# defaults and what init found.\n"
                     "#\n"
                     "# Where sweeps, trials and results are kept. A command's --store URL or\n"
                     "# $SWEEPQ_STORE takes precedence.\n"
                     "# store: sqlite:.sweepq/sweepq.db\n"
                     "#\n"
                     "# The python for ${interpreter} when a spec names none.\n"
                     "# interpreter: %s\n"
                     "#\n"
                     "# Defaults of 'sweepq submit' (Slurm and PBS array jobs of agents;\n"
                     "# docs/clusters.md). The command line's options win.\n"
                     "# submit:\n"
                     "#   scheduler: slurm        # slurm, pbs, pbs-pro, torque or auto\n"
                     "#   partition: gpu          # Slurm partition or PBS queue\n"
                     "#   account: proj42\n"
                     "#   qos: normal             # Slurm only\n"
                     "#   time: \"04:00:00\"\n"
                     "#   array: 4                # array tasks, one agent each\n"
                     "#   cpus: 1                 # per task; also the agent's -j\n"
                     "#   gpus_per_task: 1\n"
                     "#   mem: 16GiB\n"
                     "#   grace: 2m               # Slurm: USR1 this long before the limit\n"
                     "#   extra: |                # more #SBATCH / #PBS lines\n"
                     "#     --constraint=a100\n",
                     python ? python : "python3");
}

int cmd_init(int argc, char **argv)
{
    bool force = false;
    const char *program = NULL, *python = NULL, *name = NULL, *output = "sweep.yaml";
    const sq_option opts[] = {
        OPT_BOOL('f', "force", &force, "overwrite an existing spec file"),
        OPT_STRING(0, "program", &program, "FILE", "the training script (default: found here)"),
        OPT_STRING(0, "python", &python, "PATH", "the interpreter (default: found here)"),
        OPT_STRING(0, "name", &name, "NAME", "the sweep's name (default: from the directory)"),
        OPT_STRING('o', "output", &output, "FILE", "the spec file to write (default sweep.yaml)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);

    char cwd[PATH_MAX];
    char *script = NULL, *py = NULL, *sweep_name = NULL, *flags = NULL, *text = NULL;
    char *config_path = NULL, *config = NULL;
    int code = EXIT_OK;
    if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "sweepq: cannot read the working directory: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    if (!force && access(output, F_OK) == 0) {
        fprintf(stderr,
                "sweepq: cannot write '%s': it exists; pass --force to overwrite it, or -o "
                "FILE to write another\n",
                output);
        return EXIT_CONFLICT;
    }
    script = program ? xstrdup(program) : find_script();
    if (script && script[0] != '/') {
        /* Each trial runs in its own directory under .sweepq/, so the spec
         * names the script by its absolute path. */
        char *abs = xasprintf("%s/%s", cwd, script);
        free(script);
        script = abs;
    }
    py = python ? xstrdup(python) : find_python(cwd);
    sweep_name = name ? xstrdup(name) : name_from_dir(cwd);
    flags = script ? script_flags(script) : xstrdup("");
    text = spec_text(sweep_name, script, py, flags);

    rc = workspace_init_dir(cwd);
    if (!rc)
        rc = file_replace(output, text, strlen(text));
    if (rc) {
        fprintf(stderr, "sweepq: cannot initialize '%s': %s\n", cwd, sq_error_msg());
        code = EXIT_FAILED;
        goto out;
    }
    config_path = xasprintf("%s/.sweepq/config.yaml", cwd);
    if (access(config_path, F_OK) != 0) {
        config = config_text(py);
        rc = file_replace(config_path, config, strlen(config));
        if (rc) {
            fprintf(stderr, "sweepq: %s\n", sq_error_msg());
            code = EXIT_FAILED;
            goto out;
        }
    }
    printf("wrote %s (sweep '%s')\n", output, sweep_name);
    printf("  program:     %s\n", script ? script : "(none found: edit 'program')");
    printf("  interpreter: %s\n", py ? py : "(none found: edit 'interpreter')");
    printf("  project:     %s/.sweepq\n", cwd);
    printf("next: edit the parameters, then 'sweepq validate %s' and 'sweepq run %s -j 4'\n",
           output, output);
out:
    free(script);
    free(py);
    free(sweep_name);
    free(flags);
    free(text);
    free(config_path);
    free(config);
    return code;
}
